package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * The measurement primitives against records written out byte by byte from the SDM's definitions (not through
 * the class's own encoder).
 */
class EnclaveMeasurementTest {
    private static byte[] hex(String h) {
        return HexFormat.of().parseHex(h.replace(" ", ""));
    }

    @Test
    void ecreateAloneIsTheHashOfOneHandWrittenRecord() throws Exception {
        // "ECREATE\0" | ssaframesize=4 (u32 LE) | size=0x10000000 (u64 LE) | 44 zero bytes
        byte[] rec = hex("45 43 52 45 41 54 45 00" + "04 00 00 00" + "00 00 00 10 00 00 00 00" + "00".repeat(44));
        assertThat(rec).hasSize(64);
        byte[] want = MessageDigest.getInstance("SHA-256").digest(rec);
        assertThat(EnclaveMeasurement.ecreate(4, 256L << 20).einit()).isEqualTo(want);
    }

    @Test
    void pageOfZerosAndOfDataMatchHandWrittenRecords() throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(hex("45 43 52 45 41 54 45 00" + "04 00 00 00" + "00 00 00 00 01 00 00 00" + "00".repeat(44)));
        // EADD at 0x3000 with R|W|REG = 0x203
        md.update(hex("45 41 44 44 00 00 00 00" + "00 30 00 00 00 00 00 00" + "03 02 00 00 00 00 00 00"
                + "00".repeat(40)));
        byte[] content = new byte[4096];
        for (int i = 0; i < content.length; i++) {
            content[i] = (byte) (i * 7);
        }
        for (int c = 0; c < 16; c++) {
            long off = 0x3000 + c * 256L;
            md.update(hex("45 45 58 54 45 4e 44 00" + String.format("%02x %02x", off & 0xff, (off >> 8) & 0xff)
                    + " 00 00 00 00 00 00" + "00".repeat(48)));
            md.update(content, c * 256, 256);
        }
        // An unmeasured TCS page at 0x4000: EADD only (R|W|X|TCS would be 0x107; TCS pages carry type 0x100).
        md.update(hex("45 41 44 44 00 00 00 00" + "00 40 00 00 00 00 00 00" + "00 01 00 00 00 00 00 00"
                + "00".repeat(40)));
        byte[] want = md.digest();
        byte[] got = EnclaveMeasurement.ecreate(4, 1L << 32)
                .addPage(0x3000, EnclaveMeasurement.R | EnclaveMeasurement.W | EnclaveMeasurement.PT_REG, content,
                        true)
                .addPage(0x4000, EnclaveMeasurement.PT_TCS, new byte[0], false)
                .einit();
        assertThat(HexFormat.of().formatHex(got)).isEqualTo(HexFormat.of().formatHex(want));
    }

    @Test
    void shortContentIsZeroPaddedAndOrderMatters() {
        byte[] a = EnclaveMeasurement.ecreate(4, 1L << 30).addPage(0, EnclaveMeasurement.R | EnclaveMeasurement.PT_REG,
                new byte[] {1, 2, 3}, true).einit();
        byte[] padded = new byte[4096];
        padded[0] = 1;
        padded[1] = 2;
        padded[2] = 3;
        byte[] b = EnclaveMeasurement.ecreate(4, 1L << 30).addPage(0, EnclaveMeasurement.R | EnclaveMeasurement.PT_REG,
                padded, true).einit();
        assertThat(a).isEqualTo(b);
        byte[] swapped = EnclaveMeasurement.ecreate(4, 1L << 30).eadd(0x1000, EnclaveMeasurement.PT_REG)
                .eadd(0, EnclaveMeasurement.PT_REG).einit();
        byte[] inOrder = EnclaveMeasurement.ecreate(4, 1L << 30).eadd(0, EnclaveMeasurement.PT_REG)
                .eadd(0x1000, EnclaveMeasurement.PT_REG).einit();
        assertThat(swapped).isNotEqualTo(inOrder);
    }

    @Test
    void rejectsMisuse() {
        assertThatThrownBy(() -> EnclaveMeasurement.ecreate(4, 3L << 20)).hasMessageContaining("power of two");
        assertThatThrownBy(() -> EnclaveMeasurement.ecreate(4, 1L << 20).eadd(12, 0)).hasMessageContaining("aligned");
        assertThatThrownBy(() -> EnclaveMeasurement.ecreate(4, 1L << 20).eextend(0, new byte[255]))
                .hasMessageContaining("256");
        EnclaveMeasurement m = EnclaveMeasurement.ecreate(4, 1L << 20);
        m.einit();
        assertThatThrownBy(m::einit).isInstanceOf(IllegalStateException.class);
    }
}
