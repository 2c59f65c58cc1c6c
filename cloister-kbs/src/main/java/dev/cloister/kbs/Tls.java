package dev.cloister.kbs;

import java.io.IOException;
import java.io.Reader;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** TLS material for the broker: a certificate chain and key from PEM files, or a fresh self-signed one. */
public record Tls(X509Certificate[] chain, PrivateKey key) {
    private static final char[] PASS = "cloister".toCharArray();

    /** A self-signed EC P-256 certificate for {@code localhost} and 127.0.0.1, valid from {@code now} for a year. */
    public static Tls selfSigned(Instant now) {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair kp = g.generateKeyPair();
            X500Name dn = new X500Name("CN=localhost,O=Cloister key broker (self-signed)");
            var b = new JcaX509v3CertificateBuilder(dn, new BigInteger(64, new SecureRandom()),
                    Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(Duration.ofDays(365))), dn,
                    kp.getPublic());
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.dNSName, "localhost"),
                new GeneralName(GeneralName.iPAddress, "127.0.0.1")}));
            X509Certificate cert = new JcaX509CertificateConverter()
                    .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate())));
            return new Tls(new X509Certificate[] {cert}, kp.getPrivate());
        } catch (GeneralSecurityException | OperatorCreationException | IOException e) {
            throw new IllegalStateException("cannot make a self-signed certificate", e);
        }
    }

    /** A stored self-signed certificate is replaced when it has less than this left. */
    static final Duration RENEW_BEFORE = Duration.ofDays(30);

    /**
     * The self-signed certificate stored in {@code certFile} with its key in {@code keyFile}, or, when there is none
     * yet (or it expires within {@link #RENEW_BEFORE}, or the two do not belong together), a fresh one written to
     * both (the key owner-only, 0600, atomically). Reusing it keeps clients' pinned {@code --ca} valid across
     * restarts; a fresh certificate on every start made every client re-pin.
     *
     * @throws KbsException 400 when the key file is readable by group or others, or cannot be read
     */
    public static Tls selfSignedStored(Path certFile, Path keyFile, Instant now) throws KbsException {
        if (Files.exists(keyFile)) {
            checkOwnerOnly(keyFile);
            if (Files.exists(certFile)) {
                Tls t = fromPem(certFile, keyFile);
                X509Certificate c = t.chain()[0];
                if (c.getNotAfter().toInstant().isAfter(now.plus(RENEW_BEFORE)) && !c.getNotBefore().toInstant()
                        .isAfter(now) && belongTogether(c, t.key())) {
                    return t;
                }
            }
        }
        Tls t = selfSigned(now);
        try {
            Files.createDirectories(keyFile.toAbsolutePath().getParent());
            String pem = "-----BEGIN PRIVATE KEY-----\n" + java.util.Base64.getMimeEncoder(64,
                    "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(t.key().getEncoded())
                    + "\n-----END PRIVATE KEY-----\n";
            // AtomicFiles creates its temporary file 0600, so the key is never readable by others, not even briefly.
            dev.cloister.core.AtomicFiles.writeBytes(keyFile, true, pem.getBytes(StandardCharsets.US_ASCII));
            Files.createDirectories(certFile.toAbsolutePath().getParent());
            dev.cloister.core.AtomicFiles.writeBytes(certFile, true,
                    t.certificatePem().getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw KbsException.badRequest("cannot store the self-signed certificate in " + certFile + " / " + keyFile
                    + ": " + e.getMessage());
        }
        return t;
    }

    private static void checkOwnerOnly(Path keyFile) throws KbsException {
        try {
            var perms = Files.getPosixFilePermissions(keyFile);
            for (var p : perms) {
                if (p.name().startsWith("GROUP_") || p.name().startsWith("OTHERS_")) {
                    throw KbsException.badRequest("TLS key " + keyFile + " is accessible to others (mode "
                            + java.nio.file.attribute.PosixFilePermissions.toString(perms) + "); chmod 600 it");
                }
            }
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: nothing to check
        } catch (IOException e) {
            throw KbsException.badRequest("cannot read " + keyFile + ": " + e.getMessage());
        }
    }

    /** Whether {@code key} signs what the certificate's public key verifies. */
    private static boolean belongTogether(X509Certificate c, PrivateKey key) {
        try {
            String alg = key.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256with" + key.getAlgorithm();
            java.security.Signature s = java.security.Signature.getInstance(alg);
            s.initSign(key);
            byte[] probe = "cloister-kbs tls key check".getBytes(StandardCharsets.US_ASCII);
            s.update(probe);
            byte[] sig = s.sign();
            s.initVerify(c.getPublicKey());
            s.update(probe);
            return s.verify(sig);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /** Loads a PEM certificate chain and a PEM private key (PKCS#8, or EC/RSA traditional). */
    public static Tls fromPem(Path certFile, Path keyFile) throws KbsException {
        try {
            List<X509Certificate> certs = new ArrayList<>();
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            try (var in = Files.newInputStream(certFile)) {
                for (Certificate c : cf.generateCertificates(in)) {
                    certs.add((X509Certificate) c);
                }
            }
            if (certs.isEmpty()) {
                throw KbsException.badRequest("no certificate in " + certFile);
            }
            PrivateKey key;
            try (Reader r = Files.newBufferedReader(keyFile, StandardCharsets.US_ASCII); PEMParser p = new PEMParser(r)) {
                Object o = p.readObject();
                JcaPEMKeyConverter conv = new JcaPEMKeyConverter();
                if (o instanceof PEMKeyPair kp) {
                    key = conv.getKeyPair(kp).getPrivate();
                } else if (o instanceof PrivateKeyInfo pki) {
                    key = conv.getPrivateKey(pki);
                } else {
                    throw KbsException.badRequest("no unencrypted private key in " + keyFile);
                }
            }
            return new Tls(certs.toArray(X509Certificate[]::new), key);
        } catch (IOException | GeneralSecurityException e) {
            throw KbsException.badRequest("cannot read TLS material " + certFile + " / " + keyFile + ": "
                    + e.getMessage());
        }
    }

    /** The certificate as PEM (clients pin it with --ca). */
    public String certificatePem() {
        try {
            StringBuilder sb = new StringBuilder();
            for (X509Certificate c : chain) {
                sb.append("-----BEGIN CERTIFICATE-----\n")
                        .append(java.util.Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                                .encodeToString(c.getEncoded()))
                        .append("\n-----END CERTIFICATE-----\n");
            }
            return sb.toString();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A server SSL context presenting this certificate, with the given trust managers (null for none). */
    public SSLContext serverContext(TrustManager[] trust) {
        try {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("kbs", key, PASS, chain);
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, PASS);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), trust, null);
            return ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot build the TLS context", e);
        }
    }

    /** A client SSL context that trusts exactly the given certificates. */
    public static SSLContext clientContextTrusting(X509Certificate... trusted) {
        try {
            KeyStore ts = KeyStore.getInstance("PKCS12");
            ts.load(null, null);
            for (int i = 0; i < trusted.length; i++) {
                ts.setCertificateEntry("ca" + i, trusted[i]);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ts);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot build the TLS context", e);
        }
    }

    /** Reads PEM certificates from a file. */
    public static X509Certificate[] readCertificates(Path file) throws KbsException {
        try (var in = Files.newInputStream(file)) {
            return CertificateFactory.getInstance("X.509").generateCertificates(in).stream()
                    .map(c -> (X509Certificate) c).toArray(X509Certificate[]::new);
        } catch (IOException | GeneralSecurityException e) {
            throw KbsException.badRequest("cannot read certificates from " + file + ": " + e.getMessage());
        }
    }
}
