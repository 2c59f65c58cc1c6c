package dev.cloister.cli.job;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.bundle.Bundle;
import dev.cloister.cli.Json;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.job.KbsBroker;
import dev.cloister.runtime.job.OwnerJobs;
import dev.cloister.runtime.repo.Repositories;
import dev.cloister.runtime.repo.Repository;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cloister job}: the data owner's side of a confidential job. */
@Command(name = "job", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Submit confidential jobs and fetch their verified outputs (the data owner's side).",
        description = {"A job runs a bundle on private inputs on a machine you do not trust. 'submit' creates the "
                + "job key in the key broker under the job's policy, encrypts the inputs bound to the enclave paths, "
                + "and publishes ciphertext to the repository; a worker runs it ('cloister worker run'); 'fetch' "
                + "authenticates and decrypts the outputs. See docs/jobs.md."},
        subcommands = {JobCommand.Submit.class, JobCommand.Fetch.class, JobCommand.Manifest.class})
public final class JobCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing subcommand (submit, fetch, manifest)");
    }

    static Path defaultKeys() {
        return Path.of(System.getProperty("user.home"), ".cloister", "keys");
    }

    /** {@code cloister job submit}. */
    @Command(name = "submit", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Encrypt a job's inputs, store its key in the broker under its policy, and publish it.",
            description = {"Prints the job id. The job key stays in the broker and in --keys (mode 0600); the "
                    + "repository receives only ciphertext and a record with no secrets."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 submitted, 1 the broker refused, 3 bad job file, bundle or input, 4 broker or repository "
                    + "unreachable"})
    static final class Submit implements Callable<Integer> {
        @Parameters(paramLabel = "JOB.yaml", description = "The job file (docs/jobs.md).")
        Path file;

        @Option(names = "--repository", paramLabel = "LOCATION",
                description = "Folder, file:// or s3:// URL (default: the job file's 'repository').")
        String repository;

        @Option(names = "--keys", paramLabel = "DIR", description = "Where job keys are kept (default: ~/.cloister/keys).")
        Path keys;

        @Option(names = "--json", description = "Print {id, secret, measurement, inputs} as JSON.")
        boolean json;

        @Mixin
        BrokerOptions broker;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            JobSpec job = JobSpec.parse(Files.readAllBytes(file), file.toString());
            Path base = file.toAbsolutePath().getParent();
            if (job.bundle().path() == null) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        file + ": bundle.ref is not supported yet; give bundle.path");
            }
            Path bundleDir = base.resolve(job.bundle().path()).normalize();
            Bundle b = Bundle.open(bundleDir);
            String repo = repository != null ? repository : resolve(base, job.repository());
            try (Repository r = Repositories.open(repo)) {
                OwnerJobs owner = new OwnerJobs(r, new KbsBroker(broker.client(job.broker(), true), broker.namespace),
                        keys != null ? keys : defaultKeys());
                JobRecord rec = owner.submit(job, base, bundleDir, b.measurement());
                PrintWriter out = spec.commandLine().getOut();
                if (json) {
                    ObjectNode n = Json.object();
                    n.put("id", rec.id());
                    n.put("secret", rec.secret());
                    n.put("measurement", rec.measurement());
                    n.put("record", rec.hashHex());
                    ArrayNode in = n.putArray("inputs");
                    rec.inputs().forEach(i -> in.addObject().put("name", i.name()).put("path", i.path())
                            .put("object", i.object()).put("size", i.size()));
                    Json.print(out, n);
                } else {
                    out.println(rec.id());
                    out.flush();
                }
            }
            return 0;
        }
    }

    static String resolve(Path base, String repo) {
        if (repo == null || repo.contains("://")) {
            return repo;
        }
        return base.resolve(repo).normalize().toString();
    }

    /** {@code cloister job fetch}. */
    @Command(name = "fetch", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Download, authenticate and decrypt a finished job's outputs.",
            description = {"Each output must authenticate under the job key and be bound to its declared enclave "
                    + "path. All or nothing: every file is decrypted to a temporary file in OUTDIR first and renamed "
                    + "into place only when all authenticated, so a failure adds nothing to OUTDIR. Writes OUTDIR/NAME for each output plus stdout.txt and "
                    + "stderr.txt, and prints which measurement received the key (from the broker's audit log) "
                    + "when a broker token is available. With the broker's log key pinned (--log-key, or kbs-log-key "
                    + "next to the --ca certificate), those audit entries are also proven to be in the broker's "
                    + "signed log, which must extend the checkpoint kept from the last check; a failed proof is "
                    + "exit 1."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 fetched, 1 an output failed authentication, 3 unknown job, no result yet, an output "
                    + "missing or a file already in OUTDIR (without --force), 4 repository unreachable"})
    static final class Fetch implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "JOB_ID")
        String id;

        @Parameters(index = "1", paramLabel = "OUTDIR")
        Path outDir;

        @Option(names = "--repository", paramLabel = "LOCATION", required = true,
                description = "Folder, file:// or s3:// URL holding the job.")
        String repository;

        @Option(names = "--keys", paramLabel = "DIR", description = "Where job keys are kept (default: ~/.cloister/keys).")
        Path keys;

        @Option(names = "--json", description = "Print {id, measurement, record, outputs: [{name, file, size, sha256}], "
                + "releases} as JSON.")
        boolean json;

        @Option(names = "--force", description = "Replace files of the same names already in OUTDIR (without it, "
                + "an existing file is exit 3 and nothing is fetched).")
        boolean force;

        @Mixin
        BrokerOptions broker;

        @Mixin
        dev.cloister.cli.kbs.LogCheck log;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            try (Repository r = Repositories.openExisting(repository)) {
                OwnerJobs owner = new OwnerJobs(r, null, keys != null ? keys : defaultKeys());
                // The repository's record must be the one submitted (its hash was kept with the job key).
                JobRecord rec = owner.checkedRecord(id);
                // The broker's side first: a failed audit-log proof must leave OUTDIR untouched.
                List<String> history = List.of();
                dev.cloister.cli.kbs.LogCheck.Result logged = null;
                int proven = 0;
                if (broker.hasToken()) {
                    var c = broker.client(rec.broker(), true);
                    KbsBroker kb = new KbsBroker(c, broker.namespace);
                    history = kb.history(rec.secret());
                    // Every release of the key went to an enclave that ran exactly this record.
                    OwnerJobs.checkReleases(id, rec.hashHex(), history);
                    if (log.hasKey(broker.client)) {
                        logged = log.check(c, broker.client);
                        var cp = logged.checkpoint();
                        var v = logged.verifier();
                        proven = dev.cloister.cli.kbs.LogCheck.proof(() -> kb.provenHistory(rec.secret(), v, cp),
                                "the broker's audit log").size();
                    }
                }
                List<OwnerJobs.Fetched> got = owner.fetch(id, outDir, force);
                PrintWriter out = spec.commandLine().getOut();
                if (json) {
                    ObjectNode n = Json.object();
                    n.put("id", id);
                    n.put("measurement", rec.measurement());
                    n.put("record", rec.hashHex());
                    ArrayNode a = n.putArray("outputs");
                    got.forEach(f -> a.addObject().put("name", f.name()).put("file", f.file().toString())
                            .put("size", f.size()).put("sha256", f.sha256()));
                    history.forEach(n.putArray("releases")::add);
                    if (logged != null) {
                        n.putObject("auditLog").put("origin", logged.checkpoint().origin())
                                .put("size", logged.checkpoint().size()).put("proven", proven);
                    }
                    Json.print(out, n);
                } else {
                    got.forEach(f -> out.printf("%-10s %10d  sha256:%s  %s%n", f.name(), f.size(), f.sha256(), f.file()));
                    history.forEach(h -> out.println("broker: " + h));
                    if (logged != null) {
                        out.println("audit log: " + proven + " entries about this job's key proven in the broker's "
                                + "signed log (" + logged.checkpoint().size() + " entries, " + logged.checkpoint().origin()
                                + ")");
                    } else if (broker.hasToken()) {
                        out.println("audit log: not proven (no log key pinned: --log-key)");
                    }
                    out.flush();
                }
            }
            return 0;
        }
    }

    /** {@code cloister job manifest}. */
    @Command(name = "manifest", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Print the Gramine manifest a job will run under (to learn its MRENCLAVE before submitting).",
            description = {"Renders the job's final manifest exactly as 'cloister worker run' writes it for the "
                    + "gramine-sgx and gramine-direct backends: the bundle's manifest with the job's args appended to "
                    + "loader.argv and its env added to loader.env (both measured), encrypted mounts at /inputs and "
                    + "/outputs, and Gramine secret provisioning from the broker. On a machine with Gramine, "
                    + "'gramine-sgx-sign --manifest FILE --output FILE.sgx' prints the MRENCLAVE the job's policy "
                    + "should name. Nothing is contacted or encrypted. See docs/jobs.md."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 printed, 3 bad job file or a bundle that cannot run under Gramine (built without "
                    + "--broker-ca)"})
    static final class Manifest implements Callable<Integer> {
        @Parameters(paramLabel = "JOB.yaml", description = "The job file (docs/jobs.md).")
        Path file;

        @Option(names = "--out", paramLabel = "FILE", description = "Write the manifest here (atomically) instead "
                + "of to stdout.")
        Path out;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            JobSpec job = JobSpec.parse(Files.readAllBytes(file), file.toString());
            if (job.bundle().path() == null) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        file + ": bundle.ref is not supported yet; give bundle.path");
            }
            Bundle b = Bundle.open(file.toAbsolutePath().getParent().resolve(job.bundle().path()).normalize());
            byte[] manifest = dev.cloister.runtime.gramine.GramineManifest.render(b.spec(), job.args(), job.env());
            if (out != null) {
                dev.cloister.core.AtomicFiles.writeBytes(out, true, manifest);
            } else {
                PrintWriter w = spec.commandLine().getOut();
                w.print(new String(manifest, java.nio.charset.StandardCharsets.UTF_8));
                w.flush();
            }
            return 0;
        }
    }
}
