package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random and mutated inputs to every entry point that parses a file: only {@link PfException} may come out (an
 * {@link IOException} wrapping one from the channel), never another exception, and nothing hangs.
 */
class FuzzTest {
    @TempDir
    Path dir;

    /** Feeds one candidate file to the header reader, the streaming reader and the channel; returns the reasons. */
    private void feed(byte[] bytes, PfKey key, Set<PfException.Reason> seen) throws Exception {
        Path f = dir.resolve("fuzz.pf");
        Files.write(f, bytes);
        try (FileChannel ch = FileChannel.open(f)) {
            ProtectedFiles.header(ch, "fuzz");
        } catch (PfException e) {
            seen.add(e.reason());
        }
        try (FileChannel ch = FileChannel.open(f)) {
            ProtectedFiles.decrypt(ch, OutputStream.nullOutputStream(), key, PathPolicy.trustEmbedded(), "fuzz", n -> {});
        } catch (PfException e) {
            seen.add(e.reason());
            assertThat(e.getMessage()).isNotBlank().contains("fuzz");
        }
        try (FileChannel ch = FileChannel.open(f)) {
            ProtectedFiles.inspect(ch, key, PathPolicy.expect("/fuzz"), "fuzz");
        } catch (PfException e) {
            seen.add(e.reason());
        }
        try (PfChannel ch = ProtectedFiles.open(f, key, PathPolicy.trustEmbedded(), ProtectedFiles.Mode.READ,
                PfVersion.V2)) {
            ByteBuffer b = ByteBuffer.allocate(64 * 1024);
            while (ch.read(b) > 0) {
                b.clear();
            }
        } catch (PfException e) {
            seen.add(e.reason());
        } catch (IOException e) {
            assertThat(e.getCause()).as("I/O error from the channel: %s", e).isInstanceOf(PfException.class);
            seen.add(((PfException) e.getCause()).reason());
        }
    }

    @Test
    void randomFilesOnlyGiveTypedErrors() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            Random r = new Random(11);
            Set<PfException.Reason> seen = EnumSet.noneOf(PfException.Reason.class);
            try (PfKey key = Pf.key(1)) {
                for (int i = 0; i < 200; i++) {
                    int len = switch (i % 4) {
                        case 0 -> r.nextInt(10_000);
                        case 1 -> 4096 * r.nextInt(6);
                        default -> 4096 * (1 + r.nextInt(3));
                    };
                    byte[] b = Pf.random(len, r.nextLong());
                    if (i % 2 == 0 && len >= 10) { // a plausible header, so the parser gets further
                        System.arraycopy(MetadataNode.MAGIC, 0, b, 0, 8);
                        b[8] = (byte) (1 + r.nextInt(2));
                        b[9] = 0;
                        if (len >= 4096 && r.nextBoolean()) {
                            b[58] = 0;
                            Arrays.fill(b, 3942, 4096, (byte) 0);
                        }
                    }
                    feed(b, key, seen);
                }
            }
            assertThat(seen).contains(PfException.Reason.BAD_SIZE, PfException.Reason.NOT_ENCRYPTED_FILE,
                    PfException.Reason.AUTHENTICATION_FAILED);
        });
    }

    @Test
    void mutatedFilesOnlyGiveTypedErrors() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            Random r = new Random(12);
            Set<PfException.Reason> seen = EnumSet.noneOf(PfException.Reason.class);
            try (PfKey key = Pf.key(2)) {
                byte[][] seeds = new byte[3][];
                int[] sizes = {100, 3072 + 3 * 4096, 3072 + 97 * 4096 + 5};
                for (int s = 0; s < seeds.length; s++) {
                    Path f = dir.resolve("seed" + s);
                    Pf.encrypt(Pf.random(sizes[s], s), f, key, "/fuzz", s == 1 ? PfVersion.V1 : PfVersion.V2);
                    seeds[s] = Files.readAllBytes(f);
                }
                for (int i = 0; i < 150; i++) {
                    byte[] b = seeds[r.nextInt(seeds.length)].clone();
                    switch (r.nextInt(6)) {
                        case 0 -> { // a few random byte changes
                            for (int k = 1 + r.nextInt(4); k > 0; k--) {
                                b[r.nextInt(b.length)] ^= (byte) (1 + r.nextInt(255));
                            }
                        }
                        case 1 -> b = Arrays.copyOf(b, r.nextInt(b.length)); // cut anywhere
                        case 2 -> b = Arrays.copyOf(b, b.length + 1 + r.nextInt(9000)); // grow with zeros
                        case 3 -> { // a node overwritten by another node of the same file
                            int n = b.length / 4096;
                            System.arraycopy(b.clone(), r.nextInt(n) * 4096, b, r.nextInt(n) * 4096, 4096);
                            b[r.nextInt(b.length)] ^= 1; // and never a no-op
                        }
                        case 4 -> { // a header field set to an edge value
                            int[] fields = {8, 9, 58};
                            b[fields[r.nextInt(3)]] = (byte) new int[] {0, 1, 2, 3, 0x80, 0xff}[r.nextInt(6)];
                        }
                        default -> { // a random run of bytes replaced
                            int at = r.nextInt(b.length);
                            int n = Math.min(b.length - at, 1 + r.nextInt(300));
                            byte[] junk = Pf.random(n, r.nextLong());
                            System.arraycopy(junk, 0, b, at, n);
                        }
                    }
                    feed(b, key, seen);
                }
            }
            assertThat(seen).contains(PfException.Reason.AUTHENTICATION_FAILED, PfException.Reason.BAD_SIZE,
                    PfException.Reason.UNSUPPORTED_VERSION);
        });
    }
}
