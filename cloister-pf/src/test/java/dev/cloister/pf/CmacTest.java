package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HexFormat;
import java.util.Random;
import org.bouncycastle.crypto.engines.AESEngine;
import org.bouncycastle.crypto.macs.CMac;
import org.bouncycastle.crypto.params.KeyParameter;
import org.junit.jupiter.api.Test;

/**
 * The metadata-key derivation's own AES-CMAC: the RFC 4493 examples, then agreement with BouncyCastle's CMac on
 * seeded random keys and messages of every length around the block boundaries.
 */
class CmacTest {
    private static final HexFormat HEX = HexFormat.of();
    private static final byte[] KEY = HEX.parseHex("2b7e151628aed2a6abf7158809cf4f3c");
    private static final String MSG = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
            + "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";

    @Test
    void rfc4493Examples() {
        assertThat(HEX.formatHex(Crypto.cmac(KEY, new byte[0]))).isEqualTo("bb1d6929e95937287fa37d129b756746");
        assertThat(HEX.formatHex(Crypto.cmac(KEY, HEX.parseHex(MSG.substring(0, 32)))))
                .isEqualTo("070a16b46b4d4144f79bdd9dd04a287c");
        assertThat(HEX.formatHex(Crypto.cmac(KEY, HEX.parseHex(MSG.substring(0, 80)))))
                .isEqualTo("dfa66747de9ae63030ca32611497c827");
        assertThat(HEX.formatHex(Crypto.cmac(KEY, HEX.parseHex(MSG)))).isEqualTo("51f0bebf7e3b9d92fc49741779363cfe");
    }

    @Test
    void agreesWithBouncyCastle() {
        Random rnd = new Random(4493);
        for (int len = 0; len <= 130; len++) {
            for (int rep = 0; rep < 4; rep++) {
                byte[] key = new byte[16];
                byte[] msg = new byte[len];
                rnd.nextBytes(key);
                rnd.nextBytes(msg);
                CMac bc = new CMac(AESEngine.newInstance());
                bc.init(new KeyParameter(key));
                bc.update(msg, 0, len);
                byte[] expected = new byte[16];
                bc.doFinal(expected, 0);
                assertThat(Crypto.cmac(key, msg)).as("length %d", len).isEqualTo(expected);
            }
        }
    }
}
