package dev.cloister.cli;

import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.policy.Policies;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.KbsServer;
import dev.cloister.kbs.KbsStore;
import dev.cloister.kbs.KeyBroker;
import dev.cloister.kbs.MasterKey;
import dev.cloister.kbs.NonceStore;
import dev.cloister.kbs.Role;
import dev.cloister.kbs.Tls;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/**
 * A real key broker for command tests: HTTPS on a free loopback port with a self-signed certificate, simulation
 * allowed, namespace {@code lab} and an owner token for it, all under a test's folder.
 *
 * @param ca the broker's certificate (PEM), for {@code --ca}
 * @param ownerToken a file holding an owner token for namespace {@code lab}, for {@code --token-file}
 */
public record TestBroker(KbsStore store, KbsServer server, URI base, Path ca, Path ownerToken) implements AutoCloseable {
    /** Starts a broker whose database, certificate and token live in {@code dir}. */
    public static TestBroker start(Path dir) throws Exception {
        KbsStore store = KbsStore.open(dir.resolve("kbs.db").toString(), MasterKey.generate(), Clock.systemUTC());
        Tls tls = Tls.selfSigned(Instant.now());
        KeyBroker kb = new KeyBroker(store, DcapVerifier.withSimulation(), Policies::parse,
                new NonceStore(Duration.ofMinutes(2), 1000));
        KbsServer server = KbsServer.start(kb, new InetSocketAddress("127.0.0.1", 0), tls, 0);
        URI base = URI.create("https://127.0.0.1:" + server.address().getPort());
        Path ca = Files.writeString(dir.resolve("broker.pem"), tls.certificatePem());
        KbsClient admin = new KbsClient(base, store.createToken("local:test", Role.ADMIN, null).token(),
                Tls.clientContextTrusting(tls.chain()[0]));
        admin.createNamespace("lab");
        Path token = Files.writeString(dir.resolve("owner.token"),
                admin.createToken(Role.OWNER, "lab").get("token").asText());
        return new TestBroker(store, server, base, ca, token);
    }

    @Override
    public void close() {
        server.close();
        store.close();
    }
}
