package dev.cloister.kbs;

import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.sim.SimulatedEvidence;
import dev.cloister.attestation.sim.Simulator;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;

/**
 * Simulated evidence for the broker's tests: real SGX v3 DCAP quotes and collateral from the attestation library's
 * published simulation PKI, checked by the real {@link DcapVerifier#withSimulation()}.
 */
public final class TestSupport {
    private TestSupport() {}

    public static final byte[] MRENCLAVE = HexFormat.of().parseHex("11".repeat(32));
    public static final byte[] MRSIGNER = HexFormat.of().parseHex("22".repeat(32));

    public static SgxMeasurements good() {
        return sgx(MRENCLAVE, false, 3);
    }

    /** SGX measurements with INIT and MODE64BIT set (as every real enclave has), DEBUG as asked. */
    public static SgxMeasurements sgx(byte[] mrEnclave, boolean debug, int svn) {
        byte[] attrs = new byte[16];
        attrs[0] = (byte) (0x04 | (debug ? 0x02 : 0) | 0x01);
        attrs[8] = 0x03;
        return new SgxMeasurements(mrEnclave, MRSIGNER, 1, svn, attrs, debug);
    }

    /** The policy that accepts {@link #good()} as simulated evidence. */
    public static String allowPolicy() {
        return "E:" + HexFormat.of().formatHex(MRENCLAVE) + " S:" + HexFormat.of().formatHex(MRSIGNER)
                + " PROD:1 SVN:3 TCB:UpToDate SIM:ALLOW";
    }

    /** {quote, collateral}. */
    public static byte[][] quote(SgxMeasurements m, byte[] reportData, TcbStatus status, Instant at) {
        SimulatedEvidence e = Simulator.standard().sgxQuote(m, reportData, status, at);
        return new byte[][] {e.quote(), e.collateral()};
    }

    public static KbsClient.EvidenceSource source(SgxMeasurements m, TcbStatus status, Instant at) {
        return rd -> quote(m, rd, status, at);
    }

    public static EvidenceVerifier verifier() {
        return DcapVerifier.withSimulation();
    }

    public static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }
}
