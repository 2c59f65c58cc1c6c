package dev.cloister.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What docs/pipelines.md ("Backends") says: the file accepts the job backends, a run refuses all but sim. */
class PipelineBackendTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"gramine-direct", "gramine-sgx"})
    void gramineBackendsParseButARunRefusesThemBeforeCreatingAnything(String backend) throws Exception {
        PipelineSpec spec = PipelineSpecTest.parse("backend: " + backend + "\n" + PipelineSpecTest.DIAMOND);
        assertThat(spec.backend()).isEqualTo(backend);
        Path runs = tmp.resolve("runs");
        assertThatThrownBy(() -> ConfidentialRun.create(spec, tmp, runs, "local", null))
                .isInstanceOfSatisfying(CloisterException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.BAD_INPUT))
                .hasMessageContaining("backend " + backend + " is not supported for pipelines yet");
        assertThat(runs).doesNotExist();
    }
}
