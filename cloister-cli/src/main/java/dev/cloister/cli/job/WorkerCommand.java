package dev.cloister.cli.job;

import dev.cloister.cli.Json;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.enclave.LauncherMain;
import dev.cloister.runtime.enclave.SimEnclave;
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
                    + "nothing and can be run again."},
            footerHeading = "%nExit status:%n",
            footer = {"  0 ran (the program's own exit status is in the result), 1 the broker refused the key or an "
                    + "input failed authentication, 3 unknown job or object, 4 broker unreachable, bubblewrap or "
                    + "Gramine missing"})
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

        @Mixin
        BrokerOptions broker;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            // bubblewrap, or util-linux unshare where bubblewrap is missing (said on stderr); neither: exit 4
            Sandbox.Detection sandbox = Sandbox.detect();
            PrintWriter err = spec.commandLine().getErr();
            if (sandbox.sandbox() instanceof dev.cloister.runtime.sandbox.UnshareSandbox) {
                err.println("worker: " + sandbox.note());
            }
            try (Repository r = Repositories.open(repository)) {
                JobRecord rec = JobRecord.parse(r.getRef(JobRecord.ref(id)).orElseThrow(() ->
                        new CloisterException(CloisterException.Kind.BAD_INPUT, "no job " + id + " in " + repository)), id);
                Worker w = new Worker(r, new KbsBroker(broker.client(rec.broker(), false), broker.namespace),
                        WorkerBundles::open, new SimEnclave(LauncherMain.class.getName(), sandbox.sandbox()));
                Path dir = work != null ? Files.createDirectories(work) : Files.createTempDirectory("cloister-worker-");
                JobResult res;
                try {
                    res = w.run(id, dir, p -> {
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
                            : ", missing " + String.join(", ", res.missing())) + " [SIMULATED]");
                    out.flush();
                }
            }
            return 0;
        }
    }

}
