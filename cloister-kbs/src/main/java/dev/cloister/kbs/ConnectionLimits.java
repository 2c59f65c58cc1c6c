package dev.cloister.kbs;

import java.time.Duration;

/**
 * Limits on the broker's TCP and TLS connections.
 *
 * @param connectionsPerAddress open connections one client address may hold; more are closed on accept
 * @param handshakeTimeout how long a TLS handshake may take from accept to finished
 * @param idleTimeout how long a connection may sit without a byte moving (also bounds each read of a request)
 */
public record ConnectionLimits(int connectionsPerAddress, Duration handshakeTimeout, Duration idleTimeout) {
    /** 256 connections per address, 10 s handshakes, 30 s idle. */
    public static final ConnectionLimits DEFAULT = new ConnectionLimits(256, Duration.ofSeconds(10),
            Duration.ofSeconds(30));

    public ConnectionLimits {
        if (connectionsPerAddress < 1 || handshakeTimeout.isNegative() || handshakeTimeout.isZero()
                || idleTimeout.isNegative() || idleTimeout.isZero()) {
            throw new IllegalArgumentException("connection limits must be positive");
        }
    }
}
