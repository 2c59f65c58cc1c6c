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
        s.consume(n, T0.plusSeconds(59), "a");
        assertThatThrownBy(() -> s.consume(n, T0.plusSeconds(59), "a")).hasMessageContaining("already used");
        assertThatThrownBy(() -> s.consume(n, T0.plusSeconds(59), "b")).hasMessageContaining("already used");
        byte[] late = s.issue(T0);
        assertThatThrownBy(() -> s.consume(late, T0.plusSeconds(61), "a")).hasMessageContaining("expired");
        assertThatThrownBy(() -> s.consume(new byte[NonceStore.LENGTH], T0, "a")).hasMessageContaining("unknown nonce");
        assertThatThrownBy(() -> s.consume(new byte[5], T0, "a"))
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(400));
    }

    @Test
    void aForgedOrAlteredNonceIsUnknown() throws Exception {
        NonceStore s = new NonceStore(Duration.ofSeconds(60), 100);
        byte[] n = s.issue(T0);
        // Pushing the expiry out (or any other bit flip) breaks the MAC.
        byte[] later = n.clone();
        later[5] ^= 1;
        assertThatThrownBy(() -> s.check(later, T0)).hasMessageContaining("unknown nonce");
        // Another broker process (another key) never issued it.
        assertThatThrownBy(() -> new NonceStore(Duration.ofSeconds(60), 100).check(n, T0))
                .hasMessageContaining("unknown nonce");
        s.check(n, T0);
    }

    @Test
    void issuingHoldsNothingSoOneClientCannotLockOutOthers() throws Exception {
        // The old store kept every issued nonce, 100 000 at most for all clients: one client asking for that many
        // made every other client's nonce request fail with 429 for two TTLs.
        NonceStore s = new NonceStore(Duration.ofSeconds(120), 100_000);
        for (int i = 0; i < 200_000; i++) {
            s.issue(T0);
        }
        assertThat(s.issued()).isEqualTo(200_000);
        assertThat(s.replayWindow()).isZero();
        byte[] other = s.issue(T0);
        s.consume(other, T0.plusSeconds(1), "other");
    }

    @Test
    void oneClientFillsOnlyHalfTheReplayWindowAndTheRestStaysOpenToOthers() throws Exception {
        NonceStore s = new NonceStore(Duration.ofSeconds(60), 100, 10);
        // Below half full the share does not bind: one busy address may use what is free.
        for (int i = 0; i < 50; i++) {
            s.consume(s.issue(T0), T0, "greedy");
        }
        assertThatThrownBy(() -> s.consume(s.issue(T0), T0, "greedy"))
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(429));
        // Every other client still has the other half, each up to its share.
        for (int i = 0; i < 10; i++) {
            s.consume(s.issue(T0), T0, "other");
            s.consume(s.issue(T0), T0, "third");
        }
        assertThatThrownBy(() -> s.consume(s.issue(T0), T0, "other"))
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(429));
        s.consume(s.issue(T0), T0, "fourth");
        // At expiry the greedy client's entries are reclaimed, and it may release again.
        s.consume(s.issue(T0.plusSeconds(61)), T0.plusSeconds(61), "greedy");
        assertThat(s.replayWindow()).isEqualTo(1);
    }

    @Test
    void usedNoncesAreForgottenAtExpiryOverALongRun() throws Exception {
        // One simulated hour at 100 releases per second: the window holds about one TTL of traffic.
        NonceStore s = new NonceStore(Duration.ofSeconds(60), 100_000);
        byte[] early = null;
        int maxSpent = 0;
        for (int ms = 0; ms < 3_600_000; ms += 10) {
            Instant now = T0.plusMillis(ms);
            byte[] n = s.issue(now);
            s.consume(n, now, "c");
            if (early == null) {
                early = n;
            }
            maxSpent = Math.max(maxSpent, s.replayWindow());
        }
        assertThat(maxSpent).isLessThanOrEqualTo(100 * 60 + 1);
        // A replay long after expiry is still refused, by the nonce's own time stamp.
        byte[] replay = early;
        assertThatThrownBy(() -> s.consume(replay, T0.plusSeconds(3600), "c")).hasMessageContaining("expired");
    }
}
