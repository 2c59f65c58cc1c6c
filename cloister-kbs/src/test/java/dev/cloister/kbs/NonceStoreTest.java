package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class NonceStoreTest {
    private static final Instant T0 = Instant.parse("2026-11-27T12:00:00Z");

    @Test
    void aNonceIsGoodOnceAndOnlyBeforeItExpires() throws Exception {
        NonceStore s = new NonceStore(Duration.ofSeconds(60), 100);
        byte[] n = s.issue(T0);
        s.consume(n, T0.plusSeconds(59));
        assertThatThrownBy(() -> s.consume(n, T0.plusSeconds(59))).hasMessageContaining("already used");
        byte[] late = s.issue(T0);
        assertThatThrownBy(() -> s.consume(late, T0.plusSeconds(61))).hasMessageContaining("expired");
        assertThatThrownBy(() -> s.consume(new byte[NonceStore.LENGTH], T0)).hasMessageContaining("unknown nonce");
    }

    @Test
    void spentNoncesDoNotAccumulateOverALongRun() throws Exception {
        // One simulated hour at 100 releases per second: memory must stay bounded by about two TTLs of traffic.
        NonceStore s = new NonceStore(Duration.ofSeconds(60), 1000);
        byte[] early = null;
        int maxSpent = 0;
        for (int ms = 0; ms < 3_600_000; ms += 10) {
            Instant now = T0.plusMillis(ms);
            byte[] n = s.issue(now);
            s.consume(n, now);
            if (early == null) {
                early = n;
            }
            maxSpent = Math.max(maxSpent, s.spentCount());
        }
        assertThat(maxSpent).isLessThanOrEqualTo(100 * (60 + 60 + 60) + 100);
        assertThat(s.spentCount()).isLessThan(100 * 200);
        // A replay long after expiry is still refused, now as an unknown nonce.
        byte[] replay = early;
        assertThatThrownBy(() -> s.consume(replay, T0.plusSeconds(3600))).hasMessageContaining("unknown nonce");
    }
}
