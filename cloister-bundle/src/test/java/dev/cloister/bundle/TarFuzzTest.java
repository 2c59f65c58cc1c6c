package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tar reader against the system's tar, our writer read back, and seeded mutation fuzzing. */
class TarFuzzTest {
    @TempDir
    Path tmp;

    private static List<String> names(byte[] tar) throws Exception {
        List<String> out = new ArrayList<>();
        Tar.read(new ByteArrayInputStream(tar), "t", (e, data) -> out.add(e.type() + " " + e.name() + " "
                + new String(data.readAllBytes(), StandardCharsets.UTF_8) + (e.linkName().isEmpty() ? ""
                        : " -> " + e.linkName())));
        return out;
    }

    @Test
    void readsGnuTarWithLongNamesAndLinks() throws Exception {
        String longName = "d/" + "x".repeat(150) + "/" + "y".repeat(120);
        Files.createDirectories(tmp.resolve("src").resolve(longName).getParent());
        Files.writeString(tmp.resolve("src").resolve(longName), "long");
        Files.createSymbolicLink(tmp.resolve("src/link"), Path.of("d"));
        for (String format : List.of("gnu", "pax", "ustar")) {
            Path t = tmp.resolve(format + ".tar");
            Sandbox.Run r = Sandbox.run("tar", "--format=" + format, "--sort=name", "-cf", t.toString(), "-C",
                    tmp.resolve("src").toString(), "link", longName);
            if (format.equals("ustar")) {
                assertThat(r.exit()).as("ustar cannot hold a 270-byte name").isNotZero();
                continue;
            }
            assertThat(r.exit()).as(r.err()).isZero();
            assertThat(names(Files.readAllBytes(t))).containsExactly("SYMLINK link  -> d", "FILE " + longName + " long");
        }
    }

    @Test
    void writerOutputIsReadBackAndListedByTheSystemTar() throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(bos, 315532800L);
        String longName = "a/" + "n".repeat(200);
        w.dir("a", 0755);
        w.file("a/f.txt", 0644, "hello".getBytes(StandardCharsets.UTF_8));
        w.file(longName, 0755, "x".getBytes(StandardCharsets.UTF_8));
        w.finish();
        assertThat(names(bos.toByteArray())).containsExactly("DIR a/ ", "FILE a/f.txt hello", "FILE " + longName + " x");
        Path t = tmp.resolve("w.tar");
        Files.write(t, bos.toByteArray());
        Sandbox.Run r = Sandbox.run("tar", "-tf", t.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out().lines()).containsExactly("a/", "a/f.txt", longName);
    }

    @Test
    void fuzzedArchivesGiveOnlyTypedErrors() throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(bos, 0);
        for (int i = 0; i < 5; i++) {
            w.file("f" + i + "/" + "z".repeat(i * 40), 0644, new byte[i * 300]);
        }
        w.finish();
        byte[] good = bos.toByteArray();
        Random rnd = new Random(5);
        for (int i = 0; i < 3000; i++) {
            byte[] b = good.clone();
            for (int k = 0; k < 1 + rnd.nextInt(4); k++) {
                b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
            }
            if (rnd.nextInt(5) == 0) {
                b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length));
            }
            try {
                names(b);
            } catch (BundleException | IOException e) {
                assertThat(e.getMessage()).isNotBlank();
            }
        }
        assertThatThrownBy(() -> names(new byte[100])).isInstanceOf(BundleException.class);
    }
}
