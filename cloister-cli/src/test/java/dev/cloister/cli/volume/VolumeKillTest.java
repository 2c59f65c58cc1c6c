package dev.cloister.cli.volume;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.CliRun;
import dev.cloister.cli.Json;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cloister volume import} killed with SIGKILL in the middle of a tar stream, in its own JVM, then resumed:
 * the result is a complete volume whose content equals the source, and nothing plaintext was ever left behind.
 */
class VolumeKillTest {
    @TempDir
    Path tmp;

    @Test
    void anImportKilledMidwayResumesToTheSourcesContent() throws Exception {
        Path key = tmp.resolve("vol.key");
        assertThat(CliRun.of("pf", "keygen", key.toString()).code()).isZero();
        Path src = tmp.resolve("src");
        Random r = new Random(5);
        for (int i = 0; i < 300; i++) {
            byte[] b = new byte[16_384 + r.nextInt(65_536)];
            r.nextBytes(b);
            Path p = src.resolve("d" + (i % 7) + "/f" + i);
            Files.createDirectories(p.getParent());
            Files.write(p, b);
        }
        Process tarProc = new ProcessBuilder("tar", "-C", src.toString(), "-cf", "-", ".").start();
        byte[] tar = tarProc.getInputStream().readAllBytes();
        assertThat(tarProc.waitFor()).isZero();
        Path vol = tmp.resolve("vol");

        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "dev.cloister.cli.Cloister", "volume", "import", "--key", key.toString(), "--jobs", "2", "-",
                vol.toString())
                .redirectError(tmp.resolve("err.txt").toFile()).redirectOutput(tmp.resolve("out.txt").toFile())
                .start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(tar, 0, tar.length / 2); // the producer stalls halfway; the import has encrypted what it got
            in.flush();
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (count(vol.resolve("files")) < 20 && System.nanoTime() < deadline && p.isAlive()) {
                Thread.sleep(50);
            }
            assertThat(p.isAlive()).as("import still waiting for the rest of the stream").isTrue();
            p.destroyForcibly(); // SIGKILL
            p.waitFor();
        } catch (java.io.IOException ignored) {
            // the pipe closed under the killed process
        }
        assertThat(p.exitValue()).isEqualTo(137);
        long kept = count(vol.resolve("files"));
        assertThat(kept).isBetween(20L, 299L);
        assertThat(vol.resolve("import.pending")).exists();
        try (Stream<Path> s = Files.walk(vol)) {
            for (Path f : s.filter(Files::isRegularFile).toList()) {
                String name = vol.relativize(f).toString();
                if (name.startsWith("files/")) {
                    assertThat(new String(Files.readAllBytes(f), 0, 8)).as(name).isEqualTo("GRAFS_PF");
                }
            }
        }
        assertThat(CliRun.of("volume", "verify", "--key", key.toString(), vol.toString()).out())
                .contains("incomplete");

        InputStream saved = System.in;
        CliRun resume;
        try {
            System.setIn(new ByteArrayInputStream(tar));
            resume = CliRun.of("volume", "import", "--key", key.toString(), "--json", "-", vol.toString());
        } finally {
            System.setIn(saved);
        }
        assertThat(resume.code()).as(resume.err()).isZero();
        JsonNode j = Json.mapper().readTree(resume.out());
        assertThat(j.get("resumed").asInt()).isEqualTo((int) kept);
        assertThat(j.get("written").asInt()).isEqualTo(300 - (int) kept);
        assertThat(j.get("version").asLong()).isEqualTo(1);
        Path out = tmp.resolve("out");
        CliRun export = CliRun.of("volume", "export", "--key", key.toString(), "--expect-version", "1",
                "--expect-root", j.get("root").asText(), vol.toString(), out.toString());
        assertThat(export.code()).as(export.err()).isZero();
        try (Stream<Path> s = Files.walk(src)) {
            for (Path f : s.filter(Files::isRegularFile).toList()) {
                assertThat(Files.readAllBytes(out.resolve(src.relativize(f).toString())))
                        .as(f.toString()).isEqualTo(Files.readAllBytes(f));
            }
        }
        assertThat(count(out)).isEqualTo(300);
    }

    private static long count(Path dir) throws Exception {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).count();
        }
    }
}
