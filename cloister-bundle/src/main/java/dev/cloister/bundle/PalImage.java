package dev.cloister.bundle;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * What MRENCLAVE needs from Gramine's {@code sgx/libpal.so}: its entry point and its PT_LOAD segments. Parsed
 * strictly: a 64-bit little-endian x86-64 ELF, every header and segment inside the file, file size not above memory
 * size, at least one PT_LOAD. A view of the ELF headers, so there is no {@code toBytes}.
 *
 * @param entry    {@code e_entry}
 * @param segments the PT_LOAD segments in program-header order
 */
public record PalImage(long entry, List<Segment> segments) {
    private static final int PT_LOAD = 1;
    private static final int EM_X86_64 = 62;
    private static final long MAX_ADDR = 1L << 47;

    /**
     * One PT_LOAD segment.
     *
     * @param offset {@code p_offset}
     * @param vaddr  {@code p_vaddr}
     * @param filesz {@code p_filesz}
     * @param memsz  {@code p_memsz}
     * @param pflags {@code p_flags} (PF_X = 1, PF_W = 2, PF_R = 4)
     */
    public record Segment(long offset, long vaddr, long filesz, long memsz, int pflags) {
        /** The SECINFO permission bits for this segment (R = 1, W = 2, X = 4). */
        public long secinfo() {
            long f = 0;
            if ((pflags & 4) != 0) {
                f |= EnclaveMeasurement.R;
            }
            if ((pflags & 2) != 0) {
                f |= EnclaveMeasurement.W;
            }
            if ((pflags & 1) != 0) {
                f |= EnclaveMeasurement.X;
            }
            return f;
        }
    }

    public PalImage {
        segments = List.copyOf(segments);
        if (segments.isEmpty()) {
            throw new IllegalArgumentException("a PAL needs at least one PT_LOAD segment");
        }
    }

    /** The lowest segment page (0 for a position-independent PAL). */
    public long mapStart() {
        return segments.stream().mapToLong(s -> GramineEnclave.roundDown(s.vaddr())).min().orElseThrow();
    }

    /** The end of the highest segment, rounded up to a page. */
    public long mapEnd() {
        return segments.stream().mapToLong(s -> GramineEnclave.roundUp(s.vaddr() + s.memsz())).max().orElseThrow();
    }

    /** Parses {@code bytes}; {@code name} appears in errors. */
    public static PalImage parse(byte[] bytes, String name) throws BundleException {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 64 || bytes[0] != 0x7f || bytes[1] != 'E' || bytes[2] != 'L' || bytes[3] != 'F') {
            throw BundleException.badInput(name + " is not an ELF file");
        }
        if (bytes[4] != 2 || bytes[5] != 1) {
            throw BundleException.badInput(name + " is not a 64-bit little-endian ELF file (class " + bytes[4]
                    + ", data " + bytes[5] + ")");
        }
        int machine = Short.toUnsignedInt(b.getShort(18));
        if (machine != EM_X86_64) {
            throw BundleException.badInput(name + " is for machine " + machine + ", not x86-64");
        }
        long entry = b.getLong(24);
        long phoff = b.getLong(32);
        int phentsize = Short.toUnsignedInt(b.getShort(54));
        int phnum = Short.toUnsignedInt(b.getShort(56));
        if (phentsize < 56 || phoff < 0 || phoff > bytes.length
                || (long) phentsize * phnum > bytes.length - phoff) {
            throw BundleException.badInput(name + ": program header table (offset " + phoff + ", " + phnum + " x "
                    + phentsize + " bytes) is outside the file");
        }
        List<Segment> segs = new ArrayList<>();
        for (int i = 0; i < phnum; i++) {
            int p = (int) (phoff + (long) i * phentsize);
            if (b.getInt(p) != PT_LOAD) {
                continue;
            }
            int flags = b.getInt(p + 4);
            long off = b.getLong(p + 8);
            long vaddr = b.getLong(p + 16);
            long filesz = b.getLong(p + 32);
            long memsz = b.getLong(p + 40);
            if (off < 0 || filesz < 0 || off > bytes.length || filesz > bytes.length - off) {
                throw BundleException.badInput(name + ": PT_LOAD segment " + i + " (offset " + off + ", " + filesz
                        + " bytes) is outside the file");
            }
            if (memsz < filesz || vaddr < 0 || vaddr >= MAX_ADDR || memsz > MAX_ADDR - vaddr) {
                throw BundleException.badInput(name + ": PT_LOAD segment " + i + " has vaddr 0x"
                        + Long.toHexString(vaddr) + ", memsz " + memsz + ", filesz " + filesz);
            }
            if (Math.floorMod(off, GramineEnclave.PAGE) != Math.floorMod(vaddr, GramineEnclave.PAGE)) {
                throw BundleException.badInput(name + ": PT_LOAD segment " + i + " has offset and vaddr in different"
                        + " page positions");
            }
            segs.add(new Segment(off, vaddr, filesz, memsz, flags));
        }
        if (segs.isEmpty()) {
            throw BundleException.badInput(name + " has no PT_LOAD segment");
        }
        return new PalImage(entry, segs);
    }
}
