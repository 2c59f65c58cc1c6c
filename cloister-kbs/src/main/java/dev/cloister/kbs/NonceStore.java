package dev.cloister.kbs;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.atomic.LongAdder;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Single-use, expiring release nonces that cost the broker nothing to issue. A nonce is
 * {@code expiry (8 bytes, epoch ms) || random (12) || HMAC-SHA256(key, expiry || random) truncated to 12}
 * under a key made at random when the process starts: the broker keeps no state for nonces it has handed out,
 * so no client can fill anything by asking for nonces (the old store held every outstanding nonce, up to
 * 100 000 for all clients together, and refused everyone once one client had asked for that many).
 *
 * <p>What must be remembered is which nonces were used: the <em>replay window</em> holds each used nonce until
 * its expiry and then forgets it (an expired nonce is refused by its own time stamp). A nonce enters the window
 * only after the evidence that came with it verified and was bound to it ({@link KeyBroker#release}), so filling
 * the window takes genuine attested evidence per entry; once the window is half full, each client address may hold
 * at most a share of it, so one client can never lock the others out (below half, one address may use what is
 * free: a worker host running many jobs releases from one address). The key lives in memory only, so nonces do not survive a restart: a restart
 * can make a replay fail, never succeed (the window, lost with it, only ever guarded nonces of the old key).
 */
public final class NonceStore {
    /** Nonce length in bytes. */
    public static final int LENGTH = 32;

    private static final int TIME = 8;
    private static final int RANDOM_LEN = 12;
    private static final int MAC_LEN = LENGTH - TIME - RANDOM_LEN;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final SecretKeySpec key;
    private final Duration ttl;
    private final int max;
    private final int perClient;
    private final LongAdder issued = new LongAdder();

    /** The replay window: used nonces (their random part) until they expire, with the client that used them. */
    private final Map<ByteBuffer, Spent> spent = new HashMap<>();
    private final PriorityQueue<Spent> byExpiry = new PriorityQueue<>((a, b) -> Long.compare(a.expires, b.expires));
    private final Map<String, Integer> perPeer = new HashMap<>();

    private record Spent(ByteBuffer id, long expires, String peer) {}

    /**
     * @param ttl how long a nonce is valid
     * @param max how many used nonces the replay window holds at most (one client address gets a tenth of it,
     *     at least one)
     */
    public NonceStore(Duration ttl, int max) {
        this(ttl, max, Math.max(1, max / 10));
    }

    /** As above with an explicit per-client share of the replay window. */
    public NonceStore(Duration ttl, int max, int perClient) {
        if (ttl.isNegative() || ttl.isZero() || max < 1 || perClient < 1 || perClient > max) {
            throw new IllegalArgumentException("nonce ttl must be positive and 1 <= perClient <= max");
        }
        byte[] k = new byte[32];
        RANDOM.nextBytes(k);
        this.key = new SecretKeySpec(k, "HmacSHA256");
        this.ttl = ttl;
        this.max = max;
        this.perClient = perClient;
    }

    /** Used nonces held in the replay window until they expire. */
    public synchronized int replayWindow() {
        return spent.size();
    }

    /** Nonces issued since this store was made. */
    public long issued() {
        return issued.sum();
    }

    /** Validity of a fresh nonce. */
    public Duration ttl() {
        return ttl;
    }

    /** Issues a nonce valid until {@code now + ttl}; never refuses and keeps nothing. */
    public byte[] issue(Instant now) {
        byte[] n = new byte[LENGTH];
        ByteBuffer.wrap(n).putLong(now.plus(ttl).toEpochMilli());
        byte[] r = new byte[RANDOM_LEN];
        RANDOM.nextBytes(r);
        System.arraycopy(r, 0, n, TIME, RANDOM_LEN);
        System.arraycopy(mac(n), 0, n, TIME + RANDOM_LEN, MAC_LEN);
        issued.increment();
        return n;
    }

    /**
     * Checks that this broker process issued the nonce and that it has not expired, without using it up.
     *
     * @throws KbsException 400 when it is not {@link #LENGTH} bytes, 403 naming why (unknown, expired)
     */
    public void check(byte[] nonce, Instant now) throws KbsException {
        if (nonce == null || nonce.length != LENGTH) {
            throw KbsException.badRequest("nonce must be " + LENGTH + " bytes");
        }
        byte[] expect = mac(nonce);
        if (!MessageDigest.isEqual(Arrays.copyOfRange(nonce, TIME + RANDOM_LEN, LENGTH),
                Arrays.copyOf(expect, MAC_LEN))) {
            throw KbsException.denied("unknown nonce (never issued by this broker, or issued before a restart)");
        }
        Instant expires = Instant.ofEpochMilli(ByteBuffer.wrap(nonce).getLong());
        if (now.isAfter(expires)) {
            throw KbsException.denied("nonce expired at " + expires + " (now " + now + ")");
        }
    }

    /**
     * Uses a nonce up: {@link #check}s it, then enters it in the replay window until it expires. Succeeds once.
     *
     * @param peer the client address, whose share of the window this entry takes
     * @throws KbsException 403 for a replay (or as {@link #check}), 429 when this client's share of the window (or,
     *     across clients, the whole window) is full
     */
    public void consume(byte[] nonce, Instant now, String peer) throws KbsException {
        check(nonce, now);
        long expires = ByteBuffer.wrap(nonce).getLong();
        ByteBuffer id = ByteBuffer.wrap(Arrays.copyOfRange(nonce, TIME, TIME + RANDOM_LEN));
        synchronized (this) {
            reclaim(now.toEpochMilli());
            if (spent.containsKey(id)) {
                throw KbsException.denied("nonce already used (replay)");
            }
            int mine = perPeer.getOrDefault(peer, 0);
            // The share binds only under pressure: a busy worker host (or many workloads behind one address) may
            // use the whole free half of the window, and once it is half full no address may take more than its
            // share, so the other half stays open to everyone else.
            if (mine >= perClient && spent.size() >= max / 2) {
                throw KbsException.rateLimited("too many releases from this client within the nonce lifetime; "
                        + "retry later");
            }
            if (spent.size() >= max) {
                throw KbsException.rateLimited("too many releases within the nonce lifetime; retry later");
            }
            Spent s = new Spent(id, expires, peer);
            spent.put(id, s);
            byExpiry.add(s);
            perPeer.put(peer, mine + 1);
        }
    }

    /** Forgets used nonces that have expired: their time stamp refuses them from now on. */
    private void reclaim(long nowMillis) {
        for (Spent s = byExpiry.peek(); s != null && s.expires < nowMillis; s = byExpiry.peek()) {
            byExpiry.poll();
            spent.remove(s.id);
            perPeer.computeIfPresent(s.peer, (k, v) -> v <= 1 ? null : v - 1);
        }
    }

    /** Drops expired entries now (they are also dropped whenever a nonce is used). */
    public synchronized void sweep(Instant now) {
        reclaim(now.toEpochMilli());
    }

    private byte[] mac(byte[] nonce) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(key);
            m.update("cloister-kbs nonce\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            m.update(nonce, 0, TIME + RANDOM_LEN);
            return m.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
