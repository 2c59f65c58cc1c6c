package dev.cloister.kbs;

import java.io.IOException;
import java.io.InputStream;
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

/**
 * A test PKI shaped like AMD's (RSA-PSS ARK and ASK, a P-384 VCEK with AMD's TCB and hwID extensions) that signs
 * SEV-SNP reports with the report data we choose, so that a release can bind its nonce and key (real reports
 * carry someone else's report data). The layout follows cloister-attestation's SnpTestPkiTest; the report body is
 * the real go-sev-guest Milan report from test resources (snp/gsg_milan_report.bin).
 */
final class SnpTestPki {
    static final long TCB = 0x4405000000000002L;
    private static final java.security.Provider BC = new org.bouncycastle.jce.provider.BouncyCastleProvider();

    private final KeyPair ark;
    private final KeyPair ask;
    private final KeyPair vcek;
    private final byte[] chipId = new byte[64];
    private final Instant at;
    final byte[] arkDer;

    SnpTestPki(Instant at) throws Exception {
        this.at = at;
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
        arkDer = cert("ARK-Milan", "ARK-Milan", ark, ark, false);
    }

    static byte[] resource(String name) throws IOException {
        try (InputStream in = SnpTestPki.class.getResourceAsStream("/snp/" + name)) {
            if (in == null) {
                throw new IOException("missing test resource snp/" + name);
            }
            return in.readAllBytes();
        }
    }

    /** The launch measurement of the reports this PKI signs (that of the go-sev-guest report). */
    static byte[] measurement() throws IOException {
        return Arrays.copyOfRange(resource("gsg_milan_report.bin"), 0x90, 0x90 + 48);
    }

    private byte[] cert(String subject, String issuer, KeyPair subjectKeys, KeyPair issuerKeys, boolean vcekExt)
            throws Exception {
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
                new X500Name("CN=" + issuer + ",O=Test"), BigInteger.valueOf(subject.hashCode() & 0x7fffffff),
                Date.from(at.minus(30, ChronoUnit.DAYS)), Date.from(at.plus(365, ChronoUnit.DAYS)),
                new X500Name("CN=" + subject + ",O=Test"), subjectKeys.getPublic());
        if (vcekExt) {
            String p = "1.3.6.1.4.1.3704.1.";
            b.addExtension(new ASN1ObjectIdentifier(p + "2"), false, new DERIA5String("Milan-B0"));
            b.addExtension(new ASN1ObjectIdentifier(p + "3.1"), false, new ASN1Integer(2));
            b.addExtension(new ASN1ObjectIdentifier(p + "3.2"), false, new ASN1Integer(0));
            b.addExtension(new ASN1ObjectIdentifier(p + "3.3"), false, new ASN1Integer(5));
            b.addExtension(new ASN1ObjectIdentifier(p + "3.8"), false, new ASN1Integer(68));
            b.addExtension(new ASN1ObjectIdentifier(p + "4"), false, new DEROctetString(chipId));
        }
        return b.build(new JcaContentSignerBuilder("SHA384withRSAandMGF1").setProvider(BC).build(issuerKeys.getPrivate()))
                .getEncoded();
    }

    /** A report carrying {@code reportData}, signed by this PKI's VCEK. */
    byte[] report(byte[] reportData) throws Exception {
        byte[] b = resource("gsg_milan_report.bin");
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(0x180, TCB).putInt(0x48, 0).put(0x1A0, chipId).put(0x50, reportData);
        Signature s = Signature.getInstance("SHA384withECDSA");
        s.initSign(vcek.getPrivate());
        s.update(b, 0, 0x2A0);
        ASN1Sequence seq = ASN1Sequence.getInstance(s.sign());
        Arrays.fill(b, 0x2A0, b.length, (byte) 0);
        System.arraycopy(le72(ASN1Integer.getInstance(seq.getObjectAt(0)).getValue()), 0, b, 0x2A0, 72);
        System.arraycopy(le72(ASN1Integer.getInstance(seq.getObjectAt(1)).getValue()), 0, b, 0x2E8, 72);
        return b;
    }

    /** VCEK, ASK and ARK as PEM: the collateral. */
    byte[] chain() throws Exception {
        return (pem(cert("SEV-VCEK", "SEV-Milan", vcek, ask, true)) + pem(cert("SEV-Milan", "ARK-Milan", ask, ark,
                false)) + pem(arkDer)).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    private static String pem(byte[] der) {
        return "-----BEGIN CERTIFICATE-----\n" + java.util.Base64.getMimeEncoder().encodeToString(der)
                + "\n-----END CERTIFICATE-----\n";
    }

    private static byte[] le72(BigInteger v) {
        byte[] be = v.toByteArray();
        byte[] le = new byte[72];
        for (int i = 0; i < be.length && i < 72; i++) {
            le[i] = be[be.length - 1 - i];
        }
        return le;
    }
}
