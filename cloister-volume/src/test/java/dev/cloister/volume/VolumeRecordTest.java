package dev.cloister.volume;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import dev.cloister.pf.PfKey;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The record's byte format: round trip, layout, authentication, strict parsing. */
class VolumeRecordTest {
    private static final String MAC = "00112233445566778899aabbccddeeff";

    private static VolumeRecord sample() {
        return VolumeRecord.create("state").next(List.of(new VolumeRecord.Entry("b/x", 5, MAC),
                new VolumeRecord.Entry("a", 0, MAC.replace('0', 'f'))));
    }

    @Test
    void roundTripsAndSortsAndBumpsTheVersion() throws Exception {
        try (PfKey key = PfKey.generate()) {
            VolumeRecord r = sample();
            assertThat(r.version()).isEqualTo(1);
            assertThat(r.entries()).extracting(VolumeRecord.Entry::path).containsExactly("a", "b/x");
            byte[] bytes = r.toBytes(key);
            VolumeRecord back = VolumeRecord.parse(bytes, key);
            assertThat(back).isEqualTo(r);
            assertThat(back.rootHex()).isEqualTo(r.rootHex());
            assertThat(back.embeddedPath("b/x")).isEqualTo("state/b/x");
        }
    }

    @Test
    void layoutIsAsDocumented() throws Exception {
        try (PfKey key = PfKey.generate()) {
            VolumeRecord r = sample();
            byte[] b = r.toBytes(key);
            // magic 8 + format 1 + id 16 + version 8 + prefix (2+5) + count 4
            // + entries (2+1+8+16) + (2+3+8+16) + root 32 + tag 32
            assertThat(b).hasSize(8 + 1 + 16 + 8 + 7 + 4 + 27 + 29 + 32 + 32);
            assertThat(new String(b, 0, 8, StandardCharsets.US_ASCII)).isEqualTo("CLVOLREC");
            assertThat(b[8]).isEqualTo((byte) 1);
            assertThat(java.util.HexFormat.of().formatHex(b, 9, 25)).isEqualTo(r.id());
            assertThat(java.nio.ByteBuffer.wrap(b, 25, 8).getLong()).isEqualTo(1);
            // The root is SHA-256 over the label and bytes 8 .. root.
            var sha = java.security.MessageDigest.getInstance("SHA-256");
            sha.update("cloister-volume-root-v1".getBytes(StandardCharsets.US_ASCII));
            sha.update(b, 8, b.length - 64 - 8);
            assertThat(Arrays.copyOfRange(b, b.length - 64, b.length - 32)).isEqualTo(sha.digest())
                    .isEqualTo(r.root());
        }
    }

    @Test
    void theRootBindsIdVersionAndEveryField() {
        VolumeRecord r = sample();
        VolumeRecord otherVolume = new VolumeRecord("ab".repeat(16), r.version(), r.prefix(), r.entries());
        VolumeRecord otherVersion = new VolumeRecord(r.id(), r.version() + 1, r.prefix(), r.entries());
        VolumeRecord otherMac = new VolumeRecord(r.id(), r.version(), r.prefix(),
                List.of(r.entries().get(0), new VolumeRecord.Entry("b/x", 5, MAC.replace('1', '2'))));
        VolumeRecord otherSize = new VolumeRecord(r.id(), r.version(), r.prefix(),
                List.of(r.entries().get(0), new VolumeRecord.Entry("b/x", 6, MAC)));
        assertThat(List.of(otherVolume.rootHex(), otherVersion.rootHex(), otherMac.rootHex(), otherSize.rootHex()))
                .doesNotContain(r.rootHex()).doesNotHaveDuplicates();
    }

    @Test
    void anEditedRecordOrAnotherKeysRecordIsDenied() throws Exception {
        try (PfKey key = PfKey.generate(); PfKey other = PfKey.generate()) {
            byte[] b = sample().toBytes(key);
            assertThatThrownBy(() -> VolumeRecord.parse(b, other)).isInstanceOf(VolumeException.class)
                    .hasMessageContaining("fails authentication")
                    .extracting(e -> ((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.DENIED);
            // Raise the version and recompute the root: consistent, but the tag no longer matches.
            VolumeRecord r = sample();
            VolumeRecord forged = new VolumeRecord(r.id(), 99, r.prefix(), r.entries());
            byte[] f = forged.toBytes(other);
            assertThatThrownBy(() -> VolumeRecord.parse(f, key)).isInstanceOf(VolumeException.class)
                    .hasMessageContaining("fails authentication");
            byte[] flipped = b.clone();
            flipped[b.length - 1] ^= 1;
            assertThatThrownBy(() -> VolumeRecord.parse(flipped, key)).hasMessageContaining("fails authentication");
        }
    }

    @Test
    void malformedRecordsAreBadInputNamingTheProblem() throws Exception {
        try (PfKey key = PfKey.generate()) {
            byte[] b = sample().toBytes(key);
            assertBad(Arrays.copyOf(b, b.length - 40), "truncated");
            assertBad(Arrays.copyOf(b, 30), "truncated");
            assertBad(Arrays.copyOf(b, b.length + 1), "trailing");
            byte[] magic = b.clone();
            magic[0] = 'X';
            assertBad(magic, "CLVOLREC");
            byte[] format = b.clone();
            format[8] = 2;
            assertBad(format, "format 2");
            byte[] version = b.clone();
            version[9 + 16 + 7] ^= 1; // changes the version: the stored root no longer matches
            assertBad(version, "root digest does not match");
        }
    }

    private static void assertBad(byte[] b, String message) {
        assertThatThrownBy(() -> VolumeRecord.parseUnauthenticated(b)).isInstanceOf(VolumeException.class)
                .hasMessageContaining(message)
                .extracting(e -> ((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT);
    }

    @Test
    void refusesBadPathsAndUnsortedEntries() {
        for (String p : List.of("", "/abs", "a//b", "a/../b", ".", "a/")) {
            assertThatThrownBy(() -> new VolumeRecord.Entry(p, 1, MAC)).isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> new VolumeRecord("00".repeat(16), 0, "state",
                List.of(new VolumeRecord.Entry("b", 1, MAC), new VolumeRecord.Entry("a", 1, MAC))))
                .hasMessageContaining("not sorted");
        assertThatThrownBy(() -> new VolumeRecord("00".repeat(16), 0, "state",
                List.of(new VolumeRecord.Entry("a", 1, MAC), new VolumeRecord.Entry("a", 1, MAC))))
                .hasMessageContaining("repeat");
    }
}
