package dev.cloister.cli.volume;

import dev.cloister.volume.VolumeVerifier;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister volume export}: decrypt a verified volume back to a plaintext tree. */
@Command(name = "export", mixinStandardHelpOptions = true, usageHelpAutoWidth = true, sortOptions = false,
        header = "Decrypt a volume back to a plaintext tree, after verifying it.",
        description = "Verifies DIR as 'verify' does (in the same pass) and decrypts every file into DEST. DEST "
                + "appears only when everything verified: the tree is written beside it and renamed into place. An "
                + "existing DEST is refused unless --force is given.",
        footerHeading = "%nExamples:%n",
        footer = {"  cloister volume export --key vol.key --expect-version 7 state-vol ./restored"})
public final class VolumeExport implements Callable<Integer> {
    @CommandLine.Mixin
    Options.Key key;

    @CommandLine.Mixin
    Options.Expect expect;

    @CommandLine.Mixin
    Options.Run run;

    @Option(names = {"-f", "--force"}, description = "Replace an existing DEST.")
    boolean force;

    @Option(names = "--json", description = "Print one JSON document, as 'verify --json' does, plus destination.")
    boolean json;

    @Parameters(index = "0", paramLabel = "DIR", description = "The volume directory.")
    Path dir;

    @Parameters(index = "1", paramLabel = "DEST", description = "The plaintext directory to create.")
    Path dest;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        VolumeVerifier.Expected expected = expect.expected(spec);
        int jobs = run.threads(spec);
        VolumeVerifier.Report r = VolumeVerify.authenticate("export", dir, key, run.quiet || json,
                (k, progress) -> VolumeVerifier.export(dir, dest, k, expected, force, jobs, progress::advance));
        VolumeVerify.print(spec.commandLine().getOut(), json, dir, r, "exported to " + dest + " the");
        return VolumeVerify.check(dir, r);
    }
}
