package dev.cloister.cli.attest;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.dcap.PcsCollateralProvider;
import dev.cloister.attestation.dcap.TrustAnchor;
import dev.cloister.attestation.sim.Simulator;
import dev.cloister.core.CloisterException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.List;

/** The DCAP side of {@code attest verify}: which roots the verifier trusts and where collateral comes from. */
final class DcapSupport {
    private DcapSupport() {}

    /**
     * Without {@code --root}: Intel's pinned root and the public simulation root, so that simulated quotes verify
     * (flagged {@code simulated}) and are then denied by every policy without SIM:ALLOW. With {@code --root}: that
     * root only.
     */
    static EvidenceVerifier verifier(Path root, String pccs, Path cache, boolean offline)
            throws CloisterException, IOException {
        DcapVerifier v = roots(root);
        if (pccs != null) {
            try {
                return v.withCollateralSource(PcsCollateralProvider.online(pccs, cache));
            } catch (IllegalArgumentException e) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "--pccs '" + pccs + "' is not a URL");
            }
        }
        if (offline) {
            return v.withCollateralSource(PcsCollateralProvider.offline(cache));
        }
        return v;
    }

    private static DcapVerifier roots(Path root) throws CloisterException, IOException {
        if (root == null) {
            return DcapVerifier.withSimulation();
        }
        byte[] der = certificateDer(root);
        TrustAnchor sim = Simulator.standard().trustAnchor();
        TrustAnchor anchor = Arrays.equals(der, sim.certificateDer()) ? sim
                : new TrustAnchor("explicit root " + subject(der), der, false);
        try {
            return DcapVerifier.withRoots(List.of(anchor));
        } catch (IllegalArgumentException e) {
            throw EvidenceException.malformed("--root " + root + ": " + e.getMessage());
        }
    }

    private static byte[] certificateDer(Path root) throws IOException, CloisterException {
        try {
            X509Certificate c = (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(Files.readAllBytes(root)));
            return c.getEncoded();
        } catch (CertificateException | RuntimeException e) {
            throw EvidenceException.malformed("--root " + root + " is not a DER or PEM certificate");
        }
    }

    private static String subject(byte[] der) {
        try {
            X509Certificate c = (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(der));
            return c.getSubjectX500Principal().getName();
        } catch (CertificateException e) {
            return "(unnamed)";
        }
    }
}
