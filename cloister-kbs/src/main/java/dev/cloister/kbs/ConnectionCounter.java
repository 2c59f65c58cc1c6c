package dev.cloister.kbs;

import java.net.InetAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Open connections per client address, for {@link ConnectionLimits#connectionsPerAddress}: shared by the HTTPS API
 * ({@code HttpsTransport}) and the Gramine RA-TLS port, so both count and give places back the same way. Every
 * {@link #open} is matched by one {@link #close}, also for a connection refused for being over the cap.
 */
public final class ConnectionCounter {
    private final Map<InetAddress, AtomicInteger> perAddress = new ConcurrentHashMap<>();
    private final AtomicInteger open = new AtomicInteger();
    private final int cap;

    public ConnectionCounter(ConnectionLimits limits) {
        this.cap = limits.connectionsPerAddress();
    }

    /**
     * Counts a connection from {@code a}.
     *
     * @return whether it is within the address's share; if not, the caller closes it (and still calls {@link #close})
     */
    public boolean open(InetAddress a) {
        open.incrementAndGet();
        return perAddress.computeIfAbsent(a, k -> new AtomicInteger()).incrementAndGet() <= cap;
    }

    /** Gives back the place of a connection from {@code a} counted by {@link #open}. */
    public void close(InetAddress a) {
        open.decrementAndGet();
        perAddress.computeIfPresent(a, (k, v) -> v.decrementAndGet() <= 0 ? null : v);
    }

    /** Connections open now. */
    public int openConnections() {
        return open.get();
    }
}
