package dev.cloister.cli.job;

import dev.cloister.cli.kbs.ClientOptions;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsClient;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * How job commands reach the key broker: the same {@code --url}, {@code --ca} and {@code --token-file} options as
 * the {@code kbs} commands, defaulting to the job's broker URL, plus the owner's namespace.
 */
final class BrokerOptions {
    @Mixin
    ClientOptions client;

    @Option(names = "--namespace", paramLabel = "NS", defaultValue = "${env:CLOISTER_NAMESPACE:-default}",
            description = "The owner's namespace in the broker (default: CLOISTER_NAMESPACE or 'default').")
    String namespace;

    KbsClient client(String fallbackUrl, boolean withToken) throws CloisterException {
        return client.client(withToken, fallbackUrl);
    }

    /** Whether a token was given, so that commands that can do without one (fetch) know to ask the broker. */
    boolean hasToken() {
        return client.hasToken();
    }
}
