package dev.cloister.attestation.sim;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.dcap.EnclaveReport;
import dev.cloister.attestation.dcap.QeIdentity;
import dev.cloister.attestation.dcap.TcbInfo;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Everything a simulated quote and its collateral depend on, with the defaults of {@link Simulator#sgxQuote} and
 * {@link Simulator#tdxQuote}. The editing hooks exist so tests can produce precisely broken evidence (a wrong
 * FMSPC, a revoked PCK, a mismatched QE identity, ...) that is otherwise correctly signed. Not thread-safe; a
 * builder.
 */
public final class SimulationSpec {
    SgxMeasurements sgx;
    TdxMeasurements tdx;
    byte[] reportData = new byte[64];
    TcbStatus status = TcbStatus.UP_TO_DATE;
    Instant at;
    Duration validity = Duration.ofDays(30);
    int quoteVersion;
    int[] pckComponents = {5, 5, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
    int pceSvn = 13;
    byte[] fmspc = HexFormat.of().parseHex("00906ED50000");
    byte[] pceId = new byte[2];
    int qeSvn = 8;
    UnaryOperator<TcbInfo> tcbInfoEditor = UnaryOperator.identity();
    UnaryOperator<QeIdentity> qeIdentityEditor = UnaryOperator.identity();
    UnaryOperator<EnclaveReport> qeReportEditor = UnaryOperator.identity();
    boolean revokePck;
    boolean revokePckCa;
    boolean revokeTcbSigner;
    boolean tcbSignerIsCa;
    String pckCommonName = "Cloister Simulated SGX PCK Certificate";
    byte[] teeTcbSvn2;
    byte[] qeVendorId;

    private SimulationSpec(Instant at) {
        this.at = Objects.requireNonNull(at, "at");
    }

    /** An SGX enclave with these measurements. */
    public static SimulationSpec sgx(SgxMeasurements m, Instant at) {
        SimulationSpec s = new SimulationSpec(at);
        s.sgx = Objects.requireNonNull(m, "measurements");
        return s;
    }

    /** A TDX trust domain with these measurements. */
    public static SimulationSpec tdx(TdxMeasurements m, Instant at) {
        SimulationSpec s = new SimulationSpec(at);
        s.tdx = Objects.requireNonNull(m, "measurements");
        return s;
    }

    /** The 64 bytes of report data. */
    public SimulationSpec reportData(byte[] rd) {
        if (rd == null || rd.length != 64) {
            throw new IllegalArgumentException("report data must be 64 bytes");
        }
        reportData = rd.clone();
        return this;
    }

    /** The platform TCB status the collateral assigns (a TD-relaunch status cannot be simulated). */
    public SimulationSpec status(TcbStatus s) {
        if (s == TcbStatus.TD_RELAUNCH_ADVISED || s == TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED) {
            throw new IllegalArgumentException(s.intelName() + " is computed by the verifier and cannot be simulated");
        }
        status = Objects.requireNonNull(s, "status");
        return this;
    }

    /** How long the collateral stays valid from {@code at} (default 30 days). */
    public SimulationSpec validity(Duration d) {
        validity = Objects.requireNonNull(d, "validity");
        return this;
    }

    /** Quote version: 3 (SGX only), 4 or 5; 0 picks SGX v3 and TDX v4 (v5 when MR_SERVICETD is set). */
    public SimulationSpec quoteVersion(int v) {
        quoteVersion = v;
        return this;
    }

    /** The platform's 16 SGX TCB component SVNs, as written into the PCK certificate. */
    public SimulationSpec pckComponents(int... c) {
        if (c.length != 16) {
            throw new IllegalArgumentException("16 components");
        }
        pckComponents = c.clone();
        return this;
    }

    public SimulationSpec pceSvn(int v) { pceSvn = v; return this; }
    public SimulationSpec fmspc(byte[] f) { fmspc = f.clone(); return this; }
    public SimulationSpec pceId(byte[] p) { pceId = p.clone(); return this; }
    /** The QE's ISVSVN (the QE identity marks 8 and above UpToDate). */
    public SimulationSpec qeSvn(int v) { qeSvn = v; return this; }
    /** Edits the TCB Info before it is signed. */
    public SimulationSpec editTcbInfo(UnaryOperator<TcbInfo> e) { tcbInfoEditor = e; return this; }
    /** Edits the QE Identity before it is signed. */
    public SimulationSpec editQeIdentity(UnaryOperator<QeIdentity> e) { qeIdentityEditor = e; return this; }
    /** Edits the QE report before the PCK signs it. */
    public SimulationSpec editQeReport(UnaryOperator<EnclaveReport> e) { qeReportEditor = e; return this; }
    /** Lists the PCK certificate in the PCK CRL. */
    public SimulationSpec revokePck() { revokePck = true; return this; }
    /** Lists the PCK CA in the root CA CRL. */
    public SimulationSpec revokePckCa() { revokePckCa = true; return this; }
    /** Lists the TCB signing certificate in the root CA CRL. */
    public SimulationSpec revokeTcbSigner() { revokeTcbSigner = true; return this; }
    /** Issues the TCB signing certificate as a CA (which Intel's rules forbid). */
    public SimulationSpec tcbSignerIsCa() { tcbSignerIsCa = true; return this; }
    /** TEE_TCB_SVN_2 of a TD report 1.5 (default: equal to TEE_TCB_SVN). */
    public SimulationSpec teeTcbSvn2(byte[] svn) {
        if (svn.length != 16) {
            throw new IllegalArgumentException("TEE_TCB_SVN_2 is 16 bytes");
        }
        teeTcbSvn2 = svn.clone();
        return this;
    }

    /** The QE vendor ID of the quote header (default Intel's; anything else is a QE_VENDOR_ID_MISMATCH). */
    public SimulationSpec qeVendorId(byte[] id) {
        if (id.length != 16) {
            throw new IllegalArgumentException("the QE vendor ID is 16 bytes");
        }
        qeVendorId = id.clone();
        return this;
    }

    /** The PCK leaf's subject CN. */
    public SimulationSpec pckCommonName(String cn) { pckCommonName = cn; return this; }
}
