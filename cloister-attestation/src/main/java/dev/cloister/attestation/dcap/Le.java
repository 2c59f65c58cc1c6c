package dev.cloister.attestation.dcap;

import dev.cloister.attestation.EvidenceException;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;

/**
 * Bounds-checked little-endian reading and writing for the quote formats. Every read names the field so that a
 * malformed quote is rejected with a message saying which field ran past the end.
 */
final class Le {
    private Le() {}

    /** A cursor over a byte range; reads never go past {@code end}. */
    static final class Reader {
        private final byte[] b;
        private int pos;
        private final int end;

        Reader(byte[] b) {
            this(b, 0, b.length);
        }

        Reader(byte[] b, int off, int end) {
            this.b = b;
            this.pos = off;
            this.end = end;
        }

        int pos() {
            return pos;
        }

        int remaining() {
            return end - pos;
        }

        private void need(int n, String field) throws EvidenceException {
            if (n < 0 || n > end - pos) {
                throw EvidenceException.malformed(field + " at offset " + pos + " needs " + n + " bytes, only "
                        + (end - pos) + " left");
            }
        }

        byte[] bytes(int n, String field) throws EvidenceException {
            need(n, field);
            byte[] r = Arrays.copyOfRange(b, pos, pos + n);
            pos += n;
            return r;
        }

        int u16(String field) throws EvidenceException {
            need(2, field);
            int v = (b[pos] & 0xff) | (b[pos + 1] & 0xff) << 8;
            pos += 2;
            return v;
        }

        long u32(String field) throws EvidenceException {
            need(4, field);
            long v = (b[pos] & 0xffL) | (b[pos + 1] & 0xffL) << 8 | (b[pos + 2] & 0xffL) << 16
                    | (b[pos + 3] & 0xffL) << 24;
            pos += 4;
            return v;
        }

        /** A sub-reader over the next {@code n} bytes, which this reader skips. */
        Reader sub(long n, String field) throws EvidenceException {
            if (n > Integer.MAX_VALUE) {
                throw EvidenceException.malformed(field + " length " + n + " is too large");
            }
            need((int) n, field);
            Reader r = new Reader(b, pos, pos + (int) n);
            pos += (int) n;
            return r;
        }

        void expectEnd(String what) throws EvidenceException {
            if (pos != end) {
                throw EvidenceException.malformed(what + " has " + (end - pos) + " unexpected trailing bytes");
            }
        }
    }

    /** A little-endian byte sink. */
    static final class Writer {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream(1024);

        Writer bytes(byte[] v) {
            out.writeBytes(v);
            return this;
        }

        Writer u16(int v) {
            out.write(v & 0xff);
            out.write((v >>> 8) & 0xff);
            return this;
        }

        Writer u32(long v) {
            out.write((int) (v & 0xff));
            out.write((int) ((v >>> 8) & 0xff));
            out.write((int) ((v >>> 16) & 0xff));
            out.write((int) ((v >>> 24) & 0xff));
            return this;
        }

        byte[] toBytes() {
            return out.toByteArray();
        }
    }

    static byte[] fixed(byte[] v, int n, String field) {
        if (v == null || v.length != n) {
            throw new IllegalArgumentException(field + " must be " + n + " bytes, got " + (v == null ? "none" : v.length));
        }
        return v.clone();
    }
}
