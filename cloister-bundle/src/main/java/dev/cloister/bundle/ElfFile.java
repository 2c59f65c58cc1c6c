package dev.cloister.bundle;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The parts of an ELF file that decide what the dynamic loader will load: class, byte order, machine, the
 * program interpreter (PT_INTERP) and the dynamic section's DT_NEEDED, DT_SONAME, DT_RPATH and DT_RUNPATH.
 *
 * <p>Parsing is strict: every offset and size is bounds-checked against the file, so a truncated or hostile file
 * gives a {@link BundleException} naming the field, never an index exception. Only what the loader reads is
 * modelled; the record is a view, so there is no {@code toBytes}.
 *
 * @param elfClass    32 or 64
 * @param littleEndian byte order of the file
 * @param type        e_type (2 = executable, 3 = shared object or PIE)
 * @param machine     e_machine (62 = x86-64, 183 = AArch64)
 * @param interpreter PT_INTERP, if any (only dynamically linked executables have one)
 * @param needed      DT_NEEDED entries in file order
 * @param soname      DT_SONAME, if any
 * @param rpath       DT_RPATH entries split at ':' (ignored by the loader when DT_RUNPATH is present)
 * @param runpath     DT_RUNPATH entries split at ':'
 */
public record ElfFile(int elfClass, boolean littleEndian, int type, int machine, Optional<String> interpreter,
        List<String> needed, Optional<String> soname, List<String> rpath, List<String> runpath) {

    /** ELF machine number of x86-64. */
    public static final int EM_X86_64 = 62;

    private static final int PT_LOAD = 1;
    private static final int PT_DYNAMIC = 2;
    private static final int PT_INTERP = 3;
    private static final long DT_NULL = 0;
    private static final long DT_NEEDED = 1;
    private static final long DT_STRTAB = 5;
    private static final long DT_STRSZ = 10;
    private static final long DT_SONAME = 14;
    private static final long DT_RPATH = 15;
    private static final long DT_RUNPATH = 29;

    public ElfFile {
        needed = List.copyOf(needed);
        rpath = List.copyOf(rpath);
        runpath = List.copyOf(runpath);
    }

    /** Whether {@code head} starts with the ELF magic number. */
    public static boolean isElf(byte[] head) {
        return head.length >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F';
    }

    /**
     * Parses an ELF file.
     *
     * @param bytes the whole file
     * @param name  the file's name, used only in error messages
     */
    public static ElfFile parse(byte[] bytes, String name) throws BundleException {
        if (!isElf(bytes)) {
            throw BundleException.badInput(name + " is not an ELF file (no \\x7fELF magic)");
        }
        if (bytes.length < 52) {
            throw BundleException.badInput(name + ": ELF header truncated (" + bytes.length + " bytes)");
        }
        int cls = bytes[4];
        if (cls != 1 && cls != 2) {
            throw BundleException.badInput(name + ": unknown ELF class " + cls);
        }
        int data = bytes[5];
        if (data != 1 && data != 2) {
            throw BundleException.badInput(name + ": unknown ELF byte order " + data);
        }
        boolean is64 = cls == 2;
        ByteBuffer b = ByteBuffer.wrap(bytes).order(data == 1 ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN);
        Reader r = new Reader(b, name);
        if (is64 && bytes.length < 64) {
            throw BundleException.badInput(name + ": ELF64 header truncated (" + bytes.length + " bytes)");
        }
        int type = r.u16(16, "e_type");
        int machine = r.u16(18, "e_machine");
        long phoff = is64 ? r.u64(32, "e_phoff") : r.u32(28, "e_phoff");
        int phentsize = r.u16(is64 ? 54 : 42, "e_phentsize");
        int phnum = r.u16(is64 ? 56 : 44, "e_phnum");
        int minEnt = is64 ? 56 : 32;
        if (phnum > 0 && phentsize < minEnt) {
            throw BundleException.badInput(name + ": e_phentsize " + phentsize + " is smaller than " + minEnt);
        }
        r.range(phoff, (long) phentsize * phnum, "program header table");

        List<long[]> loads = new ArrayList<>(); // {vaddr, offset, filesz}
        long dynOff = -1;
        long dynSize = 0;
        String interp = null;
        for (int i = 0; i < phnum; i++) {
            int p = (int) (phoff + (long) i * phentsize);
            long ptype = r.u32(p, "p_type");
            long off = is64 ? r.u64(p + 8, "p_offset") : r.u32(p + 4, "p_offset");
            long vaddr = is64 ? r.s64(p + 16, "p_vaddr") : r.u32(p + 8, "p_vaddr");
            long filesz = is64 ? r.u64(p + 32, "p_filesz") : r.u32(p + 16, "p_filesz");
            if (ptype == PT_LOAD) {
                loads.add(new long[] {vaddr, off, filesz});
            } else if (ptype == PT_DYNAMIC) {
                r.range(off, filesz, "PT_DYNAMIC segment");
                dynOff = off;
                dynSize = filesz;
            } else if (ptype == PT_INTERP) {
                r.range(off, filesz, "PT_INTERP segment");
                interp = r.cstring(off, off + filesz, "PT_INTERP");
                if (interp.isEmpty()) {
                    throw BundleException.badInput(name + ": empty PT_INTERP");
                }
            }
        }
        List<String> needed = new ArrayList<>();
        List<String> rpath = new ArrayList<>();
        List<String> runpath = new ArrayList<>();
        String soname = null;
        if (dynOff >= 0) {
            int entSize = is64 ? 16 : 8;
            List<long[]> entries = new ArrayList<>();
            long strtab = -1;
            long strsz = -1;
            for (long o = dynOff; o + entSize <= dynOff + dynSize; o += entSize) {
                long tag = is64 ? r.s64((int) o, "d_tag") : r.s32((int) o, "d_tag");
                long val = is64 ? r.s64((int) o + 8, "d_val") : r.u32((int) o + 4, "d_val");
                if (tag == DT_NULL) {
                    break;
                }
                if (tag == DT_STRTAB) {
                    strtab = val;
                } else if (tag == DT_STRSZ) {
                    strsz = val;
                } else if (tag == DT_NEEDED || tag == DT_SONAME || tag == DT_RPATH || tag == DT_RUNPATH) {
                    entries.add(new long[] {tag, val});
                }
            }
            if (!entries.isEmpty()) {
                if (strtab < 0 || strsz < 0) {
                    throw BundleException.badInput(name + ": dynamic section has names but no DT_STRTAB/DT_STRSZ");
                }
                long strOff = toOffset(loads, strtab, name);
                r.range(strOff, strsz, "DT_STRTAB");
                for (long[] e : entries) {
                    if (Long.compareUnsigned(e[1], strsz) >= 0) {
                        throw BundleException.badInput(name + ": dynamic string index " + e[1]
                                + " outside DT_STRTAB of " + strsz + " bytes");
                    }
                    String s = r.cstring(strOff + e[1], strOff + strsz, "dynamic string");
                    if (e[0] == DT_NEEDED) {
                        needed.add(s);
                    } else if (e[0] == DT_SONAME) {
                        soname = s;
                    } else if (e[0] == DT_RPATH) {
                        rpath.addAll(splitPath(s));
                    } else {
                        runpath.addAll(splitPath(s));
                    }
                }
            }
        }
        return new ElfFile(is64 ? 64 : 32, data == 1, type, machine, Optional.ofNullable(interp), needed,
                Optional.ofNullable(soname), rpath, runpath);
    }

    /** Whether a library of this class and machine can be loaded into a process of {@code other}. */
    public boolean compatibleWith(ElfFile other) {
        return elfClass == other.elfClass && machine == other.machine && littleEndian == other.littleEndian;
    }

    private static List<String> splitPath(String s) {
        List<String> out = new ArrayList<>();
        for (String part : s.split(":", -1)) {
            if (!part.isEmpty()) {
                out.add(part);
            }
        }
        return out;
    }

    private static long toOffset(List<long[]> loads, long vaddr, String name) throws BundleException {
        for (long[] l : loads) {
            if (Long.compareUnsigned(vaddr, l[0]) >= 0 && Long.compareUnsigned(vaddr - l[0], l[2]) < 0) {
                return l[1] + (vaddr - l[0]);
            }
        }
        throw BundleException.badInput(name + ": DT_STRTAB address 0x" + Long.toHexString(vaddr)
                + " is in no PT_LOAD segment");
    }

    /** Bounds-checked reads that name the field at fault. */
    private record Reader(ByteBuffer b, String name) {
        void range(long off, long len, String what) throws BundleException {
            if (off < 0 || len < 0 || off > b.capacity() || len > b.capacity() - off) {
                throw BundleException.badInput(name + ": " + what + " at offset " + Long.toUnsignedString(off)
                        + " with size " + Long.toUnsignedString(len) + " lies outside the file of " + b.capacity()
                        + " bytes");
            }
        }

        int u16(int off, String what) throws BundleException {
            range(off, 2, what);
            return Short.toUnsignedInt(b.getShort(off));
        }

        long u32(int off, String what) throws BundleException {
            range(off, 4, what);
            return Integer.toUnsignedLong(b.getInt(off));
        }

        long s32(int off, String what) throws BundleException {
            range(off, 4, what);
            return b.getInt(off);
        }

        long u64(int off, String what) throws BundleException {
            range(off, 8, what);
            long v = b.getLong(off);
            if (v < 0) {
                throw BundleException.badInput(name + ": " + what + " 0x" + Long.toHexString(v) + " is too large");
            }
            return v;
        }

        long s64(int off, String what) throws BundleException {
            range(off, 8, what);
            return b.getLong(off);
        }

        String cstring(long from, long limit, String what) throws BundleException {
            for (long i = from; i < limit; i++) {
                if (b.get((int) i) == 0) {
                    byte[] s = new byte[(int) (i - from)];
                    b.get((int) from, s);
                    return new String(s, StandardCharsets.UTF_8);
                }
            }
            throw BundleException.badInput(name + ": " + what + " at offset " + from + " is not NUL-terminated");
        }
    }
}
