package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class KbsStoreTest {
    @TempDir
    Path dir;

    static List<String> dbs() {
        return TestDatabases.kinds();
    }

    private final MasterKey master = MasterKey.generate();
    private final TestClock clock = new TestClock(Instant.parse("2026-11-27T12:00:00Z"));

    private KbsStore open(String db) throws Exception {
        return KbsStore.open(db, master, clock);
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aReleaseReadSeesTheSecretAndItsCurrentPolicyAndEveryCommittedWrite(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        try (KbsStore s = open(db)) {
            s.createNamespace("local:test", "alice");
            assertThatThrownBy(() -> s.readForRelease("alice", "pf", null)).isInstanceOf(KbsException.class)
                    .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(404));
            byte[] v1 = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
            s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, v1, false);
            KbsStore.Releasable r = s.readForRelease("alice", "pf", null);
            assertThat(r.secret().value()).isEqualTo(v1);
            assertThat(r.policy()).isNull();
            // Writes go through the writer connection and reads through others (SQLite): each committed write
            // must be visible to the very next read.
            for (int i = 0; i < 20; i++) {
                s.setPolicy("a", "alice", "pf", "policy " + i);
                SecretInfo v = s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, null, true);
                KbsStore.Releasable now = s.readForRelease("alice", "pf", null);
                assertThat(now.policy()).isEqualTo("policy " + i);
                assertThat(now.secret().info().version()).isEqualTo(v.version());
                assertThat(s.readForRelease("alice", "pf", 1).secret().value()).isEqualTo(v1);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void secretsAreVersionedRotatedAndRetired(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        try (KbsStore s = open(db)) {
            s.createNamespace("local:test", "alice");
            byte[] v1 = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
            assertThat(s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, v1, false).version()).isEqualTo(1);
            assertThatThrownBy(() -> s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, v1, false))
                    .isInstanceOf(KbsException.class).hasMessageContaining("exists");
            SecretInfo v2 = s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, null, true);
            assertThat(v2.version()).isEqualTo(2);
            assertThat(s.read("alice", "pf", null).info().version()).isEqualTo(2);
            assertThat(s.read("alice", "pf", 1).value()).isEqualTo(v1);
            assertThat(s.read("alice", "pf", 2).value()).hasSize(16).isNotEqualTo(v1);
            s.retire("a", "alice", "pf", 2);
            assertThat(s.read("alice", "pf", null).info().version()).isEqualTo(1);
            assertThatThrownBy(() -> s.read("alice", "pf", 2)).isInstanceOf(KbsException.class)
                    .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(404));
            assertThat(s.list("alice")).extracting(SecretInfo::active).containsExactly(true, false);
            assertThatThrownBy(() -> s.storeSecret("a", "alice", "pf", SecretKind.AES256, null, true))
                    .hasMessageContaining("is pf-key, not aes256");
            assertThatThrownBy(() -> s.storeSecret("a", "alice", "x", SecretKind.PF_KEY, new byte[15], false))
                    .hasMessageContaining("must be 16 bytes, got 15");
            assertThat(s.storeSecret("a", "alice", "ec", SecretKind.EC_P256, null, false).kind())
                    .isEqualTo(SecretKind.EC_P256);
            SecretKind.EC_P256.validate(s.read("alice", "ec", null).value());
            assertThat(s.read("alice", "ec", null).value().length).isGreaterThan(32);
            assertThat(s.verifyAudit().intact()).isTrue();
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void valuesAreEncryptedAtRestAndNeedTheMasterKey(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        byte[] value = "plaintext-secret-value-XYZ-32byt".getBytes(StandardCharsets.US_ASCII);
        try (KbsStore s = open(db)) {
            s.createNamespace("a", "bob");
            s.storeSecret("a", "bob", "k", SecretKind.AES256, value, false);
        }
        if (kind.equals("sqlite")) {
            byte[] file = Files.readAllBytes(Path.of(db));
            assertThat(indexOf(file, value)).isEqualTo(-1);
        }
        assertThatThrownBy(() -> KbsStore.open(db, MasterKey.generate(), clock))
                .isInstanceOf(KbsException.class).hasMessageContaining("was created under master key");
        try (KbsStore s = open(db)) {
            assertThat(s.read("bob", "k", null).value()).isEqualTo(value);
            // Moving a ciphertext to another row is caught by the row's MAC (and the associated data behind it).
            s.storeSecret("a", "bob", "k2", SecretKind.AES256, null, false);
            s.executeRaw("UPDATE secrets SET wrapped_dek = (SELECT wrapped_dek FROM secrets WHERE name = 'k') "
                    + "WHERE name = 'k2'");
            assertThatThrownBy(() -> s.read("bob", "k2", null)).hasMessageContaining("no active secret bob/k2");
            assertThat(s.verifyAudit().problems()).anyMatch(p -> p.startsWith("secret bob/k2@1:"));
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void tokensAreStoredHashedAndRevocable(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        try (KbsStore s = open(db)) {
            s.createNamespace("a", "carol");
            KbsStore.IssuedToken t = s.createToken("a", Role.OWNER, "carol");
            assertThat(s.authenticate(t.token())).isEqualTo(new Principal(t.id(), Role.OWNER, "carol"));
            assertThatThrownBy(() -> s.authenticate(t.token() + "x")).hasMessageContaining("unknown");
            assertThatThrownBy(() -> s.createToken("a", Role.OWNER, "nobody")).hasMessageContaining("no namespace");
            s.revokeToken("a", t.id());
            assertThatThrownBy(() -> s.authenticate(t.token())).hasMessageContaining("revoked");
            String all = s.listTokens().toString();
            assertThat(all).doesNotContain(t.token().substring(16));
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void auditDetectsEditedRows(String kind) throws Exception {
        try (KbsStore s = filledAudit(kind)) {
            assertThat(s.verifyAudit().intact()).isTrue();
            s.executeRaw("UPDATE audit SET detail = 'nothing to see' WHERE seq = 4");
            assertThat(s.verifyAudit().problems()).containsExactly("entry 4: content does not match its MAC (edited)");
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void auditDetectsEditedOutcomeAndTime(String kind) throws Exception {
        try (KbsStore s = filledAudit(kind)) {
            s.executeRaw("UPDATE audit SET outcome = 'ok' WHERE seq = 3");
            s.executeRaw("UPDATE audit SET at = at + 1 WHERE seq = 6");
            assertThat(s.verifyAudit().problems()).containsExactly(
                    "entry 3: content does not match its MAC (edited)", "entry 6: content does not match its MAC (edited)");
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void auditDetectsRemovedRows(String kind) throws Exception {
        try (KbsStore s = filledAudit(kind)) {
            s.executeRaw("DELETE FROM audit WHERE seq = 5");
            AuditReport r = s.verifyAudit();
            assertThat(r.intact()).isFalse();
            assertThat(r.problems()).anyMatch(p -> p.startsWith("entry 6: expected sequence number 5"))
                    .anyMatch(p -> p.startsWith("entry 6: does not link"));
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void auditDetectsReorderedRows(String kind) throws Exception {
        try (KbsStore s = filledAudit(kind)) {
            // Swap the contents of rows 3 and 4 but keep the sequence numbers: order changed, rows intact.
            s.executeRaw("UPDATE audit SET seq = -3 WHERE seq = 3");
            s.executeRaw("UPDATE audit SET seq = 3 WHERE seq = 4");
            s.executeRaw("UPDATE audit SET seq = 4 WHERE seq = -3");
            AuditReport r = s.verifyAudit();
            assertThat(r.intact()).isFalse();
            assertThat(r.problems()).anyMatch(p -> p.startsWith("entry 3:")).anyMatch(p -> p.startsWith("entry 4:"));
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void auditDetectsARecomputedPlainHashChain(String kind) throws Exception {
        // An attacker with database access but without the master key cannot rebuild valid links.
        try (KbsStore s = filledAudit(kind)) {
            s.executeRaw("UPDATE audit SET hash = prev_hash WHERE seq = 7");
            assertThat(s.verifyAudit().problems()).contains("entry 7: content does not match its MAC (edited)");
        }
    }

    private KbsStore filledAudit(String kind) throws Exception {
        KbsStore s = open(TestDatabases.fresh(kind, dir));
        s.createNamespace("local:test", "dave");
        for (int i = 0; i < 8; i++) {
            clock.advance(java.time.Duration.ofSeconds(1));
            s.record("workload:127.0.0.1", "release", "dave", "k@1", i % 2 == 0 ? "ok" : "denied",
                    i % 2 == 0 ? "kem X25519" : "policy denied: mrenclave 00 is not in the accepted list");
        }
        return s;
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void namesAreChecked(String kind) throws Exception {
        try (KbsStore s = open(TestDatabases.fresh(kind, dir))) {
            for (String bad : new String[] {"", "A", "-x", "a b", "x".repeat(65), "../x", "a/b"}) {
                assertThatThrownBy(() -> s.createNamespace("a", bad)).isInstanceOf(KbsException.class)
                        .hasMessageContaining("bad namespace name");
            }
            s.createNamespace("a", "ok");
            for (String bad : new String[] {"", "a/b", "..", "x y", "é"}) {
                assertThatThrownBy(() -> s.storeSecret("a", "ok", bad, SecretKind.AES256, null, false))
                        .hasMessageContaining("bad secret name");
            }
        }
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    static List<String> rows(String url, String sql) throws Exception {
        List<String> out = new ArrayList<>();
        try (Connection c = DriverManager.getConnection(url); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(sql)) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }
}
