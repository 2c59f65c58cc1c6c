package dev.cloister.kbs.gramine;

import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.kbs.ConnectionCounter;
import dev.cloister.kbs.ConnectionLimits;
import dev.cloister.kbs.KbsException;
import dev.cloister.kbs.KeyBroker;
import dev.cloister.kbs.Tls;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gramine's secret-provisioning server protocol (reference section 4.3): mutual TLS where the client (the enclave)
 * presents an RA-TLS certificate; the client sends {@code SECRET_PROVISION_RA_TLS_REQUEST_V1} and its NUL (35
 * bytes); the server answers {@code SECRET_PROVISION_RA_TLS_RESPONSE_V1:} and its NUL (37 bytes), a 4-byte
 * big-endian length, and the secret. The secret is the newest active version of one configured secret, released
 * only if its policy accepts the evidence; every release and denial is audited.
 *
 * <p>The port has the HTTPS API's {@link ConnectionLimits}: one client address holds at most its share of open
 * connections (counted by the same {@link ConnectionCounter}; more are closed on accept), a TLS handshake not finished
 * within the handshake timeout is closed (a blocking socket's read timeout alone would let a client trickle a
 * ClientHello for ever), and every later read is bounded by the idle timeout.
 */
public final class SecretProvisioningServer implements AutoCloseable {
    /** The client's request, with its terminating NUL. */
    public static final byte[] REQUEST = "SECRET_PROVISION_RA_TLS_REQUEST_V1\0".getBytes(StandardCharsets.US_ASCII);
    /** The server's response header, with its terminating NUL. */
    public static final byte[] RESPONSE = "SECRET_PROVISION_RA_TLS_RESPONSE_V1:\0".getBytes(StandardCharsets.US_ASCII);

    private static final Logger LOG = LoggerFactory.getLogger(SecretProvisioningServer.class);
    /** Closes connections whose handshake outlives the timeout; one daemon thread for all servers. */
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "gramine-handshake-timeout");
        t.setDaemon(true);
        return t;
    });
    private final SSLServerSocket socket;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final KeyBroker broker;
    private final RaTlsTrustManager trust;
    private final String namespace;
    private final String name;
    private final ConnectionLimits limits;
    private final ConnectionCounter counter;

    private SecretProvisioningServer(SSLServerSocket socket, KeyBroker broker, RaTlsTrustManager trust, String ns,
            String name, ConnectionLimits limits) {
        this.socket = socket;
        this.limits = limits;
        this.counter = new ConnectionCounter(limits);
        this.broker = broker;
        this.trust = trust;
        this.namespace = ns;
        this.name = name;
    }

    /** As {@link #start(KeyBroker, EvidenceVerifier, Function, InetSocketAddress, Tls, String, String,
     * ConnectionLimits)} with {@link ConnectionLimits#DEFAULT}. */
    public static SecretProvisioningServer start(KeyBroker broker, EvidenceVerifier verifier,
            Function<byte[], byte[]> collateral, InetSocketAddress listen, Tls tls, String ns,
            String name) throws IOException {
        return start(broker, verifier, collateral, listen, tls, ns, name, ConnectionLimits.DEFAULT);
    }

    /**
     * Starts serving {@code ns/name} to Gramine clients on {@code listen}.
     *
     * @param collateral finds the collateral of a client's quote (RA-TLS carries none), or null for the
     *     verifier's own source
     * @param limits connections per client address, handshake and idle timeouts
     */
    public static SecretProvisioningServer start(KeyBroker broker, EvidenceVerifier verifier,
            Function<byte[], byte[]> collateral, InetSocketAddress listen, Tls tls, String ns,
            String name, ConnectionLimits limits) throws IOException {
        RaTlsTrustManager trust = new RaTlsTrustManager(verifier, collateral, broker.store().clock(), null);
        SSLContext ctx = tls.serverContext(new TrustManager[] {trust});
        SSLServerSocket s = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket();
        s.setReuseAddress(true);
        s.bind(listen, 128);
        s.setNeedClientAuth(true);
        s.setEnabledProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
        SecretProvisioningServer server = new SecretProvisioningServer(s, broker, trust, ns, name, limits);
        Thread.ofVirtual().name("gramine-secret-prov-accept").start(server::acceptLoop);
        return server;
    }

    /** The bound address. */
    public InetSocketAddress address() {
        return (InetSocketAddress) socket.getLocalSocketAddress();
    }

    private void acceptLoop() {
        while (!socket.isClosed()) {
            try {
                SSLSocket c = (SSLSocket) socket.accept();
                InetAddress a = c.getInetAddress();
                if (!counter.open(a)) {
                    counter.close(a);
                    closeQuietly(c);
                    continue;
                }
                executor.submit(() -> {
                    try {
                        serve(c);
                    } finally {
                        counter.close(a);
                    }
                });
            } catch (IOException e) {
                if (!socket.isClosed()) {
                    LOG.warn("accept failed: {}", e.getMessage());
                }
            }
        }
    }

    private void serve(SSLSocket c) {
        String peer = c.getInetAddress().getHostAddress();
        try (c) {
            c.setSoTimeout((int) Math.min(Integer.MAX_VALUE, limits.idleTimeout().toMillis()));
            // The whole handshake, not each read, is bounded: closing the socket ends a handshake still under way.
            // (A flag, not getSession(): that would block the timer on the handshake it is meant to end.)
            AtomicBoolean done = new AtomicBoolean();
            AtomicBoolean timedOut = new AtomicBoolean();
            ScheduledFuture<?> deadline = TIMER.schedule(() -> {
                if (!done.get()) {
                    timedOut.set(true);
                    closeQuietly(c);
                }
            }, limits.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS);
            try {
                c.startHandshake();
                done.set(true);
            } catch (IOException e) {
                if (timedOut.get()) {
                    return; // no client evidence came: nothing to audit or count as a refusal
                }
                // The trust manager's reason (bad quote, wrong binding, ...) is the cause; audit it.
                String why = rootMessage(e);
                try {
                    broker.recordDenial("gramine:" + peer, "release.gramine", namespace, name,
                            "RA-TLS handshake failed: " + why);
                } catch (KbsException ignored) {
                    // The database is down; the denial stands regardless.
                }
                return;
            } finally {
                deadline.cancel(false);
            }
            X509Certificate cert = (X509Certificate) c.getSession().getPeerCertificates()[0];
            VerifiedEvidence ev = trust.take(cert);
            if (ev == null) {
                ev = trust.verify(new X509Certificate[] {cert});
            }
            InputStream in = c.getInputStream();
            byte[] req = in.readNBytes(REQUEST.length);
            if (!Arrays.equals(req, REQUEST)) {
                broker.recordDenial("gramine:" + peer, "release.gramine", namespace, name,
                        "bad request: expected SECRET_PROVISION_RA_TLS_REQUEST_V1");
                return;
            }
            byte[] secret;
            try {
                secret = broker.provision(namespace, name, ev, peer);
            } catch (KbsException e) {
                return;
            }
            DataOutputStream out = new DataOutputStream(c.getOutputStream());
            out.write(RESPONSE);
            out.writeInt(secret.length);
            out.write(secret);
            out.flush();
        } catch (SocketException e) {
            LOG.debug("Gramine client {} went away: {}", peer, e.getMessage());
        } catch (IOException | KbsException | java.security.cert.CertificateException e) {
            LOG.warn("Gramine client {}: {}", peer, e.getMessage());
        }
    }

    private static void closeQuietly(SSLSocket c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // Closing a refused or timed-out connection: nothing more to do.
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable r = t;
        while (r.getCause() != null && r.getCause() != r) {
            r = r.getCause();
            if (r instanceof RaTlsException) {
                return r.getMessage();
            }
        }
        return r.getMessage() == null ? t.toString() : r.getMessage();
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // Closing on shutdown.
        }
        executor.shutdownNow();
    }
}
