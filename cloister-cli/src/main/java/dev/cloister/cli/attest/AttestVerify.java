package dev.cloister.cli.attest;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.Policy;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.ear.EarSigner;
import dev.cloister.attestation.snp.SnpVerifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cloister attest verify}: one piece of evidence, its collateral, a time and a policy give one verdict. */
@Command(
        name = "verify",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Verify a DCAP quote or an SEV-SNP report and appraise it against a policy.",
        description = {
            "Reads the evidence (raw binary or hex text) and detects its kind: an SEV-SNP attestation report "
                    + "(1184 bytes, or an Azure HCL report wrapping one) is checked against its VCEK/VLEK and AMD's "
                    + "pinned ARK; anything else is treated as an SGX or TDX DCAP quote and checked against Intel's "
                    + "pinned SGX Root CA with the given collateral.",
            "",
            "The verdict is printed on stdout (or as JSON with --json); a rejection or policy denial also prints "
                    + "one line on stderr naming every failed check with the value seen.",
            "",
            "JSON fields: ok, status (TCB status), advisoryIds, teeType, quoteVersion, measurements (SGX: mrenclave, "
                    + "mrsigner, isvProdId, isvSvn, attributes, debug; TDX: mrtd, rtmr0-3, mrConfigId, mrOwner, "
                    + "mrServiceTd, tdAttributes, teeTcbSvn, debug; SNP: measurement, hostData, policy, reportedTcb, "
                    + "vmpl, debug; all: reportData), collateral {issued, nextUpdate}, rootUsed, simulated, at, "
                    + "policy {text, accepted, reasons}, reason (POLICY_DENIED when the policy said no, else null), ear "
                    + "(with --ear: the signed EAR JWT). "
                    + "When verification itself fails: ok=false, status (Rejected, Malformed or Unavailable), reason "
                    + "(a stable code such as TCB_NOT_SUPPORTED, QE_VENDOR_ID_MISMATCH, COLLATERAL_EXPIRED, "
                    + "SIGNATURE_INVALID; the table is in docs/attestation.md) and error."
        },
        footerHeading = "%nExamples:%n",
        footer = {
            "  cloister attest verify --quote quote.bin --collateral collateral.json --at 2025-06-01T00:00:00Z \\",
            "      --policy 'S:<mrsigner> PROD:1 SVN:3 TCB:UpToDate,SWHardeningNeeded' --json",
            "  cloister attest verify --quote report.bin --collateral vcek.pem --policy policy.yaml",
            "",
            "Exit status: 0 verified and accepted, 1 rejected or denied, 2 usage, 3 malformed input, 4 environment."
        })
public final class AttestVerify implements Callable<Integer> {

    @Option(names = "--quote", required = true, paramLabel = "FILE",
            description = "The evidence: an SGX/TDX DCAP quote or an SEV-SNP report, as raw bytes or hex text.")
    Path quote;

    @Option(names = "--collateral", paramLabel = "FILE",
            description = "DCAP: QuoteCollateralV3 JSON (TCB info, QE identity, CRLs and their chains). "
                    + "SEV-SNP: the VCEK or VLEK certificate (PEM or DER), optionally followed by the ASK/ARK chain.")
    Path collateral;

    @Option(names = "--pccs", paramLabel = "URL",
            description = "DCAP only: fetch the collateral from this PCCS or Intel PCS base URL instead of "
                    + "--collateral.")
    String pccs;

    @Option(names = "--cache", paramLabel = "DIR",
            description = "DCAP: on-disk collateral cache for --pccs (entries are reused while valid at --at) and"
                    + " --offline.")
    Path cache;

    @Option(names = "--offline",
            description = "DCAP: take collateral only from --cache, never from the network (exit 4 when the cache"
                    + " has none valid at --at).")
    boolean offline;

    @Option(names = "--at", paramLabel = "TIME",
            description = "Verify as of this time: ISO-8601 (2025-06-01T00:00:00Z) or Unix seconds. "
                    + "Default: now.")
    String at;

    @Option(names = "--root", paramLabel = "DER",
            description = "Trust this root certificate instead of the pinned vendor root (Intel SGX Root CA, AMD "
                    + "ARKs). The result names the root used.")
    Path root;

    @Option(names = "--policy", paramLabel = "FILE|STRING",
            description = "Policy file (YAML or compact) or a compact policy string. Default: TCB status UpToDate, "
                    + "no advisories, no debug, no simulated evidence.")
    String policy;

    @Option(names = "--json", description = "Print one JSON document on stdout (fields above).")
    boolean json;

    @Option(names = "--ear", paramLabel = "KEYFILE",
            description = "Also emit the appraisal as a signed IETF RATS EAR (ES256 JWT, valid 5 minutes from --at) "
                    + "with this P-256 private key (PEM): on stdout after the verdict, or as field ear in --json. "
                    + "Publish the public key with 'cloister attest ear-jwks KEYFILE'.")
    Path ear;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (collateral != null && pccs != null) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--collateral and --pccs are mutually exclusive");
        }
        if (offline && (cache == null || pccs != null || collateral != null)) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--offline needs --cache and excludes --pccs and --collateral");
        }
        EarSigner signer = ear == null ? null : AttestEarJwks.signer(ear);
        Instant t = EvidenceInput.time(at);
        Policy p = EvidenceInput.policy(policy);
        byte[] evidence = EvidenceInput.binaryOrHex(quote);
        byte[] col = collateral == null ? null : Files.readAllBytes(collateral);
        EvidenceVerifier verifier;
        if (SnpVerifier.looksLikeReport(evidence)) {
            if (pccs != null || offline) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--pccs and --offline apply to DCAP"
                        + " quotes; " + quote + " is an SEV-SNP report (give --collateral VCEK)");
            }
            verifier = root == null ? SnpVerifier.amdRoots() : SnpVerifier.withRoot(Files.readAllBytes(root));
        } else {
            verifier = DcapSupport.verifier(root, pccs, cache, offline);
        }
        return run(spec.commandLine().getOut(), verifier, evidence, col, t, p, json, signer);
    }

    static int run(java.io.PrintWriter out, EvidenceVerifier verifier, byte[] evidence, byte[] collateral, Instant t,
            Policy p, boolean json) throws Exception {
        return run(out, verifier, evidence, collateral, t, p, json, null);
    }

    static int run(java.io.PrintWriter out, EvidenceVerifier verifier, byte[] evidence, byte[] collateral, Instant t,
            Policy p, boolean json, EarSigner ear) throws Exception {
        VerifiedEvidence ev;
        try {
            ev = verifier.verify(evidence, collateral, t);
        } catch (EvidenceException e) {
            EvidenceReport.failed(out, json, e, t);
            throw e;
        }
        EvidenceReport.finish(out, json, ev, p, t, ear);
        return 0;
    }
}
