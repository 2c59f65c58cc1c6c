package dev.cloister.attestation.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.dcap.Collateral;
import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.dcap.Quote;
import dev.cloister.attestation.dcap.TdReport;
import dev.cloister.core.CloisterException;
import java.time.Instant;
import java.util.Arrays;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SimulatorTest {
    static final Instant AT = Instant.parse("2026-03-01T12:00:00Z");
    static final DcapVerifier SIM = DcapVerifier.withSimulation();

    static byte[] fill(int n, int v) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) v);
        return b;
    }

    static SgxMeasurements sgx(boolean debug) {
        byte[] attr = new byte[16];
        attr[0] = (byte) (0x05 | (debug ? 0x02 : 0));
        return new SgxMeasurements(fill(32, 0xE1), fill(32, 0x51), 7, 3, attr, debug);
    }

    static TdxMeasurements tdx(byte[] mrServiceTd, int moduleMajor) {
        byte[] attr = new byte[8];
        attr[3] = 0x10; // SEPT_VE_DISABLE
        byte[] svn = new byte[16];
        svn[0] = 5;
        svn[1] = (byte) moduleMajor;
        svn[2] = 2;
        return new TdxMeasurements(fill(48, 1), fill(48, 2), fill(48, 3), fill(48, 4), fill(48, 5), fill(48, 6),
                fill(48, 7), mrServiceTd, attr, svn, false);
    }

    @Test
    void sgxQuoteVerifiesAsSimulated() throws Exception {
        byte[] rd = fill(64, 0x42);
        SimulatedEvidence ev = Simulator.standard().sgxQuote(sgx(false), rd, TcbStatus.UP_TO_DATE, AT);
        VerifiedEvidence v = SIM.verify(ev.quote(), ev.collateral(), AT);
        assertThat(v.simulated()).isTrue();
        assertThat(v.rootUsed()).isEqualTo("Cloister simulation root");
        assertThat(v.teeType()).isEqualTo(TeeType.SGX);
        assertThat(v.version()).isEqualTo(3);
        assertThat(v.tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
        assertThat(v.reportData()).isEqualTo(rd);
        assertThat(v.measurements()).usingRecursiveComparison().isEqualTo(sgx(false));
        assertThat(v.collateralIssued()).isEqualTo(AT);
        assertThat(v.collateralNextUpdate()).isEqualTo(AT.plusSeconds(30L * 86400));
    }

    @Test
    void reboundEvidenceVerifiesWithTheNewReportDataAndTheSameCollateral() throws Exception {
        SimulatedEvidence ev = Simulator.standard().sgxQuote(sgx(false), fill(64, 0x42), TcbStatus.UP_TO_DATE, AT);
        SimulatedEvidence again = Simulator.standard().rebind(ev, fill(64, 0x17));
        assertThat(again.collateral()).isEqualTo(ev.collateral());
        assertThat(again.quote()).isNotEqualTo(ev.quote());
        VerifiedEvidence v = SIM.verify(again.quote(), again.collateral(), AT);
        assertThat(v.reportData()).isEqualTo(fill(64, 0x17));
        assertThat(v.measurements()).usingRecursiveComparison().isEqualTo(sgx(false));
        // The signature covers the new report data: putting the old one back breaks it.
        byte[] forged = again.quote();
        int at = indexOf(forged, fill(64, 0x17));
        System.arraycopy(fill(64, 0x42), 0, forged, at, 64);
        assertThatThrownBy(() -> SIM.verify(forged, again.collateral(), AT)).isInstanceOf(EvidenceException.class);
        // Only this simulator's own quotes can be rebound.
        SimulatedEvidence other = Simulator.fromSeed("another seed", "Another root").sgxQuote(sgx(false), fill(64, 1),
                TcbStatus.UP_TO_DATE, AT);
        assertThatThrownBy(() -> Simulator.standard().rebind(other, fill(64, 2))).isInstanceOf(IllegalArgumentException.class);
    }

    static int indexOf(byte[] hay, byte[] needle) {
        for (int i = 0; i + needle.length <= hay.length; i++) {
            if (Arrays.equals(hay, i, i + needle.length, needle, 0, needle.length)) {
                return i;
            }
        }
        throw new AssertionError("not found");
    }

    @Test
    void intelRootDeniesSimulatedEvidence() {
        SimulatedEvidence ev = Simulator.standard().sgxQuote(sgx(false), new byte[64], TcbStatus.UP_TO_DATE, AT);
        assertThatThrownBy(() -> DcapVerifier.intelRoot().verify(ev.quote(), ev.collateral(), AT))
                .isInstanceOfSatisfying(EvidenceException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.DENIED))
                .hasMessageContaining("unknown root");
    }

    @Test
    void tdxV4AndV5QuotesVerify() throws Exception {
        for (TdxMeasurements m : new TdxMeasurements[] {tdx(new byte[48], 0), tdx(new byte[48], 1),
                tdx(fill(48, 9), 0), tdx(fill(48, 9), 3)}) {
            SimulatedEvidence ev = Simulator.standard().tdxQuote(m, fill(64, 7), TcbStatus.UP_TO_DATE, AT);
            Quote q = Quote.parse(ev.quote());
            boolean v15 = !Arrays.equals(m.mrServiceTd(), new byte[48]);
            assertThat(q.header().version()).isEqualTo(v15 ? 5 : 4);
            assertThat(((TdReport) q.body()).isV15()).isEqualTo(v15);
            VerifiedEvidence v = SIM.verify(ev.quote(), ev.collateral(), AT);
            assertThat(v.teeType()).isEqualTo(TeeType.TDX);
            assertThat(v.simulated()).isTrue();
            assertThat(v.measurements()).usingRecursiveComparison().isEqualTo(m);
        }
    }

    @ParameterizedTest
    @EnumSource(value = TcbStatus.class, mode = EnumSource.Mode.EXCLUDE,
            names = {"REVOKED", "TD_RELAUNCH_ADVISED", "TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED"})
    void everyStatusIsReproduced(TcbStatus status) throws Exception {
        SimulatedEvidence s = Simulator.standard().sgxQuote(sgx(false), new byte[64], status, AT);
        assertThat(SIM.verify(s.quote(), s.collateral(), AT).tcbStatus()).isEqualTo(status);
        SimulatedEvidence t = Simulator.standard().tdxQuote(tdx(new byte[48], 1), new byte[64], status, AT);
        VerifiedEvidence v = SIM.verify(t.quote(), t.collateral(), AT);
        assertThat(v.tcbStatus()).isEqualTo(status);
        assertThat(v.advisoryIds().isEmpty()).isEqualTo(status == TcbStatus.UP_TO_DATE);
    }

    @Test
    void revokedIsTerminal() {
        SimulatedEvidence s = Simulator.standard().sgxQuote(sgx(false), new byte[64], TcbStatus.REVOKED, AT);
        assertThatThrownBy(() -> SIM.verify(s.quote(), s.collateral(), AT)).hasMessageContaining("Revoked");
    }

    @Test
    void deterministicAndValidForThirtyDays() throws Exception {
        SimulatedEvidence a = Simulator.standard().sgxQuote(sgx(true), new byte[64], TcbStatus.UP_TO_DATE, AT);
        SimulatedEvidence b = Simulator.fromSeed(Simulator.STANDARD_SEED, "Cloister simulation root")
                .sgxQuote(sgx(true), new byte[64], TcbStatus.UP_TO_DATE, AT);
        assertThat(a.quote()).isEqualTo(b.quote());
        assertThat(a.collateral()).isEqualTo(b.collateral());
        assertThat(Collateral.parse(a.collateral()).toBytes()).isEqualTo(a.collateral());
        assertThat(SIM.verify(a.quote(), a.collateral(), AT.plusSeconds(30L * 86400 - 1)).measurements().debug())
                .isTrue();
        assertThatThrownBy(() -> SIM.verify(a.quote(), a.collateral(), AT.plusSeconds(30L * 86400 + 60)))
                .hasMessageContaining("expired");
        assertThatThrownBy(() -> SIM.verify(a.quote(), a.collateral(), AT.minusSeconds(1)))
                .hasMessageContaining("not yet valid");
    }

    @Test
    void debugMeasurementsGiveDebugEvidence() throws Exception {
        SgxMeasurements m = new SgxMeasurements(fill(32, 1), fill(32, 2), 1, 1, new byte[16], true);
        SimulatedEvidence s = Simulator.standard().sgxQuote(m, new byte[64], TcbStatus.UP_TO_DATE, AT);
        SgxMeasurements seen = (SgxMeasurements) SIM.verify(s.quote(), s.collateral(), AT).measurements();
        assertThat(seen.debug()).isTrue();
        assertThat(seen.attributes()[0]).isEqualTo((byte) 0x02);
        TdxMeasurements t = tdx(new byte[48], 0);
        TdxMeasurements td = new TdxMeasurements(t.mrTd(), t.rtmr0(), t.rtmr1(), t.rtmr2(), t.rtmr3(), t.mrConfigId(),
                t.mrOwner(), t.mrServiceTd(), t.tdAttributes(), t.teeTcbSvn(), true);
        SimulatedEvidence e = Simulator.standard().tdxQuote(td, new byte[64], TcbStatus.UP_TO_DATE, AT);
        assertThat(SIM.verify(e.quote(), e.collateral(), AT).measurements().debug()).isTrue();
    }

    @Test
    void anotherSeedIsAnotherRoot() {
        Simulator other = Simulator.fromSeed("test pki", "Test root");
        SimulatedEvidence ev = other.sgxQuote(sgx(false), new byte[64], TcbStatus.UP_TO_DATE, AT);
        assertThatThrownBy(() -> SIM.verify(ev.quote(), ev.collateral(), AT)).hasMessageContaining("unknown root");
        assertThat(other.rootDer()).isNotEqualTo(Simulator.standard().rootDer());
    }
}
