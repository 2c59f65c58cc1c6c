package dev.cloister.cli.attest;

import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.core.CloisterException;
import java.nio.file.Path;

/** The DCAP side of {@code attest verify}; wired to the DCAP verifier once that module part is merged. */
final class DcapSupport {
    private DcapSupport() {}

    static EvidenceVerifier verifier(Path root, String pccs) throws CloisterException {
        throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                "DCAP quote verification is not in this build yet; only SEV-SNP reports can be verified");
    }
}
