package dev.cloister.pf;

import com.amazon.corretto.crypto.provider.AmazonCorrettoCryptoProvider;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.Provider;
import java.security.SecureRandom;
import java.security.Security;
import java.util.HexFormat;
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
    private final Engine engine;
    private final byte[] work = new byte[Layout.NODE + Layout.TAG];

    /** The engine {@link Engine#selected()} picks: for bulk work (many nodes). */
    Crypto() {
        this(Engine.selected());
    }

    Crypto(Engine engine) {
        this.engine = engine;
        try {
            gcm = Cipher.getInstance("AES/GCM/NoPadding", engine.provider());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is not available from " + engine, e);
        }
    }

    Engine engine() {
        return engine;
    }

    /**
     * Files of up to this many data nodes are done on the JDK engine: for them the bulk engine's one-time
     * start-up would cost more than it saves (measured in docs/pf.md, "Performance").
     */
    static final long BULK_MIN_NODES = 16;

    /**
     * The engine for work on {@code nodes} nodes: the JDK for a few, else {@link Engine#selected()}; an engine
     * named explicitly in {@value Engine#PROPERTY} is used for everything (tests run the whole suite on each).
     */
    static Crypto forNodes(long nodes) {
        Engine forced = Engine.forced();
        if (forced != null) {
            return new Crypto(forced);
        }
        // Once ACCP is loaded its start-up is paid: small work uses it too (a tree of many small files).
        return new Crypto(nodes <= BULK_MIN_NODES && !accpLoaded ? Engine.JDK : Engine.selected());
    }

    /** Set once the ACCP holder has loaded the provider successfully. */
    private static volatile boolean accpLoaded;

    static boolean accpLoadedForTest() {
        return accpLoaded;
    }

    /**
     * Which implementation of AES-GCM encrypts and authenticates the nodes. Both produce the same bytes (the
     * format is fixed); they differ in speed and in start-up cost.
     *
     * <p>{@link #ACCP}, the Amazon Corretto Crypto Provider (AWS-LC's AES-GCM, native code), re-keys natively for
     * the fresh key of every 4 KiB node and is fast from the first node: unlike the JDK's AES-GCM it needs no C2
     * compilation (per byte, once C2 has compiled the JDK's intrinsics, the two were within 10 % of each other on
     * the machine this was measured on; docs/pf.md). Loading it costs 1-2 CPU seconds (it unpacks its shared
     * library to {@code java.io.tmpdir}, the JDK verifies its signed jar, it runs self-tests), so it is loaded only
     * when bulk work asks for it, and it is never installed as a JVM-wide provider: only this module's ciphers use
     * it. If its native library does not load (another platform, a non-executable temporary directory, the jar
     * missing) the JDK engine is used.
     *
     * <p>The system property {@value #PROPERTY} overrides the choice: {@code jdk} forces the JDK (SunJCE),
     * {@code accp} requires ACCP (failing if it cannot load), both for all work however small; anything else or
     * unset means ACCP for bulk work when it is available.
     */
    enum Engine {
        /** The JDK's own provider, SunJCE: always present. */
        JDK,
        /** Amazon Corretto Crypto Provider, when its native library loads. */
        ACCP;

        /** System property naming the engine: {@code jdk}, {@code accp} or {@code auto} (the default). */
        static final String PROPERTY = "cloister.pf.engine";

        /** The engine for bulk work, per {@value #PROPERTY}; loads ACCP on first use. */
        static Engine selected() {
            String choice = System.getProperty(PROPERTY, "auto");
            if (choice.equalsIgnoreCase("jdk")) {
                return JDK;
            }
            if (choice.equalsIgnoreCase("accp")) {
                if (Accp.PROVIDER == null) {
                    throw new IllegalStateException(PROPERTY + "=accp, but the Amazon Corretto Crypto Provider did "
                            + "not load: " + Accp.FAILURE);
                }
                return ACCP;
            }
            return Accp.PROVIDER != null ? ACCP : JDK;
        }

        /** The engine for small side work (key pool, parking): ACCP if named or already loaded, else the JDK. */
        static Engine current() {
            Engine forced = forced();
            return forced != null ? forced : accpLoaded ? ACCP : JDK;
        }

        /** The engine named explicitly in {@value #PROPERTY}, or null when the choice is automatic. */
        static Engine forced() {
            String choice = System.getProperty(PROPERTY, "auto");
            return choice.equalsIgnoreCase("jdk") || choice.equalsIgnoreCase("accp") ? selected() : null;
        }

        /** Why ACCP is unavailable, or null if it loaded; loads it if that has not been tried yet. */
        static String accpFailure() {
            return Accp.PROVIDER == null ? Accp.FAILURE : null;
        }

        Provider provider() {
            if (this == ACCP) {
                return Accp.PROVIDER;
            }
            Provider sun = Security.getProvider("SunJCE");
            if (sun == null) {
                throw new IllegalStateException("the JDK's SunJCE provider is not installed");
            }
            return sun;
        }

        /** A human-readable name with the version, for reports. */
        String describe() {
            Provider p = provider();
            return p.getName() + " " + p.getVersionStr();
        }
    }

    /**
     * Holder of the ACCP provider: the JVM initialises this class (and so loads ACCP and its native library) only
     * when {@link Engine#selected()} first runs, so commands that never encrypt nodes do not pay for it.
     */
    private static final class Accp {
        static final Provider PROVIDER;
        static final String FAILURE;

        static {
            Provider provider = null;
            String failure;
            try {
                Provider accp = AccpLink.instance();
                Throwable error = AccpLink.loadingError(accp);
                if (error != null) {
                    failure = "native library: " + error;
                } else if (!knownAnswer(accp)) {
                    failure = "AES-GCM known-answer test failed";
                } else {
                    provider = accp;
                    failure = null;
                }
            } catch (LinkageError | RuntimeException e) {
                failure = e.toString(); // not on the class path, or a platform without a native build
            }
            PROVIDER = provider;
            FAILURE = failure;
            accpLoaded = provider != null;
        }

        /**
         * The only code that names ACCP's classes. Kept apart so that a missing ACCP jar fails here, inside the
         * try above, when these methods are first called, and not while the JVM links the holder class itself.
         */
        private static final class AccpLink {
            static Provider instance() {
                return AmazonCorrettoCryptoProvider.INSTANCE;
            }

            static Throwable loadingError(Provider p) {
                return ((AmazonCorrettoCryptoProvider) p).getLoadingError();
            }
        }

        /**
         * NIST GCM test case 2 (zero key, zero 96-bit IV, one zero block): the format's exact shape of call, so a
         * provider that loads but computes something else is never used.
         */
        private static boolean knownAnswer(Provider p) {
            try {
                Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
                c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(new byte[16], "AES"), ZERO_IV);
                byte[] out = c.doFinal(new byte[16]);
                return MessageDigest.isEqual(out, HexFormat.of().parseHex(
                        "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"));
            } catch (GeneralSecurityException | RuntimeException e) {
                return false;
            }
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
     * AES in counter mode, computed as AES-GCM encryption (whose ciphertext is the plaintext XOR a CTR keystream
     * starting at counter block IV || 2) on the given engine: ACCP 2.5 has no AES-CTR, and the JDK's runs as plain
     * Java when the command line runs without C2. Each (key, counter) pair gives its own keystream of up to 4096
     * bytes; callers never encrypt twice in a row with the same pair (both engines refuse a repeated key and IV).
     */
    static final class Keystream {
        private final Cipher gcm;
        private final byte[] zeros = new byte[Layout.NODE];
        private final byte[] out = new byte[Layout.NODE + Layout.TAG];
        private final byte[] iv = new byte[12];

        Keystream(Engine engine) {
            try {
                gcm = Cipher.getInstance("AES/GCM/NoPadding", engine.provider());
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("AES-GCM is not available from " + engine, e);
            }
        }

        /** Writes {@code len} (at most 4096) bytes of the keystream of (key, counter) to {@code dst}. */
        void fill(byte[] key, long counter, byte[] dst, int off, int len) {
            run(key, counter, zeros, 0, len);
            System.arraycopy(out, 0, dst, off, len);
            Arrays.fill(out, (byte) 0);
        }

        /** XORs {@code len} (at most 4096) bytes of {@code buf} with the keystream of (key, counter). */
        void xor(byte[] key, long counter, byte[] buf, int off, int len) {
            run(key, counter, buf, off, len);
            System.arraycopy(out, 0, buf, off, len);
            Arrays.fill(out, (byte) 0);
        }

        private void run(byte[] key, long counter, byte[] in, int off, int len) {
            for (int i = 0; i < 8; i++) {
                iv[i] = (byte) (counter >>> (56 - 8 * i));
            }
            try {
                gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
                gcm.doFinal(in, off, len, out, 0);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("AES keystream failed", e);
            }
        }
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
         * Keys from a CTR-DRBG-like generator: AES in counter mode ({@link Keystream}) under a key drawn from the
         * platform SecureRandom, re-keyed every 256 KiB of output. A node costs a 16-byte copy instead of a
         * SecureRandom call, which matters at a few hundred nanoseconds per 4 KiB node.
         */
        static KeySource secure() {
            return new KeySource() {
                private static final int RESEED_REFILLS = 64;
                private final SecureRandom random = new SecureRandom();
                private final byte[] pool = new byte[4096];
                private final byte[] seed = new byte[16];
                private Keystream stream;
                private int refills = RESEED_REFILLS;
                private int pos = pool.length;

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
                    Arrays.fill(seed, (byte) 0);
                    refills = RESEED_REFILLS;
                    pos = pool.length;
                }

                private void refill() {
                    if (refills == RESEED_REFILLS) {
                        random.nextBytes(seed);
                        // Re-chosen at every re-key: once the bulk engine is loaded, the keys come from it too.
                        stream = new Keystream(Engine.current());
                        refills = 0;
                    }
                    stream.fill(seed, refills, pool, 0, pool.length);
                    refills++;
                    pos = 0;
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
