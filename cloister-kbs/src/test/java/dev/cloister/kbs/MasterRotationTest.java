package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Master key rotation: a failure between two rows (injected in the new key's wrap) leaves the database whole under
 * the old key; running it again completes, after which every secret version, token, policy, rule and proposal is
 * read under the new key only, the audit chain is intact and records the rotation; forged rows refuse it.
 */
class MasterRotationTest {
    @TempDir
    Path dir;

    static List<String> dbs() {
        return TestDatabases.kinds();
    }

    private final TestClock clock = new TestClock(Instant.parse("2026-12-08T00:00:00Z"));
    private final byte[] v1 = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    /** Fails the {@code failAt}-th wrap, as a crash between two rows would stop the rotation there. */
    private static KeyEncryptionKey failingAt(KeyEncryptionKey k, int failAt) {
        AtomicInteger n = new AtomicInteger();
        return new KeyEncryptionKey() {
            @Override
            public byte[] wrap(byte[] dataKey, byte[] aad) throws KbsException {
                if (n.incrementAndGet() == failAt) {
                    throw new IllegalStateException("injected crash at wrap " + failAt);
                }
                return k.wrap(dataKey, aad);
            }

            @Override
            public byte[] unwrap(byte[] wrapped, byte[] aad) throws KbsException {
                return k.unwrap(wrapped, aad);
            }

            @Override
            public byte[] deriveKey(String label) throws KbsException {
                return k.deriveKey(label);
            }

            @Override
            public String id() {
                return k.id();
            }
        };
    }

    private String populate(String db, MasterKey a) throws Exception {
        try (KbsStore s = KbsStore.open(db, a, clock)) {
            s.createNamespace("local:test", "alice");
            s.storeSecret("local:test", "alice", "pf", SecretKind.PF_KEY, v1, false);
            s.storeSecret("local:test", "alice", "pf", SecretKind.PF_KEY, null, true);
            s.storeSecret("local:test", "alice", "aes", SecretKind.AES256, null, false);
            s.setPolicy("local:test", "alice", "pf", "SIM:ALLOW");
            KbsStore.IssuedToken t = s.createToken("local:test", Role.OWNER, "alice");
            s.setPolicyApprovals("local:test", "alice", 2);
            s.proposePolicy("token:" + t.id(), t.id(), "alice", "pf", "SIM:DENY");
            return t.token();
        }
    }

    private void assertWhole(KbsStore s, String token) throws Exception {
        assertThat(s.read("alice", "pf", 1).value()).isEqualTo(v1);
        assertThat(s.read("alice", "pf", 2).value()).hasSize(16);
        assertThat(s.read("alice", "aes", null).value()).hasSize(32);
        assertThat(s.policy("alice", "pf")).isEqualTo("SIM:ALLOW");
        assertThat(s.policyApprovals("alice")).isEqualTo(2);
        assertThat(s.proposals("alice")).hasSize(1);
        assertThat(s.authenticate(token).role()).isEqualTo(Role.OWNER);
        AuditReport r = s.verifyAudit();
        assertThat(r.problems()).isEmpty();
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aRotationStoppedBetweenRowsChangesNothingAndARerunCompletesIt(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        MasterKey a = MasterKey.generate();
        MasterKey b = MasterKey.generate();
        String token = populate(db, a);
        byte[] pf2;
        try (KbsStore s = KbsStore.open(db, a, clock)) {
            pf2 = s.read("alice", "pf", 2).value();
            // The second of three secret versions: one row already re-wrapped in the transaction when it stops.
            assertThatThrownBy(() -> s.rotateMasterKey("local:test", failingAt(b, 2)))
                    .hasMessageContaining("injected crash");
        }
        assertThatThrownBy(() -> KbsStore.open(db, b, clock)).hasMessageContaining("was created under master key");
        try (KbsStore s = KbsStore.open(db, a, clock)) {
            assertWhole(s, token);
            assertThat(s.audit(null, 0, 1000)).noneMatch(e -> e.action().equals(MasterRotation.ACTION));
            assertThat(s.rotateMasterKey("local:test", b)).isEqualTo(3);
        }
        assertThatThrownBy(() -> KbsStore.open(db, a, clock)).hasMessageContaining("was created under master key");
        try (KbsStore s = KbsStore.open(db, b, clock)) {
            assertWhole(s, token);
            assertThat(s.read("alice", "pf", 2).value()).isEqualTo(pf2);
            assertThat(s.audit(null, 0, 1000)).filteredOn(e -> e.action().equals(MasterRotation.ACTION))
                    .singleElement().satisfies(e -> assertThat(e.detail()).contains(a.id()).contains(b.id())
                            .contains("3 secret version(s) re-wrapped"));
            // Writes go on under the new key.
            s.storeSecret("local:test", "alice", "pf", SecretKind.PF_KEY, null, true);
            assertThat(s.read("alice", "pf", 3).value()).hasSize(16);
            assertThatThrownBy(() -> s.rotateMasterKey("local:test", b)).hasMessageContaining("is the current one");
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aForgedRowRefusesTheRotationInsteadOfBeingMacdUnderTheNewKey(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        MasterKey a = MasterKey.generate();
        populate(db, a);
        try (var c = java.sql.DriverManager.getConnection(db.startsWith("jdbc:") ? db : "jdbc:sqlite:" + db);
                var st = c.createStatement()) {
            st.executeUpdate("UPDATE policies SET text = 'SIM:ALLOW E:" + "ab".repeat(32) + "'");
        }
        try (KbsStore s = KbsStore.open(db, a, clock)) {
            assertThatThrownBy(() -> s.rotateMasterKey("local:test", MasterKey.generate()))
                    .isInstanceOf(KbsException.class).hasMessageContaining("fail their check under the current");
        }
        try (KbsStore s = KbsStore.open(db, a, clock)) {
            assertThat(s.verifyAudit().problems()).anyMatch(p -> p.contains("policy of alice/pf"));
        }
    }
}
