package dev.cloister.core;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Writes a file so that readers see either nothing or the complete result, never a partial one.
 *
 * <p>The content goes to a hidden temporary file beside the target (same file system, so the final rename is
 * atomic), readable only by the owner, forced to disk, then renamed over the target. If the writer throws, the
 * temporary file is deleted and the target is untouched: a failed decryption never leaves partial plaintext.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Produces the content of a file. */
    @FunctionalInterface
    public interface Writer<E extends Exception> {
        void write(FileChannel out) throws IOException, E;
    }

    /**
     * Writes {@code target} atomically through a {@link FileChannel}.
     *
     * @param overwrite whether an existing target may be replaced; if not, an existing target is an error
     */
    public static <E extends Exception> void write(Path target, boolean overwrite, Writer<E> writer)
            throws IOException, E {
        Path abs = target.toAbsolutePath().normalize();
        Path dir = abs.getParent();
        if (dir == null) {
            throw new IOException("cannot write to " + target + ": it has no parent directory");
        }
        if (!overwrite && Files.exists(abs)) {
            throw new FileAlreadyExistsException(abs.toString(), null, "output exists; refusing to overwrite it");
        }
        Path tmp = createTemp(dir, abs.getFileName().toString());
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writer.write(ch);
                ch.force(true);
            }
            move(tmp, abs, overwrite);
            done = true;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /** Writes {@code target} atomically through an {@link OutputStream}. */
    public static <E extends Exception> void writeStream(Path target, boolean overwrite, StreamWriter<E> writer)
            throws IOException, E {
        write(target, overwrite, ch -> {
            OutputStream os = Channels.newOutputStream(ch);
            writer.write(os);
            os.flush();
        });
    }

    /** Writes {@code bytes} to {@code target} atomically. */
    public static void writeBytes(Path target, boolean overwrite, byte[] bytes) throws IOException {
        AtomicFiles.<RuntimeException>writeStream(target, overwrite, os -> os.write(bytes));
    }

    /** Produces the content of a file as a stream. */
    @FunctionalInterface
    public interface StreamWriter<E extends Exception> {
        void write(OutputStream out) throws IOException, E;
    }

    private static Path createTemp(Path dir, String name) throws IOException {
        String prefix = "." + (name.length() > 64 ? name.substring(0, 64) : name) + ".";
        try {
            return Files.createTempFile(dir, prefix, ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException e) {
            return Files.createTempFile(dir, prefix, ".tmp");
        }
    }

    private static void move(Path tmp, Path target, boolean overwrite) throws IOException {
        Set<StandardCopyOption> opts = overwrite
                ? Set.of(StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
                : Set.of(StandardCopyOption.ATOMIC_MOVE);
        try {
            if (!overwrite && Files.exists(target)) {
                throw new FileAlreadyExistsException(target.toString(), null, "output appeared while writing");
            }
            Files.move(tmp, target, opts.toArray(StandardCopyOption[]::new));
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("cannot rename " + tmp + " to " + target + " atomically", e);
        }
    }

    /**
     * Deletes a folder and everything in it, deepest first, without following symbolic links; a missing folder is
     * not an error. For scratch folders of ciphertext and temporary output.
     */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (java.util.stream.Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
