package dev.cloister.kbs;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Test-only direct PKCS#11 calls (Foreign Function API), bypassing the JDK provider: asks the token itself for a
 * secret key's CKA_VALUE, so a test sees the token's own answer rather than the provider's.
 */
final class RawPkcs11 {
    static final long CKR_ATTRIBUTE_SENSITIVE = 0x11;
    private static final long CKA_CLASS = 0, CKA_LABEL = 3, CKA_VALUE = 0x11;
    private static final long CKO_SECRET_KEY = 4, CKF_SERIAL_SESSION = 4, CKU_USER = 1;

    private RawPkcs11() {
    }

    /** The return code of C_GetAttributeValue(CKA_VALUE) on the secret key labelled {@code keyLabel}. */
    static long readValue(Path module, String token, String keyLabel, String pin) throws Throwable {
        long slot = Pkcs11Slots.find(module, token);
        Linker l = Linker.nativeLinker();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment gfl = SymbolLookup.libraryLookup(module, Arena.global()).find("C_GetFunctionList").orElseThrow();
            MemorySegment pp = a.allocate(ADDRESS);
            long rv = (long) l.downcallHandle(gfl, FunctionDescriptor.of(JAVA_LONG, ADDRESS)).invokeExact(pp);
            MemorySegment fl = pp.get(ADDRESS, 0).reinterpret(8 + 8 * 40);
            long init = (long) fn(l, fl, 0, FunctionDescriptor.of(JAVA_LONG, ADDRESS)).invokeExact(MemorySegment.NULL);
            MemorySegment hs = a.allocate(JAVA_LONG);
            check((long) fn(l, fl, 12, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, ADDRESS))
                    .invokeExact(slot, CKF_SERIAL_SESSION, MemorySegment.NULL, MemorySegment.NULL, hs), "C_OpenSession");
            long h = hs.get(JAVA_LONG, 0);
            MemorySegment p = a.allocateFrom(pin, StandardCharsets.US_ASCII);
            long login = (long) fn(l, fl, 18, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG))
                    .invokeExact(h, CKU_USER, p, (long) pin.length());
            if (login != 0 && login != 0x100) { // CKR_USER_ALREADY_LOGGED_IN: SunPKCS11 logged in this process
                throw new IllegalStateException("C_Login: 0x" + Long.toHexString(login));
            }
            byte[] lb = keyLabel.getBytes(StandardCharsets.UTF_8);
            MemorySegment cls = a.allocate(JAVA_LONG);
            cls.set(JAVA_LONG, 0, CKO_SECRET_KEY);
            MemorySegment lab = a.allocateFrom(JAVA_BYTE, lb);
            MemorySegment tmpl = a.allocate(48);
            attr(tmpl, 0, CKA_CLASS, cls, 8);
            attr(tmpl, 1, CKA_LABEL, lab, lb.length);
            check((long) fn(l, fl, 26, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG))
                    .invokeExact(h, tmpl, 2L), "C_FindObjectsInit");
            MemorySegment obj = a.allocate(JAVA_LONG);
            MemorySegment n = a.allocate(JAVA_LONG);
            check((long) fn(l, fl, 27, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS))
                    .invokeExact(h, obj, 1L, n), "C_FindObjects");
            check((long) fn(l, fl, 28, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG)).invokeExact(h), "C_FindObjectsFinal");
            if (n.get(JAVA_LONG, 0) != 1) {
                throw new IllegalStateException("key '" + keyLabel + "' not found");
            }
            MemorySegment value = a.allocate(64);
            MemorySegment get = a.allocate(24);
            attr(get, 0, CKA_VALUE, value, 64);
            long r = (long) fn(l, fl, 24, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG))
                    .invokeExact(h, obj.get(JAVA_LONG, 0), get, 1L);
            long closed = (long) fn(l, fl, 13, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG)).invokeExact(h);
            return r;
        }
    }

    private static void attr(MemorySegment t, int i, long type, MemorySegment v, long len) {
        t.set(JAVA_LONG, 24L * i, type);
        t.set(ADDRESS, 24L * i + 8, v);
        t.set(JAVA_LONG, 24L * i + 16, len);
    }

    private static MethodHandle fn(Linker l, MemorySegment list, int index, FunctionDescriptor d) {
        return l.downcallHandle(list.get(ADDRESS, 8 + 8L * index), d);
    }

    private static void check(long rv, String what) {
        if (rv != 0) {
            throw new IllegalStateException(what + ": 0x" + Long.toHexString(rv));
        }
    }
}
