package dev.cloister.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.cloister.core.AotCache;
import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.Tls;
import dev.cloister.runtime.enclave.LauncherMain;
import dev.cloister.runtime.enclave.SimEnclave;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.Broker;
import dev.cloister.runtime.job.KbsBroker;
import dev.cloister.runtime.repo.Repositories;
import dev.cloister.runtime.repo.Repository;
import dev.cloister.runtime.sandbox.Sandbox;
import dev.cloister.runtime.worker.Worker;
import dev.cloister.runtime.worker.WorkerBundles;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * The process that runs one pipeline step on a worker machine (started by the local executor or by a SLURM
 * batch job): a worker for the step's job, which writes a one-line account of each stage to its log and, as its
 * last line on failure, why it failed. Needs only the job id, the repository and the broker's URL and
 * certificate; it holds no token and never sees a key or plaintext.
 *
 * <p>Exit status: 0 the program ran and every output was published; 1 the broker refused a key or an input failed
 * authentication; 3 unknown job or object; 4 broker, repository or sandbox missing; 5 the program failed (exit
 * status non-zero, or an output missing).
 */
public final class StepMain {
    /** Exit status of a step whose program failed. */
    public static final int PROGRAM_FAILED = 5;

    private StepMain() {}

    /**
     * The command that runs this class with the current JVM and class path (what the executors start). Call it once
     * per step: the first step on a machine may be the one that records the JVMs' class cache ({@link AotCache}).
     */
    public static List<String> command() {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // A short-lived JVM: the C1 compiler and a serial collector start fastest (a step worker moves ciphertext,
        // it does no bulk crypto). Class loading is most of the rest, hence the class cache.
        List<String> flags = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "--enable-native-access=ALL-UNNAMED");
        List<String> cmd = new ArrayList<>(List.of(java));
        cmd.addAll(flags);
        AotCache.forThisJvm().ifPresent(c -> cmd.addAll(c.use("step", flags).options()));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), StepMain.class.getName()));
        return List.copyOf(cmd);
    }

    public static void main(String[] args) {
        Instant started = Instant.now();
        int code;
        try {
            code = run(args, started);
        } catch (CloisterException e) {
            System.err.println("step failed: " + e.getMessage());
            code = switch (e.kind()) {
                case DENIED -> 1;
                case BAD_INPUT -> 3;
                default -> 4;
            };
        } catch (IOException e) {
            System.err.println("step failed: " + e);
            code = 4;
        } catch (IllegalArgumentException e) {
            System.err.println("step failed: usage: " + e.getMessage());
            code = 2;
        } catch (InterruptedException e) {
            System.err.println("step failed: interrupted");
            code = 4;
        }
        AotCache.Recording.finishIfRecording();
        System.exit(code);
    }

    private static int run(String[] args, Instant started) throws CloisterException, IOException, InterruptedException {
        String id = null;
        String repository = null;
        String broker = null;
        Path ca = null;
        Path work = null;
        Path timing = null;
        String runId = null;
        String step = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                if (id != null) {
                    throw new IllegalArgumentException("unexpected argument " + a);
                }
                id = a;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(a + " needs a value");
            }
            String v = args[++i];
            switch (a) {
                case "--repository" -> repository = v;
                case "--broker" -> broker = v;
                case "--ca" -> ca = Path.of(v);
                case "--work" -> work = Path.of(v);
                case "--timing" -> timing = Path.of(v);
                case "--run" -> runId = v;
                case "--step" -> step = v;
                default -> throw new IllegalArgumentException("unknown option " + a);
            }
        }
        if (id == null || repository == null || broker == null || work == null) {
            throw new IllegalArgumentException("StepMain JOB_ID --repository LOC --broker URL --work DIR [--ca PEM] "
                    + "[--timing FILE] [--run RUN_ID --step STEP]");
        }
        log(started, "step " + id + ": worker started");
        // The TLS context and the first connection to the broker are made on another thread while this one detects
        // the sandbox, reads the job and starts the enclave; the first nonce request waits for them.
        Broker kbs = new ConnectingBroker(URI.create(broker), ca);
        Sandbox.Detection sandbox = Sandbox.detect();
        if (sandbox.sandbox() instanceof dev.cloister.runtime.sandbox.UnshareSandbox) {
            log(Instant.now(), sandbox.note());
        }
        ObjectNode stages = JsonMapper.builder().build().createObjectNode();
        stages.put("workerStarted", started.toString());
        JobResult res;
        try (Repository repo = Repositories.open(repository)) {
            Worker w = new Worker(repo, kbs, WorkerBundles::describe,
                    new SimEnclave(LauncherMain.class.getName(), sandbox.sandbox()),
                    new dev.cloister.runtime.gramine.GramineRunner(System.getenv("PATH"), null, null,
                            line -> log(Instant.now(), "gramine: " + line)));
            Files.createDirectories(work);
            try {
                res = w.run(id, work, p -> {
                    Instant now = Instant.now();
                    stages.put(p.path("stage").asText().replace(' ', '_'), now.toString());
                    log(now, "enclave " + p.path("stage").asText() + " [SIMULATED]");
                });
            } finally {
                AtomicFiles.deleteTree(work);
            }
        }
        stages.put("published", Instant.now().toString());
        if (timing != null) {
            AtomicFiles.writeBytes(timing, true, stages.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        if (res.programExit() != 0 || !res.missing().isEmpty()) {
            List<String> why = new ArrayList<>();
            if (res.programExit() != 0) {
                why.add("the program exited with status " + res.programExit());
            }
            if (!res.missing().isEmpty()) {
                why.add("it did not write " + String.join(", ", res.missing()));
            }
            // the command with this run's id and step, ready to paste (a job started without them names the job)
            String logs = runId != null && step != null ? "'cloister pipeline logs " + runId + " " + step + "'"
                    : "'cloister pipeline logs' (job " + id + ")";
            System.err.println("step failed: " + String.join(" and ", why)
                    + "; its owner can read its output with " + logs);
            return PROGRAM_FAILED;
        }
        log(Instant.now(), "step " + id + ": " + res.outputs().size() + " encrypted output(s) published [SIMULATED]");
        return 0;
    }

    /** A broker whose TLS context and first connection are made on a thread of their own; calls wait for them. */
    private static final class ConnectingBroker implements Broker {
        private final CompletableFuture<KbsBroker> ready = new CompletableFuture<>();

        ConnectingBroker(URI url, Path ca) {
            Thread.ofPlatform().daemon().name("cloister-broker-connect").start(() -> {
                try {
                    KbsClient c = new KbsClient(url, null,
                            ca == null ? defaultContext() : Tls.clientContextTrusting(Tls.readCertificates(ca)));
                    try {
                        c.call("GET", "/v1/health", null);
                    } catch (CloisterException e) {
                        // Only the handshake mattered; the real requests report an unreachable broker themselves.
                    }
                    ready.complete(new KbsBroker(c, ""));
                } catch (Throwable e) {
                    ready.completeExceptionally(e);
                }
            });
        }

        private KbsBroker get() throws CloisterException, IOException {
            try {
                return ready.get();
            } catch (ExecutionException e) {
                Throwable c = e.getCause();
                if (c instanceof CloisterException ce) {
                    throw ce;
                }
                if (c instanceof IOException io) {
                    throw io;
                }
                throw new IOException("cannot set up the connection to the broker: " + c, c);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while connecting to the broker");
            }
        }

        @Override
        public void createJobKey(String secret, byte[] key, String policy) throws CloisterException, IOException {
            get().createJobKey(secret, key, policy);
        }

        @Override
        public void setPolicy(String qualifiedSecret, String policy) throws CloisterException, IOException {
            get().setPolicy(qualifiedSecret, policy);
        }

        @Override
        public String qualify(String secret) {
            return "/" + secret; // as the KbsBroker it wraps, which has no namespace (job records hold full names)
        }

        @Override
        public String nonce() throws CloisterException, IOException {
            return get().nonce();
        }

        @Override
        public JsonNode release(JsonNode request) throws CloisterException, IOException {
            return get().release(request);
        }

        @Override
        public List<String> history(String qualifiedSecret) throws CloisterException, IOException {
            return get().history(qualifiedSecret);
        }
    }

    private static javax.net.ssl.SSLContext defaultContext() throws IOException {
        try {
            return javax.net.ssl.SSLContext.getDefault();
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IOException("no default TLS context", e);
        }
    }

    private static void log(Instant at, String line) {
        System.err.println(at + " " + line);
        System.err.flush();
    }
}
