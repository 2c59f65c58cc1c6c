package dev.cloister.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PipelineSpecTest {
    static final String DIAMOND = """
            name: diamond
            steps:
              - name: split
                bundle: {path: b/split, policy: "allow-simulated"}
                inputs: [{name: raw, file: data/raw.txt, path: /inputs/raw.txt}]
                outputs: [{name: left, path: /outputs/left.txt}, {name: right, path: /outputs/right.txt}]
              - name: a
                bundle: {path: b/a, policy: "allow-simulated"}
                inputs: [{name: in, from: split.left, path: /inputs/in.txt}]
                outputs: [{name: out, path: /outputs/out.txt}]
              - name: b
                bundle: {path: b/b, policy: "allow-simulated"}
                inputs: [{name: in, from: split.right, path: /inputs/in.txt}]
                outputs: [{name: out, path: /outputs/out.txt}]
                resources: {cores: 2, memoryMb: 1024, enclaveSize: 2G}
              - name: join
                bundle: {path: b/join, policy: "allow-simulated"}
                inputs:
                  - {name: x, from: a.out, path: /inputs/x.txt}
                  - {name: y, from: b.out, path: /inputs/y.txt}
                outputs: [{name: report, path: /outputs/report.txt}]
            """;

    static PipelineSpec parse(String yaml) throws CloisterException {
        return PipelineSpec.parse(yaml.getBytes(StandardCharsets.UTF_8), "p.yaml");
    }

    /** Unknown keys at any depth are reported at their own line and column, not the end of the mapping. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "name: diamond|name: diamond\\nbakend: sim|bakend|2|1",
        "    outputs: [{name: out, path: /outputs/out.txt}]\\n  - name: b|    outputs: [{name: out, path: /outputs/out.txt}]\\n    retires: 2\\n  - name: b|retires|11|5",
        "    resources: {cores: 2, memoryMb: 1024, enclaveSize: 2G}|    resources: {cores: 2, memoryMb: 1024, enclaveSize: 2G,\\n      gpus: 1}|gpus|16|7",
        "      - {name: x, from: a.out, path: /inputs/x.txt}|      - {name: x, from: a.out, path: /inputs/x.txt}\\n      - {name: z, form: a.out, path: /inputs/z.txt}|form|20|19",
    })
    void unknownKeysAreReportedAtTheirLine(String from, String to, String key, int line, int column) {
        String yaml = DIAMOND.replace(from.replace("\\n", "\n"), to.replace("\\n", "\n"));
        assertThat(yaml).isNotEqualTo(DIAMOND);
        assertThat(yaml.lines().toList().get(line - 1).substring(column - 1)).startsWith(key + ":");
        assertThatThrownBy(() -> parse(yaml))
                .hasMessageContaining("unknown key '" + key + "' (line " + line + ", column " + column + ")");
    }

    @Test
    void parsesADiamond() throws Exception {
        PipelineSpec p = parse(DIAMOND);
        assertThat(p.dependencies()).isEqualTo(Map.of(
                "split", Set.of(), "a", Set.of("split"), "b", Set.of("split"), "join", Set.of("a", "b")));
        assertThat(p.step("b").resources().cores()).isEqualTo(2);
        assertThat(p.step("a").resources().memoryMb()).isEqualTo(512);
        assertThat(PipelineSpec.parse(p.toBytes(), "again")).isEqualTo(p);
    }

    @Test
    void readsFailureHandlingAndKeepsItThroughTheRunFolder() throws Exception {
        PipelineSpec p = parse(DIAMOND.replace("name: diamond\n", "name: diamond\non_failure: continue\n")
                .replace("  - name: a\n", "  - name: a\n    retries: 3\n    retry_backoff: 2s\n    time_limit: 1h30m\n")
                .replace("  - name: b\n", "  - name: b\n    on_failure: stop\n"));
        assertThat(p.step("a").retries()).isEqualTo(3);
        assertThat(PipelineSpec.timeLimitOf(p.step("a"))).isEqualTo(Duration.ofMinutes(90));
        assertThat(PipelineSpec.timeLimitOf(p.step("b"))).isNull();
        // exponential from the step's back-off (1 s when not given), at most an hour
        assertThat(PipelineSpec.backoffOf(p.step("a"), 1)).isEqualTo(Duration.ofSeconds(2));
        assertThat(PipelineSpec.backoffOf(p.step("a"), 3)).isEqualTo(Duration.ofSeconds(8));
        assertThat(PipelineSpec.backoffOf(p.step("b"), 1)).isEqualTo(Duration.ofSeconds(1));
        assertThat(PipelineSpec.backoffOf(p.step("b"), 10)).isEqualTo(Duration.ofSeconds(512));
        assertThat(PipelineSpec.backoffOf(p.step("b"), 20)).isEqualTo(Duration.ofHours(1));
        assertThat(p.continuesAfter(p.step("a"))).isTrue();
        assertThat(p.continuesAfter(p.step("b"))).isFalse();
        assertThat(PipelineSpec.parse(p.toBytes(), "again")).isEqualTo(p);
        PipelineSpec plain = parse(DIAMOND);
        assertThat(plain.step("a").retries()).isZero();
        assertThat(plain.continuesAfter(plain.step("a"))).isFalse();
        assertThat(PipelineSpec.format(Duration.ofSeconds(5430))).isEqualTo("1h30m30s");
        assertThat(PipelineSpec.durationOrNull("1d2h")).isEqualTo(Duration.ofHours(26));
    }

    @Test
    void stdoutAndStderrBecomeOutputsAtTheStreamsPaths() throws Exception {
        PipelineSpec p = parse(DIAMOND.replace("  - name: b\n", "  - name: b\n    stdout: said\n    stderr: moaned\n")
                .replace("{name: y, from: b.out, path: /inputs/y.txt}", "{name: y, from: b.said, path: /inputs/y.txt}"));
        assertThat(p.step("b").outputs()).containsExactly(new dev.cloister.runtime.job.JobSpec.Output("out", "/outputs/out.txt"),
                new dev.cloister.runtime.job.JobSpec.Output("said", "/cloister/stdout"),
                new dev.cloister.runtime.job.JobSpec.Output("moaned", "/cloister/stderr"));
        assertThat(PipelineSpec.parse(p.toBytes(), "again")).isEqualTo(p);
        // a step may have only stream outputs
        parse(DIAMOND.replace("outputs: [{name: report, path: /outputs/report.txt}]", "stdout: report"));
        assertThatThrownBy(() -> parse(DIAMOND.replace("  - name: b\n", "  - name: b\n    stdout: out\n")))
                .hasMessageContaining("step 'b' stdout: 'out' is used twice");
        assertThatThrownBy(() -> parse(DIAMOND.replace("{name: report, path: /outputs/report.txt}",
                "{name: report, path: /cloister/stdout}")))
                .hasMessageContaining("step 'join' outputs[0].path: /cloister/stdout is the program's stdout; write 'stdout: report' instead");
        assertThatThrownBy(() -> parse(DIAMOND.replace("  - name: split\n", "  - name: split\n    backend: gramine-direct\n    stderr: e\n")))
                .hasMessageContaining("step 'split' stderr: a gramine-direct step's console stays on its worker");
    }

    @Test
    void aGramineDirectStepReadsOnlyTheOwnersFiles() throws Exception {
        PipelineSpec p = parse(DIAMOND.replace("  - name: split\n", "  - name: split\n    backend: gramine-direct\n"));
        assertThat(p.backendOf(p.step("split"))).isEqualTo("gramine-direct");
        assertThat(p.backendOf(p.step("a"))).isEqualTo("sim");
        assertThatThrownBy(() -> parse(DIAMOND.replace("  - name: a\n", "  - name: a\n    backend: gramine-direct\n")))
                .isInstanceOf(CloisterException.class)
                .hasMessageContaining("step 'a' input 'in': a gramine-direct step can read only the owner's files");
        assertThatThrownBy(() -> parse(DIAMOND.replace("  - name: a\n", "  - name: a\n    backend: gramine\n")))
                .isInstanceOf(CloisterException.class).hasMessageContaining("gramine");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "from: split.left|from: nosuch.left|step 'a' input 'in' reads from step 'nosuch', which does not exist",
        "from: split.left|from: split.middle|reads output 'middle' of step 'split', which has outputs [left, right]",
        "from: split.left|from: join.report|steps form a cycle: a -> join -> a",
        "from: split.left|from: splitleft|must be STEP.OUTPUT",
        "- name: b|- name: a|steps[2].name: 'a' is used twice",
        "{name: report, path: /outputs/report.txt}|{name: stdout.txt, path: /outputs/report.txt}|step 'join' outputs[0].name: 'stdout.txt' is reserved for the program's captured stdout",
        "{name: raw, file: data/raw.txt, path: /inputs/raw.txt}|{name: raw, path: /inputs/raw.txt}|exactly one of 'file'",
        "cores: 2|cores: 0|step 'b' resources",
        "name: diamond|name: diamond\\non_failure: carry-on|on_failure: 'carry-on' must be stop or continue",
        "  - name: a\\n|  - name: a\\n    on_failure: go\\n|step 'a' on_failure: 'go' must be stop or continue",
        "  - name: a\\n|  - name: a\\n    retries: 11\\n|step 'a' retries: 11 is not 0 to 10",
        "  - name: a\\n|  - name: a\\n    retries: -1\\n|step 'a' retries: -1 is not 0 to 10",
        "  - name: a\\n|  - name: a\\n    retry_backoff: 1 s\\n|step 'a' retry_backoff: '1 s' is not a duration",
        "  - name: a\\n|  - name: a\\n    time_limit: 30\\n|step 'a' time_limit: '30' is not a duration like 30s",
        "  - name: a\\n|  - name: a\\n    time_limit: 0s\\n|step 'a' time_limit: '0s' is not a duration",
        "  - name: a\\n|  - name: a\\n    time_limit: 2h30\\n|step 'a' time_limit: '2h30' is not a duration",
        "  - name: a\\n|  - name: a\\n    time_limit: 400d\\n|step 'a' time_limit: '400d' is not a duration",
    })
    void invalidPipelinesAreRejectedBeforeAnythingRuns(String from, String to, String message) {
        String yaml = DIAMOND.replace(from.replace("\\n", "\n"), to.replace("\\n", "\n"));
        assertThat(yaml).isNotEqualTo(DIAMOND);
        assertThatThrownBy(() -> parse(yaml)).isInstanceOf(CloisterException.class)
                .hasMessageStartingWith("p.yaml: ").hasMessageContaining(message);
    }

    @Test
    void findsCyclesAndNoFalseOnes() {
        assertThat(PipelineSpec.findCycle(Map.of("a", Set.of("b"), "b", Set.of("c"), "c", Set.of("a"))))
                .containsExactly("a", "b", "c", "a");
        assertThat(PipelineSpec.findCycle(Map.of("a", Set.of("a")))).containsExactly("a", "a");
        assertThat(PipelineSpec.findCycle(Map.of("a", Set.of("b", "c"), "b", Set.of("d"), "c", Set.of("d"), "d", Set.of())))
                .isEqualTo(List.of());
    }
}
