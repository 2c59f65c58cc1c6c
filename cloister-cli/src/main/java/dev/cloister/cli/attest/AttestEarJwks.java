package dev.cloister.cli.attest;

import dev.cloister.attestation.ear.EarSigner;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cloister attest ear-jwks KEYFILE}: the JWKS relying parties use to verify EARs signed with KEYFILE. */
@Command(
        name = "ear-jwks",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        header = "Print the JWKS (public key only) for EARs signed by 'attest verify --ear KEYFILE'.",
        footerHeading = "%nExamples:%n",
        footer = {
            "  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ear.pem",
            "  cloister attest ear-jwks ear.pem > jwks.json",
            "",
            "Exit status: 0 printed, 3 not a P-256 private key, 4 unreadable file."
        })
public final class AttestEarJwks implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "KEYFILE", description = "P-256 private key, PEM (PKCS#8 or SEC1).")
    Path key;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        spec.commandLine().getOut().println(signer(key).jwks());
        spec.commandLine().getOut().flush();
        return 0;
    }

    /** Loads an EAR signing key; a bad key is malformed input (exit 3), an unreadable file environment (exit 4). */
    static EarSigner signer(Path file) throws CloisterException {
        String pem;
        try {
            pem = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "cannot read EAR key " + file + ": "
                    + e.getClass().getSimpleName());
        }
        try {
            return EarSigner.fromPem(pem);
        } catch (IllegalArgumentException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "EAR key " + file + ": " + e.getMessage());
        }
    }
}
