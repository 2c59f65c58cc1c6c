package dev.cloister.bench;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.dcap.DcapVerifier;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * DCAP quote verification on the real samples of dcap-qvl (the same inputs bench/dcap-peer.sh gives the JS peer):
 * {@code *Full} checks every certificate, CRL and collateral signature on each call (no cache); {@code *Cached}
 * reuses collateral and PCK chains already verified (keyed by their bytes), leaving the QE report and quote
 * signatures, the time checks and the TCB evaluation. Targets: full SGX 2 ms, TDX 2.5 ms; cached 0.5 ms (median).
 *
 * <p>What a full verification may reuse between calls: the decoded public keys of Intel's CA and collateral signing
 * certificates with their precomputed multiples (every signature is still checked); never anything of the quote's
 * platform (PCK leaf, attestation key). {@code *FullParallel} is the same work with the collateral checked on a
 * second thread ({@link DcapVerifier#withExecutor}): latency per verification with two threads, not throughput.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class DcapBench {
    private byte[] sgxQuote;
    private byte[] sgxCollateral;
    private byte[] tdxQuote;
    private byte[] tdxCollateral;
    private static final Instant SGX_AT = Instant.ofEpochSecond(1752919277);
    private static final Instant TDX_AT = Instant.ofEpochSecond(1752919234);
    private DcapVerifier full;
    private DcapVerifier cached;
    private DcapVerifier parallel;
    private ExecutorService pool;

    @Setup
    public void setup() throws EvidenceException {
        Path dir = dataDir();
        sgxQuote = read(dir.resolve("dcap-qvl/sgx_quote"));
        sgxCollateral = read(dir.resolve("dcap-qvl/sgx_quote_collateral.json"));
        tdxQuote = read(dir.resolve("dcap-qvl/tdx_quote"));
        tdxCollateral = read(dir.resolve("dcap-qvl/tdx_quote_collateral.json"));
        full = DcapVerifier.intelRoot().withoutCache();
        cached = DcapVerifier.intelRoot();
        pool = Executors.newFixedThreadPool(1, r -> {
            Thread t = new Thread(r, "dcap-collateral");
            t.setDaemon(true);
            return t;
        });
        parallel = DcapVerifier.intelRoot().withoutCache().withExecutor(pool);
        cached.verify(sgxQuote, sgxCollateral, SGX_AT);
        cached.verify(tdxQuote, tdxCollateral, TDX_AT);
    }

    /** The test resources of cloister-attestation, found from the working directory or {@code -Ddcap.data}. */
    static Path dataDir() {
        String prop = System.getProperty("dcap.data");
        if (prop != null) {
            return Path.of(prop);
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path c = p.resolve("cloister-attestation/src/test/resources/dcap");
            if (Files.isDirectory(c)) {
                return c;
            }
        }
        throw new IllegalStateException("cannot find cloister-attestation/src/test/resources/dcap; set -Ddcap.data");
    }

    private static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Benchmark
    public VerifiedEvidence sgxFull() throws EvidenceException {
        return full.verify(sgxQuote, sgxCollateral, SGX_AT);
    }

    @Benchmark
    public VerifiedEvidence tdxFull() throws EvidenceException {
        return full.verify(tdxQuote, tdxCollateral, TDX_AT);
    }

    @Benchmark
    public VerifiedEvidence sgxFullParallel() throws EvidenceException {
        return parallel.verify(sgxQuote, sgxCollateral, SGX_AT);
    }

    @Benchmark
    public VerifiedEvidence tdxFullParallel() throws EvidenceException {
        return parallel.verify(tdxQuote, tdxCollateral, TDX_AT);
    }

    @TearDown
    public void tearDown() {
        pool.shutdownNow();
    }

    @Benchmark
    public VerifiedEvidence sgxCached() throws EvidenceException {
        return cached.verify(sgxQuote, sgxCollateral, SGX_AT);
    }

    @Benchmark
    public VerifiedEvidence tdxCached() throws EvidenceException {
        return cached.verify(tdxQuote, tdxCollateral, TDX_AT);
    }
}
