package dev.cloister.cli.job;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.cli.Cloister;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The README's first command: the whole confidential-job story, run for real. */
class DemoCommandTest {
    @TempDir
    Path tmp;

    @Test
    void theDemoRunsTheJobAndTheOutputsMatchADirectRun() throws Exception {
        CommandLine cl = Cloister.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute("demo", "--dir", tmp.resolve("d").toString(), "--records", "300");
        assertThat(code).as(err.toString()).isZero();
        assertThat(out.toString())
                .contains("SIMULATED")
                .contains("outputs equal a direct run")
                .containsPattern("release ok kem X25519; SGX mrenclave [0-9a-f]{64}");
        assertThat(err.toString()).contains("worker: enclave key released [SIMULATED]");
        // The repository holds ciphertext only: no record of the plaintext appears in it.
        String firstRecord = Files.readAllLines(tmp.resolve("d/owner/patients.csv")).get(1);
        try (var files = Files.walk(tmp.resolve("d/repository"))) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                assertThat(Files.readString(f, java.nio.charset.StandardCharsets.ISO_8859_1)).doesNotContain(firstRecord);
            }
        }
    }
}
