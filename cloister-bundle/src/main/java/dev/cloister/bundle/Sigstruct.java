package dev.cloister.bundle;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.Signature;
import java.security.interfaces.RSAPrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.RSAPublicKeySpec;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Optional;

/**
 * SGX's enclave signature structure (SIGSTRUCT, 1808 bytes), as Gramine's {@code gramine-sgx-sign} writes it
 * into {@code .sig} files (Intel SDM vol. 3D 38.13; layout in docs/bundles.md). All integers little-endian; the
 * RSA modulus, signature, Q1 and Q2 are 384-byte little-endian numbers.
 *
 * <p>The signed data is bytes {@code [0,128)} followed by {@code [900,1028)}; the signature is RSASSA-PKCS1-v1_5
 * with SHA-256 under an RSA-3072 key with public exponent 3. MRSIGNER is the SHA-256 of the 384-byte modulus
 * field. Parsing is strict: fixed headers and reserved areas must hold their defined values.
 *
 * @param vendor        0 (Intel's own enclaves use 0x8086)
 * @param date          build date as BCD {@code 0xYYYYMMDD}; 0 for reproducible builds
 * @param swDefined     software-defined field (0)
 * @param modulus       384 bytes, little-endian
 * @param exponent      public exponent, 3
 * @param signature     384 bytes, little-endian
 * @param miscSelect    MISCSELECT
 * @param miscMask      MISCMASK
 * @param cetAttributes CET attributes byte
 * @param cetMask       CET attributes mask byte
 * @param isvFamilyId   16 bytes
 * @param attributes    16 bytes: flags (u64) then XFRM (u64)
 * @param attributeMask 16 bytes: flags mask then XFRM mask
 * @param enclaveHash   32 bytes: MRENCLAVE (for a simulated bundle, the Cloister measurement)
 * @param isvExtProdId  16 bytes
 * @param isvProdId     ISVPRODID
 * @param isvSvn        ISVSVN
 * @param q1            384 bytes, little-endian: floor(s^2 / n)
 * @param q2            384 bytes, little-endian: floor((s^2 mod n) * s / n)
 */
public record Sigstruct(int vendor, int date, int swDefined, byte[] modulus, int exponent, byte[] signature,
        int miscSelect, int miscMask, int cetAttributes, int cetMask, byte[] isvFamilyId, byte[] attributes,
        byte[] attributeMask, byte[] enclaveHash, byte[] isvExtProdId, int isvProdId, int isvSvn, byte[] q1,
        byte[] q2) {

    /** Size of a SIGSTRUCT in bytes. */
    public static final int SIZE = 1808;
    /** Size of the RSA numbers in bytes. */
    public static final int KEY_BYTES = 384;

    private static final byte[] HEADER = HexFormat.of().parseHex("06000000E100000000000100" + "00000000");
    private static final byte[] HEADER2 = HexFormat.of().parseHex("01010000600000006000000001000000");

    public Sigstruct {
        modulus = fixed(modulus, KEY_BYTES, "modulus");
        signature = fixed(signature, KEY_BYTES, "signature");
        isvFamilyId = fixed(isvFamilyId, 16, "isvFamilyId");
        attributes = fixed(attributes, 16, "attributes");
        attributeMask = fixed(attributeMask, 16, "attributeMask");
        enclaveHash = fixed(enclaveHash, 32, "enclaveHash");
        isvExtProdId = fixed(isvExtProdId, 16, "isvExtProdId");
        q1 = fixed(q1, KEY_BYTES, "q1");
        q2 = fixed(q2, KEY_BYTES, "q2");
        if (isvProdId < 0 || isvProdId > 0xffff || isvSvn < 0 || isvSvn > 0xffff) {
            throw new IllegalArgumentException("isvProdId and isvSvn are 16-bit values");
        }
    }

    private static byte[] fixed(byte[] b, int len, String what) {
        if (b == null || b.length != len) {
            throw new IllegalArgumentException(what + " must be " + len + " bytes");
        }
        return b.clone();
    }

    /**
     * An unsigned SIGSTRUCT with Gramine's defaults for a production (non-debug) 64-bit enclave: attributes
     * MODE64BIT and XFRM x87+SSE, attribute mask all flags and Gramine's default XFRM mask, MISCMASK all ones.
     *
     * @param date empty for the reproducible date 0000-00-00
     */
    public static Sigstruct unsigned(byte[] enclaveHash, int isvProdId, int isvSvn, Optional<LocalDate> date) {
        ByteBuffer attr = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(0x4L).putLong(0x3L);
        ByteBuffer mask = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1L)
                .putLong(0xfffffffffff9ff1bL);
        byte[] z384 = new byte[KEY_BYTES];
        return new Sigstruct(0, date.map(Sigstruct::bcdDate).orElse(0), 0, z384, 3, z384, 0, 0xffffffff, 0, 0,
                new byte[16], attr.array(), mask.array(), enclaveHash, new byte[16], isvProdId, isvSvn, z384, z384);
    }

    /** The date as SGX stores it: BCD digits {@code 0xYYYYMMDD} (2023-04-14 is 0x20230414). */
    public static int bcdDate(LocalDate d) {
        return Integer.parseInt(String.format("%04d%02d%02d", d.getYear(), d.getMonthValue(), d.getDayOfMonth()),
                16);
    }

    /** Parses 1808 bytes. */
    public static Sigstruct parse(byte[] b) throws BundleException {
        if (b.length != SIZE) {
            throw BundleException.badInput("SIGSTRUCT must be " + SIZE + " bytes, got " + b.length);
        }
        if (!Arrays.equals(b, 0, 16, HEADER, 0, 16)) {
            throw BundleException.badInput("SIGSTRUCT header at offset 0 is " + hex(b, 0, 16) + ", expected "
                    + HexFormat.of().formatHex(HEADER));
        }
        if (!Arrays.equals(b, 24, 40, HEADER2, 0, 16)) {
            throw BundleException.badInput("SIGSTRUCT header2 at offset 24 is " + hex(b, 24, 16) + ", expected "
                    + HexFormat.of().formatHex(HEADER2));
        }
        zero(b, 44, 84, "reserved field at offset 44");
        zero(b, 910, 2, "reserved field at offset 910");
        zero(b, 992, 16, "reserved field at offset 992");
        zero(b, 1028, 12, "reserved field at offset 1028");
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int exponent = bb.getInt(512);
        if (exponent != 3) {
            throw BundleException.badInput("SIGSTRUCT exponent at offset 512 is " + Integer.toUnsignedString(exponent)
                    + ", SGX requires 3");
        }
        return new Sigstruct(bb.getInt(16), bb.getInt(20), bb.getInt(40), Arrays.copyOfRange(b, 128, 512), exponent,
                Arrays.copyOfRange(b, 516, 900), bb.getInt(900), bb.getInt(904), b[908] & 0xff, b[909] & 0xff,
                Arrays.copyOfRange(b, 912, 928), Arrays.copyOfRange(b, 928, 944), Arrays.copyOfRange(b, 944, 960),
                Arrays.copyOfRange(b, 960, 992), Arrays.copyOfRange(b, 1008, 1024),
                Short.toUnsignedInt(bb.getShort(1024)), Short.toUnsignedInt(bb.getShort(1026)),
                Arrays.copyOfRange(b, 1040, 1424), Arrays.copyOfRange(b, 1424, 1808));
    }

    /** The 1808 bytes. */
    public byte[] toBytes() {
        ByteBuffer bb = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        bb.put(0, HEADER);
        bb.putInt(16, vendor);
        bb.putInt(20, date);
        bb.put(24, HEADER2, 0, 16);
        bb.putInt(40, swDefined);
        bb.put(128, modulus);
        bb.putInt(512, exponent);
        bb.put(516, signature);
        bb.putInt(900, miscSelect);
        bb.putInt(904, miscMask);
        bb.put(908, (byte) cetAttributes);
        bb.put(909, (byte) cetMask);
        bb.put(912, isvFamilyId);
        bb.put(928, attributes);
        bb.put(944, attributeMask);
        bb.put(960, enclaveHash);
        bb.put(1008, isvExtProdId);
        bb.putShort(1024, (short) isvProdId);
        bb.putShort(1026, (short) isvSvn);
        bb.put(1040, q1);
        bb.put(1424, q2);
        return bb.array();
    }

    /** The 256 bytes that are signed: {@code [0,128)} then {@code [900,1028)}. */
    public byte[] body() {
        byte[] all = toBytes();
        byte[] out = new byte[256];
        System.arraycopy(all, 0, out, 0, 128);
        System.arraycopy(all, 900, out, 128, 128);
        return out;
    }

    /** MRSIGNER: SHA-256 of the 384-byte little-endian modulus field. */
    public byte[] mrSigner() {
        return ParallelHasher.sha256().digest(modulus);
    }

    /** MRSIGNER of a public key, as it would appear in a SIGSTRUCT signed with it. */
    public static byte[] mrSigner(RSAPublicKey key) {
        return ParallelHasher.sha256().digest(le(key.getModulus()));
    }

    /** This SIGSTRUCT signed with {@code key} (RSA-3072, e = 3). */
    public Sigstruct sign(RSAPrivateKey key, RSAPublicKey pub) throws BundleException {
        checkKey(pub);
        byte[] sig;
        try {
            Signature s = Signature.getInstance("SHA256withRSA");
            s.initSign(key);
            s.update(withKey(pub).body());
            sig = s.sign();
        } catch (GeneralSecurityException e) {
            throw BundleException.badInput("cannot sign with the signer key: " + e.getMessage());
        }
        return withSignature(pub, sig);
    }

    /**
     * This SIGSTRUCT completed with a signature made elsewhere (an HSM) over {@link #body()}; the signature is
     * checked before it is accepted.
     *
     * @param bigEndianSignature the raw RSA signature as signing tools output it (big-endian, 384 bytes)
     */
    public Sigstruct withSignature(RSAPublicKey pub, byte[] bigEndianSignature) throws BundleException {
        checkKey(pub);
        if (bigEndianSignature.length != KEY_BYTES) {
            throw BundleException.badInput("signature must be " + KEY_BYTES + " bytes, got "
                    + bigEndianSignature.length);
        }
        BigInteger n = pub.getModulus();
        BigInteger s = new BigInteger(1, bigEndianSignature);
        BigInteger q1 = s.multiply(s).divide(n);
        BigInteger q2 = s.multiply(s).mod(n).multiply(s).divide(n);
        Sigstruct out = new Sigstruct(vendor, date, swDefined, le(n), 3, le(s), miscSelect, miscMask, cetAttributes,
                cetMask, isvFamilyId, attributes, attributeMask, enclaveHash, isvExtProdId, isvProdId, isvSvn,
                le(q1), le(q2));
        out.verifySignature("signature");
        return out;
    }

    private Sigstruct withKey(RSAPublicKey pub) {
        return new Sigstruct(vendor, date, swDefined, le(pub.getModulus()), 3, signature, miscSelect, miscMask,
                cetAttributes, cetMask, isvFamilyId, attributes, attributeMask, enclaveHash, isvExtProdId, isvProdId,
                isvSvn, q1, q2);
    }

    /**
     * Checks the RSA signature over {@link #body()} with the modulus inside, and that Q1 and Q2 are right.
     *
     * @param name how errors name this SIGSTRUCT
     * @throws BundleException DENIED if the signature does not verify
     */
    public void verifySignature(String name) throws BundleException {
        BigInteger n = new BigInteger(1, be(modulus));
        BigInteger s = new BigInteger(1, be(signature));
        boolean ok;
        try {
            RSAPublicKey pub = (RSAPublicKey) KeyFactory.getInstance("RSA")
                    .generatePublic(new RSAPublicKeySpec(n, BigInteger.valueOf(exponent)));
            Signature v = Signature.getInstance("SHA256withRSA");
            v.initVerify(pub);
            v.update(body());
            ok = v.verify(be(signature));
        } catch (GeneralSecurityException e) {
            ok = false;
        }
        if (!ok) {
            throw BundleException.denied(name + ": SIGSTRUCT signature does not verify with the modulus it carries");
        }
        BigInteger q1 = s.multiply(s).divide(n);
        BigInteger q2 = s.multiply(s).mod(n).multiply(s).divide(n);
        if (!MessageDigest.isEqual(le(q1), q1()) || !MessageDigest.isEqual(le(q2), q2())) {
            throw BundleException.denied(name + ": SIGSTRUCT Q1/Q2 do not match the signature");
        }
    }

    private static void checkKey(RSAPublicKey pub) throws BundleException {
        if (pub.getModulus().bitLength() != 3072 || !pub.getPublicExponent().equals(BigInteger.valueOf(3))) {
            throw BundleException.badInput("SGX signer keys are RSA-3072 with exponent 3; this key has "
                    + pub.getModulus().bitLength() + " bits and exponent " + pub.getPublicExponent());
        }
    }

    /** A non-negative number as 384 little-endian bytes. */
    static byte[] le(BigInteger v) {
        byte[] big = v.toByteArray();
        byte[] out = new byte[KEY_BYTES];
        for (int i = 0; i < big.length && i < KEY_BYTES + 1; i++) {
            int src = big.length - 1 - i;
            if (i < KEY_BYTES) {
                out[i] = big[src];
            }
        }
        return out;
    }

    static byte[] be(byte[] le) {
        byte[] out = new byte[le.length];
        for (int i = 0; i < le.length; i++) {
            out[i] = le[le.length - 1 - i];
        }
        return out;
    }

    private static void zero(byte[] b, int off, int len, String what) throws BundleException {
        for (int i = off; i < off + len; i++) {
            if (b[i] != 0) {
                throw BundleException.badInput("SIGSTRUCT " + what + " is not zero");
            }
        }
    }

    private static String hex(byte[] b, int off, int len) {
        return HexFormat.of().formatHex(b, off, off + len);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Sigstruct s && Arrays.equals(toBytes(), s.toBytes());
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(toBytes());
    }

    @Override
    public String toString() {
        return "Sigstruct[mrsigner=" + HexFormat.of().formatHex(mrSigner()) + ", enclaveHash="
                + HexFormat.of().formatHex(enclaveHash) + ", isvProdId=" + isvProdId + ", isvSvn=" + isvSvn + "]";
    }
}
