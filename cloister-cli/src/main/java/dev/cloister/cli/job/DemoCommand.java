package dev.cloister.cli.job;

import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.LocalBroker;
import dev.cloister.runtime.enclave.LauncherMain;
import dev.cloister.runtime.enclave.SimEnclave;
import dev.cloister.runtime.gramine.GramineLaunch;
import dev.cloister.runtime.gramine.GramineRunner;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.job.KbsBroker;
import dev.cloister.runtime.job.OwnerJobs;
import dev.cloister.runtime.repo.LocalRepository;
import dev.cloister.runtime.repo.Repository;
import dev.cloister.runtime.sandbox.Sandbox;
import dev.cloister.runtime.sandbox.UnshareSandbox;
import dev.cloister.runtime.worker.Worker;
import dev.cloister.runtime.worker.WorkerBundles;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code cloister demo}: the whole confidential-job story on this machine, with embedded defaults: a bundle of
 * the machine's own python3 running an analysis script, a key broker on loopback (SQLite), a local repository,
 * synthetic private inputs, a job in the simulated enclave, and the owner's verified outputs.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Run the whole confidential-job flow on this machine, end to end, and report what happened.",
        description = {"Builds a bundle of this machine's unmodified python3 with an analysis script, starts a key "
                + "broker on 127.0.0.1 (SQLite, self-signed TLS), encrypts synthetic private patient records, runs the "
                + "job in the 'sim' backend (bubblewrap sandboxes stand in for the enclave) or, with --backend "
                + "gramine-direct, under real Gramine without SGX, fetches and decrypts the "
                + "outputs, and prints the measurement, the attestation verdict, the broker's key releases and the "
                + "output digests. Everything is kept under --dir for you to inspect.",
                "",
                "The evidence is SIMULATED: this machine has no SGX, and simulation isolates the program but does not "
                        + "protect its memory. The policy says SIM:ALLOW explicitly; no other policy accepts it."},
        footerHeading = "%nExit status:%n",
        footer = {"  0 the job ran and its outputs verified, 1 a verdict said no, 4 python3 missing, or neither "
                + "bubblewrap nor util-linux unshare can create namespaces here (sim), or gramine-direct is not on PATH"})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--dir", paramLabel = "DIR",
            description = "Where to keep the demo's files (default: a new folder under the system temp directory).")
    Path dir;

    @Option(names = "--backend", paramLabel = "NAME", defaultValue = "sim",
            description = "sim (default: bubblewrap sandboxes stand in for the enclave) or gramine-direct (real Gramine "
                    + "without SGX: build it first with scripts/gramine-local and put its bin/ on PATH).")
    String backend;

    @Option(names = "--records", paramLabel = "N", defaultValue = "2000",
            description = "How many synthetic patient records to encrypt (default: ${DEFAULT-VALUE}).")
    int records;

    @Spec
    CommandSpec spec;

    static final String SCRIPT = """
            #!/usr/bin/python3
            import csv, json, statistics, sys
            groups = {}
            with open(sys.argv[1], newline="") as f:
                for row in csv.DictReader(f):
                    groups.setdefault(row["group"], []).append(float(row["ldl"]))
            summary = {g: {"n": len(v), "mean": round(statistics.fmean(v), 3), "stdev": round(statistics.stdev(v), 3)}
                       for g, v in sorted(groups.items())}
            with open(sys.argv[2], "w") as out:
                json.dump(summary, out, indent=1, sort_keys=True)
                out.write("\\n")
            print("analysed", sum(s["n"] for s in summary.values()), "records in", len(summary), "groups")
            """;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        long t0 = System.nanoTime();
        Path python = Path.of("/usr/bin/python3");
        if (!Files.isExecutable(python)) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "the demo runs this machine's python3, and /usr/bin/python3 is missing (apt-get install python3)");
        }
        boolean gramine = backend.equals("gramine-direct");
        if (!gramine && !backend.equals("sim")) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "--backend must be sim or gramine-direct, not '"
                    + backend + "'");
        }
        Sandbox.Detection sandbox = null;
        if (gramine) {
            GramineLaunch.requireInstalled(backend, System.getenv("PATH")); // exit 4 naming scripts/gramine-local
        } else {
            sandbox = Sandbox.detect(); // exit 4 when neither bubblewrap nor unshare works here
        }
        Path home = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("cloister-demo-");
        Step step = new Step(err, t0);
        if (sandbox != null && sandbox.sandbox() instanceof UnshareSandbox) {
            step.say(sandbox.note());
        }

        step.say("vendor: building a bundle of " + python + " with an analysis script");
        Path app = Files.createDirectories(home.resolve("vendor/app"));
        Files.writeString(app.resolve("stats.py"), SCRIPT);
        Files.setPosixFilePermissions(app.resolve("stats.py"), PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> stdlib = stdlibFiles(python);
        Bundle bundle = Bundle.open(BundleBuilder.build(BuildOptions.dir(app, "stats.py").withIncludes(stdlib)
                .withName("stats", "1.0"), home.resolve("vendor/bundle"), false).dir());
        step.say("vendor: bundle " + bundle.name() + " " + bundle.version() + ", " + bundle.files().size()
                + " files, measurement " + bundle.measurement());

        step.say("broker: starting on 127.0.0.1 (SQLite " + home.resolve("broker/kbs.db") + ", self-signed TLS)");
        try (LocalBroker local = LocalBroker.start(home.resolve("broker"), "demo")) {
            URI base = local.url();
            KbsBroker ownerBroker = new KbsBroker(local.owner(), "demo");

            step.say("owner: writing " + records + " synthetic private patient records");
            Path owner = Files.createDirectories(home.resolve("owner"));
            Files.writeString(owner.resolve("patients.csv"), patients(records));
            String policy = "E:" + bundle.measurement() + " SIM:ALLOW";
            String job = """
                    name: ldl-stats
                    bundle:
                      path: ../vendor/bundle
                      policy: "%s"
                    inputs:
                      - {name: patients, file: patients.csv, path: /inputs/patients.csv}
                    outputs:
                      - {name: summary, path: /outputs/summary.json}
                    args: ["/inputs/patients.csv", "/outputs/summary.json"]
                    backend: %s
                    broker: %s
                    repository: ../repository
                    """.formatted(policy, backend, base);
            Files.writeString(owner.resolve("job.yaml"), job);
            JobSpec js = JobSpec.parse(job.getBytes(StandardCharsets.UTF_8), owner.resolve("job.yaml").toString());
            try (Repository repo = LocalRepository.open(Files.createDirectories(home.resolve("repository")))) {
                OwnerJobs jobs = new OwnerJobs(repo, ownerBroker, owner.resolve("keys"));
                step.say("owner: encrypting inputs, storing the job key in the broker under policy '" + policy + "'");
                JobRecord rec = jobs.submit(js, owner, bundle.dir(), bundle.measurement());
                step.say("owner: submitted job " + rec.id());

                step.say("worker: running the job in the " + backend + " backend [SIMULATED "
                        + (gramine ? "attestation, real Gramine without SGX]" : "enclave]"));
                Worker worker = gramine
                        ? new Worker(repo, new KbsBroker(local.anonymous(), "demo"), WorkerBundles::open, null,
                                new GramineRunner(System.getenv("PATH"), null, null, l -> step.say("worker: gramine: " + l)))
                        : new Worker(repo, new KbsBroker(local.anonymous(), "demo"),
                                WorkerBundles::open, new SimEnclave(LauncherMain.class.getName(), sandbox.sandbox()));
                Path work = Files.createDirectories(home.resolve("worker"));
                JobResult res = worker.run(rec.id(), null, work, p -> step.say("worker: enclave "
                        + p.path("stage").asText() + " [SIMULATED]"));
                step.say("worker: published " + res.outputs().size() + " encrypted output(s)");

                step.say("owner: fetching, authenticating and decrypting the outputs");
                List<OwnerJobs.Fetched> got = jobs.fetch(rec.id(), owner.resolve("results"));
                List<String> releases = ownerBroker.history(rec.secret());
                // The owner checks the broker's records against its signed log, with the log key pinned from the
                // broker's operator (here: the broker's own process, on this machine).
                var log = new dev.cloister.kbs.AuditLogVerifier(
                        dev.cloister.kbs.tlog.NoteVerifier.parse(local.store().logVerifierKey()));
                var checkpoint = log.checkpoint(local.owner().auditCheckpoint());
                int proven = log.proveVisible(local.owner(), checkpoint).size();
                String direct = directRun(python, app.resolve("stats.py"), owner.resolve("patients.csv"), home);
                String enclaveOut = Files.readString(owner.resolve("results/summary"));

                out.println();
                out.println("Cloister demo: a confidential job, end to end (" + secs(t0) + " s)");
                out.println("  bundle       " + bundle.name() + " " + bundle.version() + " (" + python
                        + ", unmodified), measurement " + bundle.measurement());
                out.println("  attestation  SIMULATED: SGX quote from the Cloister simulation root, accepted only "
                        + "because the policy says SIM:ALLOW; no hardware protection");
                if (gramine) {
                    out.println("  gramine      the bundle ran under gramine-direct (Gramine 1.9 without SGX): Gramine "
                            + "checked every file's hash and its encrypted mounts read the input and wrote the output");
                }
                for (String r : releases) {
                    out.println("  broker log   " + r);
                }
                out.println("  audit log    " + proven + " entries of namespace demo proven in the broker's signed "
                        + "checkpoint (" + checkpoint.size() + " entries, log " + checkpoint.origin() + ")");
                out.println("  program      exit " + res.programExit() + (res.stdout() == null
                        ? " (under Gramine its stdout went to the worker's console, above)"
                        : ", stdout: " + Files.readString(owner.resolve("results/stdout.txt")).strip()));
                for (OwnerJobs.Fetched f : got) {
                    out.printf("  output       %-8s %7d bytes  sha256:%s%n", f.name(), f.size(), f.sha256());
                }
                out.println("  check        outputs " + (direct.equals(enclaveOut) ? "equal" : "DIFFER FROM")
                        + " a direct run of the same program on the plaintext");
                out.println("  files        " + home + " (owner/, vendor/, broker/, repository/ holds only "
                        + "ciphertext)");
                out.flush();
                return direct.equals(enclaveOut) && res.programExit() == 0 ? 0 : 70;
            }
        }
    }

    /** The standard-library files the script imports, found by importing the same modules here (no data read). */
    static List<String> stdlibFiles(Path python) throws IOException, InterruptedException, CloisterException {
        Process p = new ProcessBuilder(python.toString(), "-c", """
                import sys, csv, json, statistics
                for m in list(sys.modules.values()):
                    f = getattr(m, "__file__", None)
                    if f and f.startswith(sys.base_prefix + "/lib/python3"):
                        print(f)
                """).redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT, "python3 cannot import csv, json and "
                    + "statistics: " + text.lines().findFirst().orElse(""));
        }
        return text.lines().distinct().sorted().toList();
    }

    static String patients(int n) {
        Random r = new Random(20261127);
        StringBuilder sb = new StringBuilder("id,group,ldl\n");
        String[] groups = {"placebo", "statin-10mg", "statin-40mg"};
        double[] means = {3.9, 3.1, 2.4};
        for (int i = 0; i < n; i++) {
            int g = i % 3;
            sb.append(i + 1).append(',').append(groups[g]).append(',')
                    .append(String.format(java.util.Locale.ROOT, "%.2f", means[g] + r.nextGaussian() * 0.6)).append('\n');
        }
        return sb.toString();
    }

    private static String directRun(Path python, Path script, Path input, Path home)
            throws IOException, InterruptedException {
        Path outFile = home.resolve("owner/direct-summary.json");
        Process p = new ProcessBuilder(python.toString(), script.toString(), input.toString(), outFile.toString())
                .redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        p.waitFor(60, TimeUnit.SECONDS);
        return Files.exists(outFile) ? Files.readString(outFile) : "";
    }

    private static String secs(long t0) {
        return String.format(java.util.Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9);
    }

    /** Progress lines on stderr, each with the elapsed time. */
    private record Step(PrintWriter err, long t0) {
        void say(String s) {
            err.println("[" + secs(t0) + "s] " + s);
            err.flush();
        }
    }
}
