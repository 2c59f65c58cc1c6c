package dev.cloister.cli.volume;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.CliRun;
import dev.cloister.cli.Json;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cloister volume ...} end to end, in process: results, JSON, exit codes and messages (docs/cli.md). */
class VolumeCommandTest {
    @TempDir
    Path tmp;

    Path key;
    Path src;

    static CliRun volume(String... args) {
        return CliRun.of(Stream.concat(Stream.of("volume"), Stream.of(args)).toArray(String[]::new));
    }

    @BeforeEach
    void setUp() throws Exception {
        key = tmp.resolve("vol.key");
        assertThat(CliRun.of("pf", "keygen", key.toString()).code()).isZero();
        src = tmp.resolve("src");
        Random r = new Random(3);
        for (int i = 0; i < 12; i++) {
            byte[] b = new byte[r.nextInt(50_000)];
            r.nextBytes(b);
            Path p = src.resolve(i % 3 == 0 ? "aof/part" + i : "rdb" + i);
            Files.createDirectories(p.getParent());
            Files.write(p, b);
        }
    }

    @Test
    void importInspectVerifyExport() throws Exception {
        Path vol = tmp.resolve("vol");
        CliRun imp = volume("import", "--key", key.toString(), "--jobs", "2", "--json", src.toString(), vol.toString());
        assertThat(imp.code()).as(imp.err()).isZero();
        JsonNode j = Json.mapper().readTree(imp.out());
        assertThat(j.get("version").asLong()).isEqualTo(1);
        assertThat(j.get("files").asInt()).isEqualTo(12);
        assertThat(j.get("written").asInt()).isEqualTo(12);
        String root = j.get("root").asText();

        CliRun inspect = volume("inspect", "--json", vol.toString());
        assertThat(inspect.code()).isZero();
        JsonNode i = Json.mapper().readTree(inspect.out());
        assertThat(i.get("root").asText()).isEqualTo(root);
        assertThat(i.get("authenticated").asBoolean()).isFalse();
        assertThat(volume("inspect", vol.toString()).out()).contains("version  1").contains("not authenticated");

        CliRun ok = volume("verify", "--key", key.toString(), "--expect-version", "1", "--expect-root", root,
                vol.toString());
        assertThat(ok.code()).as(ok.err()).isZero();
        assertThat(ok.out()).contains("verified volume").contains("12 files");

        Path out = tmp.resolve("out");
        assertThat(volume("export", "--key", key.toString(), vol.toString(), out.toString()).code()).isZero();
        for (String name : new String[] {"rdb1", "aof/part3"}) {
            assertThat(Files.readAllBytes(out.resolve(name))).isEqualTo(Files.readAllBytes(src.resolve(name)));
        }
        CliRun again = volume("export", "--key", key.toString(), vol.toString(), out.toString());
        assertThat(again.code()).isEqualTo(3);
        assertThat(again.err()).contains("refusing to overwrite").contains("--force");
        assertThat(volume("export", "--key", key.toString(), "--force", vol.toString(), out.toString()).code())
                .isZero();
    }

    @Test
    void verifyNamesEveryDifferenceAndExitsOne() throws Exception {
        Path vol = tmp.resolve("vol");
        assertThat(volume("import", "--key", key.toString(), src.toString(), vol.toString()).code()).isZero();
        // The same files imported into another volume with the same key: its files authenticate at the same paths.
        Path other = tmp.resolve("other");
        assertThat(volume("import", "--key", key.toString(), src.toString(), other.toString()).code()).isZero();
        Files.copy(other.resolve("files/rdb1"), vol.resolve("files/rdb1"), StandardCopyOption.REPLACE_EXISTING);
        Files.delete(vol.resolve("files/rdb2"));
        CliRun r = volume("verify", "--key", key.toString(), vol.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.out()).contains("replaced\trdb1: authenticates but is not the recorded copy")
                .contains("missing\trdb2: recorded");
        assertThat(r.err()).startsWith("cloister: volume ").contains("rdb1").contains("and 1 more difference");
        // The other volume at the same version is refused by its root; an older version by the version.
        String root = Json.mapper().readTree(volume("inspect", "--json", vol.toString()).out()).get("root").asText();
        CliRun wrongRoot = volume("verify", "--key", key.toString(), "--json", "--expect-root", root, other.toString());
        assertThat(wrongRoot.code()).isEqualTo(1);
        JsonNode j = Json.mapper().readTree(wrongRoot.out());
        assertThat(j.get("ok").asBoolean()).isFalse();
        assertThat(j.get("differences").get(0).get("kind").asText()).isEqualTo("root");
        CliRun older = volume("verify", "--key", key.toString(), "--expect-version", "2", other.toString());
        assertThat(older.code()).isEqualTo(1);
        assertThat(older.err()).contains("version 1, expected version 2").contains("rolled back");
    }

    @Test
    void anEditedRecordIsAVerdictAndAGarbledOneBadInput() throws Exception {
        Path vol = tmp.resolve("vol");
        assertThat(volume("create", "--key", key.toString(), vol.toString()).code()).isZero();
        Path otherKey = tmp.resolve("other.key");
        assertThat(CliRun.of("pf", "keygen", otherKey.toString()).code()).isZero();
        CliRun wrongKey = volume("verify", "--key", otherKey.toString(), vol.toString());
        assertThat(wrongKey.code()).isEqualTo(1);
        assertThat(wrongKey.err()).contains("record fails authentication");
        Files.write(vol.resolve("volume.rec"), new byte[] {1, 2, 3});
        CliRun garbled = volume("verify", "--key", key.toString(), vol.toString());
        assertThat(garbled.code()).isEqualTo(3);
        assertThat(garbled.err()).contains("volume.rec: volume record is truncated");
    }

    @Test
    void tarOnStdinAndUsageErrors() throws Exception {
        Process p = new ProcessBuilder("tar", "-C", src.toString(), "-cf", "-", ".").start();
        byte[] tar = p.getInputStream().readAllBytes();
        assertThat(p.waitFor()).isZero();
        InputStream saved = System.in;
        CliRun r;
        try {
            System.setIn(new ByteArrayInputStream(tar));
            r = volume("import", "--key", key.toString(), "--prefix", "data", "-", tmp.resolve("vol").toString());
        } finally {
            System.setIn(saved);
        }
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("imported 12 files");
        assertThat(volume("inspect", tmp.resolve("vol").toString()).out()).contains("prefix   data");
        CliRun bad = volume("verify", "--key", key.toString(), "--expect-root", "xyz", tmp.resolve("vol").toString());
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("--expect-root must be 64 hex digits");
        CliRun notEmpty = volume("create", "--key", key.toString(), tmp.resolve("vol").toString());
        assertThat(notEmpty.code()).isEqualTo(3);
        assertThat(notEmpty.err()).contains("not empty");
        assertThat(volume("inspect", src.toString()).err()).contains("is not a volume");
        assertThat(volume().code()).isEqualTo(2);
        assertThat(volume("verify", "--help").out()).contains("--expect-version");
    }
}
