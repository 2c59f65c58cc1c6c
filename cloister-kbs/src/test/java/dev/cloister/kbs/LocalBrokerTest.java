package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one-machine broker the demo and the other modules' tests start. */
class LocalBrokerTest {
    @TempDir Path tmp;

    @Test
    void servesOneNamespaceToItsOwnerOverTlsTrustedByItsCertificateOnly() throws Exception {
        try (LocalBroker broker = LocalBroker.start(tmp.resolve("b"), "lab")) {
            assertThat(broker.url().getHost()).isEqualTo("127.0.0.1");
            assertThat(broker.certificatePem()).startsWith("-----BEGIN CERTIFICATE-----");
            assertThat(tmp.resolve("b/kbs.db")).exists();
            broker.owner().storeSecret("lab", "k", SecretKind.AES256, new byte[32], false);
            assertThat(broker.owner().list("lab").toString()).contains("\"k\"");
            // The owner token is for its namespace only, and a client without a token may not list.
            assertThatThrownBy(() -> broker.owner().list("other")).isInstanceOf(KbsException.class);
            assertThatThrownBy(() -> broker.anonymous().list("lab")).isInstanceOf(KbsException.class);
            // Another broker's certificate is not trusted.
            try (LocalBroker other = LocalBroker.start(tmp.resolve("c"), "lab")) {
                KbsClient wrongTrust = new KbsClient(broker.url(), broker.ownerToken(), other.clientContext());
                assertThatThrownBy(() -> wrongTrust.list("lab")).isInstanceOf(KbsException.class);
            }
        }
    }
}
