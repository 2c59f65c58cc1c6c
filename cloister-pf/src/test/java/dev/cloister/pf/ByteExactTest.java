package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Files Cloister writes are the files Gramine writes: with the random inputs (metadata nonce, node keys) fixed,
 * the writer reproduces Gramine's own files byte for byte, and the reference's known-answer vectors.
 */
class ByteExactTest {
    @TempDir Path tmp;
    static final HexFormat HEX = HexFormat.of();

    /** Node keys and nonce recovered from an existing file, handed back by node identity. */
    record FixedKeys(byte[] nonce, Map<Long, byte[]> data, Map<Long, byte[]> mht) implements Crypto.KeySource {
        @Override
        public void dataKey(long d, byte[] out) {
            System.arraycopy(data.get(d), 0, out, 0, 16);
        }

        @Override
        public void mhtKey(long m, byte[] out) {
            System.arraycopy(mht.get(m), 0, out, 0, 16);
        }

        @Override
        public void nonce(byte[] out) {
            System.arraycopy(nonce, 0, out, 0, 32);
        }
    }

    /** Walks a file's tree and collects every node's key, as Gramine chose them. */
    static FixedKeys keysOf(Path pf, PfKey key) throws Exception {
        byte[] file = Files.readAllBytes(pf);
        byte[] node0 = java.util.Arrays.copyOf(file, 4096);
        Crypto c = new Crypto();
        MetadataNode md = MetadataNode.decode(node0, key.raw(), c, pf.toString());
        byte[] nonce = java.util.Arrays.copyOfRange(node0, 10, 42);
        Map<Long, byte[]> data = new HashMap<>();
        Map<Long, byte[]> mht = new HashMap<>();
        long dn = Layout.dataNodes(md.size());
        long mn = Layout.mhtNodes(dn);
        Map<Long, byte[]> plainMht = new HashMap<>();
        for (long m = 0; m < mn; m++) {
            byte[] entries = m == 0 ? md.plain : plainMht.get(Layout.parentOf(m));
            int off = m == 0 ? MetadataNode.rootEntryOffset() : Layout.childSlotOffset(m);
            mht.put(m, java.util.Arrays.copyOfRange(entries, off, off + 16));
            byte[] p = new byte[4096];
            assertThat(c.decrypt(entries, off, file, (int) Layout.physicalOfMht(m) * 4096, 4096, entries, off + 16, p, 0)).isTrue();
            plainMht.put(m, p);
        }
        for (long d = 0; d < dn; d++) {
            byte[] entries = plainMht.get(d / 96);
            int off = Layout.dataSlotOffset(d);
            data.put(d, java.util.Arrays.copyOfRange(entries, off, off + 16));
        }
        return new FixedKeys(nonce, data, mht);
    }

    static Stream<Vectors.Vector> vectors() throws Exception {
        return Vectors.all().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vectors")
    void reEncryptingAGramineFileWithItsKeysGivesIdenticalBytes(Vectors.Vector v) throws Exception {
        Path out = tmp.resolve("out.pf");
        try (PfKey key = Vectors.key(); FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW,
                StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            FixedKeys keys = keysOf(v.pf(), key);
            ProtectedFiles.encrypt(Vectors.open(v.plain()), ch, key, v.path(), v.version(), keys);
        }
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(v.pf()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vectors")
    void theRandomAccessWriterAlsoReproducesGramine(Vectors.Vector v) throws Exception {
        Path out = tmp.resolve("ra.pf");
        byte[] plain = Files.readAllBytes(v.plain());
        try (PfKey key = Vectors.key(); FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW,
                StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            PfFile f = PfFile.create(ch, "ra.pf", key, v.path(), v.version(), keysOf(v.pf(), key));
            // Written in uneven pieces, so the cache fills and flushes along the way.
            for (int pos = 0; pos < plain.length; ) {
                int n = (int) Math.min(plain.length - pos, 1 + (pos * 7919L) % 20000);
                f.write(pos, plain, pos, n);
                pos += n;
            }
            f.close();
        }
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(v.pf()));
    }

    /** gramine.md 1.14: KDF known answer. */
    @Test
    void kdfKnownAnswer() {
        byte[] nonce = new byte[32];
        for (int i = 0; i < 32; i++) {
            nonce[i] = (byte) i;
        }
        assertThat(HEX.formatHex(Crypto.metadataKey(HEX.parseHex("ffeeddccbbaa99887766554433221100"), nonce, 0)))
                .isEqualTo("13023cb37e5faf2da6ea64ba7c79cc62");
    }

    static byte[] seq(int from, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (from + i);
        }
        return b;
    }

    /** gramine.md 1.14 vector A: a metadata-only v2 file. */
    @Test
    void referenceVectorA() throws Exception {
        Path out = tmp.resolve("a.pf");
        try (PfKey key = PfKey.of(HEX.parseHex("ffeeddccbbaa99887766554433221100"));
                FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                        StandardOpenOption.WRITE)) {
            ProtectedFiles.encrypt(new ByteArrayInputStream("helloworld\n".getBytes()), ch, key, "enc_files/input.txt",
                    PfVersion.V2, new FixedKeys(seq(0x20, 32), Map.of(), Map.of()));
        }
        byte[] f = Files.readAllBytes(out);
        assertThat(HEX.formatHex(f, 0, 59)).isEqualTo("47524146535f50460200" + HEX.formatHex(seq(0x20, 32))
                + "7aa62329164837713bacfef40d153af4" + "00");
        assertThat(HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(f)))
                .isEqualTo("fdcaf133371709056ab632ce82fed7031e7c36d8b6a02be3f7dc0f1bbe21c77b");
    }

    /** gramine.md 1.14 vector B: metadata, root MHT and one data node. */
    @Test
    void referenceVectorB() throws Exception {
        Path out = tmp.resolve("b.pf");
        byte[] plain = new byte[3073];
        java.util.Arrays.fill(plain, 0, 3072, (byte) 'A');
        plain[3072] = 'B';
        try (PfKey key = PfKey.of(HEX.parseHex("ffeeddccbbaa99887766554433221100"));
                FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                        StandardOpenOption.WRITE)) {
            ProtectedFiles.encrypt(new ByteArrayInputStream(plain), ch, key, "enc_files/kat2.bin", PfVersion.V2,
                    new FixedKeys(seq(0x40, 32), Map.of(0L, seq(0x20, 16)), Map.of(0L, seq(0x30, 16))));
        }
        byte[] f = Files.readAllBytes(out);
        assertThat(f).hasSize(12288);
        assertThat(HEX.formatHex(f, 42, 58)).isEqualTo("2bba173e81198dc0f778d763ba26c62c");
        assertThat(HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(f)))
                .isEqualTo("29f453a1bf316fb4866e13e324dd40982e4d60c587fc73eb2db05776033be26d");
    }
}
