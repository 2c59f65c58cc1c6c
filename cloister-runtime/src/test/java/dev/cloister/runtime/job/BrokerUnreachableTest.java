package dev.cloister.runtime.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.Tls;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** An unreachable broker is named with the real cause, never "...: null". */
class BrokerUnreachableTest {
    @Test
    void aRefusedConnectionSaysSo() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort(); // free now, closed below: nothing listens there
        }
        KbsClient c = new KbsClient(URI.create("https://127.0.0.1:" + port), null,
                Tls.clientContextTrusting(Tls.selfSigned(Instant.now()).chain()[0]));
        assertThatThrownBy(() -> new KbsBroker(c, "alice").nonce())
                .isInstanceOfSatisfying(CloisterException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.ENVIRONMENT))
                .hasMessageContaining("cannot reach broker https://127.0.0.1:" + port + ": ")
                .hasMessageContaining("connection refused")
                .hasMessageNotContaining("null");
    }
}
