package dev.cloister.pf;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.bouncycastle.crypto.engines.AESEngine;
import org.bouncycastle.crypto.macs.CMac;
import org.bouncycastle.crypto.params.KeyParameter;

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
     * Decrypts and authenticates; returns false (leaving {@code out} zeroed) if the tag does not verify.
     */
    boolean decrypt(byte[] key, int keyOff, byte[] in, int inOff, int len, byte[] tag, int tagOff, byte[] out, int outOff) {
        try {
            gcm.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, keyOff, Layout.KEY, "AES"), ZERO_IV);
            gcm.update(in, inOff, len, out, outOff);
            gcm.doFinal(tag, tagOff, Layout.TAG, out, outOff);
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
        CMac cmac = new CMac(AESEngine.newInstance());
        cmac.init(new KeyParameter(kdk));
        cmac.update(input, 0, input.length);
        byte[] out = new byte[16];
        cmac.doFinal(out, 0);
        return out;
    }

    /**
     * Where fresh node keys and metadata nonces come from. Production code draws them from a SecureRandom in bulk
     * (one call per 4 KiB); tests substitute fixed values to reproduce Gramine's bytes exactly.
     */
    interface KeySource {
        void dataKey(long d, byte[] out);

        void mhtKey(long m, byte[] out);

        void nonce(byte[] out);

        /** Keys from a SecureRandom, buffered so that each node costs a copy, not a system call. */
        static KeySource secure() {
            return new KeySource() {
                private final SecureRandom random = new SecureRandom();
                private final byte[] pool = new byte[4096];
                private int pos = pool.length;

                private void take(byte[] out, int n) {
                    if (pos + n > pool.length) {
                        random.nextBytes(pool);
                        pos = 0;
                    }
                    System.arraycopy(pool, pos, out, 0, n);
                    Arrays.fill(pool, pos, pos + n, (byte) 0);
                    pos += n;
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
