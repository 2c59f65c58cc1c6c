package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link ProtectedFiles#metadataMac}: the metadata node's GCM tag, read without a key, new on every write. */
class MetadataMacTest {
    @TempDir
    Path dir;

    @Test
    void isTheHeaderTagAndChangesOnEveryWriteOfTheSameContent() throws Exception {
        byte[] plain = Pf.random(10_000, 1);
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        try (PfKey key = Pf.key(2)) {
            Pf.encrypt(plain, a, key, "vol/a", PfVersion.V2);
            Pf.encrypt(plain, b, key, "vol/a", PfVersion.V2);
        }
        byte[] ma;
        byte[] mb;
        try (FileChannel ca = FileChannel.open(a); FileChannel cb = FileChannel.open(b)) {
            ma = ProtectedFiles.metadataMac(ca, "a");
            mb = ProtectedFiles.metadataMac(cb, "b");
        }
        assertThat(ma).hasSize(16).isEqualTo(Arrays.copyOfRange(Files.readAllBytes(a), 42, 58));
        assertThat(mb).isNotEqualTo(ma);
    }

    @Test
    void refusesWhatIsNotAnEncryptedFile() throws Exception {
        Path f = dir.resolve("plain");
        Files.write(f, new byte[4096]);
        try (FileChannel ch = FileChannel.open(f)) {
            assertThatThrownBy(() -> ProtectedFiles.metadataMac(ch, "plain")).isInstanceOf(PfException.class)
                    .hasMessageContaining("GRAFS_PF");
        }
    }
}
