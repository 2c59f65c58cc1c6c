package dev.cloister.pf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * Node 0 of an encrypted file (gramine.md section 1.3): a plaintext header (magic, version, KDF nonce, GCM tag,
 * and in v2 a flags byte) and the encrypted metadata: embedded path, plaintext size, root MHT key and tag, and
 * the first 3072 plaintext bytes. This class holds the decrypted form; {@link #encode} and {@link #decode} are the
 * only ways between it and bytes.
 */
final class MetadataNode {
    static final byte[] MAGIC = "GRAFS_PF".getBytes(StandardCharsets.US_ASCII);
    private static final int OFF_SIZE = Layout.PATH_FIELD;
    private static final int OFF_ROOT_KEY = OFF_SIZE + 8;
    private static final int OFF_ROOT_MAC = OFF_ROOT_KEY + Layout.KEY;
    static final int OFF_DATA = OFF_ROOT_MAC + Layout.TAG;

    /** The plaintext header, readable without the key. */
    record Header(PfVersion version, int minor, int flags) {}

    /** The decrypted metadata, 3884 bytes, laid out as on disk. Mutable: writers update it in place. */
    final byte[] plain = new byte[Layout.ENCRYPTED_METADATA];
    PfVersion version;

    static Header header(byte[] node, String file) throws PfException {
        if (!Arrays.equals(node, 0, 8, MAGIC, 0, 8)) {
            throw new PfException(PfException.Reason.NOT_ENCRYPTED_FILE,
                    file + " is not a Gramine encrypted file (no GRAFS_PF header)");
        }
        int major = node[8] & 0xff;
        PfVersion v = PfVersion.ofMajor(major);
        if (v == null) {
            throw new PfException(PfException.Reason.UNSUPPORTED_VERSION,
                    file + " has encrypted-files format version " + major + "; supported are 1 (Gramine <= 1.8) and 2 (Gramine 1.9+)");
        }
        int minor = node[9] & 0xff;
        if (minor != 0) {
            throw new PfException(PfException.Reason.UNSUPPORTED_VERSION,
                    file + " has encrypted-files format version " + major + "." + minor + "; only minor version 0 exists");
        }
        int flags = v == PfVersion.V2 ? node[58] & 0xff : 0;
        if ((flags & ~1) != 0) {
            throw new PfException(PfException.Reason.UNSUPPORTED_VERSION, file + " uses unknown feature flags 0x"
                    + Integer.toHexString(flags) + " (only 0x1, pending write, is defined)");
        }
        return new Header(v, minor, flags);
    }

    /** Authenticates and decrypts node 0 with the key derived from {@code kdk}. */
    static MetadataNode decode(byte[] node, byte[] kdk, Crypto crypto, String file) throws PfException {
        Header h = header(node, file);
        if ((h.flags() & 1) != 0) {
            throw new PfException(PfException.Reason.RECOVERY_NEEDED, file
                    + " has Gramine's pending-write flag set: a write was interrupted; recover it with Gramine (enable_recovery)");
        }
        // The padding after the encrypted part is not authenticated; Gramine writes zeros there, so anything else
        // is damage or tampering, and failing closed costs nothing.
        for (int i = h.version().encryptedOffset() + Layout.ENCRYPTED_METADATA; i < Layout.NODE; i++) {
            if (node[i] != 0) {
                throw new PfException(PfException.Reason.BAD_METADATA, "metadata node of " + file
                        + " has a nonzero padding byte at offset " + i + " (damaged or tampered file)");
            }
        }
        MetadataNode md = new MetadataNode();
        md.version = h.version();
        byte[] key = Crypto.metadataKey(kdk, node, 10);
        try {
            if (!crypto.decrypt(key, 0, node, h.version().encryptedOffset(), Layout.ENCRYPTED_METADATA, node, 42, md.plain, 0)) {
                throw new PfException(PfException.Reason.AUTHENTICATION_FAILED,
                        "metadata node of " + file + " failed authentication: wrong key, or the file was tampered with");
            }
        } finally {
            Arrays.fill(key, (byte) 0);
        }
        long size = md.size();
        if (size < 0 || size > Layout.MAX_SIZE) {
            throw new PfException(PfException.Reason.BAD_METADATA, file + " declares an impossible plaintext size " + size);
        }
        if (md.pathLength() < 0) {
            throw new PfException(PfException.Reason.BAD_METADATA, file + " has an unterminated embedded path");
        }
        return md;
    }

    /** Encrypts this metadata under a key derived from {@code kdk} and a fresh {@code nonce}: a whole node 0. */
    byte[] encode(byte[] kdk, byte[] nonce, Crypto crypto) {
        byte[] node = new byte[Layout.NODE];
        System.arraycopy(MAGIC, 0, node, 0, 8);
        node[8] = (byte) version.major();
        node[9] = 0;
        System.arraycopy(nonce, 0, node, 10, Layout.NONCE);
        byte[] key = Crypto.metadataKey(kdk, nonce, 0);
        try {
            crypto.encrypt(key, plain, 0, Layout.ENCRYPTED_METADATA, node, version.encryptedOffset(), node, 42);
        } finally {
            Arrays.fill(key, (byte) 0);
        }
        // v2: node[58] is feature_flags, left 0 (no pending write).
        return node;
    }

    static MetadataNode create(PfVersion version, String path) throws PfException {
        MetadataNode md = new MetadataNode();
        md.version = version;
        md.setPath(path);
        return md;
    }

    void setPath(String path) throws PfException {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        if (p.length == 0 || p.length >= Layout.PATH_FIELD || path.indexOf('\0') >= 0) {
            throw new PfException(PfException.Reason.BAD_ARGUMENT,
                    "embedded path must be 1 to 771 bytes without NUL; got " + p.length + " bytes");
        }
        Arrays.fill(plain, 0, Layout.PATH_FIELD, (byte) 0);
        System.arraycopy(p, 0, plain, 0, p.length);
    }

    int pathLength() {
        for (int i = 0; i < Layout.PATH_FIELD; i++) {
            if (plain[i] == 0) {
                return i;
            }
        }
        return -1;
    }

    String path() {
        return new String(plain, 0, pathLength(), StandardCharsets.UTF_8);
    }

    /** Gramine compares the stored and expected path bytes exactly. */
    boolean pathEquals(String expected) {
        return MessageDigest.isEqual(Arrays.copyOf(plain, pathLength()), expected.getBytes(StandardCharsets.UTF_8));
    }

    long size() {
        return ByteBuffer.wrap(plain, OFF_SIZE, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    void setSize(long size) {
        ByteBuffer.wrap(plain, OFF_SIZE, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(size);
    }

    /** Offset in {@link #plain} of the root MHT node's key; its tag follows. */
    static int rootEntryOffset() {
        return OFF_ROOT_KEY;
    }

    void wipe() {
        Arrays.fill(plain, (byte) 0);
    }
}
