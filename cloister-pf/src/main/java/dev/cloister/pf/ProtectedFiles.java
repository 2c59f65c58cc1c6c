package dev.cloister.pf;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.function.LongConsumer;

/**
 * Gramine encrypted files ("protected files"), format v1 and v2, byte for byte: what Cloister writes, Gramine
 * reads inside an enclave, and the reverse. Start here.
 *
 * <pre>{@code
 * try (PfKey key = PfKey.read(keyFile)) {
 *     ProtectedFiles.encrypt(in, out, key, "/enclave/data/input.csv", PfVersion.V2, n -> {});
 *     ProtectedFiles.decrypt(out, plainOut, key, PathPolicy.expect("/enclave/data/input.csv"), n -> {});
 *     try (PfChannel ch = ProtectedFiles.open(file, key, PathPolicy.expect(path), Mode.READ_WRITE)) { ... }
 * }
 * }</pre>
 *
 * <p>Every node is authenticated before any of its plaintext is released; a failure names the node. Plaintext
 * is never written anywhere but to the caller's output.
 */
public final class ProtectedFiles {
    private ProtectedFiles() {}

    /** How {@link #open} opens a file. */
    public enum Mode {
        /** Read an existing file. */
        READ,
        /** Read and write an existing file, or create it if it does not exist. */
        READ_WRITE,
        /** Start from empty (an existing file is replaced). */
        CREATE_NEW,
        /** Like READ_WRITE, but every write goes to the end. */
        APPEND
    }

    /**
     * Encrypts a whole stream into {@code out} (which should be empty), binding it to {@code embeddedPath}.
     * {@code out} may be write-only; if it is also readable, the encryption needs no scratch space at all.
     *
     * @param progress told the number of plaintext bytes processed, as it goes
     */
    public static PfInfo encrypt(InputStream in, FileChannel out, PfKey key, String embeddedPath, PfVersion version,
            LongConsumer progress) throws IOException, PfException {
        return PfStreams.encrypt(PfStreams.Source.of(in), out, key, embeddedPath, version, Crypto.KeySource.secure(),
                progress);
    }

    /**
     * Like {@link #encrypt(InputStream, FileChannel, PfKey, String, PfVersion, LongConsumer)}, reading the plaintext
     * from a channel (such as a {@link FileChannel}) without an intermediate stream: the faster path for files.
     */
    public static PfInfo encrypt(ReadableByteChannel in, FileChannel out, PfKey key, String embeddedPath,
            PfVersion version, LongConsumer progress) throws IOException, PfException {
        return PfStreams.encrypt(PfStreams.Source.of(in), out, key, embeddedPath, version, Crypto.KeySource.secure(),
                progress);
    }

    /**
     * Encrypts file {@code in} from its position to its end on up to {@code threads} threads (one per 384 KiB
     * group of nodes at a time): for one large file, the way to use several cores. The output is in the same
     * format as the single-threaded paths write; small files, or {@code threads <= 1}, take the single-threaded
     * path. A file that changes size while it is read is an error ({@link PfException.Reason#BAD_ARGUMENT}).
     *
     * @param progress told the number of plaintext bytes processed, as it goes, from several threads at once
     */
    public static PfInfo encrypt(FileChannel in, FileChannel out, PfKey key, String embeddedPath, PfVersion version,
            int threads, LongConsumer progress) throws IOException, PfException {
        if (threads <= 1 || in.size() - in.position() < PARALLEL_MIN_BYTES) {
            return encrypt(in, out, key, embeddedPath, version, progress);
        }
        return PfStreams.encryptParallel(in, out, key, embeddedPath, version, Crypto.KeySource::secure, threads,
                progress);
    }

    /** Below this much plaintext one thread is as fast: starting threads and splitting the work would not pay. */
    static final long PARALLEL_MIN_BYTES = 4L << 20;

    /** Test seam: the multi-threaded encryption with caller-chosen node keys. */
    static PfInfo encrypt(FileChannel in, FileChannel out, PfKey key, String embeddedPath, PfVersion version,
            int threads, java.util.function.Supplier<Crypto.KeySource> keys) throws IOException, PfException {
        return PfStreams.encryptParallel(in, out, key, embeddedPath, version, keys, threads, n -> {});
    }

    /** Test seam: encryption with caller-chosen node keys and nonce, to reproduce known files byte for byte. */
    static PfInfo encrypt(InputStream in, FileChannel out, PfKey key, String embeddedPath, PfVersion version,
            Crypto.KeySource keys) throws IOException, PfException {
        return PfStreams.encrypt(PfStreams.Source.of(in), out, key, embeddedPath, version, keys, n -> {});
    }

    /**
     * Authenticates and decrypts a whole file into {@code out}. On failure, {@code out} may have received the
     * plaintext of nodes that did authenticate, so callers writing to files must discard the output
     * ({@code AtomicFiles} does).
     */
    public static PfInfo decrypt(FileChannel in, OutputStream out, PfKey key, PathPolicy policy, String name,
            LongConsumer progress) throws IOException, PfException {
        return PfStreams.decrypt(in, PfStreams.Sink.of(out), key, policy, name, progress);
    }

    /**
     * Like {@link #decrypt(FileChannel, OutputStream, PfKey, PathPolicy, String, LongConsumer)}, writing the
     * plaintext to a channel (such as a {@link FileChannel}) without an intermediate stream. The same caveat
     * holds: on failure the channel may have received authenticated nodes' plaintext, so discard it.
     */
    public static PfInfo decrypt(FileChannel in, WritableByteChannel out, PfKey key, PathPolicy policy, String name,
            LongConsumer progress) throws IOException, PfException {
        return PfStreams.decrypt(in, PfStreams.Sink.of(out), key, policy, name, progress);
    }

    /**
     * Decrypts file {@code in} into file {@code out} (written from its position on) on up to {@code threads}
     * threads: for one large file, the way to use several cores. Every node is authenticated before its
     * plaintext is written, but nodes are written in no particular order, so on failure {@code out} holds an
     * arbitrary subset of authenticated plaintext: discard it ({@code AtomicFiles} does). Small files, or
     * {@code threads <= 1}, take the single-threaded path.
     *
     * @param progress told the number of plaintext bytes processed, as it goes, from several threads at once
     */
    public static PfInfo decrypt(FileChannel in, FileChannel out, PfKey key, PathPolicy policy, String name,
            int threads, LongConsumer progress) throws IOException, PfException {
        if (threads <= 1 || in.size() < PARALLEL_MIN_BYTES) {
            return decrypt(in, (WritableByteChannel) out, key, policy, name, progress);
        }
        return PfStreams.decryptParallel(in, out, key, policy, name, threads, progress);
    }

    /**
     * Tells the library that about {@code totalBytes} of bulk work are coming (a directory tree, say), so that the
     * native AES-GCM engine is loaded now if that amount makes its start-up worth paying, and then used for small
     * files too. Without this call each file decides alone, and files of up to 64 KiB use the JDK's AES-GCM.
     *
     * @return the engine bulk work will use, for reports: the provider's name and version
     */
    public static String prepareBulk(long totalBytes) {
        Crypto.Engine engine = Crypto.forNodes(Layout.dataNodes(Math.max(0, totalBytes))).engine();
        return engine.describe();
    }

    /**
     * Why the native AES-GCM engine (Amazon Corretto Crypto Provider) is not in use, or null if it is; loads it
     * if that has not been tried yet. Callers that run the JVM without its C2 compiler (which the JDK's own
     * AES-GCM needs to be fast) use this to warn.
     */
    public static String nativeEngineFailure() {
        return Crypto.Engine.accpFailure();
    }

    /** The header fields readable without the key. */
    public record Header(PfVersion version, int minorVersion, boolean pendingWrite, long hostSize) {}

    /** Reads the plaintext header (format version, flags) of an encrypted file without a key. */
    public static Header header(FileChannel in, String name) throws IOException, PfException {
        long host = in.size();
        if (host < Layout.NODE || host % Layout.NODE != 0) {
            throw new PfException(PfException.Reason.BAD_SIZE,
                    name + " is " + host + " bytes; an encrypted file is a positive multiple of 4096 bytes");
        }
        byte[] node0 = new byte[Layout.NODE];
        PfFile.readFully(in, node0, 0, name);
        MetadataNode.Header h = MetadataNode.header(node0, name);
        return new Header(h.version(), h.minor(), (h.flags() & 1) != 0, host);
    }

    /**
     * The 16-byte GCM tag of a file's encrypted metadata (header bytes 42-57), read without the key. It
     * authenticates the metadata, which holds the plaintext size, the embedded path and the root Merkle node's key
     * and tag, under a key derived from a nonce that changes on every write: so it identifies one written state
     * of the file's whole content. Alone it proves nothing (anyone can copy bytes); a caller that has authenticated
     * the file (with {@link #decrypt}) and compares this tag with one it holds authentically knows the file is
     * that exact state. State volumes use it as the file's MAC in their root digest.
     */
    public static byte[] metadataMac(FileChannel in, String name) throws IOException, PfException {
        header(in, name); // validates magic, version, flags and size first
        byte[] node0 = new byte[Layout.NODE];
        PfFile.readFully(in, node0, 0, name);
        return java.util.Arrays.copyOfRange(node0, 42, 42 + Layout.TAG);
    }

    /** Authenticates the metadata and reports what the file holds (reads node 0 and, if present, the root node). */
    public static PfInfo inspect(FileChannel in, PfKey key, PathPolicy policy, String name) throws IOException, PfException {
        PfFile f = PfFile.open(in, name, key, policy, false, null);
        try {
            return PfInfo.of(f.metadata().version, f.metadata().path(), f.size());
        } finally {
            f.wipe();
        }
    }

    /**
     * Opens an encrypted file for random access.
     *
     * @param embeddedPath for an existing file, the policy for its embedded path; for a new file, the path to bind
     *     it to must be given with {@link PathPolicy#expect}
     * @param writeVersion the format of a newly created file (existing files keep theirs)
     */
    public static PfChannel open(Path file, PfKey key, PathPolicy embeddedPath, Mode mode, PfVersion writeVersion)
            throws IOException, PfException {
        boolean exists = Files.exists(file) && Files.size(file) > 0;
        FileChannel ch = switch (mode) {
            case READ -> FileChannel.open(file, StandardOpenOption.READ);
            case CREATE_NEW -> FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
            case READ_WRITE, APPEND -> FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.CREATE);
        };
        try {
            PfFile f;
            if (mode == Mode.CREATE_NEW || (!exists && mode != Mode.READ)) {
                String path = embeddedPath.expected();
                if (path == null) {
                    throw new PfException(PfException.Reason.BAD_ARGUMENT,
                            "a new encrypted file needs the path to bind it to (PathPolicy.expect)");
                }
                f = PfFile.create(ch, file.toString(), key, path, writeVersion, Crypto.KeySource.secure());
            } else {
                f = PfFile.open(ch, file.toString(), key, embeddedPath, mode != Mode.READ, Crypto.KeySource.secure());
            }
            return new PfChannel(f, ch, mode == Mode.APPEND);
        } catch (IOException | PfException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }
}
