package dev.cloister.cli.attest;

import dev.cloister.attestation.snp.SnpVerifier;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cloister attest verify-snp}: an SEV-SNP report with its VCEK/VLEK, without auto-detection. */
@Command(
        name = "verify-snp",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Verify an AMD SEV-SNP attestation report and appraise it against a policy.",
        description = {
            "Checks the report's ECDSA P-384 signature with the VCEK (or VLEK), the certificate chain through the "
                    + "ASK (or ASVK) to AMD's pinned ARK for Milan, Genoa or Turin, every certificate's validity at "
                    + "--at, REPORTED_TCB against the VCEK's TCB extensions and CHIP_ID against its hwID. Then the "
                    + "policy decides (e.g. 'MEASUREMENT:<hex> SNPPOLICY:30000/f0000 MINTCB:<hex> VMPL:0').",
            "",
            "Without --chain the ASK/ARK of AMD's key distribution service bundled with Cloister are used. Output "
                    + "and JSON fields are those of 'cloister attest verify'."
        },
        footerHeading = "%nExamples:%n",
        footer = {
            "  cloister attest verify-snp --report report.bin --vcek vcek.der --at 2026-01-01T00:00:00Z --json",
            "",
            "Exit status: 0 verified and accepted, 1 rejected or denied, 2 usage, 3 malformed input."
        })
public final class AttestVerifySnp implements Callable<Integer> {

    @Option(names = "--report", required = true, paramLabel = "FILE",
            description = "The attestation report: 1184 bytes (or an Azure HCL report), raw or hex text.")
    Path report;

    @Option(names = "--vcek", required = true, paramLabel = "FILE",
            description = "The VCEK or VLEK certificate, PEM or DER (a PEM file may also hold the chain).")
    Path vcek;

    @Option(names = "--chain", paramLabel = "FILE", description = "ASK (or ASVK) and ARK certificates, PEM.")
    Path chain;

    @Option(names = "--at", paramLabel = "TIME",
            description = "Verify as of this time: ISO-8601 or Unix seconds. Default: now.")
    String at;

    @Option(names = "--root", paramLabel = "DER",
            description = "Trust this root instead of AMD's pinned ARKs; the result names it.")
    Path root;

    @Option(names = "--policy", paramLabel = "FILE|STRING",
            description = "Policy file (YAML or compact) or compact string. Default: no debug, UpToDate.")
    String policy;

    @Option(names = "--json", description = "Print one JSON document on stdout.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        var t = EvidenceInput.time(at);
        var p = EvidenceInput.policy(policy);
        byte[] evidence = EvidenceInput.binaryOrHex(report);
        ByteArrayOutputStream col = new ByteArrayOutputStream();
        col.writeBytes(asPem(Files.readAllBytes(vcek)));
        if (chain != null) {
            col.writeBytes(asPem(Files.readAllBytes(chain)));
        }
        var verifier = root == null ? SnpVerifier.amdRoots() : SnpVerifier.withRoot(Files.readAllBytes(root));
        return AttestVerify.run(spec.commandLine().getOut(), verifier, evidence, col.toByteArray(), t, p, json);
    }

    /** DER is wrapped as PEM so that a DER VCEK and a PEM chain can be read as one collateral document. */
    static byte[] asPem(byte[] b) {
        if (b.length > 0 && b[0] == 0x30) {
            String body = Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(b);
            return ("-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n")
                    .getBytes(StandardCharsets.US_ASCII);
        }
        return b;
    }
}
