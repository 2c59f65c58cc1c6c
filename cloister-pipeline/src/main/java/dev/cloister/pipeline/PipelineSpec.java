package dev.cloister.pipeline;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.cloister.core.CloisterException;
import dev.cloister.runtime.enclave.EnclaveLauncher;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.job.SpecRules;
import java.util.ArrayDeque;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A confidential workflow: steps, each a bundle run in its own enclave, connected by named outputs. Written as
 * YAML (docs/pipelines.md) and validated completely before anything runs: names, paths, producers, cycles.
 *
 * @param name the pipeline's name
 * @param steps the steps, in any order (the DAG decides the order of execution)
 * @param broker the key broker's URL
 * @param repository where ciphertext is exchanged between steps
 * @param backend the backend every step uses; parsed as for jobs, but runs refuse all except {@code sim}
 *     (docs/pipelines.md, "Backends")
 * @param onFailure what a step's final failure does to the rest of the run unless the step says otherwise:
 *     {@code stop} (the default: nothing new starts) or {@code continue} (steps that do not depend on it go on)
 */
public record PipelineSpec(String name, List<Step> steps, String broker, String repository, String backend,
        @JsonProperty("on_failure") String onFailure) {

    /** {@code on_failure: stop}: after a step's final failure nothing new starts. */
    public static final String STOP = "stop";
    /** {@code on_failure: continue}: after a step's final failure, steps that do not depend on it still run. */
    public static final String CONTINUE = "continue";
    private static final Pattern DURATION = Pattern.compile("([0-9]{1,7})([dhms])");

    /**
     * One step.
     *
     * @param name unique within the pipeline
     * @param bundle the program and the policy its evidence must meet
     * @param inputs owner files or outputs of earlier steps, each at a path under {@code /inputs}
     * @param outputs what the step writes, each at a path under {@code /outputs}
     * @param args the program's arguments
     * @param env extra environment variables
     * @param resources what the step needs from the machine or cluster
     * @param backend this step's backend, or null for the pipeline's ({@code sim} or {@code gramine-direct}; a
     *     gramine-direct step reads only the owner's files, docs/pipelines.md)
     * @param retries how many times a failed attempt is started again automatically (0-10, default 0)
     * @param retryBackoff the wait before the first automatic retry, doubled for each further one (a duration
     *     like {@code 1s} or {@code 2m}; default {@code 1s})
     * @param onFailure {@code stop} or {@code continue}, or null for the pipeline's {@code on_failure}
     * @param timeLimit the longest an attempt may run (a duration like {@code 30s} or {@code 2h}), or null for no
     *     limit; the local executor kills the attempt's process group, SLURM gets it as {@code --time}
     * @param stdout the name of an output that is the program's stdout, or null; it becomes an output at
     *     {@link EnclaveLauncher#STDOUT_PATH} (with a key of its own, like any output), so later steps read it
     * @param stderr the same for the program's stderr, at {@link EnclaveLauncher#STDERR_PATH}
     */
    public record Step(
            String name, JobSpec.Bundle bundle, List<Input> inputs, List<JobSpec.Output> outputs, List<String> args,
            Map<String, String> env, Resources resources, String backend, Integer retries,
            @JsonProperty("retry_backoff") String retryBackoff, @JsonProperty("on_failure") String onFailure,
            @JsonProperty("time_limit") String timeLimit, String stdout, String stderr) {
        public Step {
            retries = retries == null ? 0 : retries;
            inputs = inputs == null ? List.of() : List.copyOf(inputs);
            outputs = withStream(withStream(outputs == null ? List.of() : outputs, stdout, EnclaveLauncher.STDOUT_PATH),
                    stderr, EnclaveLauncher.STDERR_PATH);
            args = args == null ? List.of() : List.copyOf(args);
            env = env == null ? Map.of() : Map.copyOf(env);
            resources = resources == null ? Resources.DEFAULT : resources;
        }
    }

    /**
     * The outputs with a stream output ({@code name} at the stream's path) added, unless there is none or the list
     * has it already (a spec written back by {@link #toBytes()} lists it among the outputs).
     */
    private static List<JobSpec.Output> withStream(List<JobSpec.Output> outputs, String name, String path) {
        List<JobSpec.Output> all = new ArrayList<>(outputs);
        if (name != null && all.stream().noneMatch(o -> o != null && path.equals(o.path()))) {
            all.add(new JobSpec.Output(name, path));
        }
        return List.copyOf(all);
    }

    /**
     * A step's input: exactly one of {@code file} (the owner's plaintext) and {@code from} ({@code step.output}).
     */
    public record Input(String name, String file, String from, String path) {
        /** The producing step, for an input {@code from} another step. */
        public String producerStep() {
            return from.substring(0, from.indexOf('.'));
        }

        /** The producing step's output name. */
        public String producerOutput() {
            return from.substring(from.indexOf('.') + 1);
        }
    }

    /**
     * Resources a step asks for.
     *
     * @param cores CPU cores (SLURM {@code --cpus-per-task})
     * @param memoryMb memory in MiB (SLURM {@code --mem})
     * @param enclaveSize the Gramine enclave size, e.g. {@code 1G}
     */
    public record Resources(Integer cores, Integer memoryMb, String enclaveSize) {
        static final Resources DEFAULT = new Resources(1, 512, "1G");

        public Resources {
            cores = cores == null ? 1 : cores;
            memoryMb = memoryMb == null ? 512 : memoryMb;
            enclaveSize = enclaveSize == null ? "1G" : enclaveSize;
        }
    }

    public PipelineSpec {
        steps = steps == null ? List.of() : List.copyOf(steps);
        backend = backend == null ? "sim" : backend;
        onFailure = onFailure == null ? STOP : onFailure;
    }

    /** Whether a step's final failure lets independent steps go on ({@code continue}): its own, else the pipeline's. */
    public boolean continuesAfter(Step s) {
        return CONTINUE.equals(s.onFailure() != null ? s.onFailure() : onFailure);
    }

    /** A step's time limit, or null for none. */
    public static Duration timeLimitOf(Step s) {
        return s.timeLimit() == null ? null : duration(s.timeLimit());
    }

    /**
     * The wait before automatic retry number {@code n} (1 for the first) of a step: its {@code retry_backoff}
     * (default 1 s) doubled for each retry after the first, at most one hour.
     */
    public static Duration backoffOf(Step s, int n) {
        Duration base = s.retryBackoff() == null ? Duration.ofSeconds(1) : duration(s.retryBackoff());
        Duration d = base.multipliedBy(1L << Math.min(Math.max(n - 1, 0), 20));
        return d.compareTo(Duration.ofHours(1)) > 0 ? Duration.ofHours(1) : d;
    }

    /**
     * Parses a duration written as one or more number-unit pairs ({@code d}, {@code h}, {@code m}, {@code s}),
     * e.g. {@code 30s}, {@code 2h}, {@code 1h30m}; null if it is not one.
     */
    static Duration durationOrNull(String text) {
        if (text == null || text.isEmpty() || !text.matches("([0-9]{1,7}[dhms])+")) {
            return null;
        }
        Duration d = Duration.ZERO;
        Matcher m = DURATION.matcher(text);
        while (m.find()) {
            long n = Long.parseLong(m.group(1));
            d = d.plus(switch (m.group(2)) {
                case "d" -> Duration.ofDays(n);
                case "h" -> Duration.ofHours(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofSeconds(n);
            });
        }
        return d;
    }

    private static Duration duration(String text) {
        Duration d = durationOrNull(text);
        if (d == null) {
            throw new IllegalStateException("unvalidated duration " + text);
        }
        return d;
    }

    /** A duration as the spec would write it, e.g. {@code 1h30m} or {@code 45s}. */
    static String format(Duration d) {
        StringBuilder b = new StringBuilder();
        long s = d.toSeconds();
        long[] units = {86400, 3600, 60, 1};
        String[] names = {"d", "h", "m", "s"};
        for (int i = 0; i < units.length; i++) {
            if (s >= units[i]) {
                b.append(s / units[i]).append(names[i]);
                s %= units[i];
            }
        }
        return b.isEmpty() ? "0s" : b.toString();
    }

    /** Parses and validates a pipeline file; errors name the step and field at fault. */
    public static PipelineSpec parse(byte[] yaml, String source) throws CloisterException {
        PipelineSpec spec = SpecRules.read(yaml, PipelineSpec.class, source);
        spec.validate(source);
        return spec;
    }

    /** The pipeline as YAML. */
    public byte[] toBytes() {
        return SpecRules.write(this);
    }

    /** The step called {@code stepName}. */
    public Step step(String stepName) {
        return steps.stream().filter(s -> s.name().equals(stepName)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no step " + stepName));
    }

    /** The backend a step runs under: its own, else the pipeline's. */
    public String backendOf(Step s) {
        return s.backend() != null ? s.backend() : backend;
    }

    /** For each step, the steps it reads from. */
    public Map<String, Set<String>> dependencies() {
        Map<String, Set<String>> deps = new LinkedHashMap<>();
        for (Step s : steps) {
            Set<String> d = new HashSet<>();
            for (Input in : s.inputs()) {
                if (in.from() != null) {
                    d.add(in.producerStep());
                }
            }
            deps.put(s.name(), d);
        }
        return deps;
    }

    private void validate(String src) throws CloisterException {
        SpecRules.name(src, "name", name, null);
        SpecRules.backend(src, backend);
        onFailure(src, "on_failure", onFailure);
        if (steps.isEmpty()) {
            throw SpecRules.bad(src, "steps: a pipeline needs at least one step");
        }
        Set<String> stepNames = new HashSet<>();
        Map<String, Set<String>> outputsByStep = new HashMap<>();
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            String f = "steps[" + i + "]";
            if (s == null) {
                throw SpecRules.bad(src, f + ": empty entry");
            }
            SpecRules.name(src, f + ".name", s.name(), stepNames);
            f = "step '" + s.name() + "'";
            SpecRules.bundle(src, f + " bundle", s.bundle());
            Set<String> names = new HashSet<>();
            Set<String> paths = new HashSet<>();
            Set<String> outs = new HashSet<>();
            if (s.outputs().isEmpty()) {
                throw SpecRules.bad(src, f + " outputs: a step must name at least one output");
            }
            for (int j = 0; j < s.outputs().size(); j++) {
                JobSpec.Output o = s.outputs().get(j);
                String stream = EnclaveLauncher.STDOUT_PATH.equals(o.path()) ? "stdout"
                        : EnclaveLauncher.STDERR_PATH.equals(o.path()) ? "stderr" : null;
                if (stream != null) {
                    // The output 'stdout: NAME' stands for; written out by toBytes and read back, so it may be listed.
                    String named = stream.equals("stdout") ? s.stdout() : s.stderr();
                    SpecRules.outputName(src, f + " " + stream, o.name(), names);
                    if (!o.name().equals(named)) {
                        throw SpecRules.bad(src, f + " outputs[" + j + "].path: " + o.path() + " is the program's "
                                + stream + "; write '" + stream + ": " + o.name() + "' instead");
                    }
                    if (!"sim".equals(backendOf(s))) {
                        throw SpecRules.bad(src, f + " " + stream + ": a " + backendOf(s) + " step's console stays on "
                                + "its worker, unencrypted, so it cannot be an output; run this step with backend sim");
                    }
                    outs.add(o.name());
                    continue;
                }
                SpecRules.outputName(src, f + " outputs[" + j + "].name", o.name(), names);
                SpecRules.enclavePath(src, f + " outputs[" + j + "].path", o.path(), "/outputs/", paths);
                outs.add(o.name());
            }
            for (int j = 0; j < s.inputs().size(); j++) {
                Input in = s.inputs().get(j);
                String g = f + " inputs[" + j + "]";
                SpecRules.name(src, g + ".name", in.name(), names);
                SpecRules.enclavePath(src, g + ".path", in.path(), "/inputs/", paths);
                if ((in.file() == null) == (in.from() == null)) {
                    throw SpecRules.bad(src, g + ": give exactly one of 'file' (an owner's file) and 'from' (STEP.OUTPUT)");
                }
                if (in.from() != null && !in.from().matches("[^.]+\\.[^.].*")) {
                    throw SpecRules.bad(src, g + ".from: '" + in.from() + "' must be STEP.OUTPUT");
                }
            }
            SpecRules.env(src, f + " env", s.env());
            if (s.backend() != null) {
                SpecRules.backend(src, s.backend());
            }
            Resources r = s.resources();
            if (r.cores() < 1 || r.cores() > 1024 || r.memoryMb() < 16 || !r.enclaveSize().matches("[1-9][0-9]*[MG]")) {
                throw SpecRules.bad(src, f + " resources: cores 1-1024, memoryMb >= 16, enclaveSize like 512M or 4G");
            }
            if (s.retries() < 0 || s.retries() > 10) {
                throw SpecRules.bad(src, f + " retries: " + s.retries() + " is not 0 to 10");
            }
            if (s.retryBackoff() != null && durationOrNull(s.retryBackoff()) == null) {
                throw SpecRules.bad(src, f + " retry_backoff: '" + s.retryBackoff() + "' is not a duration like 1s, 30s or 2m");
            }
            if (s.onFailure() != null) {
                onFailure(src, f + " on_failure", s.onFailure());
            }
            if (s.timeLimit() != null) {
                Duration t = durationOrNull(s.timeLimit());
                if (t == null || t.isZero() || t.compareTo(Duration.ofDays(365)) > 0) {
                    throw SpecRules.bad(src, f + " time_limit: '" + s.timeLimit()
                            + "' is not a duration like 30s, 90m, 2h or 1h30m (at least 1s, at most 365d)");
                }
            }
            outputsByStep.put(s.name(), outs);
        }
        for (Step s : steps) {
            for (Input in : s.inputs()) {
                if (in.from() == null) {
                    continue;
                }
                String where = "step '" + s.name() + "' input '" + in.name() + "'";
                Set<String> outs = outputsByStep.get(in.producerStep());
                if (outs == null) {
                    throw SpecRules.bad(src, where + " reads from step '" + in.producerStep() + "', which does not exist");
                }
                if (!outs.contains(in.producerOutput())) {
                    throw SpecRules.bad(src, where + " reads output '" + in.producerOutput() + "' of step '"
                            + in.producerStep() + "', which has outputs " + new java.util.TreeSet<>(outs));
                }
                if (!"sim".equals(backendOf(s))) {
                    // Gramine's encrypted mount opens a file only when it is bound to the path Gramine derives from
                    // the mount (inputs/NAME); another step's output is bound to that step's own output path.
                    throw SpecRules.bad(src, where + ": a " + backendOf(s) + " step can read only the owner's files "
                            + "('file:'), not another step's output, yet; run this step with backend sim");
                }
            }
        }
        List<String> cycle = findCycle(dependencies());
        if (!cycle.isEmpty()) {
            throw SpecRules.bad(src, "steps form a cycle: " + String.join(" -> ", cycle));
        }
    }

    private static void onFailure(String src, String field, String v) throws CloisterException {
        if (!STOP.equals(v) && !CONTINUE.equals(v)) {
            throw SpecRules.bad(src, field + ": '" + v + "' must be stop or continue");
        }
    }

    /**
     * A cycle in the graph as a closed path (a, b, a), or empty. Iterative DFS with colours; steps are
     * visited in name order so the reported cycle is the same on every run.
     */
    static List<String> findCycle(Map<String, Set<String>> deps) {
        Map<String, Integer> colour = new HashMap<>(); // 0 white, 1 on stack, 2 done
        for (String start : deps.keySet().stream().sorted().toList()) {
            if (colour.getOrDefault(start, 0) != 0) {
                continue;
            }
            Deque<String> path = new ArrayDeque<>();
            Deque<java.util.Iterator<String>> its = new ArrayDeque<>();
            path.push(start);
            its.push(deps.get(start).stream().sorted().iterator());
            colour.put(start, 1);
            while (!path.isEmpty()) {
                var it = its.peek();
                if (it.hasNext()) {
                    String next = it.next();
                    int c = colour.getOrDefault(next, 0);
                    if (c == 1) {
                        List<String> cyc = new ArrayList<>();
                        List<String> onStack = new ArrayList<>(path);
                        java.util.Collections.reverse(onStack);
                        cyc.addAll(onStack.subList(onStack.indexOf(next), onStack.size()));
                        cyc.add(next);
                        return cyc;
                    }
                    if (c == 0) {
                        colour.put(next, 1);
                        path.push(next);
                        its.push(deps.getOrDefault(next, Set.of()).stream().sorted().iterator());
                    }
                } else {
                    colour.put(path.pop(), 2);
                    its.pop();
                }
            }
        }
        return List.of();
    }
}
