package dev.cloister.volume;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.pf.PathPolicy;
import dev.cloister.pf.PfChannel;
import dev.cloister.pf.PfKey;
import dev.cloister.pf.PfVersion;
import dev.cloister.pf.ProtectedFiles;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The hostile host's moves against a volume whose latest state (version, root) is held elsewhere, as the broker
 * will: each is refused, naming what differs. The volume's history: import (version 1), a write to {@code db/small.txt}
 * and a checkpoint (version 2, the expected state). Copies of version 1 and of another volume with the same key
 * are what the host has to work with.
 */
class RollbackTest {
    @TempDir
    Path tmp;

    /** The history is made once (imports and checkpoints take a while); each test works on its own copy. */
    @TempDir
    static Path template;

    static byte[] keyBytes;
    static VolumeVerifier.Expected expected;

    PfKey key;
    Path vol;
    Path old;
    Path other;

    @org.junit.jupiter.api.BeforeAll
    static void history() throws Exception {
        try (PfKey k = PfKey.generate()) {
            keyBytes = k.toBytes();
            Path src = Trees.make(template.resolve("src"), 1);
            Path v = template.resolve("vol");
            VolumeImporter.importTree(src, v, k, "state", 2, n -> {});
            Trees.copyTree(v, template.resolve("old")); // the host keeps version 1
            append(k, v, "db/small.txt", "a later write");
            VolumeRecord v2 = Volume.checkpoint(v, k, 2);
            assertThat(v2.version()).isEqualTo(2);
            expected = new VolumeVerifier.Expected(v2.version(), v2.rootHex());
            // Another volume with the same key and prefix, brought to the same version.
            Path o = template.resolve("other");
            VolumeImporter.importTree(Trees.make(template.resolve("src2"), 1), o, k, "state", 2, n -> {});
            append(k, o, "db/small.txt", "another write");
            Volume.checkpoint(o, k, 2);
        }
    }

    @BeforeEach
    void copy() throws Exception {
        key = PfKey.of(keyBytes);
        vol = tmp.resolve("vol");
        old = tmp.resolve("old");
        other = tmp.resolve("other");
        Trees.copyTree(template.resolve("vol"), vol);
        Trees.copyTree(template.resolve("old"), old);
        Trees.copyTree(template.resolve("other"), other);
    }

    private static void append(PfKey key, Path volume, String path, String text) throws Exception {
        try (PfChannel ch = ProtectedFiles.open(volume.resolve("files").resolve(path), key,
                PathPolicy.expect("state/" + path), ProtectedFiles.Mode.APPEND, PfVersion.V2)) {
            ch.write(ByteBuffer.wrap(text.getBytes()));
        }
    }

    private List<VolumeVerifier.Difference> verify(Path dir) throws Exception {
        return VolumeVerifier.verify(dir, key, expected, 2, n -> {}).differences();
    }

    @Test
    void theLatestStateVerifies() throws Exception {
        VolumeVerifier.Report r = VolumeVerifier.verify(vol, key, expected, 2, n -> {});
        assertThat(r.differences()).isEmpty();
        assertThat(r.filesChecked()).isEqualTo(26);
    }

    @Test
    void anOlderCopyOfOneFileIsRefusedByName() throws Exception {
        Files.copy(old.resolve("files/db/small.txt"), vol.resolve("files/db/small.txt"),
                StandardCopyOption.REPLACE_EXISTING);
        assertThat(verify(vol)).singleElement().satisfies(d -> {
            assertThat(d.kind()).isEqualTo(VolumeVerifier.Kind.REPLACED);
            assertThat(d.path()).isEqualTo("db/small.txt");
            assertThat(d.toString()).contains("an older copy");
        });
    }

    @Test
    void theWholeOlderVolumeIsRefusedAsOlderVersion() throws Exception {
        assertThat(verify(old)).singleElement().satisfies(d -> {
            assertThat(d.kind()).isEqualTo(VolumeVerifier.Kind.OLDER_VERSION);
            assertThat(d.detail()).contains("version 1, expected version 2");
        });
        // Without the expected state held elsewhere, the old copy is self-consistent: that is why the broker holds it.
        assertThat(VolumeVerifier.verify(old, key, VolumeVerifier.Expected.NONE, 2, n -> {}).ok()).isTrue();
    }

    @Test
    void anOlderRecordPutBackOverNewerFilesIsRefused() throws Exception {
        Files.copy(old.resolve("volume.rec"), vol.resolve("volume.rec"), StandardCopyOption.REPLACE_EXISTING);
        List<VolumeVerifier.Difference> d = verify(vol);
        assertThat(d).extracting(VolumeVerifier.Difference::kind)
                .containsExactlyInAnyOrder(VolumeVerifier.Kind.OLDER_VERSION, VolumeVerifier.Kind.REPLACED);
        assertThat(d).anySatisfy(x -> assertThat(x.path()).isEqualTo("db/small.txt"));
    }

    @Test
    void anotherVolumesFileWithTheSameKeyIsRefused() throws Exception {
        Files.copy(other.resolve("files/db/f3"), vol.resolve("files/db/f3"), StandardCopyOption.REPLACE_EXISTING);
        assertThat(verify(vol)).singleElement().satisfies(d -> {
            assertThat(d.kind()).isEqualTo(VolumeVerifier.Kind.REPLACED);
            assertThat(d.path()).isEqualTo("db/f3");
            assertThat(d.detail()).contains("another volume");
        });
    }

    @Test
    void anotherVolumeAtTheSameVersionIsRefusedByItsRoot() throws Exception {
        assertThat(verify(other)).singleElement().satisfies(d -> {
            assertThat(d.kind()).isEqualTo(VolumeVerifier.Kind.ROOT);
            assertThat(d.detail()).contains("another volume").contains("same version 2");
        });
    }

    @Test
    void aDeletedAndAnAddedFileAreNamed() throws Exception {
        Files.delete(vol.resolve("files/db/f7"));
        Files.copy(vol.resolve("files/db/f8"), vol.resolve("files/db/f8-copy"));
        List<VolumeVerifier.Difference> d = verify(vol);
        assertThat(d).extracting(VolumeVerifier.Difference::kind, VolumeVerifier.Difference::path)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(VolumeVerifier.Kind.MISSING, "db/f7"),
                        org.assertj.core.groups.Tuple.tuple(VolumeVerifier.Kind.ADDED, "db/f8-copy"));
    }

    @Test
    void aFileMovedOntoAnotherPathOrEditedIsModified() throws Exception {
        Files.copy(vol.resolve("files/db/f1"), vol.resolve("files/db/f2"), StandardCopyOption.REPLACE_EXISTING);
        byte[] b = Files.readAllBytes(vol.resolve("files/big.bin"));
        b[4096 * 3 + 7] ^= 1; // one bit of a data node
        Files.write(vol.resolve("files/big.bin"), b);
        List<VolumeVerifier.Difference> d = verify(vol);
        assertThat(d).extracting(VolumeVerifier.Difference::path).containsExactly("big.bin", "db/f2");
        assertThat(d).allSatisfy(x -> assertThat(x.kind()).isEqualTo(VolumeVerifier.Kind.MODIFIED));
        assertThat(d.get(0).detail()).contains("fails authentication");
        assertThat(d.get(1).detail()).contains("bound to another path");
    }

    @Test
    void anEditedRecordIsRefusedBeforeAnyFileIsTrusted() throws Exception {
        byte[] rec = Files.readAllBytes(vol.resolve("volume.rec"));
        rec[rec.length - 40] ^= 1; // inside the root digest
        Files.write(vol.resolve("volume.rec"), rec);
        // A changed root no longer matches the file list: malformed, bad input.
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> verify(vol)).isInstanceOf(VolumeException.class)
                .hasMessageContaining("root digest does not match");
        // A record re-made consistently by someone without the key (a forged version) fails authentication.
        VolumeRecord r = Volume.read(old, key);
        try (PfKey wrong = PfKey.generate()) {
            Files.write(vol.resolve("volume.rec"), new VolumeRecord(r.id(), 2, r.prefix(), r.entries()).toBytes(wrong));
        }
        assertThat(verify(vol)).singleElement().satisfies(d -> {
            assertThat(d.kind()).isEqualTo(VolumeVerifier.Kind.RECORD);
            assertThat(d.detail()).contains("fails authentication");
        });
    }

    @Test
    void exportOfARolledBackVolumeWritesNothing() throws Exception {
        Path dest = tmp.resolve("out");
        VolumeVerifier.Report r = VolumeVerifier.export(old, dest, key, expected, false, 2, n -> {});
        assertThat(r.ok()).isFalse();
        assertThat(dest).doesNotExist();
        try (var s = Files.list(tmp)) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(".out"));
        }
    }
}
