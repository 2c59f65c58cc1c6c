package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class HpkeSuiteTest {
    @ParameterizedTest
    @EnumSource(HpkeSuite.class)
    void sealOpensOnlyWithTheRightKeyAndContext(HpkeSuite suite) throws Exception {
        var kp = suite.generateKeyPair();
        byte[] pt = "sixteen byte key".getBytes(StandardCharsets.US_ASCII);
        byte[] aad = HpkeSuite.aad("alice", "pf", 3);
        byte[][] sealed = suite.seal(suite.publicKey(kp), aad, pt);
        assertThat(sealed[0]).hasSize(suite == HpkeSuite.P256 ? 65 : 32);
        assertThat(sealed[1]).hasSize(pt.length + 16);
        assertThat(suite.open(kp, sealed[0], aad, sealed[1])).isEqualTo(pt);
        assertThatThrownBy(() -> suite.open(suite.generateKeyPair(), sealed[0], aad, sealed[1]))
                .hasMessageContaining("does not open");
        assertThatThrownBy(() -> suite.open(kp, sealed[0], HpkeSuite.aad("alice", "pf", 2), sealed[1]))
                .hasMessageContaining("does not open");
        byte[] flipped = sealed[1].clone();
        flipped[0] ^= 1;
        assertThatThrownBy(() -> suite.open(kp, sealed[0], aad, flipped)).hasMessageContaining("does not open");
    }

    @Test
    void badPublicKeysAreBadRequests() {
        assertThatThrownBy(() -> HpkeSuite.P256.seal(new byte[64], new byte[0], new byte[1]))
                .hasMessageContaining("must be 65 bytes, got 64");
        byte[] notOnCurve = new byte[65];
        notOnCurve[0] = 4;
        notOnCurve[64] = 7;
        assertThatThrownBy(() -> HpkeSuite.P256.seal(notOnCurve, new byte[0], new byte[1]))
                .isInstanceOf(KbsException.class)
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(400));
        assertThatThrownBy(() -> HpkeSuite.parse("P521")).hasMessageContaining("unknown HPKE KEM");
    }

    @Test
    void reportDataBindsNonceAndKey() {
        byte[] n = new byte[32];
        byte[] k = new byte[32];
        byte[] rd = ReleaseBinding.reportData(n, k);
        assertThat(rd).hasSize(64);
        assertThat(java.util.Arrays.copyOfRange(rd, 32, 64)).containsOnly(0);
        assertThat(ReleaseBinding.matches(rd, n, k)).isTrue();
        k[0] = 1;
        assertThat(ReleaseBinding.matches(rd, n, k)).isFalse();
    }
}
