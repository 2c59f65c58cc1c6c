package dev.cloister.bundle;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * A small, strict tar reader (ustar, GNU long names, PAX extended headers) and a deterministic ustar/PAX writer.
 * Entry names are returned as stored; callers confine them (see {@link OciImage}).
 */
public final class Tar {
    private Tar() {}

    /** Entry types this reader reports. */
    public enum Type { FILE, DIR, SYMLINK, HARDLINK, OTHER }

    /** One entry header. */
    public record Entry(String name, Type type, long size, int mode, String linkName) {}

    /** Receives entries; {@code data} holds exactly {@code size} bytes of content for files. */
    @FunctionalInterface
    public interface Visitor {
        void entry(Entry e, InputStream data) throws IOException, BundleException;
    }

    /** Reads every entry of {@code in}; {@code name} is used in errors. */
    public static void read(InputStream in, String name, Visitor v) throws IOException, BundleException {
        byte[] h = new byte[512];
        Map<String, String> pax = new HashMap<>();
        String longName = null;
        String longLink = null;
        while (true) {
            int n = in.readNBytes(h, 0, 512);
            if (n == 0) {
                return; // some writers omit the end-of-archive blocks
            }
            if (n < 512) {
                throw BundleException.badInput(name + ": truncated tar header");
            }
            if (allZero(h)) {
                return;
            }
            checkChecksum(h, name);
            char type = (char) h[156];
            long size = number(h, 124, 12, name);
            if (size < 0) {
                throw BundleException.badInput(name + ": negative entry size");
            }
            if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
                if (size > (1 << 20)) {
                    throw BundleException.badInput(name + ": extended header of " + size + " bytes is too large");
                }
                byte[] data = in.readNBytes((int) size);
                if (data.length != size) {
                    throw BundleException.badInput(name + ": truncated extended header");
                }
                skip(in, pad(size), name);
                if (type == 'x') {
                    pax = parsePax(data, name);
                } else if (type == 'L') {
                    longName = cstr(data, 0, data.length);
                } else if (type == 'K') {
                    longLink = cstr(data, 0, data.length);
                }
                continue;
            }
            String entryName = cstr(h, 0, 100);
            String prefix = cstr(h, 345, 155);
            if (isUstar(h) && !prefix.isEmpty()) {
                entryName = prefix + "/" + entryName;
            }
            String link = cstr(h, 157, 100);
            if (longName != null) {
                entryName = longName;
            }
            if (longLink != null) {
                link = longLink;
            }
            if (pax.containsKey("path")) {
                entryName = pax.get("path");
            }
            if (pax.containsKey("linkpath")) {
                link = pax.get("linkpath");
            }
            if (pax.containsKey("size")) {
                try {
                    size = Long.parseLong(pax.get("size"));
                } catch (NumberFormatException e) {
                    throw BundleException.badInput(name + ": PAX size of " + entryName + " is not a number");
                }
            }
            int mode = (int) number(h, 100, 8, name);
            Type t = switch (type) {
                case '0', '\0', '7' -> Type.FILE;
                case '5' -> Type.DIR;
                case '2' -> Type.SYMLINK;
                case '1' -> Type.HARDLINK;
                default -> Type.OTHER;
            };
            if (entryName.endsWith("/") && t == Type.FILE && size == 0) {
                t = Type.DIR;
            }
            long dataSize = (t == Type.FILE || t == Type.OTHER) ? size : 0;
            BoundedInputStream body = new BoundedInputStream(in, dataSize);
            v.entry(new Entry(entryName, t, dataSize, mode, link), body);
            body.skipRest(name);
            skip(in, pad(dataSize), name);
            pax = new HashMap<>();
            longName = null;
            longLink = null;
        }
    }

    private static Map<String, String> parsePax(byte[] data, String name) throws BundleException {
        Map<String, String> out = new HashMap<>();
        int i = 0;
        while (i < data.length) {
            int sp = i;
            while (sp < data.length && data[sp] != ' ') {
                sp++;
            }
            int len;
            try {
                len = Integer.parseInt(new String(data, i, sp - i, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                throw BundleException.badInput(name + ": malformed PAX record");
            }
            if (len <= 0 || i + len > data.length || sp >= i + len) {
                throw BundleException.badInput(name + ": malformed PAX record length " + len);
            }
            String rec = new String(data, sp + 1, i + len - sp - 2, StandardCharsets.UTF_8);
            int eq = rec.indexOf('=');
            if (eq > 0) {
                out.put(rec.substring(0, eq), rec.substring(eq + 1));
            }
            i += len;
        }
        return out;
    }

    private static boolean isUstar(byte[] h) {
        return h[257] == 'u' && h[258] == 's' && h[259] == 't' && h[260] == 'a' && h[261] == 'r';
    }

    private static void checkChecksum(byte[] h, String name) throws BundleException {
        long stored = number(h, 148, 8, name);
        long sum = 0;
        for (int i = 0; i < 512; i++) {
            sum += (i >= 148 && i < 156) ? ' ' : (h[i] & 0xff);
        }
        if (sum != stored) {
            throw BundleException.badInput(name + ": tar header checksum mismatch (not a tar file?)");
        }
    }

    private static long number(byte[] h, int off, int len, String name) throws BundleException {
        if ((h[off] & 0x80) != 0) {
            long v = 0;
            for (int i = off + 1; i < off + len; i++) {
                v = (v << 8) | (h[i] & 0xff);
            }
            return v;
        }
        long v = 0;
        boolean any = false;
        for (int i = off; i < off + len; i++) {
            int c = h[i];
            if (c == 0 || c == ' ') {
                if (any) {
                    break;
                }
                continue;
            }
            if (c < '0' || c > '7') {
                throw BundleException.badInput(name + ": tar header number at offset " + off + " is not octal");
            }
            v = v * 8 + (c - '0');
            any = true;
        }
        return v;
    }

    private static String cstr(byte[] b, int off, int len) {
        int end = off;
        while (end < off + len && b[end] != 0) {
            end++;
        }
        return new String(b, off, end - off, StandardCharsets.UTF_8);
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    private static long pad(long size) {
        return (512 - (size % 512)) % 512;
    }

    private static void skip(InputStream in, long n, String name) throws IOException, BundleException {
        long left = n;
        while (left > 0) {
            long s = in.skip(left);
            if (s <= 0) {
                if (in.read() < 0) {
                    throw BundleException.badInput(name + ": truncated tar entry");
                }
                s = 1;
            }
            left -= s;
        }
    }

    private static final class BoundedInputStream extends InputStream {
        private final InputStream in;
        private long left;

        BoundedInputStream(InputStream in, long size) {
            this.in = in;
            this.left = size;
        }

        @Override
        public int read() throws IOException {
            if (left <= 0) {
                return -1;
            }
            int c = in.read();
            if (c >= 0) {
                left--;
            }
            return c;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (left <= 0) {
                return -1;
            }
            int n = in.read(b, off, (int) Math.min(len, left));
            if (n > 0) {
                left -= n;
            }
            return n;
        }

        void skipRest(String name) throws IOException, BundleException {
            Tar.skip(in, left, name);
            left = 0;
        }
    }

    /** A deterministic tar writer: owner 0:0, fixed time, PAX headers only for long names. */
    public static final class Writer {
        private final OutputStream out;
        private final long mtime;

        public Writer(OutputStream out, long mtimeSeconds) {
            this.out = out;
            this.mtime = mtimeSeconds;
        }

        /** Adds a directory (name without trailing slash). */
        public void dir(String name, int mode) throws IOException {
            header(name + "/", '5', 0, mode, "");
        }

        /** Adds a file. */
        public void file(String name, int mode, byte[] data) throws IOException {
            header(name, '0', data.length, mode, "");
            out.write(data);
            out.write(new byte[(int) pad(data.length)]);
        }

        /** Adds a file whose content is copied from {@code in} ({@code size} bytes). */
        public void file(String name, int mode, long size, InputStream in) throws IOException {
            header(name, '0', size, mode, "");
            long copied = in.transferTo(out);
            if (copied != size) {
                throw new IOException(name + " changed size while archiving");
            }
            out.write(new byte[(int) pad(size)]);
        }

        /** Writes the two zero blocks that end an archive. */
        public void finish() throws IOException {
            out.write(new byte[1024]);
            out.flush();
        }

        private void header(String name, char type, long size, int mode, String link) throws IOException {
            byte[] nb = name.getBytes(StandardCharsets.UTF_8);
            if (nb.length > 100) {
                byte[] rest = (" path=" + name + "\n").getBytes(StandardCharsets.UTF_8);
                int len = rest.length + 1;
                while (len != rest.length + String.valueOf(len).length()) {
                    len = rest.length + String.valueOf(len).length();
                }
                byte[] digits = String.valueOf(len).getBytes(StandardCharsets.US_ASCII);
                byte[] pax = new byte[len];
                System.arraycopy(digits, 0, pax, 0, digits.length);
                System.arraycopy(rest, 0, pax, digits.length, rest.length);
                writeHeader("PaxHeader", 'x', pax.length, 0644, "");
                out.write(pax);
                out.write(new byte[(int) pad(pax.length)]);
                name = name.substring(0, Math.min(name.length(), 90));
            }
            writeHeader(name, type, size, mode, link);
        }

        private void writeHeader(String name, char type, long size, int mode, String link) throws IOException {
            byte[] h = new byte[512];
            put(h, 0, 100, name.getBytes(StandardCharsets.UTF_8));
            octal(h, 100, 8, mode);
            octal(h, 108, 8, 0);
            octal(h, 116, 8, 0);
            octal(h, 124, 12, size);
            octal(h, 136, 12, mtime);
            for (int i = 148; i < 156; i++) {
                h[i] = ' ';
            }
            h[156] = (byte) type;
            put(h, 157, 100, link.getBytes(StandardCharsets.UTF_8));
            put(h, 257, 6, "ustar\0".getBytes(StandardCharsets.US_ASCII));
            put(h, 263, 2, "00".getBytes(StandardCharsets.US_ASCII));
            long sum = 0;
            for (byte b : h) {
                sum += b & 0xff;
            }
            octal(h, 148, 7, sum);
            out.write(h);
        }

        private static void put(byte[] h, int off, int len, byte[] v) {
            System.arraycopy(v, 0, h, off, Math.min(len, v.length));
        }

        private static void octal(byte[] h, int off, int len, long v) {
            String s = Long.toOctalString(v);
            while (s.length() < len - 1) {
                s = "0" + s;
            }
            put(h, off, len - 1, s.getBytes(StandardCharsets.US_ASCII));
        }
    }
}
