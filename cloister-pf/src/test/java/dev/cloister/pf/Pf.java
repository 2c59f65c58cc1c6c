package dev.cloister.pf;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

/** Small helpers shared by the tests: whole-file encrypt and decrypt, seeded plaintext. */
final class Pf {
    private Pf() {}

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static PfKey key(long seed) throws PfException {
        return PfKey.of(random(16, seed));
    }

    static PfInfo encrypt(byte[] plain, Path out, PfKey key, String path, PfVersion v) throws Exception {
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            return ProtectedFiles.encrypt(new ByteArrayInputStream(plain), ch, key, path, v, n -> {});
        }
    }

    static byte[] decrypt(Path in, PfKey key, PathPolicy policy) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (FileChannel ch = FileChannel.open(in)) {
            ProtectedFiles.decrypt(ch, out, key, policy, in.getFileName().toString(), n -> {});
        }
        return out.toByteArray();
    }

    /** Reads the whole plaintext through the random-access channel, in chunks of varying size. */
    static byte[] readAll(PfChannel ch, Random r) throws Exception {
        byte[] all = new byte[Math.toIntExact(ch.size())];
        ch.position(0);
        int pos = 0;
        while (pos < all.length) {
            int n = Math.min(all.length - pos, 1 + r.nextInt(20_000));
            ByteBuffer b = ByteBuffer.wrap(all, pos, n);
            while (b.hasRemaining()) {
                if (ch.read(b) < 0) {
                    throw new AssertionError("early end of file at " + b.position());
                }
            }
            pos += n;
        }
        ByteBuffer extra = ByteBuffer.allocate(1);
        if (ch.read(extra) != -1) {
            throw new AssertionError("data beyond the size");
        }
        return all;
    }

    /** The host size, computed from the reference formula (gramine.md 1.2) independently of {@link Layout}. */
    static long expectedHostSize(long size) {
        if (size <= 3072) {
            return 4096;
        }
        long dLast = (size - 3072 + 4095) / 4096 - 1;
        return (dLast + 2 + dLast / 96 + 1) * 4096;
    }
}
