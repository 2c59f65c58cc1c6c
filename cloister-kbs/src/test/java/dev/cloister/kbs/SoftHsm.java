package dev.cloister.kbs;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real SoftHSM2 (Debian package softhsm2) for tests: a token folder of its own, named by the configuration file in
 * SOFTHSM2_CONF, and tokens initialised with softhsm2-util. The library reads SOFTHSM2_CONF when it is first
 * initialised in a process, so the in-process tests get it from the build (surefire's environment, see the pom)
 * and child processes get it in their environment. In CI a missing SoftHSM2 fails the test; elsewhere it skips.
 */
public final class SoftHsm {
    /** Where Debian installs the module. */
    public static final Path MODULE = Path.of("/usr/lib/softhsm/libsofthsm2.so");
    /** The user PIN every test token gets. */
    public static final String PIN = "4321-test";

    private final Path conf;

    private SoftHsm(Path conf) {
        this.conf = conf;
    }

    /** Fails under CI=true, else skips, when SoftHSM2 is not installed. */
    public static void require() {
        boolean present = Files.isRegularFile(MODULE) && onPath("softhsm2-util");
        if (!present && "true".equalsIgnoreCase(System.getenv("CI"))) {
            throw new IllegalStateException("SoftHSM2 is not installed in CI: .ci/run must install the softhsm2 "
                    + "package so that the PKCS#11 tests run");
        }
        assumeTrue(present, "SoftHSM2 is not installed (apt-get install softhsm2); outside CI the HSM tests skip");
    }

    /**
     * Writes a configuration with an empty token folder at {@code conf} (its folder is emptied first).
     */
    public static SoftHsm fresh(Path conf) throws IOException {
        require();
        Path dir = conf.toAbsolutePath().getParent();
        if (Files.exists(dir)) {
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        Files.createDirectories(dir.resolve("tokens"));
        Files.writeString(conf, "directories.tokendir = " + dir.resolve("tokens") + "\nobjectstore.backend = file\n"
                + "log.level = ERROR\nslots.removable = false\n", StandardCharsets.US_ASCII);
        return new SoftHsm(conf.toAbsolutePath());
    }

    /** The configuration file (for SOFTHSM2_CONF). */
    public Path conf() {
        return conf;
    }

    /** Initialises a new token labelled {@code label} in the first free slot, user PIN {@link #PIN}. */
    public void initToken(String label) throws IOException, InterruptedException {
        run("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "12345678", "--pin", PIN);
    }

    /** Deletes the token labelled {@code label} (its folder goes). */
    public void deleteToken(String label) throws IOException, InterruptedException {
        run("softhsm2-util", "--delete-token", "--token", label);
    }

    private void run(String... cmd) throws IOException, InterruptedException {
        List<String> c = new ArrayList<>(List.of(cmd));
        ProcessBuilder pb = new ProcessBuilder(c).redirectErrorStream(true);
        pb.environment().put("SOFTHSM2_CONF", conf.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    private static boolean onPath(String exe) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String d : path.split(":")) {
            if (Files.isExecutable(Path.of(d, exe))) {
                return true;
            }
        }
        return false;
    }
}
