package dev.cloister.volume;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.pf.PfKey;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Import from a tree and from GNU tar streams, round trips through export, and resumption after a failure. */
class ImportTest {
    @TempDir
    Path tmp;

    @Test
    void aTreeImportsVerifiesAndExportsToTheSameTree() throws Exception {
        Path src = Trees.make(tmp.resolve("src"), 7);
        try (PfKey key = PfKey.generate()) {
            AtomicLong progress = new AtomicLong();
            VolumeImporter.Result r = VolumeImporter.importTree(src, tmp.resolve("vol"), key, "state", 2,
                    progress::addAndGet);
            assertThat(r.record().version()).isEqualTo(1);
            assertThat(r.written()).isEqualTo(26);
            assertThat(progress.get()).isEqualTo(r.bytes()).isEqualTo(sum(src));
            assertThat(tmp.resolve("vol/tmp")).doesNotExist();
            assertThat(Volume.importPending(tmp.resolve("vol"))).isFalse();
            VolumeVerifier.Report v = VolumeVerifier.verify(tmp.resolve("vol"), key,
                    new VolumeVerifier.Expected(1L, r.record().rootHex()), 2, n -> {});
            assertThat(v.differences()).isEmpty();
            Path out = tmp.resolve("out");
            assertThat(VolumeVerifier.export(tmp.resolve("vol"), out, key, VolumeVerifier.Expected.NONE, false, 2,
                    n -> {}).ok()).isTrue();
            assertThat(Trees.content(out)).isEqualTo(Trees.content(src));
            // The files are what Gramine opens under a mount with uri "file:state": bound to state/<path>.
            try (var ch = java.nio.channels.FileChannel.open(tmp.resolve("vol/files/db/small.txt"))) {
                assertThat(dev.cloister.pf.ProtectedFiles.inspect(ch, key, dev.cloister.pf.PathPolicy.trustEmbedded(),
                        "f").path()).isEqualTo("state/db/small.txt");
            }
            // Export refuses to overwrite without force, and replaces with it.
            assertThatThrownBy(() -> VolumeVerifier.export(tmp.resolve("vol"), out, key, VolumeVerifier.Expected.NONE,
                    false, 1, n -> {})).hasMessageContaining("refusing to overwrite");
            assertThat(VolumeVerifier.export(tmp.resolve("vol"), out, key, VolumeVerifier.Expected.NONE, true, 1,
                    n -> {}).ok()).isTrue();
            assertThat(Trees.content(out)).isEqualTo(Trees.content(src));
            // A volume inside its own source would import itself: refused before anything is written.
            assertThatThrownBy(() -> VolumeImporter.importTree(src, src.resolve("db/vol"), key, "state", 1, n -> {}))
                    .hasMessageContaining("inside the source");
            assertThat(src.resolve("db/vol")).doesNotExist();
            // A second import into a volume that holds files is refused.
            assertThatThrownBy(() -> VolumeImporter.importTree(src, tmp.resolve("vol"), key, "state", 1, n -> {}))
                    .hasMessageContaining("already holds files");
        }
    }

    private static long sum(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
    }

    @Test
    void gnuAndPaxTarStreamsImportLikeTheTree() throws Exception {
        Path src = Trees.make(tmp.resolve("src"), 8);
        try (PfKey key = PfKey.generate()) {
            for (String format : new String[] {"--format=gnu", "--format=pax"}) {
                Path vol = tmp.resolve("vol" + format.substring(9));
                VolumeImporter.importTar(new ByteArrayInputStream(Trees.tar(src, format)), vol, key, "state", 2,
                        n -> {});
                Path out = tmp.resolve("out" + format.substring(9));
                assertThat(VolumeVerifier.export(vol, out, key, VolumeVerifier.Expected.NONE, false, 2, n -> {}).ok())
                        .isTrue();
                assertThat(Trees.content(out)).isEqualTo(Trees.content(src));
            }
        }
    }

    @Test
    void aTarWithALinkOrABadChecksumIsRefused() throws Exception {
        Path src = tmp.resolve("src");
        Files.createDirectories(src);
        Files.writeString(src.resolve("a"), "x");
        Files.createSymbolicLink(src.resolve("link"), Path.of("a"));
        try (PfKey key = PfKey.generate()) {
            assertThatThrownBy(() -> VolumeImporter.importTar(new ByteArrayInputStream(Trees.tar(src)),
                    tmp.resolve("v1"), key, "state", 1, n -> {})).hasMessageContaining("link");
            byte[] t = Trees.tar(src);
            t[0] ^= 1;
            assertThatThrownBy(() -> VolumeImporter.importTar(new ByteArrayInputStream(t), tmp.resolve("v2"), key,
                    "state", 1, n -> {})).hasMessageContaining("checksum");
        }
    }

    /** A stream that fails after {@code limit} bytes, as a killed producer or a broken pipe would. */
    static final class Failing extends FilterInputStream {
        long left;

        Failing(InputStream in, long limit) {
            super(in);
            left = limit;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (left <= 0) {
                throw new IOException("producer killed");
            }
            int n = super.read(b, off, (int) Math.min(len, left));
            if (n > 0) {
                left -= n;
            }
            return n;
        }
    }

    @Test
    void aTarImportInterruptedMidwayResumesToTheSameContent() throws Exception {
        Path src = Trees.make(tmp.resolve("src"), 9);
        byte[] tar = Trees.tar(src);
        try (PfKey key = PfKey.generate()) {
            Path vol = tmp.resolve("vol");
            assertThatThrownBy(() -> VolumeImporter.importTar(new Failing(new ByteArrayInputStream(tar), tar.length / 2),
                    vol, key, "state", 2, n -> {})).hasMessageContaining("producer killed");
            assertThat(Volume.importPending(vol)).isTrue();
            assertNoPlaintextOrPartialFiles(vol, src);
            long before = VolumeVerifier.listFiles(vol.resolve("files")).size();
            assertThat(before).isBetween(1L, 25L);
            // Verify says the import is unfinished; the record (version 0) does not list the files.
            assertThat(VolumeVerifier.verify(vol, key, VolumeVerifier.Expected.NONE, 1, n -> {}).differences())
                    .extracting(VolumeVerifier.Difference::kind).contains(VolumeVerifier.Kind.INCOMPLETE);
            VolumeImporter.Result r = VolumeImporter.importTar(new ByteArrayInputStream(tar), vol, key, "state", 2,
                    n -> {});
            assertThat(r.resumed()).isEqualTo((int) before);
            assertThat(r.resumed() + r.written()).isEqualTo(26);
            assertSameAsCleanImport(vol, key, src);
        }
    }

    @Test
    void aTreeImportStoppedByAFailureMidwayResumesToTheSameContent() throws Exception {
        Path src = Trees.make(tmp.resolve("src"), 10);
        try (PfKey key = PfKey.generate()) {
            Path vol = tmp.resolve("vol");
            AtomicLong seen = new AtomicLong();
            // The worker dies inside an encryption once 5.3 MB have gone through: the big file (first, largest)
            // is complete, a later one is half written.
            assertThatThrownBy(() -> VolumeImporter.importTree(src, vol, key, "state", 1, n -> {
                if (seen.addAndGet(n) > 5_300_000) {
                    throw new IllegalStateException("killed");
                }
            })).hasMessageContaining("killed");
            assertNoPlaintextOrPartialFiles(vol, src);
            assertThat(vol.resolve("files/big.bin")).exists();
            // Damage one completed file as an interrupted disk write might: the resume re-encrypts it.
            byte[] b = Files.readAllBytes(vol.resolve("files/big.bin"));
            b[8192] ^= 1;
            Files.write(vol.resolve("files/big.bin"), b);
            VolumeImporter.Result r = VolumeImporter.importTree(src, vol, key, "state", 2, n -> {});
            assertThat(r.written()).isGreaterThan(0);
            assertSameAsCleanImport(vol, key, src);
        }
    }

    private void assertNoPlaintextOrPartialFiles(Path vol, Path src) throws Exception {
        if (Files.exists(vol.resolve("tmp"))) {
            try (Stream<Path> s = Files.list(vol.resolve("tmp"))) {
                assertThat(s).isEmpty();
            }
        }
        for (String p : VolumeVerifier.listFiles(vol.resolve("files"))) {
            byte[] head = Files.readAllBytes(vol.resolve("files").resolve(p));
            assertThat(new String(head, 0, 8)).isEqualTo("GRAFS_PF");
            assertThat(head.length % 4096).isZero();
        }
    }

    private void assertSameAsCleanImport(Path vol, PfKey key, Path src) throws Exception {
        Path clean = tmp.resolve("clean");
        VolumeRecord c = VolumeImporter.importTree(src, clean, key, "state", 2, n -> {}).record();
        VolumeRecord r = Volume.read(vol, key);
        assertThat(Volume.importPending(vol)).isFalse();
        assertThat(r.version()).isEqualTo(c.version());
        assertThat(r.entries()).extracting(VolumeRecord.Entry::path, VolumeRecord.Entry::size)
                .isEqualTo(c.entries().stream().map(e -> org.assertj.core.groups.Tuple.tuple(e.path(), e.size()))
                        .toList());
        assertThat(VolumeVerifier.verify(vol, key, new VolumeVerifier.Expected(r.version(), r.rootHex()), 2, n -> {})
                .differences()).isEmpty();
        Path a = tmp.resolve("export-resumed");
        Path b = tmp.resolve("export-clean");
        VolumeVerifier.export(vol, a, key, VolumeVerifier.Expected.NONE, false, 2, n -> {});
        VolumeVerifier.export(clean, b, key, VolumeVerifier.Expected.NONE, false, 2, n -> {});
        assertThat(Trees.content(a)).isEqualTo(Trees.content(b)).isEqualTo(Trees.content(src));
    }
}
