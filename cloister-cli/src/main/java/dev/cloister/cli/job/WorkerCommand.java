package dev.cloister.cli.job;

import dev.cloister.cli.Json;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.enclave.LauncherMain;
import dev.cloister.runtime.enclave.SimEnclave;
import dev.cloister.runtime.gramine.GramineLaunch;
import dev.cloister.runtime.gramine.GramineRunner;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.KbsBroker;
import dev.cloister.runtime.repo.Repositories;
import dev.cloister.runtime.repo.Repository;
import dev.cloister.runtime.sandbox.Sandbox;
import dev.cloister.runtime.worker.Worker;
import dev.cloister.runtime.worker.WorkerBundles;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cloister worker}: the untrusted machine's side of a confidential job. */
@Command(name = "worker", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        header = "Run submitted jobs on this machine (which only ever sees ciphertext).",
        subcommands = {WorkerCommand.Run.class})
public final class WorkerCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing subcommand (run)");
    }

    /** {@code cloister worker run}. */
    @Command(name = "run", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
            header = "Run one job in an enclave and publish its encrypted outputs.",
            description = {"Backend 'sim' (this machine has no SGX): an outer bubblewrap sandbox without network "
                    + "stands in for the enclave; inside it the launcher measures the bundle, obtains the job key from "
                    + "the broker with SIMULATED evidence (relayed by this worker), decrypts the inputs into memory, "
                    + "runs the program in a nested sandbox that sees only the bundle's files, and encrypts the "
                    + "outputs. Simulation isolates; it does not protect memory. A run killed at any point publishes "
                    + "nothing and can be run again.",
                    "",
                    "Backends 'gramine-sgx' and 'gramine-direct' (an SGX host with Gramine 1.9): the worker writes the "
                    + "job's final manifest (the bundle's, with the job's arguments and environment, which are "
                    + "measured, and encrypted mounts at /inputs and /outputs), lays out the encrypted inputs, signs "
                    + "the manifest with gramine-sgx-sign and starts gramine-sgx (or gramine-direct, which has no "
                    + "attestation and is for debugging manifests). Inside the enclave Gramine's secret-provisioning "
                    + "library gets the job key from the broker's RA-TLS endpoint (--secret-provisioning). Gramine "
                    + "passes the program's console to this host unencrypted; the worker prints it on stderr and "
                    + "publishes only the encrypted outputs. See docs/jobs.md, 'Running on an SGX host'."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 ran (the program's own exit status is in the result), 1 the broker refused the key or an "
                    + "input failed authentication, 3 unknown job or object, no such repository folder, 4 broker "
                    + "unreachable, bubblewrap or Gramine missing, or the program was killed (nothing published)"})
    static final class Run implements Callable<Integer> {
        @Parameters(paramLabel = "JOB_ID")
        String id;

        @Option(names = "--repository", paramLabel = "LOCATION", required = true,
                description = "Folder, file:// or s3:// URL holding the job.")
        String repository;

        @Option(names = "--work", paramLabel = "DIR",
                description = "Scratch folder for ciphertext (default: a fresh temporary folder, removed after).")
        Path work;

        @Option(names = "--json", description = "Print the result record as JSON.")
        boolean json;

        @Option(names = "--backend", paramLabel = "NAME",
                description = "Run under this backend instead of the job's: sim, gramine-sgx or gramine-direct. The "
                        + "broker's policy for the job key still decides whether the enclave gets the key.")
        String backend;

        @Option(names = "--secret-provisioning", paramLabel = "HOST:PORT",
                description = "Gramine backends: the broker's RA-TLS secret-provisioning endpoint (its "
                        + "--gramine-listen), passed to the enclave as SECRET_PROVISION_SERVERS unless the bundle "
                        + "fixes it. The host must match the broker certificate's name.")
        String secretProvisioning;

        @Option(names = "--signing-key", paramLabel = "PEM",
                description = "gramine-sgx: the enclave signing key for gramine-sgx-sign (default: Gramine's, "
                        + "~/.config/gramine/enclave-key.pem).")
        Path signingKey;

        @Mixin
        BrokerOptions broker;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter err = spec.commandLine().getErr();
            if (backend != null && !dev.cloister.runtime.job.JobSpec.BACKENDS.contains(backend)) {
                throw new ParameterException(spec.commandLine(), "--backend must be one of sim, gramine-sgx, "
                        + "gramine-direct, not '" + backend + "'");
            }
            // Opening must not create: a mistyped repository folder fails instead of becoming an empty repository.
            try (Repository r = Repositories.openExisting(repository)) {
                JobRecord rec = JobRecord.parse(r.getRef(JobRecord.ref(id)).orElseThrow(() ->
                        new CloisterException(CloisterException.Kind.BAD_INPUT, "no job " + id + " in " + repository)), id);
                String use = backend != null ? backend : rec.backend();
                boolean sim = "sim".equals(use);
                SimEnclave enclave = null;
                if (sim) {
                    // bubblewrap, or util-linux unshare where bubblewrap is missing (said on stderr); neither: exit 4
                    Sandbox.Detection sandbox = Sandbox.detect();
                    if (sandbox.sandbox() instanceof dev.cloister.runtime.sandbox.UnshareSandbox) {
                        err.println("worker: " + sandbox.note());
                    }
                    enclave = new SimEnclave(LauncherMain.class.getName(), sandbox.sandbox());
                } else {
                    // Before any folder is made or object downloaded: no Gramine here means exit 4 and no traces.
                    GramineLaunch.requireInstalled(use, System.getenv("PATH"));
                }
                GramineRunner gramine = new GramineRunner(System.getenv("PATH"), secretProvisioning, signingKey, line -> {
                    err.println("gramine: " + line);
                    err.flush();
                });
                Worker w = new Worker(r, new KbsBroker(broker.client(rec.broker(), false), broker.namespace),
                        WorkerBundles::open, enclave, gramine);
                Path dir = work != null ? Files.createDirectories(work) : Files.createTempDirectory("cloister-worker-");
                JobResult res;
                try {
                    res = w.run(id, use, dir, p -> {
                        err.println("worker: enclave " + p.path("stage").asText() + " [SIMULATED]");
                        err.flush();
                    });
                } finally {
                    if (work == null) {
                        dev.cloister.core.AtomicFiles.deleteTree(dir);
                    }
                }
                PrintWriter out = spec.commandLine().getOut();
                if (json) {
                    Json.print(out, Json.mapper().readTree(res.toBytes()));
                } else {
                    out.println("job " + id + ": program exited " + res.programExit() + ", " + res.outputs().size()
                            + " encrypted output(s) published" + (res.missing().isEmpty() ? ""
                            : ", missing " + String.join(", ", res.missing()))
                            + (res.simulated() ? " [SIMULATED: " + res.backend() + "]" : " [" + res.backend() + "]"));
                    out.flush();
                }
            }
            return 0;
        }
    }

}
