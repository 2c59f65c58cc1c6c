package dev.cloister.bundle;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Everything that decides a bundle's Gramine manifest. The manifest is rendered from this record alone, so the
 * record stored in {@code cloister.json} and the manifest bytes can be checked against each other.
 *
 * @param entrypoint      {@code libos.entrypoint}: the first program the enclave runs
 * @param argv            {@code loader.argv}, argv[0] included (fixed at build time, so trusted)
 * @param env             {@code loader.env} fixed values
 * @param passthroughEnv  {@code loader.env} names taken from the host (never secrets: the broker address)
 * @param files           the trusted files under {@code root/}, sorted by path
 * @param allowedFiles    {@code sgx.allowed_files} URIs (unverified host files)
 * @param enclaveSize     {@code sgx.enclave_size}, e.g. {@code "1G"}
 * @param maxThreads      {@code sgx.max_threads}
 * @param isvProdId       {@code sgx.isvprodid}
 * @param isvSvn          {@code sgx.isvsvn}
 * @param libos           {@code loader.entrypoint.uri}: Gramine's libsysdb.so on the SGX host
 * @param libosSha256     its SHA-256 when a Gramine installation was given, otherwise empty (Gramine's tools fill
 *                        it in on the SGX host)
 * @param inputsPath      enclave path of the encrypted mount for job inputs
 * @param outputsPath     enclave path of the encrypted mount for job outputs
 * @param keyBroker       whether the encrypted-files key is provisioned from the Cloister key broker at start
 * @param gramineRuntime  host directory of Gramine's runtime libraries (for the secret-provisioning library)
 */
public record BundleSpec(String entrypoint, List<String> argv, SortedMap<String, String> env,
        List<String> passthroughEnv, List<BundleFile> files, List<String> allowedFiles, String enclaveSize,
        int maxThreads, int isvProdId, int isvSvn, String libos, Optional<String> libosSha256, String inputsPath,
        String outputsPath, boolean keyBroker, String gramineRuntime) {

    /** Where the bundle's files live, relative to the bundle directory (and to Gramine's working directory). */
    public static final String ROOT = "root";
    /** Enclave path of the key broker's CA certificate, a trusted file. */
    public static final String BROKER_CA = "/etc/cloister/broker-ca.pem";
    /** Enclave path where Gramine's runtime directory is mounted. */
    public static final String RUNTIME_MOUNT = "/gramine/runtime";
    /** Name of the encrypted-files key ({@code /dev/attestation/keys/<name>}) the broker provisions. */
    public static final String KEY_NAME = "default";
    /** Gramine's secret-provisioning library in its runtime directory. */
    public static final String SECRET_PROV_LIB = "libsecret_prov_attest.so";

    public BundleSpec {
        argv = List.copyOf(argv);
        env = java.util.Collections.unmodifiableSortedMap(new TreeMap<>(env));
        passthroughEnv = List.copyOf(new TreeSet<>(passthroughEnv));
        files = files.stream().sorted(java.util.Comparator.comparing(BundleFile::path)).toList();
        allowedFiles = List.copyOf(new TreeSet<>(allowedFiles));
    }

    /** The canonical Gramine 1.9 manifest (see {@link Toml} for the byte format). */
    public byte[] manifest() {
        return Toml.render(document());
    }

    /**
     * The canonical manifest with what a runner must add or change at run time (for example the launcher that
     * gramine-direct starts first), rendered by the same writer. {@code additions} receives the manifest as dotted
     * key -> value, with {@code fs.mounts} and {@code sgx.trusted_files} as modifiable lists.
     */
    public byte[] manifest(java.util.function.Consumer<Map<String, Object>> additions) {
        Map<String, Object> m = document();
        additions.accept(m);
        return Toml.render(m);
    }

    /** The manifest as dotted key -> value ({@link Toml#render} and {@link GramineManifest} both start here). */
    Map<String, Object> document() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("libos.entrypoint", entrypoint);
        m.put("loader.argv", argv);
        m.put("loader.entrypoint.uri", "file:" + libos);
        libosSha256.ifPresent(h -> m.put("loader.entrypoint.sha256", h));
        m.put("loader.log_level", "error");
        SortedMap<String, Object> envAll = new TreeMap<>(env);
        for (String p : passthroughEnv) {
            envAll.put(p, Map.of("passthrough", true));
        }
        if (keyBroker) {
            // Gramine's secret-provisioning constructor runs before main(), attests over RA-TLS to the broker and
            // writes the 16-byte key it receives to /dev/attestation/keys/default, which the encrypted mounts use.
            envAll.put("LD_PRELOAD", RUNTIME_MOUNT + "/" + SECRET_PROV_LIB);
            envAll.put("SECRET_PROVISION_CONSTRUCTOR", "1");
            envAll.put("SECRET_PROVISION_SET_KEY", KEY_NAME);
            envAll.put("SECRET_PROVISION_CA_CHAIN_PATH", BROKER_CA);
            m.put("sys.enable_extra_runtime_domain_names_conf", true);
        }
        envAll.forEach((k, v) -> m.put("loader.env." + k, v));
        m.put("fs.root", Map.of("type", "chroot", "uri", "file:" + ROOT));
        List<Object> mounts = new ArrayList<>();
        if (keyBroker) {
            mounts.add(Map.of("path", RUNTIME_MOUNT, "type", "chroot", "uri", "file:" + gramineRuntime));
        }
        mounts.add(Map.of("path", "/tmp", "type", "tmpfs"));
        mounts.add(Map.of("path", inputsPath, "type", "encrypted", "uri", "file:inputs", "key_name", KEY_NAME));
        mounts.add(Map.of("path", outputsPath, "type", "encrypted", "uri", "file:outputs", "key_name", KEY_NAME));
        m.put("fs.mounts", mounts);
        m.put("sgx.debug", false);
        m.put("sgx.edmm_enable", false);
        m.put("sgx.enclave_size", enclaveSize);
        m.put("sgx.max_threads", maxThreads);
        m.put("sgx.isvprodid", isvProdId);
        m.put("sgx.isvsvn", isvSvn);
        m.put("sgx.remote_attestation", "dcap");
        m.put("sgx.file_check_policy", "strict");
        List<Object> trusted = new ArrayList<>();
        for (BundleFile f : files) {
            trusted.add(Map.of("uri", "file:" + ROOT + f.path(), "sha256", f.sha256()));
        }
        if (keyBroker) {
            // Gramine's own library: its hash is filled in by gramine-manifest on the SGX host.
            trusted.add("file:" + gramineRuntime + "/" + SECRET_PROV_LIB);
        }
        m.put("sgx.trusted_files", trusted);
        m.put("sgx.allowed_files", allowedFiles);
        return m;
    }
}
