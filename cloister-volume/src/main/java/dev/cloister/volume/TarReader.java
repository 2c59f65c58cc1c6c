package dev.cloister.volume;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;

/**
 * A strict reader of tar streams (POSIX ustar, with GNU long names and pax {@code path}/{@code size} records, as
 * GNU tar and bsdtar write them): regular files come out in stream order; directories are skipped; links and
 * special files, absolute or {@code ..} paths, repeated paths and bad header checksums are refused.
 */
final class TarReader {
    /** One regular file: its volume path and size; read its bytes from {@link #content()} before the next call. */
    record File(String path, long size) {}

    private final InputStream in;
    private final byte[] block = new byte[512];
    private final Set<String> seen = new HashSet<>();
    private long remaining;
    private long padding;
    private long offset;

    TarReader(InputStream in) {
        this.in = in;
    }

    /** The next regular file, or null at the end of the archive. */
    File next() throws IOException, VolumeException {
        skip(remaining + padding);
        remaining = 0;
        padding = 0;
        String longName = null;
        Long paxSize = null;
        while (true) {
            long at = offset;
            if (!readBlock(true)) {
                return null; // end of stream without the end-of-archive blocks: GNU tar accepts it too
            }
            if (allZero(block)) {
                return null;
            }
            checkChecksum(at);
            char type = (char) block[156];
            long size = number(block, 124, 12, at);
            String name = longName != null ? longName : name(block);
            switch (type) {
                case 'L' -> {
                    longName = trimNul(new String(readData(size, at), StandardCharsets.UTF_8));
                    continue;
                }
                case 'x' -> {
                    String[] pax = pax(readData(size, at), at);
                    if (pax[0] != null) {
                        longName = pax[0];
                    }
                    if (pax[1] != null) {
                        paxSize = Long.parseLong(pax[1]);
                    }
                    continue;
                }
                case 'g' -> {
                    readData(size, at);
                    continue;
                }
                case '5' -> {
                    skip(round(size));
                    longName = null;
                    paxSize = null;
                    continue;
                }
                case '0', '\0', '7' -> {
                    if (paxSize != null) {
                        size = paxSize;
                    }
                    String path = clean(name, at);
                    if (!seen.add(path)) {
                        throw VolumeException.bad("tar entry '" + path + "' appears twice in the stream");
                    }
                    remaining = size;
                    padding = round(size) - size;
                    return new File(path, size);
                }
                default -> throw VolumeException.bad("tar entry '" + name + "' at byte " + at + " is of type '"
                        + type + "' (links and special files are not imported)");
            }
        }
    }

    /** The current file's bytes; reading past its end gives end of stream. */
    InputStream content() {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (remaining == 0) {
                    return -1;
                }
                int n = in.read(b, off, (int) Math.min(len, remaining));
                if (n < 0) {
                    throw new EOFException("tar stream ends inside a file, " + remaining + " bytes short");
                }
                remaining -= n;
                offset += n;
                return n;
            }
        };
    }

    private byte[] readData(long size, long at) throws IOException, VolumeException {
        if (size > (1 << 20)) {
            throw VolumeException.bad("tar extended header at byte " + at + " is larger than 1 MiB");
        }
        byte[] d = new byte[(int) size];
        readFully(d, d.length);
        skip(round(size) - size);
        return d;
    }

    private static String[] pax(byte[] d, long at) throws VolumeException {
        String[] out = new String[2];
        int i = 0;
        while (i < d.length) {
            int sp = i;
            while (sp < d.length && d[sp] != ' ') {
                sp++;
            }
            int len;
            try {
                len = Integer.parseInt(new String(d, i, sp - i, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                throw VolumeException.bad("tar pax header at byte " + at + " is malformed");
            }
            if (len <= sp - i + 1 || i + len > d.length || d[i + len - 1] != '\n') {
                throw VolumeException.bad("tar pax header at byte " + at + " is malformed");
            }
            String kv = new String(d, sp + 1, i + len - sp - 2, StandardCharsets.UTF_8);
            int eq = kv.indexOf('=');
            if (eq > 0) {
                String k = kv.substring(0, eq);
                if (k.equals("path")) {
                    out[0] = kv.substring(eq + 1);
                } else if (k.equals("size")) {
                    out[1] = kv.substring(eq + 1);
                }
            }
            i += len;
        }
        return out;
    }

    private static String clean(String name, long at) throws VolumeException {
        String n = name;
        while (n.startsWith("./")) {
            n = n.substring(2);
        }
        try {
            VolumeRecord.checkPath(n);
        } catch (IllegalArgumentException e) {
            throw VolumeException.bad("tar entry '" + name + "' at byte " + at + " has a path a volume cannot hold: "
                    + e.getMessage());
        }
        return n;
    }

    private static String name(byte[] h) {
        String name = field(h, 0, 100);
        String magic = field(h, 257, 6);
        if (magic.startsWith("ustar")) {
            String prefix = field(h, 345, 155);
            if (!prefix.isEmpty()) {
                return prefix + "/" + name;
            }
        }
        return name;
    }

    private void checkChecksum(long at) throws VolumeException {
        long stored = number(block, 148, 8, at);
        long sum = 0;
        for (int i = 0; i < 512; i++) {
            sum += (i >= 148 && i < 156) ? ' ' : (block[i] & 0xff);
        }
        if (sum != stored) {
            throw VolumeException.bad("tar header at byte " + at + " has a bad checksum (not a tar stream, or damaged)");
        }
    }

    private static long number(byte[] h, int off, int len, long at) throws VolumeException {
        if ((h[off] & 0x80) != 0) { // GNU base-256 for sizes of 8 GiB and more
            long v = h[off] & 0x7f;
            for (int i = 1; i < len; i++) {
                v = (v << 8) | (h[off + i] & 0xff);
            }
            return v;
        }
        String s = field(h, off, len).trim();
        if (s.isEmpty()) {
            return 0;
        }
        try {
            return Long.parseLong(s, 8);
        } catch (NumberFormatException e) {
            throw VolumeException.bad("tar header at byte " + at + " has a malformed number field");
        }
    }

    private static String field(byte[] h, int off, int len) {
        int end = off;
        while (end < off + len && h[end] != 0) {
            end++;
        }
        return new String(h, off, end - off, StandardCharsets.UTF_8);
    }

    private static String trimNul(String s) {
        int z = s.indexOf('\0');
        return z >= 0 ? s.substring(0, z) : s;
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    private static long round(long n) {
        return (n + 511) & ~511L;
    }

    private boolean readBlock(boolean eofOk) throws IOException {
        int n = 0;
        while (n < 512) {
            int r = in.read(block, n, 512 - n);
            if (r < 0) {
                if (n == 0 && eofOk) {
                    return false;
                }
                throw new EOFException("tar stream ends inside a header at byte " + offset);
            }
            n += r;
        }
        offset += 512;
        return true;
    }

    private void readFully(byte[] d, int len) throws IOException {
        int n = 0;
        while (n < len) {
            int r = in.read(d, n, len - n);
            if (r < 0) {
                throw new EOFException("tar stream ends early at byte " + (offset + n));
            }
            n += r;
        }
        offset += len;
    }

    private void skip(long n) throws IOException {
        byte[] buf = new byte[8192];
        while (n > 0) {
            int r = in.read(buf, 0, (int) Math.min(buf.length, n));
            if (r < 0) {
                throw new EOFException("tar stream ends early at byte " + offset);
            }
            n -= r;
            offset += r;
        }
    }
}
