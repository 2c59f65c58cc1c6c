package dev.cloister.runtime.gramine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.worker.BundleView;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GramineLaunchTest {
    @TempDir
    Path tmp;

    @Test
    void aMissingGramineIsAnEnvironmentErrorNamingTheCommand() throws Exception {
        assertThatThrownBy(() -> GramineLaunch.requireInstalled("gramine-sgx", "/usr/bin:/bin"))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("'gramine-sgx' is not on PATH")
                .satisfies(e -> assertThat(((CloisterException) e).kind().exitCode()).isEqualTo(4));
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path fake = Files.writeString(bin.resolve("gramine-direct"), "#!/bin/sh\n");
        fake.toFile().setExecutable(true);
        assertThat(GramineLaunch.requireInstalled("gramine-direct", "/nowhere:" + bin)).isEqualTo(fake);
    }

    @Test
    void theWorkingFolderHoldsWhatTheManifestsMountsExpect() throws Exception {
        Path bundle = Files.createDirectories(tmp.resolve("bundle"));
        Files.createDirectories(bundle.resolve("root/usr/bin"));
        Files.writeString(bundle.resolve("entrypoint.manifest"), "libos.entrypoint = \"/usr/bin/x\"\n");
        Path ct = Files.write(tmp.resolve("a.pf"), new byte[4096]);
        JobRecord rec = new JobRecord("j-1", "j", bundle.toString(), "ab", "E:ab", "ns/job-j-1", "https://b", "gramine-sgx",
                List.of(), Map.of(), List.of(new JobRecord.Input("a", "/inputs/data/a.csv", "00", 1)),
                List.of(new JobSpec.Output("o", "/outputs/o.txt")));
        BundleView view = new BundleView(bundle, "root", "ab", "/usr/bin/x", List.of(), Map.of(), "/");
        GramineLaunch l = GramineLaunch.prepare("gramine-sgx", rec, view, Map.of("a", ct), "kbs.example:4433",
                tmp.resolve("work"));
        assertThat(l.commands()).containsExactly(
                List.of("gramine-sgx-sign", "--manifest", "entrypoint.manifest", "--output", "entrypoint.manifest.sgx"),
                List.of("gramine-sgx", "entrypoint"));
        assertThat(l.env()).containsEntry("SECRET_PROVISION_SERVERS", "kbs.example:4433");
        assertThat(tmp.resolve("work/inputs/data/a.csv")).hasSameBinaryContentAs(ct);
        assertThat(tmp.resolve("work/entrypoint.manifest")).hasSameTextualContentAs(bundle.resolve("entrypoint.manifest"));
        assertThat(Files.readSymbolicLink(tmp.resolve("work/root"))).isEqualTo(bundle.resolve("root").toAbsolutePath());
        assertThat(tmp.resolve("work/outputs")).isEmptyDirectory();
        assertThat(l.output("/outputs/o.txt")).isEqualTo(tmp.resolve("work/outputs/o.txt"));
        GramineLaunch direct = GramineLaunch.prepare("gramine-direct", rec, view, Map.of("a", ct), "kbs:1", tmp.resolve("w2"));
        assertThat(direct.commands()).containsExactly(List.of("gramine-direct", "entrypoint"));
    }
}
