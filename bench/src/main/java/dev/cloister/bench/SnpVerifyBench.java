package dev.cloister.bench;

import dev.cloister.attestation.Policy;
import dev.cloister.attestation.Verdict;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.policy.Policies;
import dev.cloister.attestation.snp.SnpVerifier;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * SEV-SNP report verification (go-sev-guest's real Milan report and VCEK) and policy appraisal. "cold" builds a new
 * verifier each time, so the three RSA-4096 chain signatures are checked; "warm" reuses one, whose chain cache
 * leaves the report's ECDSA P-384 signature, the certificate parsing and the TCB/CHIP_ID checks.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class SnpVerifyBench {
    static final Instant AT = Instant.parse("2026-11-27T00:00:00Z");
    byte[] report;
    byte[] vcek;
    SnpVerifier warm;
    Policy policy;
    VerifiedEvidence evidence;

    @Setup
    public void setup() throws Exception {
        report = res("gsg_milan_report.bin");
        vcek = res("gsg_milan_vcek.der");
        warm = SnpVerifier.amdRoots();
        policy = Policies.parse("DEBUG:ALLOW MEASUREMENT:" + "00".repeat(48) + "," + java.util.HexFormat.of()
                .formatHex(dev.cloister.attestation.snp.SnpReport.parse(report).measurement())
                + " SNPPOLICY:30000/30000 MINTCB:4405000000000002 VMPL:0 AGE:3650d");
        evidence = warm.verify(report, vcek, AT);
        if (!policy.appraise(evidence, AT).accepted()) {
            throw new IllegalStateException("benchmark policy must accept the sample");
        }
    }

    private static byte[] res(String n) throws IOException {
        try (InputStream in = SnpVerifyBench.class.getResourceAsStream("snp/" + n)) {
            return in.readAllBytes();
        }
    }

    @Benchmark
    public VerifiedEvidence verifyCold() throws Exception {
        return SnpVerifier.amdRoots().verify(report, vcek, AT);
    }

    @Benchmark
    public VerifiedEvidence verifyWarm() throws Exception {
        return warm.verify(report, vcek, AT);
    }

    @Benchmark
    public Verdict appraise() {
        return policy.appraise(evidence, AT);
    }

    @Benchmark
    public Policy parsePolicy() throws Exception {
        return Policies.parse(policy.toText());
    }
}
