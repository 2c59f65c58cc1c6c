package dev.cloister.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/** Version and git commit, stamped into the jar at build time. */
final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() throws IOException {
        Properties p = new Properties();
        try (InputStream in = VersionProvider.class.getResourceAsStream("/cloister-version.properties")) {
            if (in != null) {
                p.load(in);
            }
        }
        String version = clean(p.getProperty("version"), "unknown");
        String commit = clean(p.getProperty("commit"), "unknown");
        if ("true".equals(p.getProperty("dirty"))) {
            commit += "-dirty";
        }
        return new String[] {
            "cloister " + version + " (commit " + commit + ")",
            "Java " + Runtime.version() + " (" + System.getProperty("java.vendor", "?") + ")"
        };
    }

    private static String clean(String value, String fallback) {
        // An unfiltered placeholder means the build had no git metadata (for example a source tarball).
        return value == null || value.isBlank() || value.startsWith("${") ? fallback : value;
    }
}
