package dev.cloister.pf;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The format's cryptography: AES-128-GCM with an all-zero 12-byte IV and no AAD (safe only because every node
 * encryption uses a fresh key), and the AES-CMAC key derivation for the metadata key. One instance per thread:
 * it reuses its Cipher and buffers, which is where the speed comes from.
 */
final class Crypto {
    private static final GCMParameterSpec ZERO_IV = new GCMParameterSpec(128, new byte[12]);
    private static final byte[] LABEL = "SGX-PROTECTED-FS-METADATA-KEY".getBytes(StandardCharsets.US_ASCII);

    private final Cipher gcm;
    private final byte[] work = new byte[Layout.NODE + Layout.TAG];

    Crypto() {
        try {
            gcm = Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is required by every Java platform", e);
        }
    }

    /** Encrypts {@code len} bytes of {@code in} into {@code out} (same length) and writes the tag to {@code tag}. */
    void encrypt(byte[] key, byte[] in, int inOff, int len, byte[] out, int outOff, byte[] tag, int tagOff) {
        try {
            gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), ZERO_IV);
            int n = gcm.doFinal(in, inOff, len, work, 0);
            System.arraycopy(work, 0, out, outOff, len);
            System.arraycopy(work, len, tag, tagOff, Layout.TAG);
            if (n != len + Layout.TAG) {
                throw new IllegalStateException("unexpected GCM output length");
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM encryption failed", e);
        } finally {
            Arrays.fill(work, 0, len, (byte) 0);
        }
    }

    /**
     * Encrypts {@code len} bytes straight into {@code out}, which must have 16 spare bytes after them: the JDK
     * appends the tag there, and it is then copied to {@code tag}. Callers encrypting consecutive nodes into one
     * buffer let the spill land where the next node goes, saving a 4 KiB copy per node.
     */
    void encryptSpill(byte[] key, byte[] in, int inOff, int len, byte[] out, int outOff, byte[] tag, int tagOff) {
        try {
            gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), ZERO_IV);
            int n = gcm.doFinal(in, inOff, len, out, outOff);
            if (n != len + Layout.TAG) {
                throw new IllegalStateException("unexpected GCM output length");
            }
            System.arraycopy(out, outOff + len, tag, tagOff, Layout.TAG);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM encryption failed", e);
        }
    }

    /**
     * Decrypts and authenticates; returns false (leaving {@code out} zeroed) if the tag does not verify.
     */
    boolean decrypt(byte[] key, int keyOff, byte[] in, int inOff, int len, byte[] tag, int tagOff, byte[] out, int outOff) {
        // One doFinal over ciphertext||tag: the JDK buffers everything passed to update() when decrypting GCM,
        // so gathering the two here first is cheaper than update + doFinal.
        System.arraycopy(in, inOff, work, 0, len);
        System.arraycopy(tag, tagOff, work, len, Layout.TAG);
        return finish(key, keyOff, work, 0, len, out, outOff);
    }

    /**
     * Like {@link #decrypt}, for ciphertext at {@code buf[off]} followed by 16 spare bytes, where the tag is put
     * (the streaming reader lays nodes out that way), so the ciphertext is never copied.
     */
    boolean decryptTagAfter(byte[] key, int keyOff, byte[] buf, int off, int len, byte[] tag, int tagOff, byte[] out,
            int outOff) {
        System.arraycopy(tag, tagOff, buf, off + len, Layout.TAG);
        return finish(key, keyOff, buf, off, len, out, outOff);
    }

    private boolean finish(byte[] key, int keyOff, byte[] in, int inOff, int len, byte[] out, int outOff) {
        try {
            gcm.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, keyOff, Layout.KEY, "AES"), ZERO_IV);
            gcm.doFinal(in, inOff, len + Layout.TAG, out, outOff);
            return true;
        } catch (AEADBadTagException e) {
            Arrays.fill(out, outOff, outOff + len, (byte) 0);
            return false;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM decryption failed", e);
        }
    }

    /** metadata key = AES-CMAC(kdk, 1 || label (64) || nonce (32) || 128), little-endian integers (section 1.4). */
    static byte[] metadataKey(byte[] kdk, byte[] nonce, int nonceOff) {
        byte[] input = new byte[104];
        input[0] = 1;
        System.arraycopy(LABEL, 0, input, 4, LABEL.length);
        System.arraycopy(nonce, nonceOff, input, 68, Layout.NONCE);
        input[100] = (byte) 0x80;
        return cmac(kdk, input);
    }

    /**
     * AES-128-CMAC (RFC 4493, NIST SP 800-38B) over the JDK's AES. Written out here rather than taken from
     * BouncyCastle because loading BouncyCastle's signed jar costs a command-line run several hundred
     * milliseconds of signature verification, for one MAC per file; tests check it against BouncyCastle.
     */
    static byte[] cmac(byte[] key, byte[] msg) {
        byte[] x = new byte[16];
        byte[] k = new byte[16];
        try {
            Cipher aes = Cipher.getInstance("AES/ECB/NoPadding");
            aes.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"));
            aes.doFinal(x, 0, 16, k, 0); // L = AES(key, 0)
            doubleInPlace(k); // K1
            int n = Math.max(1, (msg.length + 15) / 16);
            boolean complete = msg.length > 0 && msg.length % 16 == 0;
            if (!complete) {
                doubleInPlace(k); // K2
            }
            for (int b = 0; b < n; b++) {
                int off = b * 16;
                if (b < n - 1) {
                    for (int i = 0; i < 16; i++) {
                        x[i] ^= msg[off + i];
                    }
                } else {
                    int rem = msg.length - off;
                    for (int i = 0; i < 16; i++) {
                        byte m = i < rem ? msg[off + i] : (i == rem ? (byte) 0x80 : 0);
                        x[i] ^= (byte) (m ^ k[i]);
                    }
                }
                aes.doFinal(x, 0, 16, x, 0);
            }
            return x;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES is required by every Java platform", e);
        } finally {
            Arrays.fill(k, (byte) 0);
        }
    }

    /** Multiplication by x in GF(2^128) as CMAC's subkey derivation defines it (big-endian, R = 0x87). */
    private static void doubleInPlace(byte[] b) {
        int carry = (b[0] & 0x80) != 0 ? 0x87 : 0;
        for (int i = 0; i < 15; i++) {
            b[i] = (byte) ((b[i] << 1) | ((b[i + 1] & 0xff) >>> 7));
        }
        b[15] = (byte) ((b[15] << 1) ^ carry);
    }

    /**
     * Where fresh node keys and metadata nonces come from. Production code draws them from a SecureRandom in bulk
     * (one call per 4 KiB); tests substitute fixed values to reproduce Gramine's bytes exactly.
     */
    interface KeySource {
        void dataKey(long d, byte[] out);

        void mhtKey(long m, byte[] out);

        void nonce(byte[] out);

        /** Forgets any key material held for later nodes; the source stays usable (it refills). */
        default void wipe() {}

        /**
         * Keys from a CTR-DRBG-like generator: the AES-CTR keystream under a key and counter drawn from the
         * platform SecureRandom, re-seeded every 256 KiB of output. A node costs a 16-byte copy instead of a
         * SecureRandom call, which matters at a few hundred nanoseconds per 4 KiB node.
         */
        static KeySource secure() {
            return new KeySource() {
                private static final int RESEED_REFILLS = 64;
                private final SecureRandom random = new SecureRandom();
                private final byte[] pool = new byte[4096];
                private final byte[] zeros = new byte[4096];
                private final Cipher ctr;
                private int refills = RESEED_REFILLS;
                private int pos = pool.length;

                {
                    try {
                        ctr = Cipher.getInstance("AES/CTR/NoPadding");
                    } catch (GeneralSecurityException e) {
                        throw new IllegalStateException("AES-CTR is required by every Java platform", e);
                    }
                }

                // Keys handed out stay in the pool until the next refill overwrites it or wipe() clears it: zeroing
                // 16 bytes per node showed up in encryption profiles, and those keys sit in the caller's MHT node
                // buffer for as long anyway.
                private void take(byte[] out, int n) {
                    if (pos + n > pool.length) {
                        refill();
                    }
                    System.arraycopy(pool, pos, out, 0, n);
                    pos += n;
                }

                @Override
                public void wipe() {
                    Arrays.fill(pool, (byte) 0);
                    pos = pool.length;
                }

                private void refill() {
                    try {
                        if (refills == RESEED_REFILLS) {
                            byte[] seed = new byte[32];
                            random.nextBytes(seed);
                            try {
                                ctr.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(seed, 0, 16, "AES"),
                                        new javax.crypto.spec.IvParameterSpec(seed, 16, 16));
                            } finally {
                                Arrays.fill(seed, (byte) 0);
                            }
                            refills = 0;
                        }
                        ctr.update(zeros, 0, zeros.length, pool, 0);
                        refills++;
                        pos = 0;
                    } catch (GeneralSecurityException e) {
                        throw new IllegalStateException("AES-CTR failed", e);
                    }
                }

                @Override
                public void dataKey(long d, byte[] out) {
                    take(out, Layout.KEY);
                }

                @Override
                public void mhtKey(long m, byte[] out) {
                    take(out, Layout.KEY);
                }

                @Override
                public void nonce(byte[] out) {
                    take(out, Layout.NONCE);
                }
            };
        }
    }
}
