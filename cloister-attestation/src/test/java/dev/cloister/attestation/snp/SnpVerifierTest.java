package dev.cloister.attestation.snp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.ReasonCode;
import dev.cloister.attestation.Reasons;
import dev.cloister.attestation.SnpMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.TeeType;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.policy.Policies;
import dev.cloister.core.CloisterException.Kind;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SnpVerifierTest {
    static final Instant AT = Instant.parse("2026-11-27T00:00:00Z");
    final SnpVerifier verifier = SnpVerifier.amdRoots();

    static byte[] res(String name) {
        try (InputStream in = SnpVerifierTest.class.getResourceAsStream("/snp/" + name)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource " + name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        byte[] out = new byte[n];
        int o = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }

    static byte[] virteeReport() {
        return HexFormat.of().parseHex(new String(res("virtee_milan_report.hex"), StandardCharsets.US_ASCII).strip());
    }

    @ParameterizedTest(name = "{0} with {1}")
    @CsvSource({
        "gsg_milan_report.bin, gsg_milan_vcek.der, , 2026-11-27T00:00:00Z, 2",
        "gsg_milan_report.bin, gsg_milan_vcek.der, virtee_cert_chain_milan.pem, 2026-11-27T00:00:00Z, 2",
        "trustee_milan_report.bin, trustee_milan_vcek.der, , 2026-11-27T00:00:00Z, 2",
        "trustee_vlek_report.bin, trustee_vlek.der, , 2025-06-01T00:00:00Z, 3",
        "sev-gcp.bin, sev-gcp-vcek.pem, sev-gcp-cert-chain.pem, 2026-11-27T00:00:00Z, 5",
        "sev-gcp-reportdata.bin, sev-gcp-x25519-vcek.pem, sev-gcp-cert-chain.pem, 2026-11-27T00:00:00Z, 5",
        "sev-gcp-x25519-bound.bin, sev-gcp-x25519-vcek.pem, sev-gcp-x25519-cert-chain.pem, 2026-11-27T00:00:00Z, 5",
        "az_snp_hcl_report.bin, az_snp_vcek_chain.pem, , 2026-11-27T00:00:00Z, 2",
    })
    void realReportsVerifyAgainstTheirChains(String report, String vcek, String chain, String at, int version)
            throws Exception {
        byte[] collateral = chain == null ? res(vcek) : concat(pem(vcek), res(chain));
        VerifiedEvidence ev = verifier.verify(res(report), collateral, Instant.parse(at));
        assertThat(ev.teeType()).isEqualTo(TeeType.SEV_SNP);
        assertThat(ev.version()).isEqualTo(version);
        assertThat(ev.tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
        assertThat(ev.rootUsed()).isEqualTo("AMD ARK-Milan");
        assertThat(ev.simulated()).isFalse();
        assertThat(ev.collateralNextUpdate()).isAfter(Instant.parse(at));
        SnpReport r = SnpReport.parse(SnpVerifier.unwrap(res(report)));
        SnpMeasurements m = (SnpMeasurements) ev.measurements();
        assertThat(m.measurement()).isEqualTo(r.measurement());
        assertThat(m.reportedTcb()).isEqualTo(r.reportedTcb());
        assertThat(ev.reportData()).isEqualTo(r.reportData());
    }

    /** A DER certificate as PEM, so that it can be concatenated with a PEM chain. */
    static byte[] pem(String name) {
        byte[] b = res(name);
        if (b[0] == '-') {
            return b;
        }
        String body = java.util.Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(b);
        return ("-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n")
                .getBytes(StandardCharsets.US_ASCII);
    }

    @Test
    void virteeHexReportVerifiesAndMilanReportFacts() throws Exception {
        VerifiedEvidence ev = verifier.verify(virteeReport(), res("virtee_milan_vcek.der"), AT);
        assertThat(ev.version()).isEqualTo(2);
        VerifiedEvidence gsg = verifier.verify(res("gsg_milan_report.bin"), res("gsg_milan_vcek.der"), AT);
        SnpMeasurements m = (SnpMeasurements) gsg.measurements();
        assertThat(m.policy()).isEqualTo(0xB0000L);
        assertThat(m.vmpl()).isZero();
        assertThat(m.debug()).as("policy bit 19 is set in this report").isTrue();
        // bl 2, tee 0, snp 5, ucode 68 in the Milan layout
        assertThat(m.reportedTcb()).isEqualTo(0x4405000000000002L);
        assertThat(Policies.parse("MINTCB:4405000000000002 SNPPOLICY:30000/30000 VMPL:0 DEBUG:ALLOW").appraise(gsg, AT).accepted())
                .isTrue();
        assertThat(Policies.parse("MINTCB:4408000000000002").appraise(gsg, AT).explanation())
                .contains("below the minimum").contains("SEV-SNP guest runs in debug mode");
    }

    @Test
    void vlekExpiresOnItsDate() {
        assertThatThrownBy(() -> verifier.verify(res("trustee_vlek_report.bin"), res("trustee_vlek.der"),
                Instant.parse("2026-11-22T00:00:00Z")))
                .isInstanceOf(EvidenceException.class)
                .hasMessageContaining("SEV-VLEK certificate expired 2025-12-10T22:14:21Z")
                .satisfies(e -> assertThat(((EvidenceException) e).kind()).isEqualTo(Kind.DENIED))
                .satisfies(Reasons.is(ReasonCode.COLLATERAL_EXPIRED));
    }

    @Test
    void notYetValidVcekIsDenied() {
        assertThatThrownBy(() -> verifier.verify(res("gsg_milan_report.bin"), res("gsg_milan_vcek.der"),
                Instant.parse("2022-01-01T00:00:00Z")))
                .hasMessageContaining("SEV-VCEK certificate is not valid before 2022-09-24T00:55:28Z")
                .satisfies(Reasons.is(ReasonCode.COLLATERAL_NOT_YET_VALID));
    }

    @Test
    void wrongProductChainFails() {
        byte[] collateral = concat(pem("gsg_milan_vcek.der"), res("virtee_cert_chain_turin.pem"));
        assertThatThrownBy(() -> verifier.verify(res("gsg_milan_report.bin"), collateral, AT))
                .isInstanceOf(EvidenceException.class)
                .hasMessageContaining("no certificate for the issuer of the VCEK/VLEK (SEV-Milan) in the collateral's chain")
                .satisfies(Reasons.is(ReasonCode.CERTIFICATE_CHAIN_INVALID));
    }

    @Test
    void reportWithAnotherChipsVcekFails() {
        assertThatThrownBy(() -> verifier.verify(res("gsg_milan_report.bin"), res("trustee_milan_vcek.der"), AT))
                .hasMessage("SEV-SNP report signature does not verify with the VCEK")
                .satisfies(Reasons.is(ReasonCode.SIGNATURE_INVALID));
    }

    @Test
    void vlekReportWithVcekCollateralIsDenied() {
        assertThatThrownBy(() -> verifier.verify(res("trustee_vlek_report.bin"), res("trustee_milan_vcek.der"),
                Instant.parse("2025-06-01T00:00:00Z")))
                .hasMessage("SEV-SNP report says it is signed by signing key 1 but the collateral is a VCEK")
                .satisfies(Reasons.is(ReasonCode.SIGNING_KEY_MISMATCH));
    }

    @Test
    void turinChainVerifiesUpToTheVcek() throws Exception {
        // virtee ships a Turin VCEK and chain but no Turin report: the chain checks pass and the report check is
        // reached (and fails: the Milan report is not signed by this key).
        byte[] collateral = concat(pem("virtee_turin_vcek.der"), res("virtee_cert_chain_turin.pem"));
        assertThatThrownBy(() -> verifier.verify(res("gsg_milan_report.bin"), collateral, AT))
                .hasMessage("SEV-SNP report signature does not verify with the VCEK");
    }

    @Test
    void everyFlippedSignedByteOrSignatureByteIsRejected() {
        byte[] good = res("gsg_milan_report.bin");
        byte[] vcek = res("gsg_milan_vcek.der");
        for (int i = 0; i < SnpReport.SIGNED_LENGTH + 144; i++) {
            byte[] bad = good.clone();
            bad[i] ^= (byte) (1 << (i % 8));
            int at = i;
            assertThatThrownBy(() -> verifier.verify(bad, vcek, AT)).as("byte 0x%x", at)
                    .isInstanceOf(EvidenceException.class);
        }
        // Upstream negatives (trustee): byte 42 +1 breaks the signature, as does byte 384 (REPORTED_TCB).
        for (int i : new int[] {42, 384}) {
            byte[] bad = res("trustee_milan_report.bin");
            bad[i]++;
            assertThatThrownBy(() -> verifier.verify(bad, res("trustee_milan_vcek.der"), AT))
                    .hasMessage("SEV-SNP report signature does not verify with the VCEK");
        }
    }

    @Test
    void malformedInputIsBadInput() {
        assertBadInput(new byte[100], res("gsg_milan_vcek.der"), "must be 1184 bytes, got 100");
        assertBadInput(res("gsg_milan_report.bin"), null, "needs the VCEK or VLEK certificate");
        assertBadInput(res("gsg_milan_report.bin"), "not a cert".getBytes(StandardCharsets.US_ASCII),
                "not a PEM or DER certificate");
        assertBadInput(res("gsg_milan_report.bin"), res("virtee_cert_chain_milan.pem"),
                "exactly one VCEK/VLEK (EC P-384) certificate, found 0");
    }

    private void assertBadInput(byte[] report, byte[] collateral, String message) {
        assertThatThrownBy(() -> verifier.verify(report, collateral, AT))
                .isInstanceOf(EvidenceException.class)
                .hasMessageContaining(message)
                .satisfies(e -> assertThat(((EvidenceException) e).kind()).isEqualTo(Kind.BAD_INPUT))
                .satisfies(Reasons.is(ReasonCode.MALFORMED));
    }

    @Test
    void unusualVcekEncodingsStillParse() throws Exception {
        for (String name : new String[] {"test-vcek-invalid-legacy.der", "test-vcek-invalid-new.der"}) {
            assertThat(SnpVerifier.parseCertificates(res(name))).hasSize(1);
            // Not signed by AMD's SEV-Milan key: a clean denial, not a crash on the odd extensions.
            assertThatThrownBy(() -> verifier.verify(res("gsg_milan_report.bin"), res(name), AT))
                    .isInstanceOf(EvidenceException.class)
                    .hasMessage("VCEK signature by SEV-Milan does not verify (SEV-VCEK)")
                .satisfies(Reasons.is(ReasonCode.CERTIFICATE_CHAIN_INVALID));
        }
    }

    @Test
    void randomAndMutatedReportsOnlyEverFailCleanly() {
        Random rnd = new Random(20261127);
        byte[] good = res("sev-gcp.bin");
        byte[] collateral = concat(pem("sev-gcp-vcek.pem"), res("sev-gcp-cert-chain.pem"));
        for (int i = 0; i < 400; i++) {
            byte[] b;
            if (i % 4 == 0) {
                b = new byte[rnd.nextInt(1400)];
                rnd.nextBytes(b);
            } else {
                b = good.clone();
                int n = 1 + rnd.nextInt(8);
                for (int k = 0; k < n; k++) b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
                if (i % 7 == 0) b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length + 50));
            }
            byte[] input = b;
            try {
                verifier.verify(input, collateral, AT);
                // Only an unchanged report may verify.
                assertThat(input).isEqualTo(good);
            } catch (EvidenceException e) {
                assertThat(e.getMessage()).isNotBlank();
            }
        }
    }
}
