package dev.cloister.runtime.enclave;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.core.AotCache;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.sandbox.Sandbox;
import dev.cloister.runtime.sandbox.UnshareSandbox;
import dev.cloister.runtime.sandbox.SandboxSpec;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The worker's side of the simulation backend: an outer bubblewrap sandbox stands in for the enclave. Inside it
 * run the launcher (this JVM's own classes, read-only) and, in a nested sandbox, the program. The outer sandbox
 * has no network and no view of the host except read-only /usr and the JDK; it sees the bundle, the encrypted
 * inputs, a folder for encrypted outputs, and a private tmpfs that holds every plaintext. The worker relays the
 * launcher's broker requests over the launcher's stdin and stdout.
 *
 * <p>This isolates files, processes and network; it does not encrypt memory or attest hardware, and everything
 * it reports is labelled simulated.
 */
public final class SimEnclave {
    /** Where the outer sandbox sees its pieces. */
    public static final String ROOT = "/cloister/root";
    public static final String IN = "/cloister/in";
    public static final String OUT = "/cloister/out";
    public static final String MEMORY = "/run/enclave";

    /** Handles a launcher's request to the outside world (a broker release), returning the reply body. */
    @FunctionalInterface
    public interface Relay {
        JsonNode handle(String op, JsonNode body) throws CloisterException;
    }

    /**
     * How a run ended.
     *
     * @param launcherExit the launcher's exit code (0, or the exit code of the failure kind)
     * @param done the launcher's final report, or null if it failed before the end
     * @param error the launcher's one-line error, or null
     */
    public record Outcome(int launcherExit, JsonNode done, String error) {}

    private final String launcherMainClass;
    private final Sandbox sandbox;
    private final SimulatedQuotingEnclave quotingEnclave;

    /**
     * @param launcherMainClass the class whose main runs {@link EnclaveLauncher} on the plan it asks the host for
     * @param sandbox bubblewrap, or util-linux unshare where bubblewrap is missing ({@link Sandbox#detect()})
     */
    public SimEnclave(String launcherMainClass, Sandbox sandbox) {
        this(launcherMainClass, sandbox, Clock.systemUTC());
    }

    /**
     * @param clock the time the simulated quoting enclave puts in the collateral it signs
     */
    public SimEnclave(String launcherMainClass, Sandbox sandbox, Clock clock) {
        this.launcherMainClass = launcherMainClass;
        this.sandbox = sandbox;
        this.quotingEnclave = new SimulatedQuotingEnclave(clock); // starts warming up now, while the host prepares
    }

    /** The plan's name for this enclave's sandbox tool, which the launcher also uses for the program. */
    public String sandboxName() {
        return sandbox instanceof UnshareSandbox ? "unshare" : "bubblewrap";
    }

    /** Makes the enclave's plan; runs on the host while the launcher is starting. */
    @FunctionalInterface
    public interface PlanMaker {
        EnclavePlan make() throws CloisterException, IOException;
    }

    /**
     * Runs a plan (whose paths are the in-sandbox ones above) to the end.
     *
     * @param root the bundle's program root on the host
     * @param inDir the folder of encrypted inputs on the host
     * @param outDir the folder that receives encrypted outputs
     * @param work a private folder for the launcher's log
     */
    public Outcome run(EnclavePlan plan, Path root, Path inDir, Path outDir, Path work, Relay relay,
            Consumer<JsonNode> progress) throws IOException, InterruptedException, CloisterException {
        return run(() -> plan, root, inDir, outDir, work, relay, progress);
    }

    /**
     * Starts the enclave first and makes its plan while the launcher's JVM starts (fetching broker nonces and
     * input ciphertexts takes about as long as starting a JVM); the launcher asks for the plan over the channel.
     * If making the plan fails, the launcher is stopped and the failure is thrown.
     *
     * @param plan makes the plan; {@code inDir} must hold every input the plan names once it returns
     */
    public Outcome run(PlanMaker plan, Path root, Path inDir, Path outDir, Path work, Relay relay,
            Consumer<JsonNode> progress) throws IOException, InterruptedException, CloisterException {
        Path log = work.resolve("launcher.log");
        AotCache.Use aot = AotCache.forThisJvm().map(c -> c.use("launcher", LAUNCHER_JVM)).orElse(AotCache.Use.NONE);
        ProcessBuilder pb = new ProcessBuilder(sandbox.commandLine(outerSpec(root, inDir, outDir, aot)));
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        pb.redirectError(log.toFile());
        progress.accept(HostChannel.object().put("stage", "sandbox starting"));
        Process p = pb.start();
        JsonNode planJson;
        try {
            planJson = HostChannel.json().readTree(plan.make().toBytes());
        } catch (CloisterException | IOException | RuntimeException e) {
            p.destroyForcibly();
            p.waitFor();
            aot.recording().ifPresent(r -> r.createAfterExit(p.pid()));
            throw e;
        }
        progress.accept(HostChannel.object().put("stage", "plan ready"));
        JsonNode done = null;
        try (BufferedReader from = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                OutputStream toRaw = p.getOutputStream(); PrintStream to = new PrintStream(toRaw, true, StandardCharsets.UTF_8)) {
            String line;
            while ((line = from.readLine()) != null) {
                JsonNode m;
                try {
                    m = HostChannel.json().readTree(line);
                } catch (IOException e) {
                    continue; // not a channel message; the launcher writes nothing else, so ignore rather than trust it
                }
                String op = m.path("op").asText("");
                JsonNode body = m.path("body");
                switch (op) {
                    case "plan" -> to.println(reply((o, b) -> planJson, op, body));
                    case "progress" -> progress.accept(body);
                    case "done" -> done = body;
                    case "quote" -> to.println(reply((o, b) -> quotingEnclave.quote(b), op, body));
                    default -> to.println(reply(relay, op, body));
                }
            }
        } finally {
            if (!p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
        int exit = p.waitFor();
        aot.recording().ifPresent(r -> r.createAfterExit(p.pid()));
        String error = null;
        if (exit != 0) {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            // The launcher's own one-line error if it wrote one, else the first line (a JVM or sandbox failure).
            error = lines.stream().filter(l -> l.startsWith("launcher: ")).reduce((a, b) -> b)
                    .map(l -> l.substring("launcher: ".length()))
                    .orElse(lines.isEmpty() ? "launcher exited with " + exit : lines.getFirst());
        }
        return new Outcome(exit, done, error);
    }

    private static ObjectNode reply(Relay relay, String op, JsonNode body) {
        ObjectNode r = HostChannel.object();
        try {
            r.put("ok", true);
            r.set("body", relay.handle(op, body));
        } catch (CloisterException e) {
            r.removeAll();
            r.put("ok", false).put("kind", e.kind().name()).put("error", e.getMessage());
        } catch (RuntimeException e) {
            r.removeAll();
            r.put("ok", false).put("kind", "ENVIRONMENT").put("error", "relay failed: " + e);
        }
        return r;
    }

    /**
     * The launcher JVM's options. Not C1-only (-XX:TieredStopAtLevel=1), though it starts faster: only C2 uses the
     * AES-GCM intrinsics, and without them decrypting a 256 MiB input took 6.5x longer (72 s instead of 11 s on this
     * 2-core machine). The JVM's own messages go to stderr: the launcher's stdout is the channel to the worker.
     */
    private static final List<String> LAUNCHER_JVM = List.of("-Xmx256m", "-XX:+UseSerialGC", "-XX:-UsePerfData",
            "-Xlog:disable", "-Xlog:all=warning:stderr", "-Djava.io.tmpdir=" + MEMORY, "--enable-native-access=ALL-UNNAMED");

    private SandboxSpec outerSpec(Path root, Path inDir, Path outDir, AotCache.Use aot) {
        Path javaHome = Path.of(System.getProperty("java.home"));
        List<String> cmd = new ArrayList<>(List.of(javaHome.resolve("bin/java").toString()));
        cmd.addAll(LAUNCHER_JVM);
        cmd.addAll(aot.options());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), launcherMainClass));
        SandboxSpec.Builder b = SandboxSpec.builder(cmd)
                .readOnly(Path.of("/usr"), "/usr")
                .usrMergeLinks()
                // The launcher writes only to /run; /tmp exists because the nested bubblewrap needs it. Binds go on
                // top of both, so a launcher class path under the host's /tmp stays visible.
                .tmpfs("/run")
                .tmpfs("/tmp")
                .readOnly(root, ROOT)
                .readOnly(inDir, IN)
                .writable(outDir, OUT)
                .env("HOME", "/run")
                .network(false);
        // The launcher's own code, read-only at the same paths as on the host, unless /usr already has it. A jar's
        // folder is bound rather than the jar, because an executable jar names its libraries relative to itself.
        Set<Path> extra = new LinkedHashSet<>();
        if (!javaHome.startsWith("/usr")) {
            extra.add(javaHome);
        }
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path e = Path.of(entry).toAbsolutePath().normalize();
            Path bind = Files.isRegularFile(e) ? e.getParent() : e;
            if (!entry.isEmpty() && !bind.startsWith("/usr") && Files.exists(bind)) {
                extra.add(bind);
            }
        }
        extra.forEach(e -> b.readOnly(e, e.toString()));
        // The class cache, at the path the JVM was told; a recording JVM writes its record to a folder of its own.
        aot.cache().ifPresent(c -> b.readOnly(c, c.toString()));
        aot.recording().ifPresent(r -> b.writable(r.folder(), r.folder().toString()));
        return b.build();
    }
}
