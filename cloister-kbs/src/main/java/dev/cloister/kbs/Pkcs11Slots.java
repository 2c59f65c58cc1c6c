package dev.cloister.kbs;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.cloister.core.CloisterException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds the slot holding the token with a given label, by calling the PKCS#11 module directly (C_GetSlotList and
 * C_GetTokenInfo through the Foreign Function API). The JDK's SunPKCS11 provider selects tokens by slot id or slot
 * index only, and slot ids change when tokens are added (SoftHSM2 derives them from the token's serial), so an
 * operator names the token by label and this finds its slot. Only the platform's LP64 layout (CK_ULONG = 64 bits)
 * is supported, which is Linux and macOS on x86-64 and ARM64.
 */
final class Pkcs11Slots {
    private static final long CKR_OK = 0;
    private static final long CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;

    private Pkcs11Slots() {
    }

    /**
     * The slot id of the token labelled {@code label} in {@code module}.
     *
     * @throws CloisterException ENVIRONMENT when the module cannot be loaded or no present token has that label
     */
    static long find(Path module, String label) throws CloisterException {
        if (!Files.isRegularFile(module)) {
            throw env("PKCS#11 module " + module + " does not exist");
        }
        try (Arena arena = Arena.ofConfined()) {
            Linker linker = Linker.nativeLinker();
            SymbolLookup lib;
            try {
                lib = SymbolLookup.libraryLookup(module, Arena.global());
            } catch (IllegalArgumentException e) {
                throw env("cannot load PKCS#11 module " + module + ": " + e.getMessage());
            }
            MemorySegment getList = lib.find("C_GetFunctionList")
                    .orElseThrow(() -> env("PKCS#11 module " + module + " has no C_GetFunctionList"));
            MemorySegment pp = arena.allocate(ADDRESS);
            long rv = (long) linker.downcallHandle(getList, FunctionDescriptor.of(JAVA_LONG, ADDRESS)).invokeExact(pp);
            check(rv, "C_GetFunctionList");
            // CK_FUNCTION_LIST: a 2-byte CK_VERSION, then function pointers from offset 8 in the standard's order.
            MemorySegment fl = pp.get(ADDRESS, 0).reinterpret(8 + 8 * 8);
            MethodHandle initialize = fn(linker, fl, 0, FunctionDescriptor.of(JAVA_LONG, ADDRESS));
            MethodHandle finalize = fn(linker, fl, 1, FunctionDescriptor.of(JAVA_LONG, ADDRESS));
            MethodHandle slotList = fn(linker, fl, 4, FunctionDescriptor.of(JAVA_LONG, JAVA_BYTE, ADDRESS, ADDRESS));
            MethodHandle tokenInfo = fn(linker, fl, 6, FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, ADDRESS));
            rv = (long) initialize.invokeExact(MemorySegment.NULL);
            // Already initialised means SunPKCS11 in this process owns the module: leave it initialised.
            boolean ours = rv == CKR_OK;
            if (!ours && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
                check(rv, "C_Initialize");
            }
            try {
                MemorySegment count = arena.allocate(JAVA_LONG);
                check((long) slotList.invokeExact((byte) 1, MemorySegment.NULL, count), "C_GetSlotList");
                long n = count.get(JAVA_LONG, 0);
                MemorySegment slots = arena.allocate(JAVA_LONG, Math.max(1, n));
                check((long) slotList.invokeExact((byte) 1, slots, count), "C_GetSlotList");
                n = count.get(JAVA_LONG, 0);
                MemorySegment info = arena.allocate(1024);
                for (long i = 0; i < n; i++) {
                    long slot = slots.getAtIndex(JAVA_LONG, i);
                    if ((long) tokenInfo.invokeExact(slot, info) != CKR_OK) {
                        continue;
                    }
                    // CK_TOKEN_INFO starts with the 32-byte label, blank-padded UTF-8.
                    String l = new String(info.asSlice(0, 32).toArray(JAVA_BYTE), StandardCharsets.UTF_8).stripTrailing();
                    if (l.equals(label)) {
                        return slot;
                    }
                }
                throw env("no token labelled '" + label + "' is present in PKCS#11 module " + module
                        + " (" + n + " token(s) present)");
            } finally {
                if (ours) {
                    long ignored = (long) finalize.invokeExact(MemorySegment.NULL);
                }
            }
        } catch (CloisterException e) {
            throw e;
        } catch (Throwable e) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "cannot query PKCS#11 module " + module + ": " + e, e);
        }
    }

    private static MethodHandle fn(Linker linker, MemorySegment list, int index, FunctionDescriptor d) {
        return linker.downcallHandle(list.get(ADDRESS, 8 + 8L * index), d);
    }

    private static void check(long rv, String what) throws CloisterException {
        if (rv != CKR_OK) {
            throw env(what + " failed: CKR 0x" + Long.toHexString(rv));
        }
    }

    private static CloisterException env(String message) {
        return new CloisterException(CloisterException.Kind.ENVIRONMENT, message);
    }
}
