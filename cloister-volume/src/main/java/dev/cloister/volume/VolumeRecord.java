package dev.cloister.volume;

import dev.cloister.pf.PfKey;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * A state volume's metadata record: which volume, which version, and exactly which written state of which file
 * it holds. Immutable; {@link #toBytes(PfKey)} and {@link #parse(byte[], PfKey)} are the only ways between it and
 * its file, whose layout docs/services.md ("State volumes") gives byte for byte.
 *
 * <p>The record is authenticated with HMAC-SHA256 under a key derived from the volume's wrap key, so a host without
 * the key can neither edit it nor make one; it can only put back an older authentic record, which is what the
 * version and {@link #root()} held elsewhere (the broker, later) catch.
 *
 * @param id the volume's random identity, 32 lower-case hex digits, fixed at creation
 * @param version monotonic: 0 at creation, one more on every new recorded state
 * @param prefix the embedded-path prefix of every file (the host-side path Gramine derives from the mount URI)
 * @param entries every file, sorted by the UTF-8 bytes of its path, no duplicates
 */
public record VolumeRecord(String id, long version, String prefix, List<Entry> entries) {
    /** The record file's first 8 bytes. */
    static final byte[] MAGIC = "CLVOLREC".getBytes(StandardCharsets.US_ASCII);
    static final int FORMAT = 1;
    static final int MAC_LEN = 16;
    private static final byte[] ROOT_LABEL = "cloister-volume-root-v1".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] KEY_LABEL = "cloister-volume-record-key-v1".getBytes(StandardCharsets.US_ASCII);
    private static final int MAX_PATH = 4096;
    private static final HexFormat HEX = HexFormat.of();

    /** Paths in record order: the unsigned order of their UTF-8 bytes (so the order is the same everywhere). */
    public static final Comparator<String> PATH_ORDER = (a, b) -> Arrays.compareUnsigned(
            a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));

    /**
     * One file of the volume.
     *
     * @param path relative, '/'-separated, no empty, "." or ".." segments
     * @param size the plaintext size in bytes
     * @param mac the file's metadata MAC ({@code ProtectedFiles.metadataMac}), 32 lower-case hex digits
     */
    public record Entry(String path, long size, String mac) {
        public Entry {
            checkPath(path);
            if (size < 0) {
                throw new IllegalArgumentException("negative size for " + path);
            }
            if (mac == null || mac.length() != 2 * MAC_LEN || !mac.equals(mac.toLowerCase(java.util.Locale.ROOT))
                    || !isHex(mac)) {
                throw new IllegalArgumentException("the MAC of " + path + " must be 32 lower-case hex digits");
            }
        }
    }

    public VolumeRecord {
        if (id == null || id.length() != 32 || !isHex(id) || !id.equals(id.toLowerCase(java.util.Locale.ROOT))) {
            throw new IllegalArgumentException("a volume id is 32 lower-case hex digits");
        }
        if (version < 0) {
            throw new IllegalArgumentException("negative volume version");
        }
        checkPath(prefix);
        entries = List.copyOf(entries);
        for (int i = 1; i < entries.size(); i++) {
            if (PATH_ORDER.compare(entries.get(i - 1).path(), entries.get(i).path()) >= 0) {
                throw new IllegalArgumentException("entries are not sorted or repeat a path: " + entries.get(i).path());
            }
        }
    }

    /** A new, empty volume at version 0 with a fresh random id. */
    public static VolumeRecord create(String prefix) {
        byte[] id = new byte[16];
        new java.security.SecureRandom().nextBytes(id);
        return new VolumeRecord(HEX.formatHex(id), 0, prefix, List.of());
    }

    /** The next state: same volume, version plus one, these entries (sorted here). */
    public VolumeRecord next(List<Entry> newEntries) {
        List<Entry> sorted = new ArrayList<>(newEntries);
        sorted.sort(Comparator.comparing(Entry::path, PATH_ORDER));
        return new VolumeRecord(id, Math.addExact(version, 1), prefix, sorted);
    }

    /** The embedded path a file of this volume is bound to: {@code prefix/path}. */
    public String embeddedPath(String path) {
        return prefix + "/" + path;
    }

    /** The sum of the files' plaintext sizes. */
    public long totalBytes() {
        return entries.stream().mapToLong(Entry::size).sum();
    }

    /** The root digest: SHA-256 over a label and the record's body (docs/services.md). */
    public byte[] root() {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(ROOT_LABEL);
            sha.update(body());
            return sha.digest();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /** {@link #root()} in lower-case hex. */
    public String rootHex() {
        return HEX.formatHex(root());
    }

    /** The record file's bytes: magic, body, root digest, HMAC-SHA256 tag under the key derived from {@code key}. */
    public byte[] toBytes(PfKey key) {
        byte[] body = body();
        ByteBuffer b = ByteBuffer.allocate(MAGIC.length + body.length + 32 + 32);
        b.put(MAGIC).put(body).put(root());
        b.put(tag(key, b.array(), b.position()));
        return b.array();
    }

    /**
     * Parses and authenticates a record file. A tag that does not verify (an edited record, or one made with
     * another key) is {@code DENIED}; a record that is not well formed is {@code BAD_INPUT}.
     */
    public static VolumeRecord parse(byte[] bytes, PfKey key) throws VolumeException {
        VolumeRecord r = parseUnauthenticated(bytes);
        int signed = bytes.length - 32;
        byte[] expected = tag(key, bytes, signed);
        if (!MessageDigest.isEqual(expected, Arrays.copyOfRange(bytes, signed, bytes.length))) {
            throw new VolumeException(VolumeException.Kind.DENIED, "the volume record fails authentication: it was "
                    + "edited, or it belongs to a volume with another key");
        }
        return r;
    }

    /**
     * Parses a record file without authenticating it (no key): for {@code inspect}, which reports what the record
     * claims. Nothing parsed this way may be trusted.
     */
    public static VolumeRecord parseUnauthenticated(byte[] bytes) throws VolumeException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        try {
            byte[] magic = new byte[MAGIC.length];
            b.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw VolumeException.bad("not a volume record (no CLVOLREC header)");
            }
            int format = b.get() & 0xff;
            if (format != FORMAT) {
                throw VolumeException.bad("volume record format " + format + " is not supported (only " + FORMAT + ")");
            }
            byte[] id = new byte[16];
            b.get(id);
            long version = b.getLong();
            if (version < 0) {
                throw VolumeException.bad("volume record has a negative version");
            }
            String prefix = string(b, "prefix");
            long count = b.getInt() & 0xffffffffL;
            if (count > b.remaining() / (2 + 1 + 8 + MAC_LEN)) {
                throw VolumeException.bad("volume record claims " + count + " files but is too short for them");
            }
            List<Entry> entries = new ArrayList<>((int) count);
            for (long i = 0; i < count; i++) {
                String path = string(b, "file path");
                long size = b.getLong();
                byte[] mac = new byte[MAC_LEN];
                b.get(mac);
                entries.add(new Entry(path, size, HEX.formatHex(mac)));
            }
            byte[] root = new byte[32];
            b.get(root);
            if (b.remaining() != 32) {
                throw VolumeException.bad("volume record has " + (b.remaining() - 32) + " unexpected trailing bytes");
            }
            VolumeRecord r = new VolumeRecord(HEX.formatHex(id), version, prefix, entries);
            if (!MessageDigest.isEqual(root, r.root())) {
                throw VolumeException.bad("volume record's root digest does not match its file list");
            }
            return r;
        } catch (java.nio.BufferUnderflowException e) {
            throw VolumeException.bad("volume record is truncated");
        } catch (IllegalArgumentException e) {
            throw VolumeException.bad("volume record is malformed: " + e.getMessage());
        }
    }

    private byte[] body() {
        ByteArrayOutputStream bos = new ByteArrayOutputStream(64 + entries.size() * 64);
        try (DataOutputStream out = new DataOutputStream(bos)) {
            out.writeByte(FORMAT);
            out.write(HEX.parseHex(id));
            out.writeLong(version);
            writeString(out, prefix);
            out.writeInt(entries.size());
            for (Entry e : entries) {
                writeString(out, e.path());
                out.writeLong(e.size());
                out.write(HEX.parseHex(e.mac()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bos.toByteArray();
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        out.writeShort(u.length);
        out.write(u);
    }

    private static String string(ByteBuffer b, String what) throws VolumeException {
        int len = b.getShort() & 0xffff;
        if (len == 0 || len > MAX_PATH) {
            throw VolumeException.bad("volume record has a " + what + " of " + len + " bytes");
        }
        byte[] u = new byte[len];
        b.get(u);
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(u)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw VolumeException.bad("volume record has a " + what + " that is not UTF-8");
        }
    }

    /** HMAC-SHA256 of {@code bytes[0..len)} under HMAC-SHA256(wrap key, label): the record key. */
    private static byte[] tag(PfKey key, byte[] bytes, int len) {
        byte[] wrap = key.toBytes();
        byte[] recordKey = null;
        try {
            Mac kdf = Mac.getInstance("HmacSHA256");
            kdf.init(new SecretKeySpec(wrap, "HmacSHA256"));
            recordKey = kdf.doFinal(KEY_LABEL);
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(recordKey, "HmacSHA256"));
            mac.update(bytes, 0, len);
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HMAC-SHA256 is missing from this JDK", e);
        } finally {
            Arrays.fill(wrap, (byte) 0);
            if (recordKey != null) {
                Arrays.fill(recordKey, (byte) 0);
            }
        }
    }

    /** Checks a relative volume path (or prefix): '/'-separated, no empty, "." or ".." segments, no NUL. */
    static void checkPath(String path) {
        if (path == null || path.isEmpty()) {
            throw new IllegalArgumentException("empty path");
        }
        if (path.getBytes(StandardCharsets.UTF_8).length > MAX_PATH) {
            throw new IllegalArgumentException("path longer than " + MAX_PATH + " bytes");
        }
        for (String seg : path.split("/", -1)) {
            if (seg.isEmpty() || seg.equals(".") || seg.equals("..") || seg.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("bad path '" + path + "' (relative, '/'-separated, no empty, "
                        + "'.' or '..' segments)");
            }
        }
    }

    private static boolean isHex(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (Character.digit(s.charAt(i), 16) < 0) {
                return false;
            }
        }
        return true;
    }

    @Override
    public String toString() {
        return "volume " + id + " version " + version + " (" + entries.size() + " files, root " + rootHex() + ")";
    }
}
