package dev.cloister.kbs;

import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.policy.Policies;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import javax.net.ssl.SSLContext;

/**
 * A key broker for one machine: HTTPS on a free loopback port with a fresh self-signed certificate, a SQLite
 * database under a given folder, one namespace and an owner token for it. What {@code cloister demo} and tests
 * run; a real deployment uses {@code cloister kbs serve} with its own certificate and master key.
 *
 * <p>Its verifier accepts simulated evidence where a policy allows it ({@code SIM:ALLOW}) and real DCAP evidence
 * as always; with no such policy, simulated evidence is refused as everywhere else.
 */
public final class LocalBroker implements AutoCloseable {
    private final KbsStore store;
    private final KbsServer server;
    private final Tls tls;
    private final URI url;
    private final String namespace;
    private final String ownerToken;

    private LocalBroker(KbsStore store, KbsServer server, Tls tls, URI url, String namespace, String ownerToken) {
        this.store = store;
        this.server = server;
        this.tls = tls;
        this.url = url;
        this.namespace = namespace;
        this.ownerToken = ownerToken;
    }

    /**
     * Starts a broker whose database is {@code dir/kbs.db} (a fresh master key, kept in memory only) and creates
     * {@code namespace} with an owner token.
     */
    public static LocalBroker start(Path dir, String namespace) throws IOException, KbsException {
        Files.createDirectories(dir);
        KbsStore store = KbsStore.open(dir.resolve("kbs.db").toString(), MasterKey.generate(), Clock.systemUTC());
        KbsServer server = null;
        try {
            KeyBroker broker = new KeyBroker(store, DcapVerifier.withSimulation(), Policies::parse,
                    new NonceStore(Duration.ofMinutes(2), 10_000));
            Tls tls = Tls.selfSigned(Instant.now());
            server = KbsServer.start(broker, new InetSocketAddress("127.0.0.1", 0), tls, 0);
            URI url = URI.create("https://127.0.0.1:" + server.address().getPort());
            KbsClient admin = new KbsClient(url, store.createToken("local:admin", Role.ADMIN, null).token(),
                    Tls.clientContextTrusting(tls.chain()[0]));
            admin.createNamespace(namespace);
            String owner = admin.createToken(Role.OWNER, namespace).get("token").asText();
            return new LocalBroker(store, server, tls, url, namespace, owner);
        } catch (IOException | KbsException | RuntimeException e) {
            if (server != null) {
                server.close();
            }
            store.close();
            throw e;
        }
    }

    /** The broker's base URL. */
    public URI url() {
        return url;
    }

    /** The namespace made at start. */
    public String namespace() {
        return namespace;
    }

    /** The broker's certificate, PEM, for clients' {@code --ca}. */
    public String certificatePem() {
        return tls.certificatePem();
    }

    /** A TLS context that trusts this broker's certificate only. */
    public SSLContext clientContext() {
        return Tls.clientContextTrusting(tls.chain()[0]);
    }

    /** The owner token of {@link #namespace()}. */
    public String ownerToken() {
        return ownerToken;
    }

    /** A client with the owner token. */
    public KbsClient owner() {
        return new KbsClient(url, ownerToken, clientContext());
    }

    /** A client without a token (what a workload uses to ask for a release). */
    public KbsClient anonymous() {
        return new KbsClient(url, null, clientContext());
    }

    /** The broker's store, for tests that look at what it recorded. */
    public KbsStore store() {
        return store;
    }

    @Override
    public void close() {
        server.close();
        store.close();
    }
}
