package dev.cloister.kbs;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.Provider;
import java.security.SecureRandom;
import java.security.Security;
import java.util.Arrays;
import java.util.HexFormat;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;

/**
 * A {@link KeyEncryptionKey} held in a PKCS#11 token (an HSM, or SoftHSM2) as a non-extractable AES-256 key, used
 * through the JDK's SunPKCS11 provider: the broker hands the token data keys and gets them back wrapped, and never
 * holds the key itself.
 *
 * <ul>
 *   <li>Wrapping: AES-256-GCM in the token, same layout as {@link MasterKey} (version byte 1, 12-byte random IV,
 *       ciphertext and 16-byte tag) with the associated data bound.
 *   <li>Derivation ({@link #deriveKey}): two AES-ECB blocks computed by the token on inputs that name the label,
 *       kept apart from every block AES-GCM ever enciphers (see docs/decisions.md).
 *   <li>Identity: "pkcs11:" and 8 bytes of a block the token enciphers, so a different key under the same label
 *       is detected when a database is opened, like a wrong master key file.
 * </ul>
 */
public final class Pkcs11Kek implements KeyEncryptionKey {
    /** The environment variable the token's user PIN is read from when no PIN file is given. */
    public static final String PIN_ENV = "CLOISTER_KBS_HSM_PIN";

    private static final SecureRandom RANDOM = new SecureRandom();
    private final Provider provider;
    private final Key key;
    private final String where;
    private final String id;

    private Pkcs11Kek(Provider provider, Key key, String where) throws CloisterException {
        this.provider = provider;
        this.key = key;
        this.where = where;
        try {
            this.id = "pkcs11:" + HexFormat.of().formatHex(block("cloister-kbs master key id", "", 0), 0, 8);
        } catch (KbsException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "the key " + where + " cannot encrypt (is it an AES key with CKA_ENCRYPT?): " + e.getMessage(), e);
        }
    }

    /**
     * Logs in to the token labelled {@code token} in {@code module} with {@code pin} and finds its secret key
     * labelled {@code keyLabel}.
     *
     * @throws CloisterException ENVIRONMENT when the module, the token or the key is missing, or the PIN is refused
     */
    public static Pkcs11Kek open(Path module, String token, String keyLabel, char[] pin) throws CloisterException {
        String where = "'" + keyLabel + "' in token '" + token + "'";
        Provider p = provider(module, token, false);
        try {
            KeyStore ks = login(p, pin, token);
            Key k = ks.getKey(keyLabel, null);
            if (!(k instanceof SecretKey) || !"AES".equalsIgnoreCase(k.getAlgorithm())) {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "no AES key labelled '" + keyLabel
                        + "' in PKCS#11 token '" + token + "'" + (k == null ? "" : " (found a " + k.getAlgorithm() + " key)"));
            }
            return new Pkcs11Kek(p, k, where);
        } catch (GeneralSecurityException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "cannot read the key " + where + ": " + e.getMessage(), e);
        }
    }

    /**
     * Generates a new AES-256 key labelled {@code keyLabel} inside the token: a token object, sensitive and not
     * extractable, so its value can never be read out (used by tests and to set a token up).
     *
     * @throws CloisterException ENVIRONMENT as for {@link #open}; BAD_INPUT when the label is taken
     */
    public static void generate(Path module, String token, String keyLabel, char[] pin) throws CloisterException {
        Provider p = provider(module, token, true);
        try {
            KeyStore ks = login(p, pin, token);
            if (ks.containsAlias(keyLabel)) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        "token '" + token + "' already holds an object labelled '" + keyLabel + "'");
            }
            KeyGenerator g = KeyGenerator.getInstance("AES", p);
            g.init(256);
            // The provider's template makes the key sensitive and non-extractable; storing it copies it to a token
            // object with the label, keeping those attributes.
            ks.setEntry(keyLabel, new KeyStore.SecretKeyEntry(g.generateKey()), null);
        } catch (GeneralSecurityException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "cannot create the key '" + keyLabel + "' in token '" + token + "': " + e.getMessage(), e);
        }
    }

    private static Provider provider(Path module, String token, boolean generating) throws CloisterException {
        long slot = Pkcs11Slots.find(module, token);
        // Every key this provider generates is sensitive and not extractable (PKCS#11 then refuses C_GetAttributeValue
        // of CKA_VALUE and C_WrapKey, so the value never leaves the token).
        String config = "--name = cloister-kbs\nlibrary = " + module.toAbsolutePath() + "\nslot = " + slot + "\n"
                + "attributes(*, CKO_SECRET_KEY, CKK_AES) = {\n  CKA_SENSITIVE = true\n  CKA_EXTRACTABLE = false\n}\n";
        try {
            Provider base = Security.getProvider("SunPKCS11");
            if (base == null) {
                throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "this JDK has no SunPKCS11 provider");
            }
            return base.configure(config);
        } catch (RuntimeException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "cannot use PKCS#11 token '" + token
                    + "' in " + module + ": " + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()), e);
        }
    }

    private static KeyStore login(Provider p, char[] pin, String token) throws CloisterException {
        try {
            KeyStore ks = KeyStore.getInstance("PKCS11", p);
            ks.load(null, pin);
            return ks;
        } catch (IOException e) {
            // SunPKCS11 reports CKR_PIN_INCORRECT and friends as an IOException caused by a LoginException.
            Throwable c = e.getCause() != null ? e.getCause() : e;
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "cannot log in to PKCS#11 token '" + token + "' (wrong PIN?): " + c.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "cannot open PKCS#11 token '" + token + "': " + e.getMessage(), e);
        }
    }

    @Override
    public byte[] wrap(byte[] dataKey, byte[] aad) throws KbsException {
        try {
            byte[] iv = new byte[12];
            RANDOM.nextBytes(iv);
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", provider);
            c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            return MasterKey.concat(new byte[] {1}, iv, c.doFinal(dataKey));
        } catch (GeneralSecurityException | RuntimeException e) {
            throw KbsException.unavailable("the PKCS#11 key " + where + " failed to wrap: " + e.getMessage(), e);
        }
    }

    @Override
    public byte[] unwrap(byte[] wrapped, byte[] aad) throws KbsException {
        if (wrapped.length < 1 + 12 + 16 || wrapped[0] != 1) {
            throw KbsException.denied("wrapped key is malformed (length " + wrapped.length + ")");
        }
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", provider);
            c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, Arrays.copyOfRange(wrapped, 1, 13)));
            c.updateAAD(aad);
            return c.doFinal(wrapped, 13, wrapped.length - 13);
        } catch (javax.crypto.AEADBadTagException e) {
            throw KbsException.denied("wrapped key does not authenticate under master key " + id
                    + " (wrong master key or altered record)");
        } catch (GeneralSecurityException | RuntimeException e) {
            // SunPKCS11 reports a failed tag check as CKR_ENCRYPTED_DATA_INVALID inside a ProviderException or a
            // BadPaddingException, depending on the JDK release: both mean the same as AEADBadTagException here.
            if (String.valueOf(e.getMessage()).contains("CKR_ENCRYPTED_DATA_INVALID")
                    || e instanceof javax.crypto.BadPaddingException) {
                throw KbsException.denied("wrapped key does not authenticate under master key " + id
                        + " (wrong master key or altered record)");
            }
            throw KbsException.unavailable("the PKCS#11 key " + where + " failed to unwrap: " + e.getMessage(), e);
        }
    }

    /**
     * Two blocks the token enciphers with AES-ECB: block i is the first 12 bytes of SHA-256("cloister-kbs kdf v1"
     * || 0 || label) followed by 0xFFFFFF00 + i. AES-GCM with 96-bit IVs enciphers only the zero block (its hash key)
     * and blocks IV || counter with counter 1 + (length in blocks), which for the 32-byte keys it wraps never comes
     * near 0xFFFFFF00, so no derived key equals a GCM keystream block or the GHASH key.
     */
    @Override
    public byte[] deriveKey(String label) throws KbsException {
        return MasterKey.concat(block("cloister-kbs kdf v1", label, 1), block("cloister-kbs kdf v1", label, 2));
    }

    private byte[] block(String purpose, String label, int i) throws KbsException {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(purpose.getBytes(StandardCharsets.US_ASCII));
            d.update((byte) 0);
            d.update(label.getBytes(StandardCharsets.UTF_8));
            byte[] in = Arrays.copyOf(d.digest(), 16);
            in[12] = (byte) 0xFF;
            in[13] = (byte) 0xFF;
            in[14] = (byte) 0xFF;
            in[15] = (byte) i;
            Cipher c = Cipher.getInstance("AES/ECB/NoPadding", provider);
            c.init(Cipher.ENCRYPT_MODE, key);
            return c.doFinal(in);
        } catch (GeneralSecurityException | RuntimeException e) {
            throw KbsException.unavailable("the PKCS#11 key " + where + " failed to derive a key: " + e.getMessage(), e);
        }
    }

    @Override
    public String id() {
        return id;
    }

    /** The token's handle on the key (for tests that check its value cannot be read). */
    Key tokenKey() {
        return key;
    }

    @Override
    public String toString() {
        return "Pkcs11Kek[" + id + ", " + where + "]";
    }
}
