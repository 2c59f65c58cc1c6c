package dev.cloister.kbs.tlog;

import java.util.Base64;

/**
 * The text of a transparency log checkpoint in the C2SP tlog-checkpoint format: the log's origin, its size and
 * the base64 of its RFC 9162 root hash, one per line. Signed as a note (see {@link NoteSigner}).
 *
 * @param origin the log's name, also the name of its signing key
 * @param size number of entries
 * @param rootHash the Merkle tree root of those entries
 */
public record Checkpoint(String origin, long size, byte[] rootHash) {

    /** Validates the fields. */
    public Checkpoint {
        if (size < 0 || rootHash.length != MerkleTree.HASH || origin.isEmpty() || origin.contains("\n")) {
            throw new IllegalArgumentException("bad checkpoint fields");
        }
        rootHash = rootHash.clone();
    }

    @Override
    public byte[] rootHash() {
        return rootHash.clone();
    }

    /** The checkpoint's text, ready to sign. */
    public String toText() {
        return origin + "\n" + size + "\n" + Base64.getEncoder().encodeToString(rootHash) + "\n";
    }

    /** Parses a checkpoint's text (extension lines after the third are allowed and ignored). */
    public static Checkpoint parse(String text) throws ProofException {
        String[] lines = text.split("\n", -1);
        if (lines.length < 4 || !lines[lines.length - 1].isEmpty()) {
            throw new ProofException("a checkpoint is three lines (origin, size, root hash), each ending in a newline");
        }
        if (lines[0].isEmpty()) {
            throw new ProofException("checkpoint has no origin");
        }
        if (!lines[1].matches("0|[1-9][0-9]{0,18}")) {
            throw new ProofException("checkpoint size is not a decimal number");
        }
        long size;
        try {
            size = Long.parseLong(lines[1]);
        } catch (NumberFormatException e) {
            throw new ProofException("checkpoint size is out of range");
        }
        byte[] root;
        try {
            root = Base64.getDecoder().decode(lines[2]);
        } catch (IllegalArgumentException e) {
            throw new ProofException("checkpoint root hash is not base64");
        }
        if (root.length != MerkleTree.HASH) {
            throw new ProofException("checkpoint root hash is " + root.length + " bytes, not " + MerkleTree.HASH);
        }
        return new Checkpoint(lines[0], size, root);
    }

    /** Verifies {@code note} with {@code key} and parses its text; the origin must be the key's name. */
    public static Checkpoint open(String note, NoteVerifier key) throws ProofException {
        Checkpoint c = parse(key.open(note));
        if (!c.origin().equals(key.name())) {
            throw new ProofException("checkpoint of log " + c.origin() + " signed with the key of " + key.name());
        }
        return c;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Checkpoint c && c.origin.equals(origin) && c.size == size
                && java.util.Arrays.equals(c.rootHash, rootHash);
    }

    @Override
    public int hashCode() {
        return origin.hashCode() * 31 + Long.hashCode(size);
    }

    @Override
    public String toString() {
        return "Checkpoint[" + origin + ", " + size + ", " + java.util.HexFormat.of().formatHex(rootHash) + "]";
    }
}
