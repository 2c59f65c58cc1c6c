package dev.cloister.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import picocli.CommandLine;

/**
 * The training run behind {@code ./cloister}'s JDK class cache: a JVM started with {@code -XX:AOTCacheOutput} runs
 * this, and the classes it loads and links (and the JIT profiles of what it runs) are what later commands map
 * instead of loading and warming up. It does what short commands do most, on throwaway files in a temporary
 * folder: builds the whole command tree, encrypts, inspects and decrypts a 1 MiB file, and builds, inspects and
 * verifies a bundle of a small script. It runs in the background, never on a user's data; a user's own run is
 * never the one that records, so a command's exit status and output cannot depend on the cache.
 */
public final class WarmUp {
    private WarmUp() {}

    /** Runs the training and exits; failed steps are named on stderr (they make a poorer cache, not a wrong one). */
    public static void main(String[] args) throws IOException {
        List<String> failed = train();
        failed.forEach(step -> System.err.println("warm-up step failed: " + step));
        System.exit(0);
    }

    /** Does the training work; returns the steps that did not exit 0 (none, unless something is broken). */
    static List<String> train() throws IOException {
        List<String> failed = new ArrayList<>();
        Path dir = Files.createTempDirectory("cloister-warm-up-");
        try {
            Path key = dir.resolve("wrap.key");
            Path plain = dir.resolve("plain.bin");
            byte[] data = new byte[1 << 20];
            new Random(1).nextBytes(data);
            Files.write(plain, data);
            Path app = Files.createDirectories(dir.resolve("app"));
            Files.writeString(app.resolve("run.sh"), "#!/bin/sh\necho ok\n");
            app.resolve("run.sh").toFile().setExecutable(true);
            Files.write(app.resolve("data.bin"), data);
            String pf = dir.resolve("plain.pf").toString();
            String bundle = dir.resolve("bundle").toString();
            for (String[] step : List.of(new String[] {"--help"}, new String[] {"--version"},
                    new String[] {"pf", "keygen", key.toString()},
                    new String[] {"pf", "encrypt", "--json", "--jobs", "1", "-k", key.toString(), "--path",
                        "/warm-up/plain", plain.toString(), pf},
                    new String[] {"pf", "inspect", "--json", "-k", key.toString(), pf},
                    new String[] {"pf", "decrypt", "--json", "--jobs", "1", "-k", key.toString(), "--path",
                        "/warm-up/plain", pf, dir.resolve("plain.out").toString()},
                    new String[] {"build", "--dir", app.toString(), "--entrypoint", "run.sh", "--out", bundle},
                    new String[] {"bundle", "inspect", "--json", bundle},
                    new String[] {"bundle", "verify", bundle})) {
                CommandLine cl = Cloister.commandLine(step);
                cl.setOut(new PrintWriter(new StringWriter()));
                cl.setErr(new PrintWriter(new StringWriter()));
                int code = cl.execute(step);
                if (code != 0) {
                    failed.add(String.join(" ", step) + " (exit " + code + ")");
                }
            }
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
        return failed;
    }
}
