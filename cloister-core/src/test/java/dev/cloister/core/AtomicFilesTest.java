package dev.cloister.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir Path dir;

    @Test
    void writesCompleteFileWithOwnerOnlyPermissions() throws IOException {
        Path out = dir.resolve("out.bin");
        AtomicFiles.writeBytes(out, false, new byte[] {1, 2, 3});
        assertThat(Files.readAllBytes(out)).containsExactly(1, 2, 3);
        assertThat(Files.getPosixFilePermissions(out).toString()).isEqualTo("[OWNER_READ, OWNER_WRITE]");
        try (var s = Files.list(dir)) {
            assertThat(s).containsExactly(out);
        }
    }

    @Test
    void failedWriterLeavesNothingBehindAndKeepsOldTarget() throws IOException {
        Path out = dir.resolve("out.bin");
        Files.write(out, new byte[] {9});
        assertThatThrownBy(() -> AtomicFiles.write(out, true, ch -> {
                    ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
                    throw new IOException("boom");
                }))
                .hasMessage("boom");
        assertThat(Files.readAllBytes(out)).containsExactly(9);
        try (var s = Files.list(dir)) {
            assertThat(s).containsExactly(out);
        }
    }

    @Test
    void refusesToOverwriteUnlessAsked() throws IOException {
        Path out = dir.resolve("out.bin");
        Files.write(out, new byte[] {9});
        assertThatThrownBy(() -> AtomicFiles.writeBytes(out, false, new byte[] {1}))
                .isInstanceOf(FileAlreadyExistsException.class);
        AtomicFiles.writeBytes(out, true, new byte[] {1});
        assertThat(Files.readAllBytes(out)).containsExactly(1);
    }

    @Test
    void exceptionKindsCarryTheDocumentedExitCodes() {
        assertThat(CloisterException.Kind.DENIED.exitCode()).isEqualTo(1);
        assertThat(CloisterException.Kind.BAD_INPUT.exitCode()).isEqualTo(3);
        assertThat(CloisterException.Kind.ENVIRONMENT.exitCode()).isEqualTo(4);
    }
}
