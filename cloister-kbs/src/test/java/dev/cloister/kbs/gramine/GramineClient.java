package dev.cloister.kbs.gramine;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.Date;
import java.util.function.Function;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A Gramine secret-provisioning client written from the reference notes (section 4.1 and 4.3), not from the
 * broker's code: it builds the RA-TLS certificate as {@code ra_tls_create_key_and_crt_der()} does and speaks
 * {@code secret_prov_attest.c}'s protocol. The quote comes from a function of the 64-byte report data.
 */
final class GramineClient {
    /** The legacy extension OID exactly as Gramine puts it on the wire: 06 0B then the intended OID's TLV. */
    static final byte[] LEGACY_OID_TLV = hex("060B06092A864886F84D8A3906");
    static final byte[] TCG_OID_TLV = hex("0606678105050409");

    final KeyPair key;
    final X509Certificate cert;
    final byte[] claims;

    /**
     * @param quoteFor makes a quote carrying the given 64-byte report data
     * @param tcg include the TCG DICE evidence extension
     * @param legacy include the legacy quote extension
     */
    GramineClient(Function<byte[], byte[]> quoteFor, boolean tcg, boolean legacy) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp384r1"));
        key = g.generateKeyPair();
        byte[] spki = key.getPublic().getEncoded();
        // claims = { "pubkey-hash": bstr([1, bstr(sha256(spki))]) }: A1 6B "pubkey-hash" 58 24 82 01 58 20 <32>.
        ByteArrayOutputStream c = new ByteArrayOutputStream();
        c.write(0xA1);
        c.write(0x6B);
        c.writeBytes("pubkey-hash".getBytes(StandardCharsets.US_ASCII));
        c.write(0x58);
        c.write(0x24);
        c.write(0x82);
        c.write(0x01);
        c.write(0x58);
        c.write(0x20);
        c.writeBytes(sha256(spki));
        claims = c.toByteArray();

        X500Name dn = new X500Name("CN=RATLS,O=GramineDevelopers,C=US");
        Date notBefore = Date.from(LocalDateTime.of(2001, 1, 1, 0, 0, 0).toInstant(ZoneOffset.UTC));
        Date notAfter = Date.from(LocalDateTime.of(2030, 12, 31, 23, 59, 59).toInstant(ZoneOffset.UTC));
        var b = new JcaX509v3CertificateBuilder(dn, BigInteger.ONE, notBefore, notAfter, dn, key.getPublic());
        var util = new JcaX509ExtensionUtils();
        b.addExtension(Extension.basicConstraints, false, new BasicConstraints(false));
        b.addExtension(Extension.subjectKeyIdentifier, false, util.createSubjectKeyIdentifier(key.getPublic()));
        b.addExtension(Extension.authorityKeyIdentifier, false, util.createAuthorityKeyIdentifier(key.getPublic()));
        if (legacy) {
            byte[] rd = Arrays.copyOf(sha256(spki), 64);
            b.addExtension((ASN1ObjectIdentifier) ASN1ObjectIdentifier.fromByteArray(LEGACY_OID_TLV), false,
                    quoteFor.apply(rd));
        }
        if (tcg) {
            byte[] rd = Arrays.copyOf(sha256(claims), 64);
            byte[] quote = quoteFor.apply(rd);
            ByteArrayOutputStream ev = new ByteArrayOutputStream();
            ev.writeBytes(hex("D9EA60")); // tag 60000
            ev.write(0x82); // array of 2
            bstr(ev, quote);
            bstr(ev, claims);
            b.addExtension((ASN1ObjectIdentifier) ASN1ObjectIdentifier.fromByteArray(TCG_OID_TLV), false,
                    ev.toByteArray());
        }
        cert = new JcaX509CertificateConverter()
                .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate())));
    }

    private static void bstr(ByteArrayOutputStream out, byte[] v) {
        if (v.length < 24) {
            out.write(0x40 | v.length);
        } else if (v.length < 256) {
            out.write(0x58);
            out.write(v.length);
        } else {
            out.write(0x59);
            out.write(v.length >>> 8);
            out.write(v.length & 0xff);
        }
        out.writeBytes(v);
    }

    /**
     * Connects, verifies the server against {@code ca} with host name {@code localhost}, sends the request and
     * returns the secret.
     *
     * @throws IOException when the handshake fails or the server closes without answering
     */
    byte[] provision(InetSocketAddress server, X509Certificate ca) throws Exception {
        return provision(server, ca, null);
    }

    /** As {@link #provision(InetSocketAddress, X509Certificate)}, from local address {@code from} (null: any). */
    byte[] provision(InetSocketAddress server, X509Certificate ca, String from) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry("ratls", key.getPrivate(), "x".toCharArray(), new X509Certificate[] {cert});
        KeyManagerFactory kmf = KeyManagerFactory.getInstance("PKIX");
        kmf.init(ks, "x".toCharArray());
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        ts.setCertificateEntry("ca", ca);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(ts);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        Socket plain = new Socket();
        if (from != null) {
            plain.bind(new InetSocketAddress(from, 0));
        }
        plain.connect(server, 10_000);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(plain, "localhost", server.getPort(), true)) {
            s.setSoTimeout(20_000);
            SSLParameters p = s.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            p.setServerNames(java.util.List.of(new SNIHostName("localhost")));
            s.setSSLParameters(p);
            s.startHandshake();
            var out = s.getOutputStream();
            out.write("SECRET_PROVISION_RA_TLS_REQUEST_V1".getBytes(StandardCharsets.US_ASCII));
            out.write(0);
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] header = new byte[37];
            in.readFully(header);
            if (!Arrays.equals(header, "SECRET_PROVISION_RA_TLS_RESPONSE_V1:\0".getBytes(StandardCharsets.US_ASCII))) {
                throw new IOException("unexpected response header");
            }
            int len = in.readInt();
            if (len < 0 || len > (1 << 20)) {
                throw new IOException("bad secret length " + len);
            }
            byte[] secret = new byte[len];
            in.readFully(secret);
            return secret;
        } catch (EOFException e) {
            throw new IOException("server closed the connection without a secret", e);
        }
    }

    static byte[] sha256(byte[] b) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(b);
    }

    static byte[] hex(String s) {
        return java.util.HexFormat.of().parseHex(s);
    }
}
