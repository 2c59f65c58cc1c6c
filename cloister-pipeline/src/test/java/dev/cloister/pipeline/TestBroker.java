package dev.cloister.pipeline;

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
import dev.cloister.runtime.job.KbsBroker;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/** A real key broker for pipeline tests: HTTPS on loopback, SQLite, simulation allowed only where policies say so. */
final class TestBroker implements AutoCloseable {
    final KbsStore store;
    final KbsServer server;
    final URI url;
    final Path ca;
    final KbsClient owner;

    TestBroker(Path dir) throws Exception {
        store = KbsStore.open(dir.resolve("kbs.db").toString(), MasterKey.generate(), Clock.systemUTC());
        KeyBroker broker = new KeyBroker(store, DcapVerifier.withSimulation(), Policies::parse,
                new NonceStore(Duration.ofMinutes(2), 10_000));
        Tls tls = Tls.selfSigned(Instant.now());
        server = KbsServer.start(broker, new InetSocketAddress("127.0.0.1", 0), tls, 0);
        url = URI.create("https://127.0.0.1:" + server.address().getPort());
        ca = dir.resolve("kbs-cert.pem");
        Files.writeString(ca, tls.certificatePem());
        var ctx = Tls.clientContextTrusting(tls.chain()[0]);
        KbsClient admin = new KbsClient(url, store.createToken("local:test", Role.ADMIN, null).token(), ctx);
        admin.createNamespace("lab");
        owner = new KbsClient(url, admin.createToken(Role.OWNER, "lab").get("token").asText(), ctx);
    }

    KbsBroker ownerBroker() {
        return new KbsBroker(owner, "lab");
    }

    @Override
    public void close() {
        server.close();
        store.close();
    }
}
