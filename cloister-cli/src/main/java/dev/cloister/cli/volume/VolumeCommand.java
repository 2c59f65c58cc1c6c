package dev.cloister.cli.volume;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParameterException;

/** {@code cloister volume}: state volumes, directories of Gramine encrypted files that cannot be rolled back. */
@Command(
        name = "volume",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Create, import, export, inspect and verify state volumes.",
        description = {
            "A state volume is a directory of Gramine encrypted files (DIR/files, mounted into the enclave with "
                    + "type \"encrypted\") and an authenticated record (DIR/volume.rec) of the volume's id, its "
                    + "monotonic version and a root digest over every file's path, size and MAC. Given the "
                    + "version and root digest recorded elsewhere, 'verify' refuses an older copy of a file or of "
                    + "the whole volume, another volume's files, and missing, added or edited files, naming each.",
            "",
            "The key is a 16-byte wrap key as written by 'cloister pf keygen'. See docs/services.md."
        },
        subcommands = {CommandLine.HelpCommand.class, VolumeCreate.class, VolumeImport.class, VolumeExport.class,
            VolumeInspect.class, VolumeVerify.class},
        footerHeading = "%nExit status:%n",
        footer = {
            "  0   success",
            "  1   the volume differs from its recorded (or the expected) state, or a file or the record fails "
                    + "authentication",
            "  2   usage error",
            "  3   bad input: not a volume, malformed record, unreadable source, output exists",
            "",
            "A failing command leaves no partial output behind; an interrupted import resumes when rerun."
        })
public final class VolumeCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(),
                "missing command (create, import, export, inspect or verify)");
    }
}
