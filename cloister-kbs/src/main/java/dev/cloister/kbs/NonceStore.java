package dev.cloister.kbs;

import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Single-use, expiring release nonces. They live in memory on purpose: a nonce is worth nothing after a
 * restart (clients simply ask again), keeping them out of the database halves the writes per release, and a
 * broker restart can only make a replay fail, never succeed. The number outstanding is bounded.
 */
public final class NonceStore {
    /** Nonce length in bytes. */
    public static final int LENGTH = 32;

    private static final SecureRandom RANDOM = new SecureRandom();
    private final Map<String, Instant> outstanding = new ConcurrentHashMap<>();
    private final Map<String, Instant> spent = new ConcurrentHashMap<>();
    private final Duration ttl;
    private final int max;

    private final long sweepEveryMillis;
    private final AtomicLong nextSweep = new AtomicLong(Long.MIN_VALUE);

    public NonceStore(Duration ttl, int max) {
        this.ttl = ttl;
        this.max = max;
        this.sweepEveryMillis = Math.max(1000, Math.min(ttl.toMillis(), 60_000));
    }

    /** Spent nonces still remembered (to tell a replay from a forgery); bounded by a periodic sweep. */
    int spentCount() {
        return spent.size();
    }

    /** Nonces issued and neither used nor swept yet. */
    public int outstanding() {
        return outstanding.size();
    }

    /** Validity of a fresh nonce. */
    public Duration ttl() {
        return ttl;
    }

    /**
     * Issues a nonce valid until {@code now + ttl}.
     *
     * @throws KbsException 429 when too many are outstanding
     */
    public byte[] issue(Instant now) throws KbsException {
        // Spent nonces are only useful until they would have expired; without a periodic sweep they would pile up
        // for as long as the broker runs (the outstanding bound below never trips while clients consume theirs).
        long due = nextSweep.get();
        if (now.toEpochMilli() >= due && nextSweep.compareAndSet(due, now.toEpochMilli() + sweepEveryMillis)) {
            sweep(now);
        }
        if (outstanding.size() >= max) {
            sweep(now);
            if (outstanding.size() >= max) {
                throw KbsException.rateLimited("too many outstanding nonces; retry later");
            }
        }
        byte[] n = new byte[LENGTH];
        RANDOM.nextBytes(n);
        outstanding.put(key(n), now.plus(ttl));
        return n;
    }

    /**
     * Consumes a nonce: succeeds once, before it expires.
     *
     * @throws KbsException 403 naming why (expired, already used, unknown)
     */
    public void consume(byte[] nonce, Instant now) throws KbsException {
        String k = key(nonce);
        Instant expires = outstanding.remove(k);
        if (expires == null) {
            if (spent.containsKey(k)) {
                throw KbsException.denied("nonce already used (replay)");
            }
            throw KbsException.denied("unknown nonce (never issued by this broker, or issued before a restart)");
        }
        // Remember spent nonces until they would have expired, to tell a replay from a forgery.
        spent.put(k, expires);
        if (now.isAfter(expires)) {
            throw KbsException.denied("nonce expired at " + expires + " (now " + now + ")");
        }
    }

    /** Drops expired entries. */
    public void sweep(Instant now) {
        for (Map<String, Instant> m : java.util.List.of(outstanding, spent)) {
            for (Iterator<Map.Entry<String, Instant>> it = m.entrySet().iterator(); it.hasNext(); ) {
                if (now.isAfter(it.next().getValue().plus(ttl))) {
                    it.remove();
                }
            }
        }
    }

    private static String key(byte[] n) {
        return Base64.getEncoder().encodeToString(n);
    }
}
