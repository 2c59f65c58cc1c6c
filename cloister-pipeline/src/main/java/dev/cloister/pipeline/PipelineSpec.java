package dev.cloister.pipeline;

import dev.cloister.core.CloisterException;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.job.SpecRules;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
 */
public record PipelineSpec(String name, List<Step> steps, String broker, String repository, String backend) {

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
     */
    public record Step(
            String name, JobSpec.Bundle bundle, List<Input> inputs, List<JobSpec.Output> outputs, List<String> args,
            Map<String, String> env, Resources resources, String backend) {
        public Step {
            inputs = inputs == null ? List.of() : List.copyOf(inputs);
            outputs = outputs == null ? List.of() : List.copyOf(outputs);
            args = args == null ? List.of() : List.copyOf(args);
            env = env == null ? Map.of() : Map.copyOf(env);
            resources = resources == null ? Resources.DEFAULT : resources;
        }
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
