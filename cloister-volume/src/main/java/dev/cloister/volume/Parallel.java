package dev.cloister.volume;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** Runs tasks on a fixed number of threads; the first failure stops the rest and is rethrown as it was. */
final class Parallel {
    private Parallel() {}

    static <T> List<T> run(List<Callable<T>> tasks, int jobs) throws Exception {
        if (jobs <= 1 || tasks.size() <= 1) {
            List<T> out = new ArrayList<>(tasks.size());
            for (Callable<T> t : tasks) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("interrupted");
                }
                out.add(t.call());
            }
            return out;
        }
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(jobs, tasks.size()), r -> {
            Thread t = new Thread(r, "volume-worker");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<T>> futures = new ArrayList<>(tasks.size());
            for (Callable<T> t : tasks) {
                futures.add(pool.submit(t));
            }
            List<T> out = new ArrayList<>(tasks.size());
            for (Future<T> f : futures) {
                try {
                    out.add(f.get());
                } catch (ExecutionException e) {
                    pool.shutdownNow();
                    Throwable c = e.getCause();
                    if (c instanceof Exception ex) {
                        throw ex;
                    }
                    throw (Error) c;
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
            // Wait for cancelled workers, so no temporary file is still being written when the caller returns.
            pool.awaitTermination(1, java.util.concurrent.TimeUnit.MINUTES);
        }
    }
}
