package dev.cloister.runtime.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class JobSpecTest {
    static final String GOOD = """
            name: word-count
            bundle:
              path: bundles/wc
              policy: "allow-simulated MRENCLAVE:00"
            inputs:
              - name: text
                file: data/text.txt
                path: /inputs/text.txt
            outputs:
              - name: counts
                path: /outputs/counts.txt
            args: [/inputs/text.txt, /outputs/counts.txt]
            env: {LANG: C.UTF-8}
            broker: https://127.0.0.1:8443
            repository: repo
            """;

    static JobSpec parse(String yaml) throws CloisterException {
        return JobSpec.parse(yaml.getBytes(StandardCharsets.UTF_8), "job.yaml");
    }

    @Test
    void parsesAndRoundTrips() throws Exception {
        JobSpec j = parse(GOOD);
        assertThat(j.name()).isEqualTo("word-count");
        assertThat(j.backend()).isEqualTo("sim");
        assertThat(j.inputs()).singleElement().extracting(JobSpec.Input::path).isEqualTo("/inputs/text.txt");
        assertThat(JobSpec.parse(j.toBytes(), "again")).isEqualTo(j);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "name: word-count|name: 'bad name'|name: 'bad name' must be",
        "path: /inputs/text.txt|path: /etc/passwd|inputs[0].path: '/etc/passwd' must be a normalized path under /inputs/",
        "path: /outputs/counts.txt|path: /outputs/../x|outputs[0].path: '/outputs/../x'",
        "repository: repo|repositry: repo|unknown key 'repositry'",
        "broker: https://127.0.0.1:8443|backend: sgx|backend: 'sgx' is not one of",
        "  path: bundles/wc|  ref: sha256:00\\n  path: bundles/wc|exactly one of bundle.path and bundle.ref",
        "- name: counts|- name: text|outputs[0].name: 'text' is used twice",
        "- name: counts|- name: stdout.txt|outputs[0].name: 'stdout.txt' is reserved for the program's captured stdout",
        "- name: counts|- name: STDERR.TXT|outputs[0].name: 'STDERR.TXT' is reserved for the program's captured stderr",
    })
    void badFieldsAreNamed(String from, String to, String message) {
        String yaml = GOOD.replace(from, to.replace("\\n", "\n"));
        assertThat(yaml).isNotEqualTo(GOOD);
        assertThatThrownBy(() -> parse(yaml))
                .isInstanceOfSatisfying(CloisterException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.BAD_INPUT))
                .hasMessageStartingWith("job.yaml: ")
                .hasMessageContaining(message);
    }

    /** The line and column of an unknown key are where the key is, at any depth (Jackson reported the end). */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "  path: bundles/wc|  path: bundles/wc\\n  polcy: x|polcy|4|3",
        "    path: /inputs/text.txt|    path: /inputs/text.txt\\n    mode: r|mode|9|5",
        "args: [/inputs/text.txt, /outputs/counts.txt]|argz: [/inputs/text.txt, /outputs/counts.txt]|argz|12|1",
        "repository: repo|repositry: repo|repositry|15|1",
    })
    void unknownKeysAreReportedAtTheirLine(String from, String to, String key, int line, int column) {
        String yaml = GOOD.replace(from, to.replace("\\n", "\n"));
        assertThat(yaml).isNotEqualTo(GOOD);
        assertThat(yaml.lines().toList().get(line - 1)).startsWith(" ".repeat(column - 1) + key + ":");
        assertThatThrownBy(() -> parse(yaml))
                .hasMessageContaining("unknown key '" + key + "' (line " + line + ", column " + column + ")");
    }

    @Test
    void malformedYamlSaysWhere() {
        assertThatThrownBy(() -> parse("name: [unclosed")).hasMessageContaining("line");
        assertThatThrownBy(() -> parse("")).hasMessageContaining("job.yaml");
    }
}
