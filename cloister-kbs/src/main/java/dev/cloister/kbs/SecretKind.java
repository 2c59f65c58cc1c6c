package dev.cloister.kbs;

import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Locale;

/** What a secret is; decides how it is generated and which uploaded values are acceptable. */
public enum SecretKind {
    /** A 16-byte Gramine encrypted-files key (what {@code SECRET_PROVISION_SET_KEY} requires). */
    PF_KEY,
    /** A 32-byte AES-256 key. */
    AES256,
    /** An EC P-256 private key, PKCS#8 DER (the public key is derivable from it). */
    EC_P256,
    /** Any bytes the owner uploads, up to {@link #MAX_OPAQUE} bytes; cannot be generated. */
    OPAQUE;

    /** Largest uploaded opaque secret. */
    public static final int MAX_OPAQUE = 64 * 1024;

    private static final SecureRandom RANDOM = new SecureRandom();

    /** Parses a kind by name, case-insensitively, e.g. {@code pf-key} or {@code PF_KEY}. */
    public static SecretKind parse(String s) throws KbsException {
        try {
            return valueOf(s.strip().toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw KbsException.badRequest("unknown secret kind '" + s + "' (pf-key, aes256, ec-p256, opaque)");
        }
    }

    /** The CLI/JSON spelling, e.g. {@code pf-key}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** A fresh random value of this kind. */
    public byte[] generate() throws KbsException {
        return switch (this) {
            case PF_KEY -> random(16);
            case AES256 -> random(32);
            case EC_P256 -> {
                try {
                    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
                    g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
                    yield g.generateKeyPair().getPrivate().getEncoded();
                } catch (GeneralSecurityException e) {
                    throw new IllegalStateException("EC P-256 unavailable", e);
                }
            }
            case OPAQUE -> throw KbsException.badRequest("opaque secrets cannot be generated; upload a value");
        };
    }

    /** Checks an uploaded value; the message names the kind and the size, never the content. */
    public void validate(byte[] value) throws KbsException {
        switch (this) {
            case PF_KEY -> requireLength(value, 16);
            case AES256 -> requireLength(value, 32);
            case EC_P256 -> {
                try {
                    var k = (java.security.interfaces.ECPrivateKey) KeyFactory.getInstance("EC")
                            .generatePrivate(new PKCS8EncodedKeySpec(value));
                    if (k.getParams().getCurve().getField().getFieldSize() != 256) {
                        throw KbsException.badRequest("ec-p256 secret is not on a 256-bit curve");
                    }
                } catch (GeneralSecurityException | ClassCastException e) {
                    throw KbsException.badRequest("ec-p256 secret is not a PKCS#8 EC private key");
                }
            }
            case OPAQUE -> {
                if (value.length == 0 || value.length > MAX_OPAQUE) {
                    throw KbsException.badRequest("opaque secret must be 1.." + MAX_OPAQUE + " bytes, got "
                            + value.length);
                }
            }
        }
    }

    private void requireLength(byte[] value, int n) throws KbsException {
        if (value.length != n) {
            throw KbsException.badRequest(label() + " secret must be " + n + " bytes, got " + value.length);
        }
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        RANDOM.nextBytes(b);
        return b;
    }
}
