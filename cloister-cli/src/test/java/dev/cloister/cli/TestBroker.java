package dev.cloister.cli;

import dev.cloister.kbs.LocalBroker;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A real key broker for command tests ({@link LocalBroker}: HTTPS on a free loopback port, self-signed, simulation
 * allowed where a policy says so), namespace {@code lab}, with its certificate and owner token written as files
 * under a test's folder for the commands' {@code --ca} and {@code --token-file}.
 *
 * @param ca the broker's certificate (PEM), for {@code --ca}
 * @param ownerToken a file holding an owner token for namespace {@code lab}, for {@code --token-file}
 */
public record TestBroker(LocalBroker broker, URI base, Path ca, Path ownerToken) implements AutoCloseable {
    /** Starts a broker whose database, certificate and token live in {@code dir}. */
    public static TestBroker start(Path dir) throws Exception {
        LocalBroker broker = LocalBroker.start(dir, "lab");
        Path ca = Files.writeString(dir.resolve("broker.pem"), broker.certificatePem());
        Path token = Files.writeString(dir.resolve("owner.token"), broker.ownerToken());
        return new TestBroker(broker, broker.url(), ca, token);
    }

    @Override
    public void close() {
        broker.close();
    }
}
