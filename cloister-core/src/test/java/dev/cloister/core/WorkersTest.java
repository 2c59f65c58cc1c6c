package dev.cloister.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class WorkersTest {

    @Test
    void stopReturnsOnlyAfterAWorkerThatIgnoresTheInterruptHasEnded() throws Exception {
        ExecutorService pool = Workers.pool(2, "test-worker");
        CountDownLatch started = new CountDownLatch(1);
        AtomicBoolean finished = new AtomicBoolean();
        AtomicInteger queuedRan = new AtomicInteger();
        pool.submit(() -> {
            started.countDown();
            // Like a worker in the middle of a copy: it ignores its interrupt and is still busy when stop begins,
            // however late the test thread gets there, so queued work can never start before it is cancelled.
            while (!pool.isShutdown()) {
                Thread.onSpinWait();
            }
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(300);
            while (System.nanoTime() < end) {
                Thread.onSpinWait();
            }
            finished.set(true);
        });
        pool.submit(() -> {
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        for (int i = 0; i < 5; i++) {
            pool.submit(queuedRan::incrementAndGet);
        }
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();

        assertThat(Workers.stop(pool)).isTrue();

        assertThat(finished).as("the busy worker had ended when stop returned").isTrue();
        assertThat(pool.isTerminated()).isTrue();
        assertThat(queuedRan).as("queued work is cancelled, not run").hasValue(0);
    }

    @Test
    void stopKeepsTheCallersInterruptAndStillWaits() throws Exception {
        ExecutorService pool = Workers.pool(1, "test-worker");
        AtomicBoolean finished = new AtomicBoolean();
        CountDownLatch started = new CountDownLatch(1);
        pool.submit(() -> {
            started.countDown();
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
            while (System.nanoTime() < end) {
                Thread.onSpinWait();
            }
            finished.set(true);
        });
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        Thread.currentThread().interrupt();
        try {
            assertThat(Workers.stop(pool)).isTrue();
            assertThat(finished).isTrue();
            assertThat(Thread.currentThread().isInterrupted()).isTrue();
        } finally {
            Thread.interrupted();
        }
    }

    @Test
    void threadsAreNamedDaemonsAndAtLeastOne() throws Exception {
        ExecutorService pool = Workers.pool(0, "named-worker");
        try {
            Thread t = pool.submit(Thread::currentThread).get();
            assertThat(t.getName()).isEqualTo("named-worker");
            assertThat(t.isDaemon()).isTrue();
        } finally {
            Workers.stop(pool);
        }
    }
}
