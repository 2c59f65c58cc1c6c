package dev.cloister.bundle;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Gramine installation on the build machine ({@code cloister build --gramine DIR}), used only to compute what
 * {@code gramine-sgx-sign} would: the hash of {@code libsysdb.so}, of Gramine's runtime libraries the manifest
 * trusts, and the segments of {@code sgx/libpal.so}.
 *
 * <p>{@code DIR} is either Gramine's library directory ({@code /usr/lib/x86_64-linux-gnu/gramine}, holding
 * {@code sgx/libpal.so}, {@code libsysdb.so} and {@code runtime/glibc/}) or an installation prefix ({@code /usr},
 * {@code /usr/local}, {@code /opt/gramine}) below which that directory is {@code lib/x86_64-linux-gnu/gramine},
 * {@code lib64/gramine} or {@code lib/gramine}.
 *
 * @param libDir Gramine's library directory
 */
public record GramineInstall(Path libDir) {
    private static final List<String> UNDER_PREFIX = List.of("lib/x86_64-linux-gnu/gramine", "lib64/gramine",
            "lib/gramine");

    /** Finds the library directory in {@code dir}. */
    public static GramineInstall locate(Path dir) throws BundleException {
        List<Path> tried = new ArrayList<>();
        tried.add(dir);
        UNDER_PREFIX.forEach(u -> tried.add(dir.resolve(u)));
        for (Path p : tried) {
            if (Files.isRegularFile(p.resolve("sgx/libpal.so")) && Files.isRegularFile(p.resolve("libsysdb.so"))) {
                return new GramineInstall(p.toAbsolutePath().normalize());
            }
        }
        throw BundleException.badInput("--gramine " + dir + " is not a Gramine installation: no sgx/libpal.so and "
                + "libsysdb.so in it or in its lib/x86_64-linux-gnu/gramine, lib64/gramine or lib/gramine");
    }

    /** {@code sgx/libpal.so}. */
    public Path libpal() {
        return libDir.resolve("sgx/libpal.so");
    }

    /** {@code libsysdb.so}, the LibOS ({@code loader.entrypoint}). */
    public Path libsysdb() {
        return libDir.resolve("libsysdb.so");
    }

    /** {@code runtime/glibc}, Gramine's patched C library and runtime helpers. */
    public Path runtimeGlibc() {
        return libDir.resolve("runtime/glibc");
    }

    /** SHA-256 (hex) of a file of the installation; a missing file is bad input naming it. */
    static String sha256(Path p) throws BundleException {
        try {
            return ParallelHasher.one(p, null).sha256();
        } catch (IOException e) {
            throw BundleException.badInput("cannot read " + p + " of the Gramine installation: " + e.getMessage());
        }
    }

    /**
     * The host-side hashes a spec's {@code .manifest.sgx} needs: every host path the manifest names below
     * {@code spec.libos()}'s directory or {@code spec.gramineRuntime()} without a hash, mapped to the same file in
     * this installation.
     */
    Map<String, String> hostHashes(BundleSpec spec) throws BundleException {
        Map<String, String> out = new TreeMap<>();
        if (spec.libosSha256().isEmpty()) {
            out.put(spec.libos(), sha256(libsysdb()));
        }
        if (spec.keyBroker()) {
            String lib = spec.gramineRuntime() + "/" + BundleSpec.SECRET_PROV_LIB;
            out.put(lib, sha256(runtimeGlibc().resolve(BundleSpec.SECRET_PROV_LIB)));
        }
        return out;
    }

    /** The PAL, parsed, and its bytes. */
    record Pal(PalImage image, byte[] bytes) {}

    Pal pal() throws BundleException {
        byte[] b;
        try {
            b = Files.readAllBytes(libpal());
        } catch (IOException e) {
            throw BundleException.badInput("cannot read " + libpal() + ": " + e.getMessage());
        }
        return new Pal(PalImage.parse(b, libpal().toString()), b);
    }

    /** MRENCLAVE and the manifest for a spec, as {@code gramine-sgx-sign} computes them with this installation. */
    GramineResult measure(BundleSpec spec) throws BundleException {
        Map<String, String> hashes = hostHashes(spec);
        byte[] sgx = GramineManifest.manifestSgx(spec, hashes);
        Pal pal = pal();
        GramineEnclave.Measurement m = GramineEnclave.measure(sgx, GramineEnclave.parseSize(spec.enclaveSize()),
                spec.maxThreads(), false, pal.image(), pal.bytes());
        return new GramineResult(HexFormat.of().formatHex(m.mrenclave()), sgx, hashes);
    }

    /**
     * What a build records about Gramine.
     *
     * @param mrenclave   MRENCLAVE (hex)
     * @param manifestSgx the {@code .manifest.sgx} bytes
     * @param hostHashes  the host-side hashes that went into it
     */
    record GramineResult(String mrenclave, byte[] manifestSgx, Map<String, String> hostHashes) {}
}
