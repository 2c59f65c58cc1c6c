package dev.cloister.kbs;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.bouncycastle.crypto.AsymmetricCipherKeyPair;
import org.bouncycastle.crypto.InvalidCipherTextException;
import org.bouncycastle.crypto.hpke.HPKE;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;

/**
 * The HPKE (RFC 9180) suites the broker seals released secrets with: base mode, HKDF-SHA256, AES-128-GCM, and
 * DHKEM(P-256, HKDF-SHA256) or DHKEM(X25519, HKDF-SHA256). The info string binds the ciphertext to this protocol,
 * and the associated data to the secret's namespace, name and version, so a sealed secret cannot be passed off
 * as another.
 */
public enum HpkeSuite {
    /** DHKEM(P-256, HKDF-SHA256); public keys are 65-byte uncompressed points. */
    P256(HPKE.kem_P256_SHA256, 65),
    /** DHKEM(X25519, HKDF-SHA256); public keys are 32 bytes. */
    X25519(HPKE.kem_X25519_SHA256, 32);

    /** The HPKE info string of Cloister's release protocol. */
    public static final byte[] INFO = "cloister-kbs release v1".getBytes(StandardCharsets.US_ASCII);

    private final short kem;
    private final int publicKeyLength;

    HpkeSuite(short kem, int publicKeyLength) {
        this.kem = kem;
        this.publicKeyLength = publicKeyLength;
    }

    /** Parses {@code P256} or {@code X25519}, case-insensitively. */
    public static HpkeSuite parse(String s) throws KbsException {
        if (s == null) {
            return X25519;
        }
        return switch (s.strip().toUpperCase(Locale.ROOT).replace("-", "")) {
            case "P256" -> P256;
            case "X25519" -> X25519;
            default -> throw KbsException.badRequest("unknown HPKE KEM '" + s + "' (P256 or X25519)");
        };
    }

    private HPKE hpke() {
        return new HPKE(HPKE.mode_base, kem, HPKE.kdf_HKDF_SHA256, HPKE.aead_AES_GCM128);
    }

    /** A fresh ephemeral key pair for the receiving workload. */
    public AsymmetricCipherKeyPair generateKeyPair() {
        return hpke().generatePrivateKey();
    }

    /** The serialized public key (what goes into the report data hash and the request). */
    public byte[] publicKey(AsymmetricCipherKeyPair kp) {
        return hpke().serializePublicKey(kp.getPublic());
    }

    /** The associated data that names what is sealed. */
    public static byte[] aad(String ns, String name, int version) {
        return ("cloister-kbs secret\0" + ns + "\0" + name + "\0" + version).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Seals {@code plaintext} to {@code recipientPublicKey}.
     *
     * @return {enc, ciphertext}
     * @throws KbsException 400 when the public key is not a valid point of this KEM
     */
    public byte[][] seal(byte[] recipientPublicKey, byte[] aad, byte[] plaintext) throws KbsException {
        if (recipientPublicKey.length != publicKeyLength) {
            throw KbsException.badRequest(name() + " public key must be " + publicKeyLength + " bytes, got "
                    + recipientPublicKey.length);
        }
        HPKE h = hpke();
        AsymmetricKeyParameter pk;
        try {
            pk = h.deserializePublicKey(recipientPublicKey);
        } catch (RuntimeException e) {
            throw KbsException.badRequest(name() + " public key is not a valid point");
        }
        try {
            byte[][] r = h.seal(pk, INFO, aad, plaintext, null, null, null);
            return new byte[][] {r[1], r[0]};
        } catch (InvalidCipherTextException | RuntimeException e) {
            throw KbsException.badRequest(name() + " public key is not usable: " + e.getMessage());
        }
    }

    /**
     * Opens what {@link #seal} produced.
     *
     * @throws KbsException DENIED when it does not authenticate (wrong key, altered or misattributed)
     */
    public byte[] open(AsymmetricCipherKeyPair recipient, byte[] enc, byte[] aad, byte[] ciphertext)
            throws KbsException {
        try {
            return hpke().open(enc, recipient, INFO, aad, ciphertext, null, null, null);
        } catch (InvalidCipherTextException | RuntimeException e) {
            throw KbsException.denied("sealed secret does not open with this key (wrong key or altered)");
        }
    }
}
