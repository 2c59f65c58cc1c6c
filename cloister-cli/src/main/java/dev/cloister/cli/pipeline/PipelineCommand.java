package dev.cloister.cli.pipeline;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.bundle.Bundle;
import dev.cloister.cli.Json;
import dev.cloister.cli.kbs.ClientOptions;
import dev.cloister.core.CloisterException;
import dev.cloister.pipeline.ConfidentialRun;
import dev.cloister.pipeline.ConfidentialSteps;
import dev.cloister.pipeline.LocalExecutor;
import dev.cloister.pipeline.Orchestrator;
import dev.cloister.pipeline.PipelineSpec;
import dev.cloister.pipeline.RunPlan;
import dev.cloister.pipeline.RunState;
import dev.cloister.pipeline.SlurmExecutor;
import dev.cloister.pipeline.StepExecutor;
import dev.cloister.pipeline.StepMain;
import dev.cloister.runtime.job.KbsBroker;
import dev.cloister.runtime.repo.Repositories;
import dev.cloister.runtime.repo.Repository;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cloister pipeline}: multi-step confidential workflows, each step in its own enclave. */
@Command(name = "pipeline", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Run multi-step confidential pipelines: each step in its own enclave, each edge with its own key.",
        description = {"A pipeline (docs/pipelines.md) is a DAG of steps, each a bundle with its own policy. 'run' "
                + "stores every key in the key broker under the policy of the step that receives it (an edge's key "
                + "goes to its producer to write and to each consumer to read, nothing else), encrypts the owner's "
                + "inputs, and runs steps as their inputs become ready, in parallel where the DAG allows, on this "
                + "machine or on a SLURM cluster. Runs survive the orchestrator: 'resume' continues one without "
                + "re-running finished steps and retries failed ones."},
        subcommands = {PipelineCommand.Run.class, PipelineCommand.Resume.class, PipelineCommand.Status.class,
            PipelineCommand.Fetch.class, PipelineCommand.Logs.class, PipelineCommand.Cancel.class})
public final class PipelineCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing subcommand (run, resume, status, fetch, cancel)");
    }

    static Path defaultRuns() {
        return Path.of(System.getProperty("user.home"), ".cloister", "runs");
    }

    /** Options that say where runs are kept. */
    static final class RunsOption {
        @Option(names = "--runs", paramLabel = "DIR",
                description = "Where pipeline runs are kept (default: ~/.cloister/runs). Shared with the cluster's "
                        + "nodes for the SLURM executor.")
        Path runs;

        Path root() {
            return (runs != null ? runs : defaultRuns()).toAbsolutePath().normalize();
        }

        Path runDir(String runId) throws CloisterException {
            if (!runId.matches("[A-Za-z0-9][A-Za-z0-9._-]*")) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "bad run id '" + runId + "'");
            }
            Path d = root().resolve(runId);
            if (!Files.isDirectory(d)) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "no pipeline run " + runId + " in " + root());
            }
            return d;
        }
    }

    /** Where the owner keeps a run's keys: never in the run folder, which the cluster's nodes share. */
    static final class KeysOption {
        @Option(names = "--keys", paramLabel = "DIR",
                description = "The owner's private key folder (default: ~/.cloister/keys); a run's output and log keys "
                        + "and the hashes of its step records are kept in DIR/runs/RUN_ID, mode 0700. Keep it off "
                        + "storage the cluster shares.")
        Path keys;

        Path dir() {
            return (keys != null ? keys : Path.of(System.getProperty("user.home"), ".cloister", "keys"))
                    .toAbsolutePath().normalize();
        }
    }

    /** How steps are executed. */
    static final class ExecutorOptions {
        @Option(names = "--executor", paramLabel = "local|slurm", defaultValue = "local",
                description = "Where steps run: 'local' (worker processes on this machine, default) or 'slurm' "
                        + "(one sbatch job per step; sibling steps that become ready together are one job array).")
        String executor;

        @Option(names = "--max-parallel", paramLabel = "N", defaultValue = "4",
                description = "At most N steps at a time (default: ${DEFAULT-VALUE}).")
        int maxParallel;

        @Option(names = "--slurm-conf", paramLabel = "FILE",
                description = "The cluster's slurm.conf for the SLURM tools (default: SLURM_CONF or /etc/slurm).")
        Path slurmConf;

        @Option(names = "--partition", paramLabel = "NAME", description = "SLURM partition (default: the cluster's).")
        String partition;

        StepExecutor executor(String name) throws CloisterException {
            return switch (name) {
                case "local" -> new LocalExecutor();
                case "slurm" -> new SlurmExecutor(partition, slurmConf);
                default -> throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        "--executor must be local or slurm, not " + name);
            };
        }
    }

    /**
     * Drives a run to its end, printing each step's changes, and returns the exit code.
     *
     * @param owner the broker with the owner's token: each step's keys are bound to the record it is started with
     * @param keys the owner's private key folder
     */
    static int drive(Path runDir, String executorName, ExecutorOptions ex, CommandSpec spec, boolean json,
            dev.cloister.runtime.job.Broker owner, Path keys) throws Exception {
        RunPlan plan = RunPlan.load(runDir);
        PrintWriter err = spec.commandLine().getErr();
        try (Repository repo = Repositories.open(plan.repository())) {
            Orchestrator o = new Orchestrator(ex.executor(executorName),
                    new ConfidentialSteps(runDir, repo, StepMain::command, owner, keys), ex.maxParallel,
                    Duration.ofMillis(100), Clock.systemUTC());
            Map<String, RunState.Phase> seen = new java.util.HashMap<>();
            Instant t0 = Instant.now();
            RunState end = o.run(runDir, s -> {
                s.steps().forEach((name, st) -> {
                    // A step pending again for an automatic retry is shown with the failure it retries.
                    if (seen.put(name, st.phase()) != st.phase()
                            && (st.phase() != RunState.Phase.PENDING || st.retryAt() != null)) {
                        err.printf("%6.1fs  %-12s %-8s%s%n", Duration.between(t0, Instant.now()).toMillis() / 1000.0, name,
                                st.phase().name().toLowerCase(Locale.ROOT),
                                st.phase() != RunState.Phase.RUNNING && st.reason() != null ? "  " + st.reason() : "");
                    }
                });
                var c = s.counts();
                err.printf("        pending %d, running %d, done %d, failed %d, skipped %d [SIMULATED enclaves]%n",
                        c.get(RunState.Phase.PENDING), c.get(RunState.Phase.RUNNING), c.get(RunState.Phase.DONE),
                        c.get(RunState.Phase.FAILED), c.get(RunState.Phase.SKIPPED));
                err.flush();
            });
            print(end, spec.commandLine().getOut(), json);
            boolean ok = end.steps().values().stream().allMatch(st -> st.phase() == RunState.Phase.DONE);
            if (!ok) {
                RunState.Step failed = end.steps().values().stream().filter(st -> st.phase() == RunState.Phase.FAILED)
                        .findFirst().orElse(null);
                int code = failed == null || failed.exitCode() == null ? 4 : switch (failed.exitCode()) {
                    case 1 -> 1;
                    case 3 -> 3;
                    case StepMain.PROGRAM_FAILED -> StepMain.PROGRAM_FAILED;
                    default -> 4;
                };
                err.println("cloister: run " + end.runId() + " did not finish" + (failed == null ? "" : ": " + failed.reason())
                        + "; 'cloister pipeline resume " + end.runId() + "' retries failed steps");
                return code;
            }
            return 0;
        }
    }

    /** Work on a run's repository. */
    @FunctionalInterface
    interface RepositoryWork<T> {
        T apply(Repository r) throws Exception;
    }

    /** Opens the repository a run was created with, does {@code work} with it, and closes it. */
    static <T> T withRepository(Path runDir, RepositoryWork<T> work) throws Exception {
        try (Repository r = Repositories.open(RunPlan.load(runDir).repository())) {
            return work.apply(r);
        }
    }

    static void print(RunState s, PrintWriter out, boolean json) {
        if (json) {
            ObjectNode n = Json.object();
            n.put("runId", s.runId());
            n.put("pipeline", s.pipeline());
            n.put("executor", s.executor());
            n.put("simulated", true);
            ObjectNode steps = n.putObject("steps");
            s.steps().forEach((name, st) -> {
                ObjectNode j = steps.putObject(name);
                j.put("phase", st.phase().name().toLowerCase(Locale.ROOT));
                j.put("attempt", st.attempt());
                j.put("handle", st.handle());
                j.put("startedAt", st.startedAt() == null ? null : st.startedAt().toString());
                j.put("endedAt", st.endedAt() == null ? null : st.endedAt().toString());
                j.put("exitCode", st.exitCode()); // null until known: every step has the same fields
                j.put("reason", st.reason());
                j.put("retried", st.retried());
                j.put("retryAt", st.retryAt() == null ? null : st.retryAt().toString());
            });
            Json.print(out, n);
            return;
        }
        out.println("run " + s.runId() + " (" + s.pipeline() + ", " + s.executor() + " executor)");
        s.steps().forEach((name, st) -> {
            String took = st.startedAt() != null && st.endedAt() != null
                    ? String.format(Locale.ROOT, "%.1fs", Duration.between(st.startedAt(), st.endedAt()).toMillis() / 1000.0) : "";
            out.printf("  %-12s %-8s attempt %d  %-7s %s%n", name, st.phase().name().toLowerCase(Locale.ROOT), st.attempt(),
                    took, st.reason() == null ? "" : st.reason());
        });
        out.flush();
    }

    /** {@code cloister pipeline run}. */
    @Command(name = "run", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Create a confidential pipeline run and drive it to the end.",
            description = {"Checks the spec (cycles, missing producers, names) and every bundle and input before "
                    + "anything is created; then stores the run's keys in the broker, uploads the encrypted owner "
                    + "inputs, prints the run id on stderr, and runs steps as their inputs become ready. Progress "
                    + "(each step's transitions and the counts of pending, running, done, failed and skipped steps) goes to "
                    + "stderr; the final state to stdout. Killing this command does not stop running steps; "
                    + "'cloister pipeline resume RUN_ID' picks the run up again."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 every step done, 1 the broker refused a step's key or an input failed authentication, 3 bad "
                    + "spec, bundle or input, 4 broker, repository, sandbox or SLURM unavailable, or a step killed, lost or "
                    + "over its time_limit, 5 a step's program "
                    + "failed"})
    static final class Run implements Callable<Integer> {
        @Parameters(paramLabel = "SPEC.yaml", description = "The pipeline file (docs/pipelines.md).")
        Path file;

        @Option(names = "--repository", paramLabel = "LOCATION",
                description = "Folder, file:// or s3:// URL (default: the spec's 'repository').")
        String repository;

        @Option(names = "--json", description = "Print the final state as JSON (see 'status --json').")
        boolean json;

        @Mixin
        RunsOption runs;

        @Mixin
        ExecutorOptions ex;

        @Mixin
        ClientOptions client;

        @Mixin
        KeysOption keys;

        @Option(names = "--namespace", paramLabel = "NS", defaultValue = "${env:CLOISTER_NAMESPACE:-default}",
                description = "The owner's namespace in the broker (default: CLOISTER_NAMESPACE or 'default').")
        String namespace;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PipelineSpec p = PipelineSpec.parse(Files.readAllBytes(file), file.toString());
            Path base = file.toAbsolutePath().getParent();
            ex.executor(ex.executor);
            String repo = repository != null ? repository : p.repository();
            if (repo == null) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, file + ": no repository (give 'repository:' "
                        + "or --repository)");
            }
            if (!repo.contains("://")) {
                repo = base.resolve(repo).normalize().toString();
            }
            String url = client.url(p.broker());
            String runId;
            KbsBroker owner = new KbsBroker(client.client(true, p.broker()), namespace);
            try (Repository r = Repositories.open(repo)) {
                runId = ConfidentialRun.create(p, base, runs.root(), ex.executor, new ConfidentialRun.Setup(r, repo,
                        owner, url, client.caFile(), d -> Bundle.open(d).measurement(), keys.dir()));
            }
            PrintWriter err = spec.commandLine().getErr();
            err.println("run " + runId + " created in " + runs.root());
            err.flush();
            return drive(runs.root().resolve(runId), ex.executor, ex, spec, json, owner, keys.dir());
        }
    }

    /** {@code cloister pipeline resume}. */
    @Command(name = "resume", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Continue a run: wait for running steps, retry failed ones, start the rest.",
            description = {"Done steps are never run again; a failed step gets a new attempt (its earlier attempts' "
                    + "folders stay for inspection). The run keeps the executor it was created with. Needs the "
                    + "owner's broker token: each step's keys are bound to the record of the attempt it starts."},
            footerHeading = "%nExit status:%n",
            footer = {"  as for 'run'"})
    static final class Resume implements Callable<Integer> {
        @Parameters(paramLabel = "RUN_ID")
        String runId;

        @Option(names = "--json", description = "Print the final state as JSON.")
        boolean json;

        @Mixin
        RunsOption runs;

        @Mixin
        ExecutorOptions ex;

        @Mixin
        ClientOptions client;

        @Mixin
        KeysOption keys;

        @Option(names = "--namespace", paramLabel = "NS",
                description = "The owner's namespace in the broker (default: the one the run's keys are in).")
        String namespace;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Path dir = runs.runDir(runId);
            RunPlan plan = RunPlan.load(dir);
            // The run's keys live in the owner's namespace, which their broker names say.
            String ns = namespace != null ? namespace : plan.steps().values().iterator().next().logKey().split("/", 2)[0];
            KbsBroker owner = new KbsBroker(client.client(true, plan.broker()), ns);
            return drive(dir, RunState.load(dir).executor(), ex, spec, json, owner, keys.dir());
        }
    }

    /** {@code cloister pipeline status}. */
    @Command(name = "status", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Show each step of a run: phase, attempt, duration and why it failed.",
            description = {"--json prints {runId, pipeline, executor, simulated, steps: {NAME: {phase, attempt, "
                    + "handle, startedAt, endedAt, exitCode, reason}}}; phase is pending, running, done or failed; "
                    + "every step has every field, null when not known (exitCode of a pending or running step)."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 shown, 3 no such run"})
    static final class Status implements Callable<Integer> {
        @Parameters(paramLabel = "RUN_ID")
        String runId;

        @Option(names = "--json", description = "Print the state as JSON.")
        boolean json;

        @Mixin
        RunsOption runs;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            print(RunState.load(runs.runDir(runId)), spec.commandLine().getOut(), json);
            return 0;
        }
    }

    /** {@code cloister pipeline fetch}. */
    @Command(name = "fetch", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Download, authenticate and decrypt every output of a finished run.",
            description = {"Writes OUTDIR/STEP/OUTPUT for every step's outputs and OUTDIR/STEP/stdout.txt and "
                    + "stderr.txt. Every file must authenticate under its key and be bound to the path its step "
                    + "wrote it at; nothing is written unless all of them do. Files already in OUTDIR are not "
                    + "replaced without --force; a failed fetch removes OUTDIR again if it created it."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 fetched, 1 an output failed authentication, 3 no such run, it is not finished or a file "
                    + "already in OUTDIR (without --force), 4 repository unreachable; with the owner's broker token "
                    + "(--token, --token-file or CLOISTER_KBS_TOKEN) also 1 when the broker's audit log shows a "
                    + "step's key released to an enclave bound to no record of that step"})
    static final class Fetch implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "RUN_ID")
        String runId;

        @Parameters(index = "1", paramLabel = "OUTDIR")
        Path outDir;

        @Option(names = "--json", description = "Print {runId, outputs: [{step, name, file, size, sha256}]} as JSON.")
        boolean json;

        @Option(names = "--force", description = "Replace files of the same names already in OUTDIR (without it, "
                + "an existing file is exit 3 and nothing is fetched).")
        boolean force;

        @Mixin
        RunsOption runs;

        @Mixin
        KeysOption keys;

        @Mixin
        ClientOptions client;

        @Option(names = "--namespace", paramLabel = "NS",
                description = "The owner's namespace in the broker (default: the one the run's keys are in).")
        String namespace;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Path dir = runs.runDir(runId);
            // With the owner's token, the broker's audit log is checked too, as 'job fetch' does.
            KbsBroker owner = null;
            if (client.hasToken()) {
                RunPlan plan = RunPlan.load(dir);
                String ns = namespace != null ? namespace
                        : plan.steps().values().iterator().next().logKey().split("/", 2)[0];
                owner = new KbsBroker(client.client(true, plan.broker()), ns);
            }
            KbsBroker broker = owner;
            List<ConfidentialRun.Fetched> got = withRepository(dir,
                    r -> ConfidentialRun.fetch(dir, r, outDir, keys.dir(), force, broker));
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                ObjectNode n = Json.object();
                n.put("runId", runId);
                ArrayNode a = n.putArray("outputs");
                got.forEach(f -> a.addObject().put("step", f.step()).put("name", f.name()).put("file", f.file().toString())
                        .put("size", f.size()).put("sha256", f.sha256()));
                Json.print(out, n);
            } else {
                got.forEach(f -> out.printf("%-12s %-10s %10d  sha256:%s  %s%n", f.step(), f.name(), f.size(), f.sha256(),
                        f.file()));
                out.flush();
            }
            return 0;
        }
    }

    /** {@code cloister pipeline logs}. */
    @Command(name = "logs", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Decrypt and print the stdout and stderr of a step's latest attempt.",
            description = {"For the owner: a step's program output is encrypted with the step's log key, which only "
                    + "the step's enclave and the owner hold. Works for failed steps too, as long as the program ran. "
                    + "stdout goes to stdout, stderr to stderr."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 printed, 1 a log failed authentication, 3 no such run or step, or no result for it"})
    static final class Logs implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "RUN_ID")
        String runId;

        @Parameters(index = "1", paramLabel = "STEP")
        String step;

        @Mixin
        RunsOption runs;

        @Mixin
        KeysOption keys;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Path dir = runs.runDir(runId);
            List<String> logs = withRepository(dir, r -> ConfidentialRun.logs(dir, r, step, keys.dir()));
            spec.commandLine().getOut().print(logs.get(0));
            spec.commandLine().getOut().flush();
            spec.commandLine().getErr().print(logs.get(1));
            spec.commandLine().getErr().flush();
            return 0;
        }
    }

    /** {@code cloister pipeline cancel}. */
    @Command(name = "cancel", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Stop a run's running steps (kill or scancel) and mark them failed.",
            footerHeading = "%nExit status:%n",
            footer = {"  0 cancelled, 3 no such run, 4 SLURM unavailable"})
    static final class Cancel implements Callable<Integer> {
        @Parameters(paramLabel = "RUN_ID")
        String runId;

        @Mixin
        RunsOption runs;

        @Mixin
        ExecutorOptions ex;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Path dir = runs.runDir(runId);
            RunState s = RunState.load(dir);
            RunState end = withRepository(dir, r -> new Orchestrator(ex.executor(s.executor()),
                    new ConfidentialSteps(dir, r, StepMain::command, null, null), 1, Duration.ofMillis(100),
                    Clock.systemUTC()).cancel(dir));
            print(end, spec.commandLine().getOut(), false);
            return 0;
        }
    }
}
