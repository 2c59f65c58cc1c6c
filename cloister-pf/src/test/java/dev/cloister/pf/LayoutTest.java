package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.bouncycastle.crypto.engines.AESEngine;
import org.bouncycastle.crypto.macs.CMac;
import org.bouncycastle.crypto.params.KeyParameter;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Checks every field of files Cloister writes against the reference layout (gramine.md sections 1.2 to 1.5),
 * with a reader written here from the reference alone (offsets spelled out, no production helpers), so a shared
 * misreading of the format cannot make both sides agree.
 */
class LayoutTest {
    @TempDir
    Path dir;

    /** AES-128-GCM, zero IV, tag stored elsewhere: decrypts or throws. */
    static byte[] gcm(byte[] key, byte[] ct, int off, int len, byte[] tag, int tagOff) throws Exception {
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, new byte[12]));
        byte[] in = new byte[len + 16];
        System.arraycopy(ct, off, in, 0, len);
        System.arraycopy(tag, tagOff, in, len, 16);
        return c.doFinal(in);
    }

    static byte[] metadataKey(byte[] kdk, byte[] nonce) {
        ByteBuffer in = ByteBuffer.allocate(104).order(ByteOrder.LITTLE_ENDIAN);
        in.putInt(1);
        byte[] label = Arrays.copyOf("SGX-PROTECTED-FS-METADATA-KEY".getBytes(StandardCharsets.US_ASCII), 64);
        in.put(label);
        in.put(nonce);
        in.putInt(128);
        CMac mac = new CMac(AESEngine.newInstance());
        mac.init(new KeyParameter(kdk));
        mac.update(in.array(), 0, 104);
        byte[] out = new byte[16];
        mac.doFinal(out, 0);
        return out;
    }

    @ParameterizedTest(name = "{0} bytes, v{1}, {2}")
    @CsvSource({
        "0, 2, stream", "0, 1, stream", "100, 2, stream", "3072, 1, stream", "3073, 2, stream", "396288, 2, stream",
        "396289, 1, stream", "1000000, 2, stream", "1000000, 1, channel", "3073, 2, channel", "500000, 2, channel"
    })
    void everyFieldMatchesTheReference(int size, int major, String how) throws Exception {
        byte[] plain = Pf.random(size, size + major);
        byte[] kdk = Pf.random(16, 99);
        String path = "/enclave/data/" + "x".repeat(size % 50) + "file";
        Path f = dir.resolve("f.pf");
        PfVersion v = major == 1 ? PfVersion.V1 : PfVersion.V2;
        try (PfKey key = PfKey.of(kdk)) {
            if (how.equals("stream")) {
                Pf.encrypt(plain, f, key, path, v);
            } else {
                try (PfChannel ch = ProtectedFiles.open(f, key, PathPolicy.expect(path), ProtectedFiles.Mode.CREATE_NEW,
                        v)) {
                    ch.write(ByteBuffer.wrap(plain));
                }
            }
        }
        byte[] file = Files.readAllBytes(f);
        assertThat(file.length % 4096).isZero();

        // Metadata node header.
        assertThat(new String(file, 0, 8, StandardCharsets.US_ASCII)).isEqualTo("GRAFS_PF");
        assertThat(ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong()).isEqualTo(0x46505f5346415247L);
        assertThat(file[8]).isEqualTo((byte) major);
        assertThat(file[9]).isZero();
        byte[] nonce = Arrays.copyOfRange(file, 10, 42);
        assertThat(nonce).isNotEqualTo(new byte[32]);
        int encOff = major == 1 ? 58 : 59;
        if (major == 2) {
            assertThat(file[58]).as("feature_flags").isZero();
        }
        for (int i = encOff + 3884; i < 4096; i++) {
            assertThat(file[i]).as("padding byte %d", i).isZero();
        }
        byte[] md = gcm(metadataKey(kdk, nonce), file, encOff, 3884, file, 42);

        // Decrypted metadata.
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        assertThat(Arrays.copyOf(md, p.length)).isEqualTo(p);
        for (int i = p.length; i < 772; i++) {
            assertThat(md[i]).as("path field byte %d", i).isZero();
        }
        long declared = ByteBuffer.wrap(md, 772, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(declared).isEqualTo(size);
        int inMd = Math.min(size, 3072);
        assertThat(Arrays.copyOfRange(md, 812, 812 + inMd)).isEqualTo(Arrays.copyOf(plain, inMd));
        for (int i = 812 + inMd; i < 3884; i++) {
            assertThat(md[i]).as("file_data tail byte %d", i).isZero();
        }

        long dataNodes = size <= 3072 ? 0 : (size - 3072 + 4095) / 4096;
        long mhtNodes = dataNodes == 0 ? 0 : (dataNodes + 95) / 96;
        long hostNodes = dataNodes == 0 ? 1 : 1 + mhtNodes + dataNodes;
        assertThat(file.length / 4096).isEqualTo(hostNodes);
        if (dataNodes == 0) {
            assertThat(Arrays.copyOfRange(md, 780, 812)).as("root key and MAC unused in a new small file")
                    .isEqualTo(new byte[32]);
            return;
        }

        // The Merkle tree: decrypt every MHT node from its parent's entry, every data node from its MHT's entry.
        byte[][] mht = new byte[(int) mhtNodes][];
        for (int m = 0; m < mhtNodes; m++) {
            long phys = m == 0 ? 1 : 1 + m * 97L;
            byte[] entries;
            int slot;
            if (m == 0) {
                entries = md;
                slot = 780;
            } else {
                entries = mht[(m - 1) / 32];
                slot = 3072 + ((m - 1) % 32) * 32;
            }
            mht[m] = gcm(Arrays.copyOfRange(entries, slot, slot + 16), file, (int) (phys * 4096), 4096, entries,
                    slot + 16);
        }
        byte[] rebuilt = new byte[size];
        System.arraycopy(plain, 0, rebuilt, 0, inMd);
        for (long d = 0; d < dataNodes; d++) {
            long phys = d + 2 + d / 96;
            byte[] entries = mht[(int) (d / 96)];
            int slot = (int) (d % 96) * 32;
            byte[] node = gcm(Arrays.copyOfRange(entries, slot, slot + 16), file, (int) (phys * 4096), 4096, entries,
                    slot + 16);
            int start = 3072 + (int) d * 4096;
            int n = Math.min(4096, size - start);
            System.arraycopy(node, 0, rebuilt, start, n);
            for (int i = n; i < 4096; i++) {
                assertThat(node[i]).as("tail of the last data node").isZero();
            }
        }
        assertThat(rebuilt).isEqualTo(plain);

        // Unused slots are zero, and every key is distinct (fresh per node).
        java.util.Set<String> keys = new java.util.HashSet<>();
        keys.add(java.util.HexFormat.of().formatHex(md, 780, 796));
        for (int m = 0; m < mhtNodes; m++) {
            long firstData = m * 96L;
            for (int s = 0; s < 96; s++) {
                boolean used = firstData + s < dataNodes;
                byte[] entry = Arrays.copyOfRange(mht[m], s * 32, s * 32 + 32);
                if (used) {
                    assertThat(keys.add(java.util.HexFormat.of().formatHex(entry, 0, 16))).isTrue();
                } else {
                    assertThat(entry).as("unused data slot %d of MHT %d", s, m).isEqualTo(new byte[32]);
                }
            }
            for (int c = 0; c < 32; c++) {
                long child = m * 32L + 1 + c;
                byte[] entry = Arrays.copyOfRange(mht[m], 3072 + c * 32, 3072 + c * 32 + 32);
                if (child < mhtNodes) {
                    assertThat(keys.add(java.util.HexFormat.of().formatHex(entry, 0, 16))).isTrue();
                } else {
                    assertThat(entry).as("unused child slot %d of MHT %d", c, m).isEqualTo(new byte[32]);
                }
            }
        }
    }

    @ParameterizedTest(name = "v{0}")
    @CsvSource({"1", "2"})
    void everyWriteDrawsAFreshNonceAndFreshKeys(int major) throws Exception {
        byte[] plain = Pf.random(10_000, 5);
        PfVersion v = major == 1 ? PfVersion.V1 : PfVersion.V2;
        try (PfKey key = Pf.key(5)) {
            Pf.encrypt(plain, dir.resolve("a"), key, "/same", v);
            Pf.encrypt(plain, dir.resolve("b"), key, "/same", v);
        }
        byte[] a = Files.readAllBytes(dir.resolve("a"));
        byte[] b = Files.readAllBytes(dir.resolve("b"));
        assertThat(Arrays.copyOfRange(a, 10, 42)).isNotEqualTo(Arrays.copyOfRange(b, 10, 42));
        assertThat(Arrays.copyOfRange(a, 4096, 8192)).isNotEqualTo(Arrays.copyOfRange(b, 4096, 8192));
        assertThat(Arrays.copyOfRange(a, 8192, 12288)).isNotEqualTo(Arrays.copyOfRange(b, 8192, 12288));
    }
}
