package dev.cloister.runtime.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.kbs.LocalBroker;
import dev.cloister.runtime.enclave.LauncherMain;
import dev.cloister.runtime.enclave.SimEnclave;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.job.KbsBroker;
import dev.cloister.runtime.job.OwnerJobs;
import dev.cloister.runtime.repo.LocalRepository;
import dev.cloister.runtime.repo.Repository;
import dev.cloister.runtime.sandbox.Bubblewrap;
import dev.cloister.runtime.sandbox.Sandbox;
import dev.cloister.runtime.sandbox.UnshareSandbox;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The program in the simulated enclave's inner sandbox has a /proc of its own: it sees its own processes only,
 * not the launcher JVM (whose command line names host paths: the JDK, the class path) nor the host's processes.
 * With bubblewrap and with the util-linux unshare fallback.
 */
class InnerSandboxProcTest {
    @TempDir
    Path tmp;

    private LocalBroker broker;
    private Repository repo;

    @BeforeEach
    void start() throws Exception {
        broker = LocalBroker.start(tmp.resolve("broker"), "alice");
        repo = LocalRepository.open(Files.createDirectories(tmp.resolve("repo")));
    }

    @AfterEach
    void stop() {
        if (broker != null) {
            broker.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"bubblewrap", "unshare"})
    void theProgramSeesOnlyItsOwnProcesses(String which) throws Exception {
        Sandbox sandbox = which.equals("bubblewrap") ? new Bubblewrap() : new UnshareSandbox();
        Path app = Files.createDirectories(tmp.resolve("app"));
        // every process the program can see, as "PID: command line"
        Files.writeString(app.resolve("procs.sh"), """
                #!/bin/sh
                for d in /proc/[0-9]*; do
                  printf '%s: ' "${d#/proc/}"
                  tr '\\000' ' ' < "$d/cmdline"
                  echo
                done > "$1"
                """);
        Files.setPosixFilePermissions(app.resolve("procs.sh"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.dir(app, "procs.sh")
                .withIncludes(List.of("/usr/bin/tr")), tmp.resolve("bundle"), false).dir());
        Files.writeString(tmp.resolve("in.txt"), "x\n");
        JobSpec js = new JobSpec("procs", new JobSpec.Bundle(b.dir().toString(), null,
                "E:" + b.measurement() + " SIM:ALLOW"),
                List.of(new JobSpec.Input("in", "in.txt", "/inputs/in.txt")),
                List.of(new JobSpec.Output("procs", "/outputs/procs.txt")),
                List.of("/outputs/procs.txt"), Map.of(), "sim", "unused", "unused");
        OwnerJobs jobs = new OwnerJobs(repo, new KbsBroker(broker.owner(), "alice"), tmp.resolve("keys"));
        JobRecord rec = jobs.submit(js, tmp, b.dir(), b.measurement());
        Worker w = new Worker(repo, new KbsBroker(broker.anonymous(), "alice"), WorkerBundles::open,
                new SimEnclave(LauncherMain.class.getName(), sandbox));
        JobResult res = w.run(rec.id(), Files.createDirectories(tmp.resolve("work")), p -> {});
        jobs.fetch(rec.id(), tmp.resolve("out"));
        assertThat(res.programExit()).as(Files.readString(tmp.resolve("out/stderr.txt"))).isZero();

        String seen = Files.readString(tmp.resolve("out/procs"));
        assertThat(seen).as("the program's own shell is listed").contains("procs.sh");
        // nothing of the launcher (a JVM started with host paths) and nothing of the host
        assertThat(seen).doesNotContain("java").doesNotContain(LauncherMain.class.getName())
                .doesNotContain(tmp.toString()).doesNotContain(System.getProperty("java.home"));
        String classPath = System.getProperty("java.class.path").split(java.io.File.pathSeparator)[0];
        assertThat(seen).doesNotContain(classPath);
        // a fresh PID namespace: a handful of processes (the sandbox's init, the shell, tr), init being PID 1
        // (a command line may span lines: the unshare sandbox's init is a shell script)
        List<String> lines = seen.lines().filter(l -> l.matches("^[0-9]+: .*")).toList();
        assertThat(lines).hasSizeLessThanOrEqualTo(4);
        assertThat(lines.get(0)).startsWith("1: ");
    }
}
