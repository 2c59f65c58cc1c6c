package dev.cloister.kbs;

import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The local {@link KeyEncryptionKey}: a 32-byte AES-256-GCM key from a file or an environment variable (base64).
 * Wrapped form: version byte 1, 12-byte random IV, ciphertext and 16-byte tag.
 */
public final class MasterKey implements KeyEncryptionKey {
    /** The environment variable read when no file is given. */
    public static final String ENV = "CLOISTER_KBS_MASTER_KEY";

    private static final SecureRandom RANDOM = new SecureRandom();
    private final SecretKeySpec key;
    private final String id;

    private MasterKey(byte[] raw) {
        this.key = new SecretKeySpec(raw, "AES");
        try {
            byte[] fp = MessageDigest.getInstance("SHA-256")
                    .digest(concat("cloister-kbs master key id".getBytes(StandardCharsets.US_ASCII), raw));
            this.id = "local:" + HexFormat.of().formatHex(fp, 0, 8);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A master key from 32 raw bytes. */
    public static MasterKey of(byte[] raw) throws KbsException {
        if (raw.length != 32) {
            throw KbsException.badRequest("master key must be 32 bytes, got " + raw.length);
        }
        return new MasterKey(raw.clone());
    }

    /** A fresh random master key. */
    public static MasterKey generate() {
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        return new MasterKey(raw);
    }

    /** The key as base64 (for writing a new key file). */
    public String toBase64() {
        return Base64.getEncoder().encodeToString(key.getEncoded());
    }

    /**
     * Loads the key from {@code file} (base64 text) or, if the file is null, from {@link #ENV}; with
     * {@code createIfMissing}, a missing file is created with a fresh key, readable only by its owner.
     */
    public static MasterKey load(Path file, boolean createIfMissing) throws CloisterException {
        if (file == null) {
            String env = System.getenv(ENV);
            if (env == null || env.isBlank()) {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                        "no master key: pass --master-key FILE or set " + ENV);
            }
            return of(decode(env.strip(), ENV));
        }
        try {
            if (!Files.exists(file)) {
                if (!createIfMissing) {
                    throw new CloisterException(CloisterException.Kind.BAD_INPUT, "no such master key file: " + file);
                }
                MasterKey k = generate();
                Files.createDirectories(file.toAbsolutePath().getParent());
                AtomicFiles.writeBytes(file, false, (k.toBase64() + "\n").getBytes(StandardCharsets.US_ASCII));
                return k;
            }
            return of(decode(Files.readString(file, StandardCharsets.US_ASCII).strip(), file.toString()));
        } catch (IOException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "cannot read master key " + file + ": " + e.getMessage(), e);
        }
    }

    private static byte[] decode(String b64, String where) throws KbsException {
        try {
            return Base64.getDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            throw KbsException.badRequest("master key in " + where + " is not base64");
        }
    }

    @Override
    public byte[] wrap(byte[] dataKey, byte[] aad) throws KbsException {
        try {
            byte[] iv = new byte[12];
            RANDOM.nextBytes(iv);
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            byte[] ct = c.doFinal(dataKey);
            byte[] out = new byte[1 + 12 + ct.length];
            out[0] = 1;
            System.arraycopy(iv, 0, out, 1, 12);
            System.arraycopy(ct, 0, out, 13, ct.length);
            return out;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM unavailable", e);
        }
    }

    @Override
    public byte[] unwrap(byte[] wrapped, byte[] aad) throws KbsException {
        if (wrapped.length < 1 + 12 + 16 || wrapped[0] != 1) {
            throw KbsException.denied("wrapped key is malformed (length " + wrapped.length + ")");
        }
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, wrapped, 1, 12));
            c.updateAAD(aad);
            return c.doFinal(wrapped, 13, wrapped.length - 13);
        } catch (javax.crypto.AEADBadTagException e) {
            throw KbsException.denied("wrapped key does not authenticate under master key " + id
                    + " (wrong master key or altered record)");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM unavailable", e);
        }
    }

    /**
     * HKDF-SHA256 (RFC 5869) of the master key with an empty salt and {@code label} as info: a 32-byte key for one
     * purpose, the same for every database under this master key and never stored anywhere.
     */
    @Override
    public byte[] deriveKey(String label) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(new byte[32], "HmacSHA256"));
            byte[] prk = mac.doFinal(key.getEncoded());
            mac.init(new SecretKeySpec(prk, "HmacSHA256"));
            mac.update(label.getBytes(StandardCharsets.UTF_8));
            mac.update((byte) 1);
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HMAC-SHA256 unavailable", e);
        }
    }

    @Override
    public String id() {
        return id;
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int o = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }

    @Override
    public String toString() {
        return "MasterKey[" + id + "]";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MasterKey m && MessageDigest.isEqual(m.key.getEncoded(), key.getEncoded());
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(id.getBytes(StandardCharsets.US_ASCII));
    }
}
