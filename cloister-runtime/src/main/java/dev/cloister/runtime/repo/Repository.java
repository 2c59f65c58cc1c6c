package dev.cloister.runtime.repo;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where workers get software and data and leave results: immutable objects addressed by their SHA-256, plus
 * named references (small documents such as a job's description) that point at them.
 *
 * <p>Everything a repository holds for a job is ciphertext or public (bundles are public, inputs and outputs are
 * Gramine encrypted files), so a repository needs integrity, not secrecy: every download is checked against its
 * id, and every upload becomes visible only when complete.
 */
public interface Repository extends AutoCloseable {

    /** Stores the file's bytes and returns their id. Storing the same bytes twice is a no-op. */
    ObjectId put(Path file) throws IOException, CloisterException;

    /** Stores {@code bytes} and returns their id. */
    ObjectId put(byte[] bytes) throws IOException, CloisterException;

    /**
     * Writes the object to {@code target} atomically, after checking its bytes hash to {@code id}.
     *
     * @throws CloisterException BAD_INPUT if the object is missing, DENIED if its bytes do not match its id
     */
    void get(ObjectId id, Path target) throws IOException, CloisterException;

    /** The object's bytes, checked against {@code id}. For small objects only. */
    byte[] getBytes(ObjectId id) throws IOException, CloisterException;

    /** Whether the object is present. */
    boolean exists(ObjectId id) throws IOException, CloisterException;

    /** Points the reference {@code name} (e.g. {@code jobs/<id>/job.json}) at new content, atomically. */
    void putRef(String name, byte[] content) throws IOException, CloisterException;

    /** The reference's current content, if it exists. */
    Optional<byte[]> getRef(String name) throws IOException, CloisterException;

    /** A description for messages, e.g. {@code file:///var/cloister/repo} or {@code s3://bucket/prefix}. */
    String location();

    @Override
    default void close() throws IOException {}

    /** Checks a reference name: slash-separated segments of letters, digits, '.', '_' and '-', no '..'. */
    static String checkRefName(String name) throws CloisterException {
        if (name == null || name.isEmpty() || name.length() > 512 || name.startsWith("/") || name.endsWith("/")
                || !name.matches("[A-Za-z0-9._/-]+")) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "bad reference name: '" + name + "'");
        }
        for (String seg : name.split("/", -1)) {
            if (seg.isEmpty() || seg.equals(".") || seg.equals("..")) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "bad reference name: '" + name + "'");
            }
        }
        return name;
    }
}
