package dev.cloister.bundle;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The bundle specs whose manifests were given to the real {@code gramine-sgx-sign} to produce the expected data in
 * {@code src/test/resources/gramine-fake/expected/} (see the README there). {@link #main} writes each case's
 * {@code entrypoint.manifest} into a directory, which is the first step of regenerating that data.
 */
final class GramineFixtures {
    /** Where the fake installation's library directory was mounted (a symlink) when the real tool ran. */
    static final String HOST_LIB = "/opt/cloister-fake-gramine";

    private GramineFixtures() {}

    static String sha(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(
                    s.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Case "plain": no key broker, {@code loader.entrypoint.sha256} already in the manifest (as {@code cloister
     * build --gramine} writes it), strings that need escaping, 256M and 4 threads.
     */
    static BundleSpec plain(String libsysdbSha256) {
        TreeMap<String, String> env = new TreeMap<>();
        env.put("PATH", "/usr/bin:/bin");
        env.put("LD_LIBRARY_PATH", "/lib/x86_64-linux-gnu");
        env.put("GREETING", "tab\there \"quoted\" back\\slash \u00fcml\u00e4ut \u0001ctl");
        List<BundleFile> files = List.of(
                new BundleFile("/usr/bin/hello", sha("hello"), 5, true),
                new BundleFile("/lib/x86_64-linux-gnu/libc.so.6", sha("libc"), 4, false),
                new BundleFile("/lib64/ld-linux-x86-64.so.2", sha("ld.so"), 5, true),
                new BundleFile("/a", sha("a"), 1, false));
        return new BundleSpec("/usr/bin/hello", List.of("/usr/bin/hello", "a b", "--x=\"y\""), env, List.of(), files,
                List.of(), "256M", 4, 0, 0, HOST_LIB + "/libsysdb.so", Optional.of(libsysdbSha256), "/inputs",
                "/outputs", false, HOST_LIB + "/runtime/glibc");
    }

    /**
     * Case "broker": key broker (so Gramine's secret-provisioning library is a trusted file without a hash and the
     * runtime directory is mounted), no {@code loader.entrypoint.sha256} (the tool hashes libsysdb.so itself), an
     * allowed file, 1G, 8 threads, ISVPRODID 7, ISVSVN 3.
     */
    static BundleSpec broker() {
        TreeMap<String, String> env = new TreeMap<>();
        env.put("PATH", "/usr/bin:/bin");
        List<BundleFile> files = List.of(
                new BundleFile("/usr/bin/sqlite3", sha("sqlite3"), 7, true),
                new BundleFile("/etc/cloister/broker-ca.pem", sha("ca"), 2, false),
                new BundleFile("/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6", sha("libsqlite3"), 10, false));
        return new BundleSpec("/usr/bin/sqlite3", List.of("/usr/bin/sqlite3", ":memory:"), env,
                List.of("SECRET_PROVISION_SERVERS"), files, List.of("file:/dev/null"), "1G", 8, 7, 3,
                HOST_LIB + "/libsysdb.so", Optional.empty(), "/inputs", "/outputs", true, HOST_LIB + "/runtime/glibc");
    }

    static Map<String, BundleSpec> cases(String libsysdbSha256) {
        return Map.of("plain", plain(libsysdbSha256), "broker", broker());
    }

    /** Writes {@code <out>/<case>/entrypoint.manifest} for every case. Args: the fake libsysdb.so, the output dir. */
    public static void main(String[] args) throws Exception {
        String libsysdb = GramineInstall.sha256(Path.of(args[0]));
        for (Map.Entry<String, BundleSpec> e : cases(libsysdb).entrySet()) {
            Path d = Path.of(args[1], e.getKey());
            Files.createDirectories(d);
            Files.write(d.resolve("entrypoint.manifest"), e.getValue().manifest());
        }
    }
}
