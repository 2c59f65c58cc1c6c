package dev.cloister.attestation.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TdxMeasurements;
import dev.cloister.attestation.Verdict;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.sim.SimulatedEvidence;
import dev.cloister.attestation.sim.Simulator;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** Policies appraising evidence the real verifiers produced: real DCAP quotes at their fixed times, simulation. */
class PolicyOnRealEvidenceTest {
    static final HexFormat HEX = HexFormat.of();
    final DcapVerifier intel = DcapVerifier.intelRoot();

    static byte[] dcap(String path) {
        try (InputStream in = PolicyOnRealEvidenceTest.class.getResourceAsStream("/dcap/" + path)) {
            return in.readAllBytes();
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("missing test resource " + path, e);
        }
    }

    VerifiedEvidence verify(String quote, String collateral, long at) throws EvidenceException {
        return intel.verify(dcap(quote), dcap(collateral), Instant.ofEpochSecond(at));
    }

    @Test
    void alibabaTdV5WithAServiceTdIsUpToDateButDeniedByDefaultAndAcceptedWhenItsServiceTdIsNamed() throws Exception {
        long at = 1749945600L;
        VerifiedEvidence ev = verify("automata/quote_v5_tdx_alibaba_90c06f000000.dat",
                "automata/collateral_v5_tdx_0625_assembled.json", at);
        assertThat(ev.tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
        TdxMeasurements m = (TdxMeasurements) ev.measurements();
        assertThat(m.mrServiceTd()).isNotEqualTo(new byte[48]);
        Instant t = Instant.ofEpochSecond(at);
        Verdict def = Policies.defaultPolicy().appraise(ev, t);
        assertThat(def.accepted()).isFalse();
        assertThat(def.reasons()).anySatisfy(r -> assertThat(r).startsWith("mrServiceTd "
                + HEX.formatHex(m.mrServiceTd()) + " is not all zero"));
        boolean septVe = (m.tdAttributes()[3] & 0x10) != 0;
        String policy = "MRTD:" + HEX.formatHex(m.mrTd()) + " MRSERVICETD:" + HEX.formatHex(m.mrServiceTd())
                + (septVe ? "" : " SEPTVE:ALLOW");
        assertThat(Policies.parse(policy).appraise(ev, t).explanation()).isEqualTo("accepted");
    }

    @Test
    void realSgxQuoteOnTheUpgradePathAndCollateralAge() throws Exception {
        long at = 1752919277L;
        VerifiedEvidence ev = verify("dcap-qvl/sgx_quote", "dcap-qvl/sgx_quote_collateral.json", at);
        SgxMeasurements m = (SgxMeasurements) ev.measurements();
        Instant t = Instant.ofEpochSecond(at);
        String base = "S:" + HEX.formatHex(m.mrSigner()) + " PROD:" + m.isvProdId()
                + " TCB:ConfigurationAndSWHardeningNeeded ADV:INTEL-SA-00289,INTEL-SA-00615";
        assertThat(Policies.parse(base + " SVN:" + m.isvSvn()).appraise(ev, t).accepted()).isTrue();
        assertThat(Policies.parse(base + " SVN:" + (m.isvSvn() + 1)).appraise(ev, t).reasons())
                .containsExactly("isvSvn " + m.isvSvn() + " is below the minimum " + (m.isvSvn() + 1));
        // The collateral was issued 2025-06-19T10:56:11Z; at the fixed time it is 30 days old.
        assertThat(Policies.parse(base + " AGE:31d").appraise(ev, t).accepted()).isTrue();
        assertThat(Policies.parse(base + " AGE:1d").appraise(ev, t).explanation())
                .startsWith("collateral issued " + ev.collateralIssued() + " is ");
    }

    @Test
    void simulatedEvidenceIsRejectedByIntelsRootAndDeniedByPoliciesWithoutSimAllow() throws Exception {
        Instant at = Instant.parse("2026-11-01T00:00:00Z");
        byte[] attrs = new byte[16];
        attrs[0] = 0x05;
        SgxMeasurements m = new SgxMeasurements(fill(32, 1), fill(32, 2), 1, 3, attrs, false);
        byte[] rd = fill(64, 9);
        SimulatedEvidence sim = Simulator.standard().sgxQuote(m, rd, TcbStatus.UP_TO_DATE, at);
        assertThatThrownBy(() -> intel.verify(sim.quote(), sim.collateral(), at))
                .isInstanceOf(EvidenceException.class).hasMessageContaining("unknown root");
        VerifiedEvidence ev = DcapVerifier.withSimulation().verify(sim.quote(), sim.collateral(), at);
        assertThat(ev.simulated()).isTrue();
        String p = "E:" + HEX.formatHex(fill(32, 1)) + " S:" + HEX.formatHex(fill(32, 2)) + " PROD:1 SVN:3 RD:"
                + HEX.formatHex(rd);
        assertThat(Policies.parse(p).appraise(ev, at).reasons())
                .containsExactly("simulated evidence is not allowed (root: Cloister simulation root); only SIM:ALLOW"
                        + " accepts it");
        assertThat(Policies.parse(p + " SIM:ALLOW").appraise(ev, at).accepted()).isTrue();
        assertThat(Policies.parse("allow-simulated: true\nmin-isv-svn: 3\nisv-prod-id: 1")
                .appraise(ev, at).accepted()).isTrue();
    }

    static byte[] fill(int n, int v) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) v);
        return b;
    }
}
