package dev.cloister.cli.volume;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.cli.Json;
import dev.cloister.cli.Progress;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.ProtectedFiles;
import dev.cloister.volume.Volume;
import dev.cloister.volume.VolumeException;
import dev.cloister.volume.VolumeRecord;
import dev.cloister.volume.VolumeVerifier;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cloister volume verify}: authenticate the record and every file, compare with the expected state. */
@Command(name = "verify", mixinStandardHelpOptions = true, usageHelpAutoWidth = true, sortOptions = false,
        header = "Verify a volume: its record, every file, and the expected version and root.",
        description = {
            "Authenticates the record, recomputes the root digest from it, authenticates every file in full and "
                    + "checks that it is exactly the recorded copy, and that no file is missing or added. With "
                    + "--expect-version and --expect-root (the state recorded elsewhere, later by the broker), an "
                    + "older volume, a diverged copy or another volume with the same key is refused too.",
            "",
            "Every difference is listed on stdout, one per line, naming the file; the exit status is then 1."
        },
        footerHeading = "%nExamples:%n",
        footer = {"  cloister volume verify --key vol.key --expect-version 7 --expect-root 3f9a... state-vol"})
public final class VolumeVerify implements Callable<Integer> {
    @CommandLine.Mixin
    Options.Key key;

    @CommandLine.Mixin
    Options.Expect expect;

    @CommandLine.Mixin
    Options.Run run;

    @Option(names = "--json", description = "Print one JSON document: volume, ok, id, version, prefix, files, bytes, "
            + "root (absent if the record does not authenticate), differences (each with kind, path, detail).")
    boolean json;

    @Parameters(index = "0", paramLabel = "DIR", description = "The volume directory.")
    Path dir;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        VolumeVerifier.Expected expected = expect.expected(spec);
        int jobs = run.threads(spec);
        VolumeVerifier.Report r = authenticate("verify", dir, key, run.quiet || json,
                (k, progress) -> VolumeVerifier.verify(dir, k, expected, jobs, progress::advance));
        print(spec.commandLine().getOut(), json, dir, r, "verified");
        return check(dir, r);
    }

    /** One pass over every file of a volume under its key ({@code verify} or {@code export}). */
    interface Pass {
        VolumeVerifier.Report run(PfKey key, Progress progress) throws Exception;
    }

    /** Reads the key, sizes the work from the (not yet authenticated) record and runs {@code pass} with a progress bar. */
    static VolumeVerifier.Report authenticate(String label, Path dir, Options.Key key, boolean quiet, Pass pass)
            throws Exception {
        try (PfKey k = PfKey.read(key.keyFile)) {
            long total = Volume.readUnauthenticated(dir).totalBytes();
            ProtectedFiles.prepareBulk(total);
            try (Progress progress = Progress.bytes(label, total, quiet)) {
                return pass.run(k, progress);
            }
        }
    }

    /** Prints the report (text or JSON). */
    static void print(PrintWriter out, boolean json, Path dir, VolumeVerifier.Report r, String verb) {
        if (json) {
            ObjectNode o = r.record() != null ? VolumeInspect.json(dir, r.record()) : Json.object();
            if (r.record() == null) {
                o.put("volume", dir.toAbsolutePath().normalize().toString());
            }
            o.put("ok", r.ok());
            ArrayNode d = o.putArray("differences");
            for (VolumeVerifier.Difference x : r.differences()) {
                ObjectNode n = d.addObject();
                n.put("kind", x.kind().name().toLowerCase(Locale.ROOT));
                if (x.path() != null) {
                    n.put("path", x.path());
                }
                n.put("detail", x.detail());
            }
            Json.print(out, o);
        } else if (r.ok()) {
            VolumeRecord v = r.record();
            out.printf("%s volume %s (%s): version %d, %,d files, %,d bytes, root %s%n", verb, dir, v.id(),
                    v.version(), r.filesChecked(), r.bytesChecked(), v.rootHex());
        } else {
            for (VolumeVerifier.Difference x : r.differences()) {
                out.println(x.kind().name().toLowerCase(Locale.ROOT) + "\t" + x);
            }
        }
        out.flush();
    }

    /** 0 if nothing differs; otherwise a verdict naming the first difference. */
    static int check(Path dir, VolumeVerifier.Report r) throws VolumeException {
        if (r.ok()) {
            return 0;
        }
        int n = r.differences().size();
        throw new VolumeException(VolumeException.Kind.DENIED, "volume " + dir + " is not the recorded state: "
                + r.differences().get(0) + (n > 1 ? " (and " + (n - 1) + " more difference" + (n > 2 ? "s" : "")
                + ", listed on stdout)" : ""));
    }
}
