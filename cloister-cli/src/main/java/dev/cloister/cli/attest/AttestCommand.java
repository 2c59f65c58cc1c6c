package dev.cloister.cli.attest;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code cloister attest}: verify attestation evidence and appraise it against a policy, or simulate evidence. */
@Command(
        name = "attest",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Verify SGX/TDX DCAP quotes and SEV-SNP reports, appraise them against a policy.",
        description = {
            "Checks that attestation evidence comes from a genuine, up-to-date TEE running the expected code: the "
                    + "signatures and certificate chains up to Intel's or AMD's pinned root, the collateral's "
                    + "validity at a given time, and then an owner's policy (measurements, signer, minimum SVN, "
                    + "TCB statuses, advisories, debug, report data).",
            "",
            "Policies are a compact constraint string (e.g. 'S:<mrsigner> PROD:1 SVN:3 TCB:UpToDate') or YAML; see "
                    + "docs/attestation.md. Without --policy the default applies: TCB status UpToDate, no "
                    + "advisories, no debug, no simulated evidence, unexpired collateral."
        },
        subcommands = {AttestVerify.class, AttestVerifySnp.class, AttestSimulate.class, AttestEarJwks.class, CommandLine.HelpCommand.class},
        footerHeading = "%nExit status:%n",
        footer = {
            "  0   evidence verified and the policy accepted it",
            "  1   evidence rejected or policy denied (the reason on stderr, and in --json)",
            "  2   usage error",
            "  3   malformed evidence, collateral or policy",
            "  4   environment problem (e.g. PCCS unreachable)"
        })
public final class AttestCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command: verify, verify-snp, simulate");
    }
}
