package dev.cloister.attestation.snp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.core.CloisterException.Kind;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SnpReportTest {

    @ParameterizedTest
    @ValueSource(strings = {"gsg_milan_report.bin", "trustee_milan_report.bin", "trustee_vlek_report.bin",
        "sev-gcp.bin", "sev-gcp-reportdata.bin", "sev-gcp-x25519-bound.bin"})
    void realReportsRoundTripByteForByte(String name) throws Exception {
        byte[] b = SnpVerifierTest.res(name);
        SnpReport r = SnpReport.parse(b);
        assertThat(r.toBytes()).isEqualTo(b);
        assertThat(SnpReport.parse(r.toBytes()).toBytes()).isEqualTo(b);
    }

    @Test
    void fieldsOfTheGoSevGuestReport() throws Exception {
        SnpReport r = SnpReport.parse(SnpVerifierTest.res("gsg_milan_report.bin"));
        assertThat(r.version()).isEqualTo(2);
        assertThat(r.vmpl()).isZero();
        assertThat(r.policy()).isEqualTo(0xB0000L);
        assertThat(r.signatureAlgo()).isEqualTo(1);
        assertThat(r.signingKey()).isEqualTo(SnpReport.SIGNING_KEY_VCEK);
        assertThat(r.debug()).as("0xB0000 has bit 19").isTrue();
        SnpReport vlek = SnpReport.parse(SnpVerifierTest.res("trustee_vlek_report.bin"));
        assertThat(vlek.version()).isEqualTo(3);
        assertThat(vlek.vmpl()).isEqualTo(1);
        assertThat(vlek.signingKey()).isEqualTo(SnpReport.SIGNING_KEY_VLEK);
        assertThat(vlek.cpuidFamily()).isEqualTo(0x19);
    }

    @Test
    void strictChecksNameTheField() {
        byte[] good = SnpVerifierTest.res("gsg_milan_report.bin");
        byte[] v1 = good.clone();
        v1[0] = 1;
        assertMalformed(v1, "SEV-SNP report version 1 is not supported (2 and later)");
        byte[] algo = good.clone();
        algo[0x34] = 2;
        assertMalformed(algo, "signature algorithm 2 is not supported");
        byte[] reserved = good.clone();
        reserved[0x400] = 1;
        assertMalformed(reserved, "byte 0x400 in the reserved signature area is 0x01, must be zero");
        assertMalformed(java.util.Arrays.copyOf(good, 1183), "must be 1184 bytes, got 1183");
        assertMalformed(java.util.Arrays.copyOf(good, 1185), "must be 1184 bytes, got 1185");
    }

    private static void assertMalformed(byte[] b, String message) {
        assertThatThrownBy(() -> SnpReport.parse(b))
                .isInstanceOf(EvidenceException.class)
                .hasMessageContaining(message)
                .satisfies(e -> assertThat(((EvidenceException) e).kind()).isEqualTo(Kind.BAD_INPUT));
    }

    @Test
    void fuzzedReportsParseAndRoundTripOrFailCleanly() {
        Random rnd = new Random(1184);
        byte[] good = SnpVerifierTest.res("sev-gcp.bin");
        int parsed = 0;
        for (int i = 0; i < 20_000; i++) {
            byte[] b = good.clone();
            int n = 1 + rnd.nextInt(16);
            for (int k = 0; k < n; k++) {
                b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
            }
            if (i % 10 == 0) {
                b = java.util.Arrays.copyOf(b, rnd.nextInt(2 * SnpReport.SIZE));
            }
            try {
                SnpReport r = SnpReport.parse(b);
                parsed++;
                assertThat(r.toBytes()).isEqualTo(b);
            } catch (EvidenceException e) {
                assertThat(e.kind()).isEqualTo(Kind.BAD_INPUT);
            }
        }
        assertThat(parsed).isGreaterThan(1000);
    }
}
