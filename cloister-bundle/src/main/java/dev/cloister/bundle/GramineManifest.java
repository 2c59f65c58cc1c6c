package dev.cloister.bundle;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The {@code .manifest.sgx} that {@code gramine-sgx-sign} (Gramine 1.9) writes for a bundle's manifest. Gramine
 * parses the manifest with {@code tomli} (tables keep the order in which keys first appear), inserts its defaults
 * at the end of their tables, fills in {@code loader.entrypoint.sha256}, turns every trusted file into
 * {@code {uri, sha256}} (in that key order, duplicates removed, first occurrence kept), and writes the result with
 * {@code tomli_w} ({@link GramineToml}). These are the bytes measured into MRENCLAVE.
 *
 * <p>Defaults inserted, in order, when absent: {@code sgx.trusted_files = []}, {@code sgx.max_threads = 4},
 * {@code sgx.isvprodid = 0}, {@code sgx.isvsvn = 0}, {@code sgx.remote_attestation = "none"},
 * {@code sgx.debug = false}, {@code sgx.enable_stats = false}, {@code sgx.edmm_enable = false},
 * {@code sgx.enclave_size = "256M"} ({@code "1024G"} with EDMM), {@code sgx.use_exinfo = false}, and
 * {@code sgx.cpu_features} with {@code avx}, {@code avx512}, {@code amx} = {@code "unspecified"} and {@code mpx},
 * {@code pkru} = {@code "disabled"}.
 */
final class GramineManifest {
    private GramineManifest() {}

    /**
     * The {@code .manifest.sgx} bytes for {@code spec}.
     *
     * @param hostHashes SHA-256 (hex) of files Gramine would hash on the signing host, by the host path the manifest
     *                   names: {@code libsysdb.so} if the spec does not carry its hash, and trusted files given
     *                   without a hash (Gramine's secret-provisioning library)
     */
    static byte[] manifestSgx(BundleSpec spec, Map<String, String> hostHashes) throws BundleException {
        Map<String, Object> root = tree(spec.document());
        applyDefaultsAndExpand(root, hostHashes);
        return GramineToml.dump(root);
    }

    /** The table tree {@code tomli} reads from {@link Toml#render}'s output for {@code dotted}. */
    static Map<String, Object> tree(Map<String, Object> dotted) {
        Map<String, Object> root = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : new TreeMap<>(dotted).entrySet()) {
            String[] parts = e.getKey().split("\\.", -1);
            Map<String, Object> t = root;
            for (int i = 0; i < parts.length - 1; i++) {
                t = table(t, parts[i], e.getKey());
            }
            t.put(parts[parts.length - 1], value(e.getValue()));
        }
        return root;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> table(Map<String, Object> t, String k, String where) {
        Object v = t.computeIfAbsent(k, x -> new LinkedHashMap<String, Object>());
        if (!(v instanceof Map<?, ?>)) {
            throw new IllegalArgumentException("manifest key " + where + " redefines " + k);
        }
        return (Map<String, Object>) v;
    }

    /** Inline tables are rendered with sorted keys, so that is the order tomli gives them back in. */
    private static Object value(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> sorted = new LinkedHashMap<>();
            new TreeMap<>(m).forEach((k, x) -> sorted.put((String) k, value(x)));
            return sorted;
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            l.forEach(x -> out.add(value(x)));
            return out;
        }
        return v;
    }

    @SuppressWarnings("unchecked")
    static void applyDefaultsAndExpand(Map<String, Object> root, Map<String, String> hostHashes)
            throws BundleException {
        Map<String, Object> sgx = table(root, "sgx", "sgx");
        sgx.putIfAbsent("trusted_files", new ArrayList<>());
        sgx.putIfAbsent("max_threads", 4);
        sgx.putIfAbsent("isvprodid", 0);
        sgx.putIfAbsent("isvsvn", 0);
        sgx.putIfAbsent("remote_attestation", "none");
        sgx.putIfAbsent("debug", false);
        sgx.putIfAbsent("enable_stats", false);
        sgx.putIfAbsent("edmm_enable", false);
        sgx.putIfAbsent("enclave_size", Boolean.TRUE.equals(sgx.get("edmm_enable")) ? "1024G" : "256M");
        sgx.putIfAbsent("use_exinfo", false);
        Map<String, Object> cpu = table(sgx, "cpu_features", "sgx.cpu_features");
        cpu.putIfAbsent("avx", "unspecified");
        cpu.putIfAbsent("avx512", "unspecified");
        cpu.putIfAbsent("amx", "unspecified");
        cpu.putIfAbsent("mpx", "disabled");
        cpu.putIfAbsent("pkru", "disabled");

        Map<String, Object> loader = table(root, "loader", "loader");
        if (!(loader.computeIfAbsent("entrypoint", x -> new LinkedHashMap<String, Object>())
                instanceof Map<?, ?> ep)) {
            throw BundleException.badInput("loader.entrypoint is not a table");
        }
        Map<String, Object> entry = (Map<String, Object>) ep;
        if (!(entry.get("uri") instanceof String entryUri)) {
            throw BundleException.badInput("loader.entrypoint.uri is missing");
        }
        if (!entry.containsKey("sha256")) {
            entry.put("sha256", hostHash(entryUri, hostHashes, "loader.entrypoint"));
        }

        if (!(sgx.get("trusted_files") instanceof List<?> list)) {
            throw BundleException.badInput("sgx.trusted_files is not an array");
        }
        // Deduplicated by URI in first-seen order; a hashed entry wins over an unhashed one, two different hashes
        // for one URI are an error (as in Gramine's expand_all_trusted_files).
        Map<String, String> byUri = new LinkedHashMap<>();
        for (Object o : list) {
            String uri;
            String sha = null;
            if (o instanceof String s) {
                uri = s;
            } else if (o instanceof Map<?, ?> m && m.get("uri") instanceof String s) {
                uri = s;
                if (m.get("sha256") instanceof String h) {
                    sha = h;
                }
                if (m.size() != (m.containsKey("sha256") ? 2 : 1)) {
                    throw BundleException.badInput("trusted file " + uri + " has keys other than uri and sha256");
                }
            } else {
                throw BundleException.badInput("unknown trusted file entry " + o);
            }
            if (uri.endsWith("/")) {
                throw BundleException.badInput("trusted directory " + uri + " cannot be expanded here");
            }
            if (byUri.containsKey(uri)) {
                String old = byUri.get(uri);
                if (old != null) {
                    if (sha != null && !sha.equals(old)) {
                        throw BundleException.badInput("two different sha256 values (" + old + " and " + sha
                                + ") for trusted file " + uri);
                    }
                    continue;
                }
            }
            byUri.put(uri, sha);
        }
        List<Object> expanded = new ArrayList<>();
        for (Map.Entry<String, String> e : byUri.entrySet()) {
            Map<String, Object> tf = new LinkedHashMap<>();
            tf.put("uri", e.getKey());
            tf.put("sha256", e.getValue() != null ? e.getValue() : hostHash(e.getKey(), hostHashes, "trusted file"));
            expanded.add(tf);
        }
        sgx.put("trusted_files", expanded);
    }

    private static String hostHash(String uri, Map<String, String> hostHashes, String what) throws BundleException {
        if (!uri.startsWith("file:")) {
            throw BundleException.badInput(what + " " + uri + " is not a file: URI");
        }
        String h = hostHashes.get(uri.substring("file:".length()));
        if (h == null) {
            throw BundleException.badInput(what + " " + uri + " has no SHA-256 and is not a file of the Gramine "
                    + "installation given with --gramine");
        }
        return h;
    }
}
