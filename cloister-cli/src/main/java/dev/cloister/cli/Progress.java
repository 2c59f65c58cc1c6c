package dev.cloister.cli;

import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A progress bar on stderr for long work, shown only when stderr is a terminal (never in pipes, logs or CI).
 * Thread-safe: workers call {@link #advance(long)} from any thread; redraws are rate-limited.
 */
public final class Progress implements AutoCloseable {
    private static final long REDRAW_NANOS = 100_000_000L;

    private final String label;
    private final long total;
    private final boolean enabled;
    private final PrintStream err;
    private final AtomicLong done = new AtomicLong();
    private final long start = System.nanoTime();
    private volatile long lastDraw;

    private Progress(String label, long total, boolean enabled, PrintStream err) {
        this.label = label;
        this.total = total;
        this.enabled = enabled;
        this.err = err;
    }

    /** A bar for {@code total} bytes (negative: unknown, then bytes and rate only), drawn only if stderr is an interactive terminal and not {@code quiet}. */
    public static Progress bytes(String label, long total, boolean quiet) {
        var console = System.console();
        boolean tty = console != null && console.isTerminal() && System.getenv("CI") == null;
        return new Progress(label, total, tty && !quiet, System.err);
    }

    /** Records {@code n} more units of work done. */
    public void advance(long n) {
        long now = done.addAndGet(n);
        if (!enabled) {
            return;
        }
        long t = System.nanoTime();
        if (t - lastDraw >= REDRAW_NANOS || (total >= 0 && now >= total)) {
            lastDraw = t;
            draw(now, t);
        }
    }

    private synchronized void draw(long now, long t) {
        if (total < 0) { // unknown total (a stream): bytes and rate only
            double secs = Math.max(1e-9, (t - start) / 1e9);
            err.printf("\r%s %,d MB %,.0f MB/s", label, now / 1_000_000, now / secs / 1e6);
            err.flush();
            return;
        }
        double frac = total <= 0 ? 1.0 : Math.min(1.0, (double) now / total);
        int width = 30;
        int filled = (int) Math.round(frac * width);
        double secs = Math.max(1e-9, (t - start) / 1e9);
        double mbps = now / secs / 1e6;
        err.printf("\r%s [%s%s] %3d%% %,.0f MB/s", label, "#".repeat(filled), " ".repeat(width - filled),
                (int) (frac * 100), mbps);
        err.flush();
    }

    @Override
    public void close() {
        if (enabled) {
            err.print("\r\033[K");
            err.flush();
        }
    }
}
