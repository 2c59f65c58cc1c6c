package dev.cloister.bundle;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * The SGX measurement primitives that build MRENCLAVE (Intel SDM vol. 3D, ECREATE/EADD/EEXTEND): a running
 * SHA-256 over 64-byte records, little-endian, as {@code gramine-sgx-sign} emulates them.
 *
 * <ul>
 *   <li>ECREATE: {@code "ECREATE\0"}, u32 SSA frame size in pages, u64 enclave size, 44 zero bytes;</li>
 *   <li>EADD: {@code "EADD\0\0\0\0"}, u64 page offset from the enclave base, u64 SECINFO flags (R=1, W=2, X=4;
 *       page type in bits 8..15: REG=0x200, TCS=0x100), 40 zero bytes;</li>
 *   <li>EEXTEND: {@code "EEXTEND\0"}, u64 offset of a 256-byte chunk, 48 zero bytes, then the 256 bytes.</li>
 * </ul>
 *
 * This class is the primitive layer only; {@link GramineEnclave} lays out Gramine's enclave with it.
 */
public final class EnclaveMeasurement {
    /** Page size. */
    public static final int PAGE = 4096;
    /** SECINFO: readable. */
    public static final long R = 0x1;
    /** SECINFO: writable. */
    public static final long W = 0x2;
    /** SECINFO: executable. */
    public static final long X = 0x4;
    /** SECINFO page type: thread control structure. */
    public static final long PT_TCS = 0x100;
    /** SECINFO page type: regular page. */
    public static final long PT_REG = 0x200;

    private final MessageDigest md = ParallelHasher.sha256();
    // Large enclaves EADD millions of free pages: reuse one record buffer instead of allocating per record.
    private final ByteBuffer rec = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
    private boolean finished;

    private EnclaveMeasurement() {}

    /** Starts a measurement with ECREATE. */
    public static EnclaveMeasurement ecreate(int ssaFramePages, long enclaveSize) {
        if (Long.bitCount(enclaveSize) != 1) {
            throw new IllegalArgumentException("enclave size must be a power of two: " + enclaveSize);
        }
        EnclaveMeasurement m = new EnclaveMeasurement();
        ByteBuffer b = record(m.rec, "ECREATE\0".getBytes(StandardCharsets.US_ASCII));
        b.putInt(ssaFramePages).putLong(enclaveSize);
        m.md.update(b.array());
        return m;
    }

    /** EADD of the page at {@code offset} (a multiple of 4096) with SECINFO {@code flags}. */
    public EnclaveMeasurement eadd(long offset, long flags) {
        check(offset % PAGE == 0, "EADD offset must be page-aligned: " + offset);
        ByteBuffer b = record(rec, EADD);
        b.putLong(offset).putLong(flags);
        md.update(b.array());
        return this;
    }

    /** EEXTEND of the 256 bytes {@code chunk} at {@code offset} (a multiple of 256). */
    public EnclaveMeasurement eextend(long offset, byte[] chunk) {
        check(offset % 256 == 0, "EEXTEND offset must be 256-byte aligned: " + offset);
        check(chunk.length == 256, "EEXTEND measures 256 bytes, got " + chunk.length);
        return eextend(offset, chunk, 0);
    }

    private EnclaveMeasurement eextend(long offset, byte[] buf, int from) {
        ByteBuffer b = record(rec, EEXTEND);
        b.putLong(offset);
        md.update(b.array());
        md.update(buf, from, 256);
        return this;
    }

    /**
     * Adds one page: EADD, then (if {@code measured}) sixteen EEXTENDs over its content.
     *
     * @param content up to 4096 bytes; the rest of the page is zero
     */
    public EnclaveMeasurement addPage(long offset, long flags, byte[] content, boolean measured) {
        check(content.length <= PAGE, "a page holds 4096 bytes, got " + content.length);
        eadd(offset, flags);
        if (measured) {
            byte[] page = new byte[PAGE];
            System.arraycopy(content, 0, page, 0, content.length);
            measurePage(offset, page, 0);
        }
        return this;
    }

    /** Adds the page {@code buf[from, from + 4096)} at {@code offset}: EADD and, if measured, sixteen EEXTENDs. */
    EnclaveMeasurement addPage(long offset, long flags, byte[] buf, int from, boolean measured) {
        check(from >= 0 && from <= buf.length - PAGE, "page slice out of range: " + from);
        eadd(offset, flags);
        if (measured) {
            measurePage(offset, buf, from);
        }
        return this;
    }

    private void measurePage(long offset, byte[] buf, int from) {
        for (int i = 0; i < PAGE; i += 256) {
            eextend(offset + i, buf, from + i);
        }
    }

    /** MRENCLAVE (EINIT): the digest so far; the measurement cannot be extended afterwards. */
    public byte[] einit() {
        check(!finished, "measurement already finished");
        finished = true;
        return md.digest();
    }

    private void check(boolean ok, String message) {
        if (finished) {
            throw new IllegalStateException("measurement already finished");
        }
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    private static final byte[] EADD = "EADD\0\0\0\0".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EEXTEND = "EEXTEND\0".getBytes(StandardCharsets.US_ASCII);

    private static ByteBuffer record(ByteBuffer b, byte[] tag) {
        java.util.Arrays.fill(b.array(), (byte) 0);
        b.clear();
        b.put(tag);
        return b;
    }
}
