package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Test helpers that run real tools: bubblewrap with only a bundle's files visible, ldd, and commands. */
final class Sandbox {
    private Sandbox() {}

    /** The outcome of a process. */
    record Run(int exit, String out, String err) {}

    /**
     * Runs the bundle's argv with only {@code BUNDLE/root} visible: an empty tmpfs as {@code /} with each top-level
     * directory of the bundle bound read-only over it (bwrap cannot create /proc inside a read-only root), plus
     * /proc, /dev and a private /tmp, and exactly the manifest's environment.
     */
    static Run runBundle(Bundle b) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("bwrap", "--unshare-all", "--die-with-parent", "--tmpfs", "/"));
        Path root = b.dir().resolve(BundleSpec.ROOT);
        try (Stream<Path> s = Files.list(root)) {
            for (Path p : s.sorted().toList()) {
                cmd.addAll(List.of("--ro-bind", p.toString(), "/" + p.getFileName()));
            }
        }
        cmd.addAll(List.of("--proc", "/proc", "--dev", "/dev", "--chdir", "/", "--clearenv"));
        if (!Files.exists(root.resolve("tmp"))) {
            cmd.addAll(List.of("--tmpfs", "/tmp"));
        }
        for (Map.Entry<String, String> e : b.spec().env().entrySet()) {
            cmd.addAll(List.of("--setenv", e.getKey(), e.getValue()));
        }
        cmd.add("--");
        cmd.addAll(b.spec().argv());
        return run(cmd);
    }

    static Run run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectInput(new File("/dev/null")).start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("%s finished", cmd).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    static Run run(String... cmd) throws IOException, InterruptedException {
        return run(List.of(cmd));
    }

    private static final Pattern LDD_ARROW = Pattern.compile("=>\\s+(/\\S+)");
    private static final Pattern LDD_INTERP = Pattern.compile("^\\s*(/\\S+)\\s+\\(0x");

    /** Every library path that the system's ldd reports for {@code program}. */
    static TreeSet<String> ldd(String program) throws IOException, InterruptedException {
        Run r = run("ldd", program);
        assertThat(r.exit()).as("ldd %s: %s", program, r.err()).isZero();
        TreeSet<String> out = new TreeSet<>();
        for (String line : r.out().split("\n")) {
            Matcher m = LDD_ARROW.matcher(line);
            if (m.find()) {
                out.add(m.group(1));
                continue;
            }
            Matcher i = LDD_INTERP.matcher(line);
            if (i.find()) {
                out.add(i.group(1));
            }
        }
        assertThat(line(r.out())).doesNotContain("not found");
        return out;
    }

    private static String line(String s) {
        return s;
    }

    /** The set of enclave paths a bundle holds. */
    static TreeSet<String> paths(Bundle b) {
        TreeSet<String> out = new TreeSet<>();
        b.files().forEach(f -> out.add(f.path()));
        return out;
    }
}
