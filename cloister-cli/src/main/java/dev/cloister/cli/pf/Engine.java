package dev.cloister.cli.pf;

import com.sun.management.HotSpotDiagnosticMXBean;
import dev.cloister.pf.ProtectedFiles;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;

/**
 * The AES-GCM engine as the command sees it. The {@code ./cloister} launcher runs {@code cloister pf} without the
 * C2 compiler ({@code -XX:TieredStopAtLevel=1}): the bulk AES-GCM is native code (the Amazon Corretto Crypto
 * Provider), so C2 would only compile start-up code, and skipping it halves the command's CPU time. If the native
 * engine does not load, the JDK's AES-GCM takes over, and without C2 it is an order of magnitude slower: say so.
 */
final class Engine {
    /** Below this much data the JDK engine is used anyway (see ProtectedFiles.prepareBulk). */
    private static final long SMALL = 64 << 10;

    private Engine() {}

    /** Loads the native engine for {@code totalBytes} of work, warning on {@code err} if it will be slow. */
    static void prepare(long totalBytes, PrintWriter err) {
        ProtectedFiles.prepareBulk(totalBytes);
        if (totalBytes <= SMALL) {
            return;
        }
        String failure = ProtectedFiles.nativeEngineFailure();
        if (failure != null && c1Only()) {
            err.println("cloister: warning: the native AES-GCM engine did not load (" + failure + "), and this JVM "
                    + "runs without its C2 compiler, so the JDK's AES-GCM will be slow; set "
                    + "CLOISTER_JAVA_OPTS=-XX:TieredStopAtLevel=4 to enable C2");
            err.flush();
        }
    }

    private static boolean c1Only() {
        try {
            HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            return Integer.parseInt(vm.getVMOption("TieredStopAtLevel").getValue()) < 4;
        } catch (RuntimeException e) {
            return false; // not HotSpot: nothing to say
        }
    }
}
