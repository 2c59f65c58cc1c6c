package dev.cloister.core;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Fixed pools of daemon threads for work split over files, and a way to stop them that waits until they have.
 *
 * <p>Waiting matters: after a failure the caller deletes the temporary output, and a worker still writing into it
 * would re-create files after the delete and leave a half-written folder behind.
 */
public final class Workers {
    /** How long {@link #stop} waits for workers that ignore the interrupt (a blocking system call, say). */
    static final long STOP_WAIT_SECONDS = 60;

    private Workers() {
    }

    /** A pool of {@code threads} (at least one) daemon threads named {@code name}. */
    public static ExecutorService pool(int threads, String name) {
        return Executors.newFixedThreadPool(Math.max(1, threads), r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Cancels what has not started, interrupts what has, and returns once every worker has ended (or after
     * {@value #STOP_WAIT_SECONDS} s); returns whether they all ended. Keeps the caller's interrupt status.
     */
    public static boolean stop(ExecutorService pool) {
        pool.shutdownNow();
        boolean interrupted = false;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(STOP_WAIT_SECONDS);
        try {
            while (true) {
                try {
                    return pool.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    // Finish waiting anyway: the caller is about to delete what the workers write to.
                    interrupted = true;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
