package dev.cloister.cli.volume;

import dev.cloister.cli.Json;
import dev.cloister.pf.PfKey;
import dev.cloister.volume.Volume;
import dev.cloister.volume.VolumeRecord;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister volume create}: an empty volume at version 0. */
@Command(name = "create", mixinStandardHelpOptions = true, usageHelpAutoWidth = true, sortOptions = false,
        header = "Create an empty state volume.",
        description = "Creates DIR (which must not exist or be empty) as an empty volume at version 0 with a new "
                + "random id. Its files will be bound to embedded paths PREFIX/<path>: mount DIR/files in the "
                + "enclave with uri \"file:PREFIX\" and type \"encrypted\".",
        footerHeading = "%nExamples:%n",
        footer = {"  cloister pf keygen vol.key && cloister volume create --key vol.key state-vol"})
public final class VolumeCreate implements Callable<Integer> {
    @CommandLine.Mixin
    Options.Key key;

    @Option(names = "--prefix", paramLabel = "PREFIX", defaultValue = Volume.DEFAULT_PREFIX,
            description = "The embedded-path prefix (the path of the enclave mount's URI). Default: ${DEFAULT-VALUE}.")
    String prefix;

    @Option(names = "--json", description = "Print the result as one JSON document: volume, id, version, prefix, root.")
    boolean json;

    @Parameters(index = "0", paramLabel = "DIR", description = "The volume directory to create.")
    Path dir;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        VolumeRecord r;
        try (PfKey k = PfKey.read(key.keyFile)) {
            r = Volume.create(dir, k, prefix);
        }
        if (json) {
            Json.print(spec.commandLine().getOut(), VolumeInspect.json(dir, r));
        } else {
            spec.commandLine().getOut().printf("created volume %s in %s: version 0, prefix %s, root %s%n", r.id(),
                    dir, r.prefix(), r.rootHex());
        }
        spec.commandLine().getOut().flush();
        return 0;
    }

}
