package dev.cloister.bundle;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Gramine 1.9's enclave layout and its MRENCLAVE, as {@code gramine-sgx-sign} computes them before signing
 * (reference/gramine.md 2.4). Without EDMM, areas are placed top-down from {@code enclave_size} in this order and
 * measured in this order:
 *
 * <ol>
 *   <li>{@code manifest}: the {@code .manifest.sgx} bytes and one NUL, read-only;</li>
 *   <li>{@code ssa}: two 4-page SSA frames per thread, zero;</li>
 *   <li>{@code tcs}: one TCS page per thread (OSSA, NSSA = 2, OENTRY = the PAL's ELF entry, OGS_BASE = the
 *       thread's TLS page, FS/GS limits 0xfff);</li>
 *   <li>{@code tls}: one page per thread holding the PAL's {@code pal_enclave_tcb} start values (self pointer, stack
 *       canary, enclave size, TCS offset, stack top, signal stack bounds, SSA and GPR addresses, manifest size, heap
 *       bounds);</li>
 *   <li>{@code stack} (64 pages) for every thread, then {@code sig_stack} (16 pages) for every thread, zero;</li>
 *   <li>{@code pal}: the PT_LOAD segments of {@code libpal.so}, pages rounded out, permissions from the segment
 *       flags, bytes outside the file data zero;</li>
 *   <li>{@code free}: from 0x10000 up to the PAL, EADDed read-write-execute but not measured (absent with EDMM).</li>
 * </ol>
 *
 * Offsets inside the TCS and TLS pages are those of {@code sgx_arch_tcs_t} and {@code struct pal_enclave_tcb} in
 * Gramine 1.9 (the values its build exports to {@code _graminelibos_offsets.py}).
 */
public final class GramineEnclave {
    static final long PAGE = 4096;
    static final long SSA_FRAME_SIZE = 4 * PAGE;
    static final int SSA_FRAME_NUM = 2;
    static final long STACK_SIZE = 64 * PAGE;
    static final long SIG_STACK_SIZE = 16 * PAGE;
    static final long HEAP_MIN = 0x10000;
    static final long ENCLAVE_BASE = 0;
    static final long CANARY = 0xbadbadbadbadL;
    static final long GPR_SIZE = 0xb8;

    // sgx_arch_tcs_t
    private static final int TCS_OSSA = 0x10;
    private static final int TCS_NSSA = 0x1c;
    private static final int TCS_OENTRY = 0x20;
    private static final int TCS_OGS_BASE = 0x38;
    private static final int TCS_OFS_LIMIT = 0x40;
    private static final int TCS_OGS_LIMIT = 0x44;
    // struct pal_enclave_tcb
    private static final int TLS_SELF = 0x0;
    private static final int TLS_CANARY = 0x8;
    private static final int TLS_ENCLAVE_SIZE = 0x110;
    private static final int TLS_TCS_OFFSET = 0x118;
    private static final int TLS_INITIAL_STACK = 0x120;
    private static final int TLS_SIG_STACK_LOW = 0x130;
    private static final int TLS_SIG_STACK_HIGH = 0x138;
    private static final int TLS_SSA = 0x148;
    private static final int TLS_GPR = 0x150;
    private static final int TLS_MANIFEST_SIZE = 0x1a0;
    private static final int TLS_HEAP_MIN = 0x1a8;
    private static final int TLS_HEAP_MAX = 0x1b0;

    private static final long RW = EnclaveMeasurement.R | EnclaveMeasurement.W | EnclaveMeasurement.PT_REG;

    private GramineEnclave() {}

    /**
     * One memory area of the layout.
     *
     * @param name     Gramine's name for it ({@code manifest}, {@code ssa}, ..., {@code free})
     * @param addr     start address (the enclave base is 0)
     * @param size     size in bytes, a multiple of 4096
     * @param flags    SECINFO flags of its pages (for {@code pal} the flags of its first segment)
     * @param measured whether its content is EEXTENDed
     */
    public record Area(String name, long addr, long size, long flags, boolean measured) {}

    /**
     * The outcome: MRENCLAVE and the layout that produced it.
     *
     * @param mrenclave 32 bytes
     * @param areas     the areas in measurement order
     */
    public record Measurement(byte[] mrenclave, List<Area> areas) {
        public Measurement {
            mrenclave = mrenclave.clone();
            areas = List.copyOf(areas);
        }

        @Override
        public byte[] mrenclave() {
            return mrenclave.clone();
        }
    }

    /**
     * Measures the enclave Gramine builds for {@code manifestSgx}.
     *
     * @param manifestSgx the exact {@code .manifest.sgx} bytes (no trailing NUL; it is added here, as Gramine does)
     * @param enclaveSize {@code sgx.enclave_size} in bytes, a power of two
     * @param maxThreads  {@code sgx.max_threads}
     * @param edmm        {@code sgx.edmm_enable} (no free area is added with EDMM)
     * @param pal         the parsed {@code sgx/libpal.so}
     * @param palBytes    its bytes (the segment contents are read from it)
     */
    public static Measurement measure(byte[] manifestSgx, long enclaveSize, int maxThreads, boolean edmm,
            PalImage pal, byte[] palBytes) throws BundleException {
        if (Long.bitCount(enclaveSize) != 1) {
            throw BundleException.badInput("sgx.enclave_size " + enclaveSize + " is not a power of two");
        }
        if (maxThreads < 1) {
            throw BundleException.badInput("sgx.max_threads " + maxThreads + " must be at least 1");
        }
        byte[] manifest = java.util.Arrays.copyOf(manifestSgx, manifestSgx.length + 1);
        long top = ENCLAVE_BASE + enclaveSize;
        long palSize = pal.mapEnd() - pal.mapStart();
        List<Long> sizes = new ArrayList<>();
        sizes.add(roundUp(manifest.length));
        sizes.add(maxThreads * SSA_FRAME_SIZE * SSA_FRAME_NUM);
        sizes.add(maxThreads * PAGE);
        sizes.add(maxThreads * PAGE);
        for (int t = 0; t < 2 * maxThreads; t++) {
            sizes.add(t < maxThreads ? STACK_SIZE : SIG_STACK_SIZE);
        }
        // A PAL linked at a fixed address (first segment above 0) stays there; a position-independent one (the
        // normal case) is placed below the sig stacks like every other area.
        boolean palFixed = pal.mapStart() > 0;
        long next = top;
        long[] addrs = new long[sizes.size() + 1];
        for (int i = 0; i < sizes.size(); i++) {
            next -= sizes.get(i);
            addrs[i] = next;
            if (next < HEAP_MIN) {
                throw BundleException.badInput("sgx.enclave_size " + enclaveSize + " is too small for "
                        + maxThreads + " threads and a " + manifest.length + "-byte manifest");
            }
        }
        long palAddr;
        if (palFixed) {
            palAddr = pal.mapStart();
        } else {
            next -= palSize;
            if (next < HEAP_MIN) {
                throw BundleException.badInput("sgx.enclave_size " + enclaveSize + " is too small for libpal.so");
            }
            palAddr = next;
        }
        long lastPopulated = next;
        int n = maxThreads;
        long manifestAddr = addrs[0];
        long ssaAddr = addrs[1];
        long tcsAddr = addrs[2];
        long tlsAddr = addrs[3];
        long heapMax = palAddr;
        List<Area> areas = new ArrayList<>();
        areas.add(new Area("manifest", manifestAddr, sizes.get(0), EnclaveMeasurement.R | EnclaveMeasurement.PT_REG,
                true));
        areas.add(new Area("ssa", ssaAddr, sizes.get(1), RW, true));
        areas.add(new Area("tcs", tcsAddr, sizes.get(2), EnclaveMeasurement.PT_TCS, true));
        areas.add(new Area("tls", tlsAddr, sizes.get(3), RW, true));
        for (int t = 0; t < 2 * n; t++) {
            areas.add(new Area(t < n ? "stack" : "sig_stack", addrs[4 + t], sizes.get(4 + t), RW, true));
        }
        areas.add(new Area("pal", palAddr, palSize, EnclaveMeasurement.PT_REG | pal.segments().getFirst().secinfo(),
                true));
        for (Area a : areas) {
            boolean outsideHeap = a.addr() + a.size() <= HEAP_MIN || a.addr() >= heapMax;
            if (!outsideHeap) {
                throw BundleException.badInput("enclave area " + a.name() + " at 0x" + Long.toHexString(a.addr())
                        + " overlaps the heap (libpal.so is linked at a fixed address inside the enclave)");
            }
        }
        if (!edmm) {
            // Gramine looks for gaps between areas (there are none when everything is placed top-down) and then
            // fills [heap_min, lowest populated address) with one free area.
            List<Area> free = new ArrayList<>();
            for (Area a : areas) {
                long end = a.addr() + a.size();
                if (end < lastPopulated) {
                    free.add(new Area("free", end, lastPopulated - end, RW | EnclaveMeasurement.X, false));
                    lastPopulated = a.addr();
                }
            }
            if (lastPopulated > HEAP_MIN) {
                free.add(new Area("free", HEAP_MIN, lastPopulated - HEAP_MIN, RW | EnclaveMeasurement.X, false));
            }
            areas.addAll(free);
        }

        byte[] tcs = new byte[(int) (n * PAGE)];
        byte[] tls = new byte[(int) (n * PAGE)];
        ByteBuffer tcsB = ByteBuffer.wrap(tcs).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer tlsB = ByteBuffer.wrap(tls).order(ByteOrder.LITTLE_ENDIAN);
        for (int t = 0; t < n; t++) {
            int c = (int) (t * PAGE);
            long ssa = ssaAddr + SSA_FRAME_SIZE * SSA_FRAME_NUM * t;
            tcsB.putLong(c + TCS_OSSA, ssa - ENCLAVE_BASE);
            tcsB.putInt(c + TCS_NSSA, SSA_FRAME_NUM);
            // Gramine adds e_entry to the area address without subtracting the link address (equal for a PIC PAL).
            tcsB.putLong(c + TCS_OENTRY, palAddr + pal.entry() - ENCLAVE_BASE);
            tcsB.putLong(c + TCS_OGS_BASE, tlsAddr - ENCLAVE_BASE + PAGE * t);
            tcsB.putInt(c + TCS_OFS_LIMIT, 0xfff);
            tcsB.putInt(c + TCS_OGS_LIMIT, 0xfff);
            Area stack = areas.get(4 + t);
            Area sig = areas.get(4 + n + t);
            tlsB.putLong(c + TLS_SELF, tlsAddr + PAGE * t);
            tlsB.putLong(c + TLS_CANARY, CANARY);
            tlsB.putLong(c + TLS_ENCLAVE_SIZE, enclaveSize);
            tlsB.putLong(c + TLS_TCS_OFFSET, tcsAddr - ENCLAVE_BASE + PAGE * t);
            tlsB.putLong(c + TLS_INITIAL_STACK, stack.addr() + stack.size());
            tlsB.putLong(c + TLS_SIG_STACK_LOW, sig.addr());
            tlsB.putLong(c + TLS_SIG_STACK_HIGH, sig.addr() + sig.size());
            tlsB.putLong(c + TLS_SSA, ssa);
            tlsB.putLong(c + TLS_GPR, ssa + SSA_FRAME_SIZE - GPR_SIZE);
            tlsB.putLong(c + TLS_MANIFEST_SIZE, manifest.length);
            tlsB.putLong(c + TLS_HEAP_MIN, HEAP_MIN);
            tlsB.putLong(c + TLS_HEAP_MAX, heapMax);
        }

        EnclaveMeasurement m = EnclaveMeasurement.ecreate((int) (SSA_FRAME_SIZE / PAGE), enclaveSize);
        byte[] zero = new byte[(int) PAGE];
        byte[] page = new byte[(int) PAGE];
        for (Area a : areas) {
            switch (a.name()) {
                case "pal" -> addPal(m, pal, palBytes, a.addr() - pal.mapStart());
                case "manifest", "tcs", "tls" -> {
                    byte[] content = a.name().equals("manifest") ? manifest : a.name().equals("tcs") ? tcs : tls;
                    for (long off = 0; off < a.size(); off += PAGE) {
                        java.util.Arrays.fill(page, (byte) 0);
                        int len = (int) Math.min(PAGE, content.length - off);
                        System.arraycopy(content, (int) off, page, 0, len);
                        m.addPage(a.addr() + off - ENCLAVE_BASE, a.flags(), page, 0, true);
                    }
                }
                default -> {
                    for (long off = 0; off < a.size(); off += PAGE) {
                        m.addPage(a.addr() + off - ENCLAVE_BASE, a.flags(), zero, 0, a.measured());
                    }
                }
            }
        }
        return new Measurement(m.einit(), areas);
    }

    /** Loads every PT_LOAD segment page by page, as Gramine's {@code load_file} does (zero outside file data). */
    private static void addPal(EnclaveMeasurement m, PalImage pal, byte[] file, long base) {
        byte[] page = new byte[(int) PAGE];
        for (PalImage.Segment s : pal.segments()) {
            long flags = EnclaveMeasurement.PT_REG | s.secinfo();
            long fileStart = roundDown(s.offset());
            long mapStart = roundDown(base + s.vaddr());
            long mapEnd = roundUp(base + s.vaddr() + s.memsz());
            for (long p = mapStart; p < mapEnd; p += PAGE) {
                java.util.Arrays.fill(page, (byte) 0);
                long start = p - mapStart + fileStart;
                long from = Math.max(start, s.offset());
                long to = Math.min(start + PAGE, s.offset() + s.filesz());
                if (from < to) {
                    System.arraycopy(file, (int) from, page, (int) (from - start), (int) (to - from));
                }
                m.addPage(p - ENCLAVE_BASE, flags, page, 0, true);
            }
        }
    }

    static long roundUp(long v) {
        return (v + PAGE - 1) / PAGE * PAGE;
    }

    static long roundDown(long v) {
        return v - Math.floorMod(v, PAGE);
    }

    /** {@code sgx.enclave_size} as Gramine parses it: a number (decimal, or 0x/0o/0b) with an optional K, M or G. */
    public static long parseSize(String v) throws BundleException {
        long scale = 1;
        String num = v;
        if (v.endsWith("K") || v.endsWith("M") || v.endsWith("G")) {
            scale = switch (v.charAt(v.length() - 1)) {
                case 'K' -> 1L << 10;
                case 'M' -> 1L << 20;
                default -> 1L << 30;
            };
            num = v.substring(0, v.length() - 1);
        }
        try {
            long n;
            String low = num.toLowerCase(java.util.Locale.ROOT);
            if (low.startsWith("0x")) {
                n = Long.parseLong(num.substring(2), 16);
            } else if (low.startsWith("0o")) {
                n = Long.parseLong(num.substring(2), 8);
            } else if (low.startsWith("0b")) {
                n = Long.parseLong(num.substring(2), 2);
            } else if (num.matches("0+|[1-9][0-9]*")) {
                n = Long.parseLong(num);
            } else {
                throw new NumberFormatException(num);
            }
            return Math.multiplyExact(n, scale);
        } catch (NumberFormatException | ArithmeticException e) {
            throw BundleException.badInput("sgx.enclave_size " + v + " is not a size like 256M or 4G");
        }
    }
}
