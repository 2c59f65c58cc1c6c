package dev.cloister.runtime.gramine;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real gramine-direct the Gramine tests run: the install prefix in CLOISTER_TEST_GRAMINE (scripts/gramine-local
 * prints it; .ci/run always sets it). In CI a missing or broken prefix is a failure, not a skip; outside CI the
 * tests are skipped.
 */
public final class TestGramine {
    public static final String ENV = "CLOISTER_TEST_GRAMINE";

    private TestGramine() {}

    /** The prefix holding bin/gramine-direct. */
    public static Path prefix() {
        String p = System.getenv(ENV);
        boolean ci = "true".equalsIgnoreCase(System.getenv("CI"));
        if (p == null || p.isBlank()) {
            if (ci) {
                throw new IllegalStateException(ENV + " is not set in CI: .ci/run must build gramine-direct "
                        + "(scripts/gramine-local) so that the Gramine tests run");
            }
            assumeTrue(false, ENV + " is not set (export " + ENV + "=$(scripts/gramine-local) to run the Gramine tests)");
        }
        Path prefix = Path.of(p);
        if (!Files.isExecutable(prefix.resolve("bin/gramine-direct"))) {
            throw new IllegalStateException(ENV + "=" + p + " has no bin/gramine-direct");
        }
        return prefix;
    }

    /** A PATH with this gramine-direct first, then the system's. */
    public static String path() {
        return prefix().resolve("bin") + ":/usr/local/bin:/usr/bin:/bin";
    }
}
