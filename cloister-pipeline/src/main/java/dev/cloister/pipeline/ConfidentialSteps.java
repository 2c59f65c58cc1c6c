package dev.cloister.pipeline;

import dev.cloister.core.CloisterException;
import dev.cloister.runtime.gramine.GramineManifest;
import dev.cloister.runtime.job.Broker;
import dev.cloister.runtime.job.JobRecord;
import dev.cloister.runtime.job.JobResult;
import dev.cloister.runtime.job.JobSpec;
import dev.cloister.runtime.job.OwnerJobs;
import dev.cloister.runtime.repo.Repository;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Runs each step of a confidential run as a confidential job: when a step's producers are done, it publishes a
 * job record (the owner's encrypted inputs and the producers' encrypted outputs, each with the name of the key
 * this step obtains for it) and runs {@link StepMain}, a worker, on it. A step is done when its job's result
 * lists every output, and that attempt's job is then the one its consumers read from.
 */
public final class ConfidentialSteps implements Orchestrator.StepCommands {
    private final Path runDir;
    private final RunPlan plan;
    private final Repository repo;
    private final Supplier<List<String>> launcher;
    private final Broker owner;
    private final Path ownerKeys;

    /**
     * @param runDir the run's folder
     * @param repo the run's repository, opened
     * @param launcher makes the command that starts {@link StepMain}, once per step ({@code StepMain::command})
     * @param owner the broker with the owner's token, which binds each step's keys to the record it publishes
     *     (null only where no step is started, e.g. to cancel)
     * @param ownerKeys the owner's private key folder (the run's record hashes are kept under it)
     */
    public ConfidentialSteps(Path runDir, Repository repo, Supplier<List<String>> launcher, Broker owner, Path ownerKeys)
            throws IOException, CloisterException {
        this.runDir = runDir;
        this.plan = RunPlan.load(runDir);
        this.repo = repo;
        this.launcher = launcher;
        this.owner = owner;
        this.ownerKeys = ownerKeys;
    }

    /** The job id of one attempt of a step. */
    static String jobId(String runId, String step, Path stepDir) {
        return runId + "." + step + "." + stepDir.getFileName();
    }

    @Override
    public List<String> command(PipelineSpec spec, PipelineSpec.Step step, String runId, Path stepDir)
            throws IOException, CloisterException {
        RunPlan.StepPlan sp = plan.steps().get(step.name());
        String id = jobId(runId, step.name(), stepDir);
        List<JobRecord.Input> inputs = new ArrayList<>();
        Map<String, String> keys = new HashMap<>();
        for (PipelineSpec.Input in : step.inputs()) {
            RunPlan.InputPlan ip = sp.inputs().get(in.name());
            keys.put(in.name(), ip.key());
            if (in.from() == null) {
                String bound = GramineManifest.isGramine(plan.backendOf(sp)) ? GramineManifest.hostBound(in.path())
                        : in.path();
                inputs.add(new JobRecord.Input(in.name(), in.path(), ip.object(), ip.size(), bound));
                continue;
            }
            String producerJob = ConfidentialRun.acceptedJob(runDir, in.producerStep()).orElseThrow(() ->
                    new CloisterException(CloisterException.Kind.BAD_INPUT, "step " + step.name() + " reads "
                            + in.from() + ", but step " + in.producerStep() + " has no accepted result"));
            JobResult res = result(producerJob).orElseThrow(() -> new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "step " + step.name() + " reads " + in.from() + ", but job " + producerJob + " of step "
                            + in.producerStep() + " has no result in " + repo.location()));
            JobResult.Output out = res.outputs().stream().filter(o -> o.name().equals(in.producerOutput())).findFirst()
                    .orElseThrow(() -> new CloisterException(CloisterException.Kind.BAD_INPUT, "step " + step.name()
                            + " reads " + in.from() + ", but job " + producerJob + " did not publish output "
                            + in.producerOutput()));
            // The producer's ciphertext is bound to the path the producer wrote it at (Gramine: outputs/NAME).
            String bound = GramineManifest.isGramine(res.backend()) ? GramineManifest.hostBound(out.path()) : out.path();
            inputs.add(new JobRecord.Input(in.name(), in.path(), out.object(), -1, bound));
        }
        for (JobSpec.Output o : step.outputs()) {
            keys.put(o.name(), sp.outputs().get(o.name()));
        }
        JobRecord rec = new JobRecord(id, step.name(), sp.bundle(), sp.measurement(), sp.policy(), sp.logKey(),
                plan.broker(), plan.backendOf(sp), step.args(), step.env(), inputs, step.outputs(), keys);
        bind(rec, sp);
        repo.putRef(JobRecord.ref(id), rec.toBytes());
        List<String> cmd = new ArrayList<>(launcher.get());
        cmd.addAll(List.of(id, "--repository", plan.repository(), "--broker", plan.broker(), "--work",
                stepDir.resolve("work").toString(), "--timing", stepDir.resolve("timing.json").toString(),
                "--run", runId, "--step", step.name()));
        if (plan.brokerCa() != null) {
            cmd.addAll(List.of("--ca", plan.brokerCa()));
        }
        return cmd;
    }

    /**
     * Binds every key of the step to this attempt's record before it is published: the owner keeps the record's
     * hash, and each key's policy becomes the step's policy with {@code JOB:<hash>}, so the broker releases the
     * step's keys only to an enclave running exactly this record (an earlier attempt's record no longer qualifies).
     */
    private void bind(JobRecord rec, RunPlan.StepPlan sp) throws CloisterException, IOException {
        if (owner == null || ownerKeys == null) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "starting step " + rec.name() + " needs the "
                    + "owner's broker token and key folder, to bind the step's keys to its record");
        }
        String hash = rec.hashHex();
        OwnerJobs.keepRecordHash(ConfidentialRun.ownerDir(ownerKeys, plan.runId()), rec.id(), hash);
        java.util.Set<String> secrets = new java.util.LinkedHashSet<>();
        secrets.add(rec.secret());
        rec.inputs().forEach(i -> secrets.add(rec.keyOf(i.name())));
        rec.outputs().forEach(o -> secrets.add(rec.keyOf(o.name())));
        for (String s : secrets) {
            owner.setPolicy(s, OwnerJobs.boundPolicy(sp.policy(), hash));
        }
    }

    @Override
    public boolean outputsComplete(PipelineSpec spec, PipelineSpec.Step step, String runId, Path stepDir)
            throws IOException, CloisterException {
        String id = jobId(runId, step.name(), stepDir);
        Optional<JobResult> res = result(id);
        if (res.isEmpty() || res.get().programExit() != 0 || !res.get().missing().isEmpty()) {
            return false;
        }
        for (JobSpec.Output o : step.outputs()) {
            if (res.get().outputs().stream().noneMatch(x -> x.name().equals(o.name()) && x.path().equals(o.path()))) {
                return false;
            }
        }
        ConfidentialRun.accept(runDir, step.name(), id);
        return true;
    }

    private Optional<JobResult> result(String id) throws IOException, CloisterException {
        Optional<byte[]> b = repo.getRef(JobResult.ref(id));
        return b.isEmpty() ? Optional.empty() : Optional.of(JobResult.parse(b.get(), id));
    }
}
