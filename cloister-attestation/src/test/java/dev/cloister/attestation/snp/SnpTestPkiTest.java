package dev.cloister.attestation.snp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.ReasonCode;
import dev.cloister.attestation.Reasons;
import dev.cloister.attestation.VerifiedEvidence;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Arrays;
import java.util.Date;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.DERIA5String;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Negative cases the real reports cannot reach (their signatures would break first): a test PKI shaped like AMD's
 * (RSA-PSS ARK and ASK, P-384 VCEK with AMD's extensions) signs reports whose fields we choose.
 */
class SnpTestPkiTest {
    static final Instant AT = Instant.parse("2026-11-27T00:00:00Z");
    static final java.security.Provider BC = new org.bouncycastle.jce.provider.BouncyCastleProvider();
    static KeyPair ark;
    static KeyPair ask;
    static KeyPair vcek;
    static byte[] arkDer;
    static byte[] chipId = new byte[64];

    @BeforeAll
    static void pki() throws Exception {
        SecureRandom rnd = SecureRandom.getInstance("SHA1PRNG");
        rnd.setSeed(42);
        KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
        rsa.initialize(2048, rnd);
        ark = rsa.generateKeyPair();
        ask = rsa.generateKeyPair();
        KeyPairGenerator ec = KeyPairGenerator.getInstance("EC");
        ec.initialize(new ECGenParameterSpec("secp384r1"), rnd);
        vcek = ec.generateKeyPair();
        Arrays.fill(chipId, (byte) 0x5c);
        arkDer = cert("ARK-Milan", "ARK-Milan", ark, ark, null);
    }

    static byte[] cert(String subject, String issuer, KeyPair subjectKeys, KeyPair issuerKeys, long[] spl)
            throws Exception {
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
                new X500Name("CN=" + issuer + ",O=Test"), BigInteger.valueOf(subject.hashCode() & 0x7fffffff),
                Date.from(AT.minus(30, ChronoUnit.DAYS)), Date.from(AT.plus(365, ChronoUnit.DAYS)),
                new X500Name("CN=" + subject + ",O=Test"), subjectKeys.getPublic());
        if (spl != null) {
            String p = "1.3.6.1.4.1.3704.1.";
            b.addExtension(new ASN1ObjectIdentifier(p + "2"), false, new DERIA5String("Milan-B0"));
            b.addExtension(new ASN1ObjectIdentifier(p + "3.1"), false, new ASN1Integer(spl[0]));
            b.addExtension(new ASN1ObjectIdentifier(p + "3.2"), false, new ASN1Integer(spl[1]));
            b.addExtension(new ASN1ObjectIdentifier(p + "3.3"), false, new ASN1Integer(spl[2]));
            b.addExtension(new ASN1ObjectIdentifier(p + "3.8"), false, new ASN1Integer(spl[3]));
            b.addExtension(new ASN1ObjectIdentifier(p + "4"), false, new DEROctetString(chipId));
        }
        return b.build(new JcaContentSignerBuilder("SHA384withRSAandMGF1").setProvider(BC).build(issuerKeys.getPrivate()))
                .getEncoded();
    }

    /** Report with REPORTED_TCB bl 2 tee 0 snp 5 ucode 68 unless changed, signed by the test VCEK. */
    static byte[] report(long reportedTcb, byte[] chip, int flags) throws Exception {
        byte[] b = SnpVerifierTest.res("gsg_milan_report.bin");
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(0x180, reportedTcb).putInt(0x48, flags).put(0x1A0, chip);
        Signature s = Signature.getInstance("SHA384withECDSA");
        s.initSign(vcek.getPrivate());
        s.update(b, 0, SnpReport.SIGNED_LENGTH);
        ASN1Sequence seq = ASN1Sequence.getInstance(s.sign());
        byte[] r = le72(ASN1Integer.getInstance(seq.getObjectAt(0)).getValue());
        byte[] ss = le72(ASN1Integer.getInstance(seq.getObjectAt(1)).getValue());
        Arrays.fill(b, 0x2A0, SnpReport.SIZE, (byte) 0);
        System.arraycopy(r, 0, b, 0x2A0, 72);
        System.arraycopy(ss, 0, b, 0x2E8, 72);
        return b;
    }

    static byte[] le72(BigInteger v) {
        byte[] be = v.toByteArray();
        byte[] le = new byte[72];
        for (int i = 0; i < be.length && i < 72; i++) {
            le[i] = be[be.length - 1 - i];
        }
        return le;
    }

    static final long TCB = 0x4405000000000002L;

    static byte[] chain(long[] spl) throws Exception {
        return SnpVerifierTest.concat(pem(cert("SEV-VCEK", "SEV-Milan", vcek, ask, spl)),
                pem(cert("SEV-Milan", "ARK-Milan", ask, ark, null)), pem(arkDer));
    }

    static byte[] pem(byte[] der) {
        return ("-----BEGIN CERTIFICATE-----\n" + java.util.Base64.getMimeEncoder().encodeToString(der)
                + "\n-----END CERTIFICATE-----\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    @Test
    void explicitRootVerifiesAndIsNamed() throws Exception {
        VerifiedEvidence ev = SnpVerifier.withRoot(arkDer).verify(report(TCB, chipId, 0), chain(new long[] {2, 0, 5, 68}), AT);
        assertThat(ev.rootUsed()).startsWith("explicit root ARK-Milan (SPKI SHA-256 ");
    }

    @Test
    void testRootIsUnknownToTheAmdVerifier() {
        assertThatThrownBy(() -> SnpVerifier.amdRoots().verify(report(TCB, chipId, 0), chain(new long[] {2, 0, 5, 68}), AT))
                .hasMessageStartingWith("unknown root: ARK-Milan (SPKI SHA-256 ")
                .hasMessageEndingWith("is not a pinned AMD ARK for Milan, Genoa or Turin")
                .satisfies(Reasons.is(ReasonCode.UNTRUSTED_ROOT));
    }

    @Test
    void reportedTcbMustMatchTheVcek() {
        assertThatThrownBy(() -> SnpVerifier.withRoot(arkDer).verify(report(TCB, chipId, 0), chain(new long[] {3, 0, 6, 68}), AT))
                .isInstanceOf(EvidenceException.class)
                .hasMessage("SEV-SNP REPORTED_TCB 0x4405000000000002 does not match the VCEK: bootloader 2 != certified 3,"
                        + " snp 5 != certified 6")
                .satisfies(Reasons.is(ReasonCode.REPORTED_TCB_MISMATCH));
    }

    @Test
    void chipIdMustMatchTheVcekHwId() throws Exception {
        byte[] other = chipId.clone();
        other[63] ^= 1;
        assertThatThrownBy(() -> SnpVerifier.withRoot(arkDer).verify(report(TCB, other, 0), chain(new long[] {2, 0, 5, 68}), AT))
                .hasMessageContaining("CHIP_ID").hasMessageContaining("is not the VCEK's hwID")
                .satisfies(Reasons.is(ReasonCode.CHIP_ID_MISMATCH));
        // A masked (all-zero) CHIP_ID is not compared.
        assertThat(catchVerify(report(TCB, new byte[64], 0))).isNull();
    }

    @Test
    void signingKeyFieldMustMatchTheCertificateKind() throws Exception {
        assertThatThrownBy(() -> SnpVerifier.withRoot(arkDer).verify(report(TCB, chipId, 1 << 2), chain(new long[] {2, 0, 5, 68}), AT))
                .hasMessage("SEV-SNP report says it is signed by signing key 1 but the collateral is a VCEK")
                .satisfies(Reasons.is(ReasonCode.SIGNING_KEY_MISMATCH));
    }

    @Test
    void explicitRootMustBeSelfSigned() throws Exception {
        byte[] notSelf = cert("SEV-Milan", "ARK-Milan", ask, ark, null);
        assertThatThrownBy(() -> SnpVerifier.withRoot(notSelf))
                .hasMessage("the explicit root SEV-Milan is not self-signed");
    }

    static byte[] crl(String issuer, KeyPair issuerKeys, BigInteger revoked, Instant thisUpdate, Instant nextUpdate)
            throws Exception {
        var b = new org.bouncycastle.cert.X509v2CRLBuilder(new X500Name("CN=" + issuer + ",O=Test"),
                Date.from(thisUpdate));
        b.setNextUpdate(Date.from(nextUpdate));
        if (revoked != null) {
            b.addCRLEntry(revoked, Date.from(thisUpdate), 0);
        }
        byte[] der = b.build(new JcaContentSignerBuilder("SHA384withRSAandMGF1").setProvider(BC)
                .build(issuerKeys.getPrivate())).getEncoded();
        return ("-----BEGIN X509 CRL-----\n" + java.util.Base64.getMimeEncoder().encodeToString(der)
                + "\n-----END X509 CRL-----\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    static final BigInteger VCEK_SERIAL = BigInteger.valueOf("SEV-VCEK".hashCode() & 0x7fffffff);
    static final BigInteger ASK_SERIAL = BigInteger.valueOf("SEV-Milan".hashCode() & 0x7fffffff);

    @Test
    void crlsInTheCollateralAreCheckedForSignatureTimeAndRevocation() throws Exception {
        long[] spl = {2, 0, 5, 68};
        byte[] report = report(TCB, chipId, 0);
        SnpVerifier v = SnpVerifier.withRoot(arkDer);
        Instant from = AT.minus(1, ChronoUnit.DAYS);
        Instant to = AT.plus(7, ChronoUnit.DAYS);
        byte[] clean = SnpVerifierTest.concat(chain(spl), crl("ARK-Milan", ark, BigInteger.valueOf(999), from, to),
                crl("SEV-Milan", ask, null, from, to));
        VerifiedEvidence ok = v.verify(report, clean, AT);
        assertThat(ok.collateralNextUpdate()).isEqualTo(to);
        assertThat(ok.collateralIssued()).isEqualTo(from);

        assertThatThrownBy(() -> v.verify(report, SnpVerifierTest.concat(chain(spl),
                crl("SEV-Milan", ask, VCEK_SERIAL, from, to)), AT))
                .hasMessage("SEV-VCEK certificate (serial " + VCEK_SERIAL.toString(16) + ") is revoked by the"
                        + " SEV-Milan CRL")
                .satisfies(Reasons.is(ReasonCode.CERTIFICATE_REVOKED));
        assertThatThrownBy(() -> v.verify(report, SnpVerifierTest.concat(chain(spl),
                crl("ARK-Milan", ark, ASK_SERIAL, from, to)), AT))
                .hasMessageContaining("SEV-Milan certificate (serial").hasMessageContaining("revoked by the ARK-Milan CRL")
                .satisfies(Reasons.is(ReasonCode.CERTIFICATE_REVOKED));
        assertThatThrownBy(() -> v.verify(report, SnpVerifierTest.concat(chain(spl),
                crl("ARK-Milan", ark, null, from.minus(30, ChronoUnit.DAYS), from)), AT))
                .hasMessageStartingWith("CRL of ARK-Milan expired ")
                .satisfies(Reasons.is(ReasonCode.COLLATERAL_EXPIRED));
        assertThatThrownBy(() -> v.verify(report, SnpVerifierTest.concat(chain(spl),
                crl("ARK-Milan", ask, null, from, to)), AT))
                .hasMessage("CRL of ARK-Milan has an invalid signature")
                .satisfies(Reasons.is(ReasonCode.COLLATERAL_SIGNATURE_INVALID));
        assertThatThrownBy(() -> v.verify(report, SnpVerifierTest.concat(chain(spl),
                crl("ARK-Genoa", ark, null, from, to)), AT))
                .hasMessageContaining("CRL issued by ARK-Genoa does not belong to this chain")
                .satisfies(Reasons.is(ReasonCode.COLLATERAL_SIGNATURE_INVALID));
        byte[] broken = SnpVerifierTest.concat(chain(spl), "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        assertThatThrownBy(() -> v.verify(report, broken, AT))
                .isInstanceOfSatisfying(EvidenceException.class,
                        e -> assertThat(e.kind()).isEqualTo(dev.cloister.core.CloisterException.Kind.BAD_INPUT));
    }

    private static Exception catchVerify(byte[] report) {
        try {
            SnpVerifier.withRoot(arkDer).verify(report, chain(new long[] {2, 0, 5, 68}), AT);
            return null;
        } catch (Exception e) {
            return e;
        }
    }
}
