package dev.cloister.bundle;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What {@link BundleBuilder} packages and how. Exactly one of {@code binary}, {@code dir} or {@code image} is
 * set.
 *
 * @param name           bundle name (cloister.json)
 * @param version        bundle version (cloister.json)
 * @param binary         a program on this machine, bundled at its own absolute path with its libraries
 * @param dir            an application directory, bundled at {@code dirMount}
 * @param dirMount       enclave path of {@code dir} (default {@code /app})
 * @param entrypoint     for {@code dir}: the program, relative to the directory
 * @param image          an OCI image layout or {@code docker save} tarball
 * @param includes       extra files or directories (absolute paths in the program's file system)
 * @param args           arguments after the program (or after the image's entrypoint and cmd)
 * @param env            fixed environment variables (override defaults and the image's)
 * @param allowedFiles   {@code sgx.allowed_files} URIs
 * @param enclaveSize    {@code sgx.enclave_size}
 * @param maxThreads     {@code sgx.max_threads}
 * @param isvProdId      {@code sgx.isvprodid}
 * @param isvSvn         {@code sgx.isvsvn}
 * @param brokerCa       the key broker's CA certificate (PEM); when given, the encrypted-files key is
 *                       provisioned by the broker
 * @param broker         the broker's {@code host:port}; without it the address is taken from the host at start
 * @param gramineLibDir  Gramine's library directory on the SGX host
 * @param threads        hashing threads
 * @param gramine        a Gramine installation on this machine ({@code --gramine}): when given, the build also
 *                       writes {@code entrypoint.manifest.sgx} and computes Gramine's MRENCLAVE from its
 *                       {@code libpal.so}
 */
public record BuildOptions(String name, String version, Optional<Path> binary, Optional<Path> dir, String dirMount,
        Optional<String> entrypoint, Optional<Path> image, List<String> includes, List<String> args,
        Map<String, String> env, List<String> allowedFiles, String enclaveSize, int maxThreads, int isvProdId,
        int isvSvn, Optional<Path> brokerCa, Optional<String> broker, String gramineLibDir, int threads,
        Optional<Path> gramine) {

    /** Gramine's library directory as the Debian/Ubuntu packages install it. */
    public static final String DEFAULT_GRAMINE_LIB = "/usr/lib/x86_64-linux-gnu/gramine";

    public BuildOptions {
        includes = List.copyOf(includes);
        args = List.copyOf(args);
        env = Map.copyOf(env);
        allowedFiles = List.copyOf(allowedFiles);
    }

    /** Options without a Gramine installation (no MRENCLAVE). */
    public BuildOptions(String name, String version, Optional<Path> binary, Optional<Path> dir, String dirMount,
            Optional<String> entrypoint, Optional<Path> image, List<String> includes, List<String> args,
            Map<String, String> env, List<String> allowedFiles, String enclaveSize, int maxThreads, int isvProdId,
            int isvSvn, Optional<Path> brokerCa, Optional<String> broker, String gramineLibDir, int threads) {
        this(name, version, binary, dir, dirMount, entrypoint, image, includes, args, env, allowedFiles, enclaveSize,
                maxThreads, isvProdId, isvSvn, brokerCa, broker, gramineLibDir, threads, Optional.empty());
    }

    /** A copy that also computes Gramine's MRENCLAVE with the installation at {@code dir}. */
    public BuildOptions withGramine(Optional<Path> dir) {
        return new BuildOptions(name, version, binary, this.dir, dirMount, entrypoint, image, includes, args, env,
                allowedFiles, enclaveSize, maxThreads, isvProdId, isvSvn, brokerCa, broker, gramineLibDir, threads,
                dir);
    }

    /** A copy with another library directory on the SGX host ({@code loader.entrypoint.uri} and the runtime). */
    public BuildOptions withGramineLibDir(String v) {
        return new BuildOptions(name, version, binary, dir, dirMount, entrypoint, image, includes, args, env,
                allowedFiles, enclaveSize, maxThreads, isvProdId, isvSvn, brokerCa, broker, v, threads, gramine);
    }

    /** Defaults for a program on this machine. */
    public static BuildOptions binary(Path binary) {
        return new BuildOptions("bundle", "0.0.0", Optional.of(binary), Optional.empty(), "/app", Optional.empty(),
                Optional.empty(), List.of(), List.of(), Map.of(), List.of(), "1G", 8, 0, 0, Optional.empty(),
                Optional.empty(), DEFAULT_GRAMINE_LIB, Runtime.getRuntime().availableProcessors());
    }

    /** Defaults for an application directory. */
    public static BuildOptions dir(Path dir, String entrypoint) {
        return binary(Path.of("/")).withSource(Optional.empty(), Optional.of(dir), Optional.of(entrypoint),
                Optional.empty());
    }

    /** Defaults for an image. */
    public static BuildOptions image(Path tarball) {
        return binary(Path.of("/")).withSource(Optional.empty(), Optional.empty(), Optional.empty(),
                Optional.of(tarball));
    }

    private BuildOptions withSource(Optional<Path> b, Optional<Path> d, Optional<String> e, Optional<Path> i) {
        return new BuildOptions(name, version, b, d, dirMount, e, i, includes, args, env, allowedFiles, enclaveSize,
                maxThreads, isvProdId, isvSvn, brokerCa, broker, gramineLibDir, threads, gramine);
    }

    /** A copy with other includes. */
    public BuildOptions withIncludes(List<String> v) {
        return new BuildOptions(name, version, binary, dir, dirMount, entrypoint, image, v, args, env, allowedFiles,
                enclaveSize, maxThreads, isvProdId, isvSvn, brokerCa, broker, gramineLibDir, threads, gramine);
    }

    /** A copy with other arguments. */
    public BuildOptions withArgs(List<String> v) {
        return new BuildOptions(name, version, binary, dir, dirMount, entrypoint, image, includes, v, env,
                allowedFiles, enclaveSize, maxThreads, isvProdId, isvSvn, brokerCa, broker, gramineLibDir, threads, gramine);
    }

    /** A copy with another name and version. */
    public BuildOptions withName(String n, String v) {
        return new BuildOptions(n, v, binary, dir, dirMount, entrypoint, image, includes, args, env, allowedFiles,
                enclaveSize, maxThreads, isvProdId, isvSvn, brokerCa, broker, gramineLibDir, threads, gramine);
    }

    /** A copy with a key broker. */
    public BuildOptions withBroker(Optional<Path> ca, Optional<String> address) {
        return new BuildOptions(name, version, binary, dir, dirMount, entrypoint, image, includes, args, env,
                allowedFiles, enclaveSize, maxThreads, isvProdId, isvSvn, ca, address, gramineLibDir, threads, gramine);
    }

    /** A copy with other environment variables. */
    public BuildOptions withEnv(Map<String, String> v) {
        return new BuildOptions(name, version, binary, dir, dirMount, entrypoint, image, includes, args, v,
                allowedFiles, enclaveSize, maxThreads, isvProdId, isvSvn, brokerCa, broker, gramineLibDir, threads, gramine);
    }

    /** A copy with other SGX settings. */
    public BuildOptions withSgx(String size, int threadsMax, int prodId, int svn) {
        return new BuildOptions(name, version, binary, dir, dirMount, entrypoint, image, includes, args, env,
                allowedFiles, size, threadsMax, prodId, svn, brokerCa, broker, gramineLibDir, threads, gramine);
    }

    /** A copy with other allowed files. */
    public BuildOptions withAllowedFiles(List<String> v) {
        return new BuildOptions(name, version, binary, dir, dirMount, entrypoint, image, includes, args, env, v,
                enclaveSize, maxThreads, isvProdId, isvSvn, brokerCa, broker, gramineLibDir, threads, gramine);
    }
}
