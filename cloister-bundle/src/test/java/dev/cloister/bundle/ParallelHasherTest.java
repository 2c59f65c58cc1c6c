package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ParallelHasher} against the JDK's one-shot SHA-256 of the whole file: every size around the buffer's
 * boundaries (through the buffer-size seam, so that small files span many reads), copies byte for byte, and files
 * that shrink or grow while being read.
 */
class ParallelHasherTest {
    private static final int SMALL_BUFFER = 4096;

    @TempDir
    Path dir;

    private static String sha256(byte[] b) {
        return HexFormat.of().formatHex(ParallelHasher.sha256().digest(b));
    }

    private Path file(String name, byte[] content) throws IOException {
        return Files.write(dir.resolve(name), content);
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void emptyFileHashesAndCopiesAsEmpty() throws Exception {
        Path src = file("empty", new byte[0]);
        Path dest = dir.resolve("empty.copy");
        ParallelHasher.Digest d = ParallelHasher.one(src, dest);
        assertThat(d.size()).isZero();
        assertThat(d.sha256()).isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assertThat(dest).exists().isEmptyFile();
    }

    @Test
    void everySizeAroundTheBufferBoundaryMatchesTheOneShotDigest() throws Exception {
        ParallelHasher.Worker w = new ParallelHasher.Worker(SMALL_BUFFER);
        int[] sizes = {0, 1, SMALL_BUFFER - 1, SMALL_BUFFER, SMALL_BUFFER + 1, 2 * SMALL_BUFFER,
            3 * SMALL_BUFFER - 1, 7 * SMALL_BUFFER + 123, 50_000};
        for (int i = 0; i < sizes.length; i++) {
            byte[] content = random(sizes[i], i);
            Path src = file("f" + i, content);
            Path dest = dir.resolve("f" + i + ".copy");
            AtomicLong reported = new AtomicLong();
            ParallelHasher.Digest hashed = w.one(src, null, reported::addAndGet);
            ParallelHasher.Digest copied = w.one(src, dest, n -> { });
            assertThat(hashed).as("size %d", sizes[i]).isEqualTo(new ParallelHasher.Digest(sha256(content), sizes[i]));
            assertThat(copied).isEqualTo(hashed);
            assertThat(reported.get()).isEqualTo(sizes[i]);
            assertThat(Files.readAllBytes(dest)).isEqualTo(content);
        }
    }

    @Test
    void aFailedFileLeavesNoStateInTheReusedDigest() throws Exception {
        ParallelHasher.Worker w = new ParallelHasher.Worker(SMALL_BUFFER);
        Path big = file("big", random(10 * SMALL_BUFFER, 1));
        assertThatThrownBy(() -> w.one(big, null, n -> {
            throw new UncheckedIOException(new IOException("stop after one chunk"));
        })).isInstanceOf(UncheckedIOException.class);
        byte[] content = random(3000, 2);
        assertThat(w.one(file("small", content), null, n -> { }).sha256()).isEqualTo(sha256(content));
    }

    @Test
    void theReadingBufferIsPageAligned() {
        // A plain direct buffer was sometimes 3x slower for the kernel to copy into (docs/bundles.md, "Numbers").
        assertThat(new ParallelHasher.Worker(ParallelHasher.BUFFER).bufferAddress() % 4096).isZero();
        assertThat(new ParallelHasher.Worker(SMALL_BUFFER + 16).bufferAddress() % 4096).isZero();
    }

    @Test
    void aFileTruncatedWhileBeingHashedIsAnErrorNamingIt() throws Exception {
        Path src = file("shrinks", random(16 * SMALL_BUFFER, 3));
        ParallelHasher.Worker w = new ParallelHasher.Worker(SMALL_BUFFER);
        assertThatThrownBy(() -> w.one(src, null, truncateOnce(src, 10_000, 1)))
                .isInstanceOf(ParallelHasher.ChangedWhileRead.class)
                .hasMessage(src + " changed size while being read: 65536 bytes when opened, 10000 bytes when read"
                        + " to its end");
    }

    @Test
    void aFileThatGrowsWhileBeingCopiedIsAnError() throws Exception {
        Path src = file("grows", random(5 * SMALL_BUFFER + 7, 4));
        ParallelHasher.Worker w = new ParallelHasher.Worker(SMALL_BUFFER);
        AtomicBoolean once = new AtomicBoolean();
        assertThatThrownBy(() -> w.one(src, dir.resolve("grows.copy"), n -> {
            if (once.compareAndSet(false, true)) {
                try {
                    Files.write(src, new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        })).isInstanceOf(ParallelHasher.ChangedWhileRead.class)
                .hasMessageContaining("20487 bytes when opened, more than that when read");
    }

    @Test
    void treeHashingReportsATruncatedFileAsBadInputWithItsBundlePath() throws Exception {
        // Larger than the real buffer, so the truncation lands between two reads.
        Path src = file("big", random(3 * ParallelHasher.BUFFER, 5));
        Map<String, Path> files = new TreeMap<>(Map.of("/lib/big.so", src, "/small", file("small", random(10, 6))));
        assertThatThrownBy(() -> ParallelHasher.hash(files, 2, truncateOnce(src, 1000, ParallelHasher.BUFFER)))
                .isInstanceOf(BundleException.class)
                .hasMessageStartingWith("/lib/big.so: " + src + " changed size while being read: 786432 bytes when"
                        + " opened, 262144 bytes")
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT));
    }

    @Test
    void aSourceTruncatedDuringABuildFailsTheBuildAndWritesNothing() throws Exception {
        Path app = dir.resolve("app");
        Files.createDirectories(app);
        Files.writeString(app.resolve("run.sh"), "#!/bin/sh\necho hi\n");
        // 64 chunks, larger than everything else the bundle takes in (run.sh, /bin/sh and its libraries: ~3 MB, ~12
        // chunks), so it is hashed first and is still being read when the 20th full chunk of the build is reported.
        Path data = Files.write(app.resolve("data.bin"), random(64 * ParallelHasher.BUFFER, 8));
        AtomicLong chunks = new AtomicLong();
        BundleBuilder.Progress truncate = (total, done) -> {
            if (done == ParallelHasher.BUFFER && chunks.incrementAndGet() == 20) {
                try (FileChannel c = FileChannel.open(data, StandardOpenOption.WRITE)) {
                    c.truncate(100);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
        Path out = dir.resolve("out/bundle");
        assertThatThrownBy(() -> BundleBuilder.build(BuildOptions.dir(app, "run.sh"), out, false, truncate))
                .isInstanceOf(BundleException.class)
                .hasMessageContaining("data.bin changed size while being read: 16777216 bytes when opened, ")
                .satisfies(e -> assertThat(((CloisterException) e).kind()).isEqualTo(CloisterException.Kind.BAD_INPUT));
        assertThat(out).doesNotExist();
        try (var left = Files.list(out.getParent())) {
            assertThat(left.toList()).as("temporary folders left behind").isEmpty();
        }
    }

    @Test
    void treeHashAndCopyOnAllThreadsMatchTheOneShotDigests() throws Exception {
        Random r = new Random(7);
        SortedMap<String, Path> files = new TreeMap<>();
        Map<String, byte[]> contents = new TreeMap<>();
        List<Integer> sizes = new ArrayList<>(List.of(0, 1, ParallelHasher.BUFFER, ParallelHasher.BUFFER + 1,
                3 * ParallelHasher.BUFFER + 17));
        for (int i = 0; i < 40; i++) {
            sizes.add(r.nextInt(100_000));
        }
        for (int i = 0; i < sizes.size(); i++) {
            byte[] c = random(sizes.get(i), 100 + i);
            String key = "/d" + (i % 3) + "/f" + i;
            Files.createDirectories(dir.resolve("src/d" + (i % 3)));
            files.put(key, Files.write(dir.resolve("src" + key), c));
            contents.put(key, c);
        }
        Path dest = dir.resolve("dest");
        for (int i = 0; i < 3; i++) {
            Files.createDirectories(dest.resolve("d" + i));
        }
        AtomicLong progress = new AtomicLong();
        SortedMap<String, ParallelHasher.Digest> copied = ParallelHasher.copyAndHash(files, dest, 2, progress::addAndGet);
        SortedMap<String, ParallelHasher.Digest> hashed = ParallelHasher.hash(files, 2);
        long total = 0;
        for (Map.Entry<String, byte[]> e : contents.entrySet()) {
            ParallelHasher.Digest want = new ParallelHasher.Digest(sha256(e.getValue()), e.getValue().length);
            assertThat(hashed.get(e.getKey())).as(e.getKey()).isEqualTo(want);
            assertThat(copied.get(e.getKey())).as(e.getKey()).isEqualTo(want);
            assertThat(Files.readAllBytes(dest.resolve(e.getKey().substring(1)))).isEqualTo(e.getValue());
            total += e.getValue().length;
        }
        assertThat(hashed.keySet()).isEqualTo(contents.keySet());
        assertThat(progress.get()).isEqualTo(total);
    }

    /** Truncates {@code file} after the first chunk of at least {@code chunk} bytes has been hashed. */
    private static java.util.function.LongConsumer truncateOnce(Path file, long size, long chunk) {
        AtomicBoolean once = new AtomicBoolean();
        return n -> {
            if (n >= chunk && once.compareAndSet(false, true)) {
                try (FileChannel c = FileChannel.open(file, StandardOpenOption.WRITE)) {
                    c.truncate(size);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
    }
}
