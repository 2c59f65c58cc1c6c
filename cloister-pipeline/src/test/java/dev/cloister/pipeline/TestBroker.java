package dev.cloister.pipeline;

import dev.cloister.kbs.LocalBroker;
import dev.cloister.runtime.job.KbsBroker;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A real key broker for pipeline tests ({@link LocalBroker}: HTTPS on loopback, SQLite, simulation allowed only
 * where policies say so), with namespace {@code lab} and its certificate written where the pipeline expects it.
 */
final class TestBroker implements AutoCloseable {
    final LocalBroker broker;
    final URI url;
    final Path ca;

    TestBroker(Path dir) throws Exception {
        broker = LocalBroker.start(dir, "lab");
        url = broker.url();
        ca = Files.writeString(dir.resolve("kbs-cert.pem"), broker.certificatePem());
    }

    KbsBroker ownerBroker() {
        return new KbsBroker(broker.owner(), "lab");
    }

    @Override
    public void close() {
        broker.close();
    }
}
