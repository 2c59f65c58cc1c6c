package dev.cloister.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.Bundle;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.runtime.repo.LocalRepository;
import dev.cloister.runtime.repo.Repository;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The genomics example (examples/pipelines/genomics) with real, unmodified tools from Debian packages (python3,
 * minimap2, samtools), each step in its own simulated enclave, on the local executor and on a real single-node
 * SLURM cluster. Every output must equal what the same tools write when run directly on the plaintext.
 */
class GenomicsPipelineTest {
    static final Path ROOT = Path.of(System.getProperty("cloister.repo.root", "..")).toAbsolutePath().normalize();
    static final Path EXAMPLE = ROOT.resolve("examples/pipelines/genomics");

    /** Each step's output, as (step, output name, file name in the direct run). */
    static final List<List<String>> OUTPUTS = List.of(List.of("filter", "filtered", "filtered.fq"),
            List.of("align", "aligned", "aligned.sam"), List.of("sort", "sorted", "sorted.bam"),
            List.of("coverage", "coverage", "coverage.tsv"), List.of("depth", "depth", "depth.tsv"),
            List.of("report", "report", "report.json"));

    @TempDir
    Path tmp;

    TestBroker broker;
    Repository repo;

    @BeforeEach
    void start() throws Exception {
        for (String tool : List.of("/usr/bin/minimap2", "/usr/bin/samtools", "/usr/bin/python3", "/usr/bin/bwrap")) {
            // .ci/run installs them; on a developer machine without them the test says what is missing.
            assertThat(Path.of(tool)).as(tool + " (apt-get install minimap2 samtools python3 bubblewrap)").isExecutable();
        }
        broker = new TestBroker(Files.createDirectories(tmp.resolve("broker")));
        repo = LocalRepository.open(Files.createDirectories(tmp.resolve("repo")));
    }

    @AfterEach
    void stop() {
        broker.close();
    }

    static void run(Path dir, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("cmd.log").toFile()).start();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + Files.readString(dir.resolve("cmd.log"))).isZero();
    }

    static List<String> stdlib() throws Exception {
        Process p = new ProcessBuilder("/usr/bin/python3", "-c", """
                import sys, json
                for m in list(sys.modules.values()):
                    f = getattr(m, "__file__", None)
                    if f and f.startswith(sys.base_prefix + "/lib/python3"):
                        print(f)
                """).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return out.lines().distinct().sorted().toList();
    }

    /** Builds the four bundles and writes the example's pipeline file with their measurements; returns the spec. */
    PipelineSpec prepare() throws Exception {
        Files.createDirectories(tmp.resolve("data"));
        run(tmp, "/usr/bin/python3", EXAMPLE.resolve("make-data.py").toString(), "data", "600");
        Map<String, String> m = new java.util.HashMap<>();
        List<String> stdlib = stdlib();
        for (String s : List.of("filter", "report")) {
            Path app = Files.createDirectories(tmp.resolve("app-" + s));
            Files.copy(EXAMPLE.resolve(s + ".py"), app.resolve(s + ".py"));
            app.resolve(s + ".py").toFile().setExecutable(true);
            Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.dir(app, s + ".py").withIncludes(stdlib),
                    tmp.resolve("bundles").resolve(s), false).dir());
            m.put(s.toUpperCase(), b.measurement());
        }
        for (String t : List.of("minimap2", "samtools")) {
            // glibc loads libgcc_s.so.1 with dlopen for pthread_exit (minimap2's threads): no ELF header names it.
            Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin", t))
                    .withIncludes(List.of(libgcc())), tmp.resolve("bundles").resolve(t), false).dir());
            m.put(t.toUpperCase(), b.measurement());
        }
        String yaml = Files.readString(EXAMPLE.resolve("pipeline.yaml.in")).replace("@BROKER@", broker.url.toString());
        for (var e : m.entrySet()) {
            yaml = yaml.replace("@" + e.getKey() + "@", e.getValue());
        }
        Files.writeString(tmp.resolve("pipeline.yaml"), yaml);
        return PipelineSpec.parse(yaml.getBytes(StandardCharsets.UTF_8), "pipeline.yaml");
    }

    static String libgcc() throws Exception {
        Process p = new ProcessBuilder("ldconfig", "-p").start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(30, TimeUnit.SECONDS);
        return out.lines().filter(l -> l.strip().startsWith("libgcc_s.so.1 (libc6,x86-64)"))
                .map(l -> l.substring(l.indexOf("=> ") + 3).strip()).findFirst().orElse("/lib/x86_64-linux-gnu/libgcc_s.so.1");
    }

    /** Runs the same tools on the plaintext without enclave or encryption, with their files at the same paths. */
    Path direct() throws Exception {
        Path d = Files.createDirectories(tmp.resolve("direct"));
        directStep("filter", Map.of("reads.fq", tmp.resolve("data/reads.fq")),
                "/usr/bin/python3", EXAMPLE.resolve("filter.py").toString(), "/inputs/reads.fq", "/outputs/filtered.fq");
        directStep("align", Map.of("ref.fa", tmp.resolve("data/ref.fa"), "reads.fq", d.resolve("filter/filtered.fq")),
                "/usr/bin/minimap2", "-a", "-x", "sr", "/inputs/ref.fa", "/inputs/reads.fq", "-o", "/outputs/aligned.sam");
        directStep("sort", Map.of("aligned.sam", d.resolve("align/aligned.sam")),
                "/usr/bin/samtools", "sort", "-o", "/outputs/sorted.bam", "/inputs/aligned.sam");
        directStep("coverage", Map.of("sorted.bam", d.resolve("sort/sorted.bam")),
                "/usr/bin/samtools", "coverage", "-o", "/outputs/coverage.tsv", "/inputs/sorted.bam");
        directStep("depth", Map.of("sorted.bam", d.resolve("sort/sorted.bam")),
                "/usr/bin/samtools", "depth", "-a", "-o", "/outputs/depth.tsv", "/inputs/sorted.bam");
        directStep("report", Map.of("coverage.tsv", d.resolve("coverage/coverage.tsv"), "depth.tsv", d.resolve("depth/depth.tsv")),
                "/usr/bin/python3", EXAMPLE.resolve("report.py").toString(), "/inputs/coverage.tsv", "/inputs/depth.tsv",
                "/outputs/report.json");
        return d;
    }

    void directStep(String step, Map<String, Path> inputs, String... cmd) throws Exception {
        Path out = Files.createDirectories(tmp.resolve("direct").resolve(step));
        List<String> c = new ArrayList<>(List.of("bwrap", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
                "--ro-bind", EXAMPLE.toString(), EXAMPLE.toString()));
        for (String d : List.of("bin", "lib", "lib64", "sbin")) {
            Path p = Path.of("/", d);
            if (Files.isSymbolicLink(p)) {
                c.addAll(List.of("--symlink", Files.readSymbolicLink(p).toString(), p.toString()));
            } else if (Files.isDirectory(p)) {
                c.addAll(List.of("--ro-bind", p.toString(), p.toString()));
            }
        }
        c.addAll(List.of("--dir", "/inputs"));
        inputs.forEach((name, file) -> c.addAll(List.of("--ro-bind", file.toString(), "/inputs/" + name)));
        c.addAll(List.of("--bind", out.toString(), "/outputs", "--dev", "/dev", "--proc", "/proc", "--chdir", "/"));
        c.addAll(List.of(cmd));
        run(out, c.toArray(String[]::new));
    }

    void runAndCompare(String executorName, StepExecutor executor) throws Exception {
        PipelineSpec spec = prepare();
        String runId = ConfidentialRun.create(spec, tmp, tmp.resolve("runs"), executorName, new ConfidentialRun.Setup(repo,
                repo.location(), broker.ownerBroker(), broker.url.toString(), broker.ca, d -> Bundle.open(d).measurement(),
                tmp.resolve("keys")));
        Path runDir = tmp.resolve("runs").resolve(runId);
        RunState end = new Orchestrator(executor, new ConfidentialSteps(runDir, repo, StepMain::command, broker.ownerBroker(),
                tmp.resolve("keys")), 4,
                Duration.ofMillis(100), Clock.systemUTC()).run(runDir, s -> {});
        assertThat(end.steps()).allSatisfy((n, st) -> assertThat(st.phase()).as(n + ": " + st.reason())
                .isEqualTo(RunState.Phase.DONE));
        ConfidentialRun.fetch(runDir, repo, tmp.resolve("results"), tmp.resolve("keys"));
        Path direct = direct();
        for (List<String> o : OUTPUTS) {
            Path enclave = tmp.resolve("results").resolve(o.get(0)).resolve(o.get(1));
            Path plain = direct.resolve(o.get(0)).resolve(o.get(2));
            assertThat(Files.size(enclave)).as(o.get(0)).isPositive();
            assertThat(Files.mismatch(enclave, plain)).as(o.get(0) + "/" + o.get(1) + " equals the direct run").isEqualTo(-1L);
        }
        assertThat(Files.readString(tmp.resolve("results/report/report"))).contains("\"chrS\"").contains("\"mean_depth\"");
        assertThat(Files.readString(tmp.resolve("results/filter/stdout.txt"))).startsWith("kept ");
    }

    /**
     * The alignment step under real gramine-direct ({@code backend: gramine-direct} on the step), reading the
     * owner's reads and reference through Gramine's encrypted mounts with a key per edge, its output read by the
     * next step in the sim backend; both outputs equal the tools run directly on the plaintext.
     */
    @Test
    void theAlignmentStepRunsUnderRealGramineDirectAndMatchesADirectRun() throws Exception {
        String gramine = System.getenv("CLOISTER_TEST_GRAMINE");
        if (gramine == null || gramine.isBlank()) {
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                throw new IllegalStateException("CLOISTER_TEST_GRAMINE is not set in CI: .ci/run must build "
                        + "gramine-direct (scripts/gramine-local)");
            }
            assumeTrue(false, "CLOISTER_TEST_GRAMINE is not set");
        }
        // The step workers are separate JVMs that find gramine-direct on their PATH, as .ci/run sets it.
        assertThat(java.util.Arrays.stream(System.getenv("PATH").split(":"))
                .anyMatch(d -> Files.isExecutable(Path.of(d, "gramine-direct"))))
                .as("gramine-direct on PATH (export PATH=$(scripts/gramine-local)/bin:$PATH)").isTrue();
        Files.createDirectories(tmp.resolve("data"));
        run(tmp, "/usr/bin/python3", EXAMPLE.resolve("make-data.py").toString(), "data", "400");
        Map<String, String> m = new java.util.HashMap<>();
        for (String t : List.of("minimap2", "samtools")) {
            Bundle b = Bundle.open(BundleBuilder.build(BuildOptions.binary(Path.of("/usr/bin", t))
                    .withIncludes(List.of(libgcc())), tmp.resolve("bundles").resolve(t), false).dir());
            m.put(t, b.measurement());
        }
        String yaml = """
                name: genomics-gramine
                broker: "%s"
                repository: repo
                backend: sim
                steps:
                  - name: align
                    backend: gramine-direct
                    bundle: {path: bundles/minimap2, policy: "E:%s SIM:ALLOW"}
                    inputs:
                      - {name: ref, file: data/ref.fa, path: /inputs/ref.fa}
                      - {name: reads, file: data/reads.fq, path: /inputs/reads.fq}
                    outputs: [{name: aligned, path: /outputs/aligned.sam}]
                    args: [-a, -x, sr, /inputs/ref.fa, /inputs/reads.fq, -o, /outputs/aligned.sam]
                  - name: sort
                    bundle: {path: bundles/samtools, policy: "E:%s SIM:ALLOW"}
                    inputs: [{name: aligned, from: align.aligned, path: /inputs/aligned.sam}]
                    outputs: [{name: sorted, path: /outputs/sorted.bam}]
                    args: [sort, -o, /outputs/sorted.bam, /inputs/aligned.sam]
                """.formatted(broker.url, m.get("minimap2"), m.get("samtools"));
        PipelineSpec spec = PipelineSpec.parse(yaml.getBytes(StandardCharsets.UTF_8), "pipeline.yaml");
        String runId = ConfidentialRun.create(spec, tmp, tmp.resolve("runs"), "local", new ConfidentialRun.Setup(repo,
                repo.location(), broker.ownerBroker(), broker.url.toString(), broker.ca, d -> Bundle.open(d).measurement(),
                tmp.resolve("keys")));
        Path runDir = tmp.resolve("runs").resolve(runId);
        RunState end = new Orchestrator(new LocalExecutor(), new ConfidentialSteps(runDir, repo, StepMain::command,
                broker.ownerBroker(), tmp.resolve("keys")), 2,
                Duration.ofMillis(100), Clock.systemUTC()).run(runDir, s -> {});
        assertThat(end.steps()).allSatisfy((n, st) -> assertThat(st.phase()).as(n + ": " + st.reason())
                .isEqualTo(RunState.Phase.DONE));
        ConfidentialRun.fetch(runDir, repo, tmp.resolve("results"), tmp.resolve("keys"));
        Path d = Files.createDirectories(tmp.resolve("direct"));
        directStep("align", Map.of("ref.fa", tmp.resolve("data/ref.fa"), "reads.fq", tmp.resolve("data/reads.fq")),
                "/usr/bin/minimap2", "-a", "-x", "sr", "/inputs/ref.fa", "/inputs/reads.fq", "-o", "/outputs/aligned.sam");
        directStep("sort", Map.of("aligned.sam", d.resolve("align/aligned.sam")),
                "/usr/bin/samtools", "sort", "-o", "/outputs/sorted.bam", "/inputs/aligned.sam");
        assertThat(Files.size(tmp.resolve("results/align/aligned"))).isPositive();
        assertThat(Files.mismatch(tmp.resolve("results/align/aligned"), d.resolve("align/aligned.sam"))).isEqualTo(-1L);
        assertThat(Files.mismatch(tmp.resolve("results/sort/sorted"), d.resolve("sort/sorted.bam"))).isEqualTo(-1L);
        assertThat(Files.readString(Orchestrator.attemptDir(runDir, "align", 1).resolve("log"))).contains("gramine: ");
    }

    @Test
    void theGenomicsExampleRunsOnTheLocalExecutorAndMatchesADirectRun() throws Exception {
        runAndCompare("local", new LocalExecutor());
    }

    @Test
    void theGenomicsExampleRunsOnARealSlurmClusterAndMatchesADirectRun() throws Exception {
        Process p = new ProcessBuilder(ROOT.resolve("scripts/slurm-local").toString(), "start").start();
        String conf = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        p.waitFor(60, TimeUnit.SECONDS);
        assumeTrue(p.exitValue() != 4 || !err.contains("not found"), "SLURM is not installed: " + err);
        assertThat(p.exitValue()).as(err).isZero();
        runAndCompare("slurm", new SlurmExecutor(null, Path.of(conf)));
    }
}
