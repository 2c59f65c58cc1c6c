package dev.cloister.bundle;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The dynamic loader's cache, {@code /etc/ld.so.cache}, in glibc's "new" format ({@code glibc-ld.so.cache1.1}),
 * optionally preceded by the legacy {@code ld.so-1.7.0} table as older ldconfig versions write it.
 *
 * <p>Entries keep the file's order, which is the loader's preference order; string offsets in the new format are
 * relative to the start of the new-format header. Parsing is strict and bounds-checked.
 *
 * @param entries the cache entries in file order
 */
public record LdSoCache(List<Entry> entries) {

    /**
     * One entry.
     *
     * @param flags the entry's flags: low byte is the library type (3 = ELF libc6), next byte the architecture
     *              (0x03 = x86-64 lib64, 0x0a = AArch64)
     * @param name  the soname looked up ({@code libc.so.6})
     * @param path  the absolute path the loader opens
     */
    public record Entry(int flags, String name, String path) {}

    private static final byte[] OLD_MAGIC = "ld.so-1.7.0".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] NEW_MAGIC = "glibc-ld.so.cache1.1".getBytes(StandardCharsets.US_ASCII);
    private static final int NEW_HEADER = 48;
    private static final int NEW_ENTRY = 24;

    public LdSoCache {
        entries = List.copyOf(entries);
    }

    /** Parses a cache file; {@code name} is used only in error messages. */
    public static LdSoCache parse(byte[] bytes, String name) throws BundleException {
        int start = 0;
        if (startsWith(bytes, 0, OLD_MAGIC)) {
            if (bytes.length < 16) {
                throw BundleException.badInput(name + ": legacy ld.so.cache header truncated");
            }
            long n = Integer.toUnsignedLong(ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(12));
            long end = 16 + n * 12;
            end = (end + 7) & ~7L;
            if (end > bytes.length) {
                throw BundleException.badInput(name + ": legacy ld.so.cache table of " + n + " entries is truncated");
            }
            start = (int) end;
        }
        if (!startsWith(bytes, start, NEW_MAGIC)) {
            throw BundleException.badInput(name + ": not a glibc-ld.so.cache1.1 file");
        }
        if (bytes.length - start < NEW_HEADER) {
            throw BundleException.badInput(name + ": ld.so.cache header truncated");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = Integer.toUnsignedLong(b.getInt(start + 20));
        if (n > (bytes.length - start - NEW_HEADER) / NEW_ENTRY) {
            throw BundleException.badInput(name + ": ld.so.cache claims " + n + " entries, more than fit in "
                    + bytes.length + " bytes");
        }
        List<Entry> out = new ArrayList<>((int) n);
        for (int i = 0; i < n; i++) {
            int e = start + NEW_HEADER + i * NEW_ENTRY;
            int flags = b.getInt(e);
            String key = string(bytes, start, b.getInt(e + 4), name, i);
            String value = string(bytes, start, b.getInt(e + 8), name, i);
            out.add(new Entry(flags, key, value));
        }
        return new LdSoCache(out);
    }

    /** The paths the cache offers for {@code soname}, in preference order. */
    public List<String> lookup(String soname) {
        List<String> out = new ArrayList<>();
        for (Entry e : entries) {
            if (e.name().equals(soname)) {
                out.add(e.path());
            }
        }
        return out;
    }

    private static String string(byte[] bytes, int base, int rawOff, String name, int index) throws BundleException {
        long off = Integer.toUnsignedLong(rawOff);
        // Offsets count from the start of the new-format header, or (older writers) from the whole file.
        long abs = off >= base ? off : base + off;
        if (abs >= bytes.length) {
            throw BundleException.badInput(name + ": entry " + index + " has string offset " + off
                    + " outside the file of " + bytes.length + " bytes");
        }
        int end = (int) abs;
        while (end < bytes.length && bytes[end] != 0) {
            end++;
        }
        if (end == bytes.length) {
            throw BundleException.badInput(name + ": entry " + index + " string is not NUL-terminated");
        }
        return new String(bytes, (int) abs, end - (int) abs, StandardCharsets.UTF_8);
    }

    private static boolean startsWith(byte[] b, int at, byte[] magic) {
        if (b.length - at < magic.length) {
            return false;
        }
        for (int i = 0; i < magic.length; i++) {
            if (b[at + i] != magic[i]) {
                return false;
            }
        }
        return true;
    }
}
