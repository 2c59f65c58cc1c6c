package dev.cloister.kbs.gramine;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict reader for the small CBOR subset RA-TLS evidence uses (RFC 8949): unsigned and negative integers, byte
 * and text strings, arrays, maps and tags, all definite-length. Every length is checked against what remains;
 * nesting is bounded.
 */
final class Cbor {
    /** A tagged value. */
    record Tagged(long tag, Object value) {}

    private final byte[] b;
    private int pos;

    private Cbor(byte[] b) {
        this.b = b;
    }

    /** Decodes exactly one item spanning all of {@code data}. */
    static Object decode(byte[] data) throws RaTlsException {
        Cbor c = new Cbor(data);
        Object o = c.item(0);
        if (c.pos != data.length) {
            throw new RaTlsException("CBOR has " + (data.length - c.pos) + " trailing bytes");
        }
        return o;
    }

    private Object item(int depth) throws RaTlsException {
        if (depth > 16) {
            throw new RaTlsException("CBOR nested too deeply");
        }
        int ib = u8();
        int major = ib >>> 5;
        long arg = argument(ib & 0x1f);
        return switch (major) {
            case 0 -> arg;
            case 1 -> -1 - arg;
            case 2 -> bytes(arg);
            case 3 -> new String(bytes(arg), StandardCharsets.UTF_8);
            case 4 -> {
                List<Object> l = new ArrayList<>();
                long n = count(arg);
                for (long i = 0; i < n; i++) {
                    l.add(item(depth + 1));
                }
                yield l;
            }
            case 5 -> {
                Map<Object, Object> m = new LinkedHashMap<>();
                long n = count(arg);
                for (long i = 0; i < n; i++) {
                    Object k = item(depth + 1);
                    if (m.put(k, item(depth + 1)) != null) {
                        throw new RaTlsException("CBOR map repeats key " + k);
                    }
                }
                yield m;
            }
            case 6 -> new Tagged(arg, item(depth + 1));
            default -> throw new RaTlsException("CBOR major type 7 (floats, simple values) is not expected here");
        };
    }

    private long count(long n) throws RaTlsException {
        if (n > b.length - pos) {
            throw new RaTlsException("CBOR container of " + n + " items exceeds the remaining " + (b.length - pos)
                    + " bytes");
        }
        return n;
    }

    private long argument(int ai) throws RaTlsException {
        if (ai < 24) {
            return ai;
        }
        int n = switch (ai) {
            case 24 -> 1;
            case 25 -> 2;
            case 26 -> 4;
            case 27 -> 8;
            default -> throw new RaTlsException("CBOR indefinite or reserved length (additional info " + ai + ")");
        };
        long v = 0;
        for (int i = 0; i < n; i++) {
            v = (v << 8) | u8();
        }
        if (v < 0) {
            throw new RaTlsException("CBOR length too large");
        }
        return v;
    }

    private byte[] bytes(long n) throws RaTlsException {
        if (n > b.length - pos) {
            throw new RaTlsException("CBOR string of " + n + " bytes exceeds the remaining " + (b.length - pos));
        }
        byte[] out = java.util.Arrays.copyOfRange(b, pos, pos + (int) n);
        pos += (int) n;
        return out;
    }

    private int u8() throws RaTlsException {
        if (pos >= b.length) {
            throw new RaTlsException("CBOR truncated at byte " + pos);
        }
        return b[pos++] & 0xff;
    }
}
