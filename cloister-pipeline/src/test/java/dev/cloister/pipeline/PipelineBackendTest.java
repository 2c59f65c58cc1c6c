package dev.cloister.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What docs/pipelines.md ("Backends") says: steps run on sim or gramine-direct; gramine-sgx parses (it is a job
 * backend) but a run refuses it before creating anything. A gramine-direct step really running is
 * {@code GenomicsPipelineTest}.
 */
class PipelineBackendTest {
    @TempDir
    Path tmp;

    static final String ONE_STEP = """
            name: one
            steps:
              - name: split
                bundle: {path: b/split, policy: "allow-simulated"}
                inputs: [{name: raw, file: data/raw.txt, path: /inputs/raw.txt}]
                outputs: [{name: left, path: /outputs/left.txt}]
            """;

    @Test
    void gramineSgxParsesButARunRefusesItBeforeCreatingAnythingForThePipelineOrOneStep() throws Exception {
        for (String yaml : new String[] {"backend: gramine-sgx\n" + ONE_STEP,
            PipelineSpecTest.DIAMOND.replace("  - name: split\n", "  - name: split\n    backend: gramine-sgx\n")}) {
            PipelineSpec spec = PipelineSpecTest.parse(yaml);
            assertThat(spec.backendOf(spec.step("split"))).isEqualTo("gramine-sgx");
            Path runs = tmp.resolve("runs");
            assertThatThrownBy(() -> ConfidentialRun.create(spec, tmp, runs, "local", null))
                    .isInstanceOfSatisfying(CloisterException.class,
                            e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.BAD_INPUT))
                    .hasMessageContaining("step 'split': backend gramine-sgx is not supported for pipelines yet");
            assertThat(runs).doesNotExist();
        }
    }

    @Test
    void aGramineDirectStepPassesTheBackendCheckOfARun() throws Exception {
        for (String yaml : new String[] {"backend: gramine-direct\n" + ONE_STEP,
            PipelineSpecTest.DIAMOND.replace("  - name: split\n", "  - name: split\n    backend: gramine-direct\n")}) {
            PipelineSpec spec = PipelineSpecTest.parse(yaml);
            assertThat(spec.backendOf(spec.step("split"))).isEqualTo("gramine-direct");
            Path runs = tmp.resolve("runs");
            // Past the backend check, the next step measures the first step's bundle: this measurer stops the run there.
            ConfidentialRun.Setup setup = new ConfidentialRun.Setup(null, null, null, null, null, d -> {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "measuring " + d.getFileName());
            }, tmp.resolve("keys"));
            assertThatThrownBy(() -> ConfidentialRun.create(spec, tmp, runs, "local", setup))
                    .isInstanceOf(CloisterException.class)
                    .hasMessage("measuring split");
            assertThat(runs).doesNotExist();
        }
    }
}
