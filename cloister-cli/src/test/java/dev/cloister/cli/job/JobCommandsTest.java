package dev.cloister.cli.job;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.cli.CliRun;
import dev.cloister.cli.TestBroker;
import dev.cloister.cli.Cloister;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cloister job submit}, {@code worker run} and {@code job fetch} against a real broker over HTTPS. */
class JobCommandsTest {
    @TempDir
    Path tmp;

    static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void ownerSubmitsWorkerRunsOwnerFetches() throws Exception {
        try (TestBroker broker = TestBroker.start(tmp)) {
            URI base = broker.base();
            Path ca = broker.ca();
            Path token = broker.ownerToken();

            Path app = Files.createDirectories(tmp.resolve("app"));
            Files.writeString(app.resolve("rev.sh"), "#!/bin/sh\nrev < \"$1\" > \"$2\"\n");
            Files.setPosixFilePermissions(app.resolve("rev.sh"),
                    java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.dir(app, "rev.sh")
                    .withIncludes(java.util.List.of("/usr/bin/rev")), tmp.resolve("bundle"), false).dir());
            Files.writeString(tmp.resolve("in.txt"), "stressed\n");
            Files.writeString(tmp.resolve("job.yaml"), """
                    name: rev
                    bundle: {path: bundle, policy: "E:%s SIM:ALLOW"}
                    inputs: [{name: words, file: in.txt, path: /inputs/in.txt}]
                    outputs: [{name: reversed, path: /outputs/out.txt}]
                    args: [/inputs/in.txt, /outputs/out.txt]
                    broker: %s
                    repository: repo
                    """.formatted(b.measurement(), base));

            CliRun submit = run("job", "submit", tmp.resolve("job.yaml").toString(), "--ca", ca.toString(),
                    "--token-file", token.toString(), "--namespace", "lab", "--keys", tmp.resolve("keys").toString());
            assertThat(submit.code()).as(submit.err()).isZero();
            String id = submit.out().strip();

            CliRun work = run("worker", "run", id, "--repository", tmp.resolve("repo").toString(),
                    "--ca", ca.toString(), "--json");
            assertThat(work.code()).as(work.err()).isZero();
            if (!work.out().contains("\"programExit\" : 0")) {
                run("job", "fetch", id, tmp.resolve("dbg").toString(), "--repository", tmp.resolve("repo").toString(),
                        "--keys", tmp.resolve("keys").toString());
                System.err.println("program stderr: " + Files.readString(tmp.resolve("dbg/stderr.txt")));
            }
            assertThat(work.out()).contains("\"programExit\" : 0");
            assertThat(work.err()).contains("[SIMULATED]");

            CliRun fetch = run("job", "fetch", id, tmp.resolve("out").toString(), "--repository",
                    tmp.resolve("repo").toString(), "--keys", tmp.resolve("keys").toString(), "--ca",
                    ca.toString(), "--token-file", token.toString(), "--namespace", "lab");
            assertThat(fetch.code()).as(fetch.err()).isZero();
            assertThat(Files.readString(tmp.resolve("out/reversed"))).isEqualTo("desserts\n");
            assertThat(fetch.out()).contains("broker: ").contains("release ok").contains(b.measurement());
            assertThat(fetch.out()).contains("audit log: not proven (no log key pinned: --log-key)");

            // Fetching again into the same OUTDIR does not overwrite: exit 3 naming the file, nothing changed;
            // --force replaces (docs/cli.md: existing outputs are not overwritten unless --force).
            Files.writeString(tmp.resolve("out/reversed"), "mine\n");
            CliRun again = run("job", "fetch", id, tmp.resolve("out").toString(), "--repository",
                    tmp.resolve("repo").toString(), "--keys", tmp.resolve("keys").toString());
            assertThat(again.code()).as(again.err()).isEqualTo(3);
            assertThat(again.err()).contains("output already exists: " + tmp.resolve("out/reversed"))
                    .contains("--force");
            assertThat(Files.readString(tmp.resolve("out/reversed"))).isEqualTo("mine\n");
            try (var left = Files.list(tmp.resolve("out"))) {
                assertThat(left.map(p -> p.getFileName().toString()))
                        .containsExactlyInAnyOrder("reversed", "stdout.txt", "stderr.txt");
            }
            CliRun forced = run("job", "fetch", id, tmp.resolve("out").toString(), "--repository",
                    tmp.resolve("repo").toString(), "--keys", tmp.resolve("keys").toString(), "--force");
            assertThat(forced.code()).as(forced.err()).isZero();
            assertThat(Files.readString(tmp.resolve("out/reversed"))).isEqualTo("desserts\n");

            // With the broker's log key pinned, the key's audit entries are proven in the signed log.
            String logKey = broker.broker().store().logVerifierKey();
            Path state = tmp.resolve("checkpoint");
            CliRun proven = run("job", "fetch", id, tmp.resolve("out2").toString(), "--repository",
                    tmp.resolve("repo").toString(), "--keys", tmp.resolve("keys").toString(), "--ca",
                    ca.toString(), "--token-file", token.toString(), "--namespace", "lab", "--log-key", logKey,
                    "--state", state.toString(), "--json");
            assertThat(proven.code()).as(proven.err()).isZero();
            var auditLog = dev.cloister.cli.Json.mapper().readTree(proven.out()).get("auditLog");
            // secret.put, policy.set and the release: all three about this job's key.
            assertThat(auditLog.get("proven").asInt()).isEqualTo(3);
            assertThat(auditLog.get("origin").asText()).isEqualTo(logKey.substring(0, logKey.indexOf('+')));
            // The record the enclave ran is the one submitted: its hash, kept with the job key, is in the answer.
            assertThat(dev.cloister.cli.Json.mapper().readTree(proven.out()).get("record").asText())
                    .isEqualTo(Files.readString(tmp.resolve("keys").resolve(id + ".record")).strip());
            assertThat(state).exists();
            // A key for another log is a failed check (exit 1) that names what failed, and adds no outputs.
            String otherKey = dev.cloister.kbs.tlog.NoteSigner.generate("cloister-kbs/x").verifierKey();
            CliRun wrong = run("job", "fetch", id, tmp.resolve("out3").toString(), "--repository",
                    tmp.resolve("repo").toString(), "--keys", tmp.resolve("keys").toString(), "--ca",
                    ca.toString(), "--token-file", token.toString(), "--namespace", "lab", "--log-key", otherKey,
                    "--no-state");
            assertThat(wrong.code()).isEqualTo(1);
            assertThat(wrong.err()).contains("the broker's checkpoint").contains("not signed by");
            assertThat(tmp.resolve("out3")).doesNotExist();

            // A record changed in the repository after submission is refused (exit 1), and nothing is written.
            Path ref = tmp.resolve("repo/refs/jobs").resolve(id).resolve("job.json");
            var rec = dev.cloister.runtime.job.JobRecord.parse(Files.readAllBytes(ref), id);
            java.util.List<String> args = new java.util.ArrayList<>(rec.args());
            args.add("--tampered");
            Files.write(ref, new dev.cloister.runtime.job.JobRecord(rec.id(), rec.name(), rec.bundlePath(),
                    rec.measurement(), rec.policy(), rec.secret(), rec.broker(), rec.backend(), args, rec.env(),
                    rec.inputs(), rec.outputs(), rec.keys()).toBytes());
            CliRun tampered = run("job", "fetch", id, tmp.resolve("out4").toString(), "--repository",
                    tmp.resolve("repo").toString(), "--keys", tmp.resolve("keys").toString());
            assertThat(tampered.code()).as(tampered.err()).isEqualTo(1);
            assertThat(tampered.err()).contains("is not the one submitted");
            assertThat(tmp.resolve("out4")).doesNotExist();

            // Fetching a job that does not exist is bad input (exit 3), and nothing is written.
            CliRun missing = run("job", "fetch", "nope-0000000000", tmp.resolve("none").toString(), "--repository",
                    tmp.resolve("repo").toString(), "--keys", tmp.resolve("keys").toString());
            assertThat(missing.code()).isEqualTo(3);
            assertThat(missing.err()).contains("no job nope-0000000000");
            assertThat(tmp.resolve("none")).doesNotExist();
        }
    }

    @Test
    void withNeitherBubblewrapNorUnshareTheWorkerFailsWithExitCode4AndSaysWhatToInstall() throws Exception {
        // A sim job must exist: the worker reads the job's backend before it looks for a sandbox tool.
        try (var repo = dev.cloister.runtime.repo.LocalRepository.open(tmp.resolve("repo"))) {
            repo.putRef(dev.cloister.runtime.job.JobRecord.ref("any-0000000000"), new dev.cloister.runtime.job.JobRecord(
                    "any-0000000000", "any", tmp.resolve("bundle").toString(), "00".repeat(32), "E:" + "00".repeat(32),
                    "lab/job-any-0000000000", "https://127.0.0.1:1", "sim", java.util.List.of(), java.util.Map.of(),
                    java.util.List.of(), java.util.List.of(new dev.cloister.runtime.job.JobSpec.Output("o", "/outputs/o")))
                    .toBytes());
        }
        java.util.List<String> cmd = java.util.List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), Cloister.class.getName(),
                "worker", "run", "any-0000000000", "--repository", tmp.resolve("repo").toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PATH", tmp.resolve("empty").toString()); // neither bwrap nor unshare can be found
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isEqualTo(4);
        assertThat(out).contains("bubblewrap").contains("apt-get install bubblewrap");
    }
}
