package dev.cloister.bundle;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.interfaces.RSAPrivateCrtKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.RSAKeyGenParameterSpec;
import java.security.spec.RSAPublicKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

/**
 * Enclave signer keys: RSA-3072 with public exponent 3, as SGX requires, in PEM. Private keys are PKCS#8
 * ({@code PRIVATE KEY}, what {@code openssl genrsa -3} writes today) or PKCS#1 ({@code RSA PRIVATE KEY}, what
 * older OpenSSL and {@code gramine-sgx-gen-private-key} wrote); public keys are X.509 SubjectPublicKeyInfo.
 */
public final class SignerKeys {
    private SignerKeys() {}

    /** A new signer key pair. */
    public static KeyPair generate(SecureRandom random) {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
            g.initialize(new RSAKeyGenParameterSpec(3072, BigInteger.valueOf(3)), random);
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK cannot generate RSA-3072 keys with exponent 3", e);
        }
    }

    /** PKCS#8 PEM of a private key. */
    public static byte[] privatePem(KeyPair kp) {
        return pem("PRIVATE KEY", kp.getPrivate().getEncoded());
    }

    /** SubjectPublicKeyInfo PEM of a public key. */
    public static byte[] publicPem(RSAPublicKey key) {
        return pem("PUBLIC KEY", key.getEncoded());
    }

    /** Reads a private key PEM; {@code name} is used in errors (never the key). */
    public static RSAPrivateCrtKey readPrivate(byte[] pem, String name) throws BundleException {
        String text = new String(pem, StandardCharsets.US_ASCII);
        byte[] der;
        if (text.contains("-----BEGIN PRIVATE KEY-----")) {
            der = body(text, "PRIVATE KEY", name);
        } else if (text.contains("-----BEGIN RSA PRIVATE KEY-----")) {
            der = pkcs1ToPkcs8(body(text, "RSA PRIVATE KEY", name));
        } else {
            throw BundleException.badInput(name + " is not an unencrypted PEM private key (PRIVATE KEY or RSA PRIVATE KEY)");
        }
        try {
            return (RSAPrivateCrtKey) KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (GeneralSecurityException | ClassCastException e) {
            throw BundleException.badInput(name + " does not hold an RSA private key");
        }
    }

    /** The public half of a private key. */
    public static RSAPublicKey publicOf(RSAPrivateCrtKey k) {
        try {
            return (RSAPublicKey) KeyFactory.getInstance("RSA")
                    .generatePublic(new RSAPublicKeySpec(k.getModulus(), k.getPublicExponent()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads a public key PEM. */
    public static RSAPublicKey readPublic(byte[] pem, String name) throws BundleException {
        String text = new String(pem, StandardCharsets.US_ASCII);
        if (!text.contains("-----BEGIN PUBLIC KEY-----")) {
            throw BundleException.badInput(name + " is not a PEM public key (PUBLIC KEY)");
        }
        try {
            return (RSAPublicKey) KeyFactory.getInstance("RSA")
                    .generatePublic(new X509EncodedKeySpec(body(text, "PUBLIC KEY", name)));
        } catch (GeneralSecurityException | ClassCastException e) {
            throw BundleException.badInput(name + " does not hold an RSA public key");
        }
    }

    private static byte[] body(String text, String label, String name) throws BundleException {
        String begin = "-----BEGIN " + label + "-----";
        String end = "-----END " + label + "-----";
        int b = text.indexOf(begin);
        int e = text.indexOf(end, b);
        if (b < 0 || e < 0) {
            throw BundleException.badInput(name + ": PEM block " + label + " is not terminated");
        }
        try {
            return Base64.getMimeDecoder().decode(text.substring(b + begin.length(), e));
        } catch (IllegalArgumentException ex) {
            throw BundleException.badInput(name + ": PEM block " + label + " is not valid base64");
        }
    }

    private static byte[] pem(String label, byte[] der) {
        String b64 = Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der);
        return ("-----BEGIN " + label + "-----\n" + b64 + "\n-----END " + label + "-----\n")
                .getBytes(StandardCharsets.US_ASCII);
    }

    /** Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo (version 0, rsaEncryption, NULL parameters). */
    private static byte[] pkcs1ToPkcs8(byte[] pkcs1) {
        byte[] algId = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01,
            0x01, 0x05, 0x00};
        byte[] version = {0x02, 0x01, 0x00};
        byte[] octet = tlv(0x04, pkcs1);
        byte[] inner = new byte[version.length + algId.length + octet.length];
        System.arraycopy(version, 0, inner, 0, version.length);
        System.arraycopy(algId, 0, inner, version.length, algId.length);
        System.arraycopy(octet, 0, inner, version.length + algId.length, octet.length);
        return tlv(0x30, inner);
    }

    private static byte[] tlv(int tag, byte[] v) {
        byte[] len;
        if (v.length < 0x80) {
            len = new byte[] {(byte) v.length};
        } else if (v.length < 0x100) {
            len = new byte[] {(byte) 0x81, (byte) v.length};
        } else if (v.length < 0x10000) {
            len = new byte[] {(byte) 0x82, (byte) (v.length >> 8), (byte) v.length};
        } else {
            len = new byte[] {(byte) 0x83, (byte) (v.length >> 16), (byte) (v.length >> 8), (byte) v.length};
        }
        byte[] out = new byte[1 + len.length + v.length];
        out[0] = (byte) tag;
        System.arraycopy(len, 0, out, 1, len.length);
        System.arraycopy(v, 0, out, 1 + len.length, v.length);
        return out;
    }
}
