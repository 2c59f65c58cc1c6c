package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Token lifetimes, proposals tied to the policy they amend, policies only for secrets, and the name rules. */
class StoreRulesTest {
    @TempDir
    Path dir;

    static List<String> dbs() {
        return TestDatabases.kinds();
    }

    private final MasterKey master = MasterKey.generate();
    private final TestClock clock = new TestClock(Instant.parse("2026-11-27T12:00:00Z"));
    private static final byte[] V = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    private static int status(Throwable e) {
        return ((KbsException) e).httpStatus();
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void tokensExpire(String kind) throws Exception {
        try (KbsStore s = KbsStore.open(TestDatabases.fresh(kind, dir), master, clock)) {
            s.createNamespace("a", "alice");
            KbsStore.IssuedToken hour = s.createToken("a", Role.OWNER, "alice", Duration.ofHours(1));
            KbsStore.IssuedToken byDefault = s.createToken("a", Role.ADMIN, null);
            assertThat(hour.expires()).isEqualTo(clock.instant().plus(Duration.ofHours(1)));
            assertThat(byDefault.expires()).isEqualTo(clock.instant().plus(KbsStore.DEFAULT_TOKEN_TTL));
            assertThat(s.authenticate(hour.token()).namespace()).isEqualTo("alice");
            clock.advance(Duration.ofHours(1));
            assertThatThrownBy(() -> s.authenticate(hour.token())).satisfies(e -> assertThat(status(e)).isEqualTo(401))
                    .hasMessageContaining("expired");
            assertThat(s.listTokens()).filteredOn(t -> t.get("id").equals(hour.id()))
                    .singleElement().satisfies(t -> assertThat(t.get("expired")).isEqualTo(true));
            assertThat(s.hasAdminToken()).isTrue();
            clock.advance(KbsStore.DEFAULT_TOKEN_TTL);
            assertThatThrownBy(() -> s.authenticate(byDefault.token())).satisfies(e -> assertThat(status(e))
                    .isEqualTo(401));
            assertThat(s.hasAdminToken()).isFalse();
            assertThatThrownBy(() -> s.createToken("a", Role.ADMIN, null, Duration.ofDays(3651)))
                    .satisfies(e -> assertThat(status(e)).isEqualTo(400)).hasMessageContaining("at most 3650 days");
            assertThatThrownBy(() -> s.createToken("a", Role.ADMIN, null, Duration.ofSeconds(-1)))
                    .satisfies(e -> assertThat(status(e)).isEqualTo(400));
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aStaleOrExpiredProposalIsNotApplied(String kind) throws Exception {
        try (KbsStore s = KbsStore.open(TestDatabases.fresh(kind, dir), master, clock)) {
            s.createNamespace("a", "alice");
            KbsStore.IssuedToken o1 = s.createToken("a", Role.OWNER, "alice");
            KbsStore.IssuedToken o2 = s.createToken("a", Role.OWNER, "alice");
            s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, V, false);
            s.setPolicyApprovals("a", "alice", 2);
            String old = s.proposePolicy("a", o1.id(), "alice", "pf", "SIM:ALLOW").id();
            // A newer policy takes effect first (here set directly; an applied proposal is the same).
            s.setPolicy("a", "alice", "pf", "PROD:1");
            assertThat(s.proposals("alice")).singleElement().satisfies(p -> assertThat(p.state()).isEqualTo("stale"));
            assertThatThrownBy(() -> s.approvePolicy("a", o2.id(), "alice", old))
                    .satisfies(e -> assertThat(status(e)).isEqualTo(409))
                    .hasMessageContaining("changed since proposal " + old);
            assertThat(s.policy("alice", "pf")).isEqualTo("PROD:1");

            String late = s.proposePolicy("a", o1.id(), "alice", "pf", "SIM:ALLOW PROD:1").id();
            clock.advance(Duration.ofDays(7));
            assertThatThrownBy(() -> s.approvePolicy("a", o2.id(), "alice", late))
                    .satisfies(e -> assertThat(status(e)).isEqualTo(409)).hasMessageContaining("expired");
            assertThat(s.policy("alice", "pf")).isEqualTo("PROD:1");

            // A fresh proposal on the current policy goes through.
            String fresh = s.proposePolicy("a", o1.id(), "alice", "pf", "PROD:1 SVN:2").id();
            assertThat(s.approvePolicy("a", o2.id(), "alice", fresh).applied()).isTrue();
            assertThat(s.policy("alice", "pf")).isEqualTo("PROD:1 SVN:2");
        }
    }

    @Test
    void aPolicyNeedsItsSecret() throws Exception {
        try (KbsStore s = KbsStore.open(dir.resolve("kbs.db").toString(), master, clock)) {
            s.createNamespace("a", "alice");
            assertThatThrownBy(() -> s.setPolicy("a", "alice", "nope", "PROD:1"))
                    .satisfies(e -> assertThat(status(e)).isEqualTo(404)).hasMessageContaining("no secret alice/nope");
            assertThatThrownBy(() -> s.proposePolicy("a", "t", "alice", "nope", "PROD:1"))
                    .satisfies(e -> assertThat(status(e)).isEqualTo(404));
            assertThat(s.policy("alice", "nope")).isNull();
        }
    }

    @Test
    void namesWithTwoDotsAreRefused() throws Exception {
        try (KbsStore s = KbsStore.open(dir.resolve("kbs.db").toString(), master, clock)) {
            for (String bad : new String[] {"a..", "a..b", "..", ".a", "A", "a/b", ""}) {
                assertThatThrownBy(() -> s.createNamespace("a", bad)).as(bad)
                        .satisfies(e -> assertThat(status(e)).isEqualTo(400));
            }
            s.createNamespace("a", "a.b-c_d");
            assertThatThrownBy(() -> KbsNames.checkSecretName("k..")).isInstanceOf(KbsException.class);
            assertThat(KbsNames.checkSecretName("K.v1")).isEqualTo("K.v1");
        }
    }
}
