package dev.cloister.kbs;

import java.util.concurrent.ConcurrentHashMap;

/** A token bucket per key (a token id or a client address), refilled continuously; time is passed in. */
public final class RateLimiter {
    private final double perSecond;
    private final double burst;
    private final ConcurrentHashMap<String, double[]> buckets = new ConcurrentHashMap<>();

    /** {@code perSecond} requests per second sustained, {@code burst} at once; perSecond 0 disables limiting. */
    public RateLimiter(double perSecond, double burst) {
        this.perSecond = perSecond;
        this.burst = burst;
    }

    /** Takes one request's worth from {@code key}'s bucket, or says no. */
    public boolean tryAcquire(String key, long nanoTime) {
        if (perSecond <= 0) {
            return true;
        }
        if (buckets.size() > 100_000) {
            buckets.clear();
        }
        double[] b = buckets.computeIfAbsent(key, k -> new double[] {burst, nanoTime});
        synchronized (b) {
            double now = nanoTime;
            b[0] = Math.min(burst, b[0] + (now - b[1]) / 1e9 * perSecond);
            b[1] = now;
            if (b[0] >= 1) {
                b[0] -= 1;
                return true;
            }
            return false;
        }
    }
}
