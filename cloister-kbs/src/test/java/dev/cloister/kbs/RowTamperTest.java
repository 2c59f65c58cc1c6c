package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The database administrator as attacker: plain SQL on the broker's database between two starts of the broker,
 * without the master key. Each change to a security-relevant row must be refused on use and named by
 * {@code audit verify}.
 */
class RowTamperTest {
    @TempDir
    Path dir;

    static List<String> dbs() {
        return TestDatabases.kinds();
    }

    private final MasterKey master = MasterKey.generate();
    private final TestClock clock = new TestClock(Instant.parse("2026-11-27T12:00:00Z"));
    private static final byte[] V = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    private static String jdbc(String db) {
        return db.startsWith("jdbc:") ? db : "jdbc:sqlite:" + db;
    }

    /** Runs SQL as the database administrator: a connection of its own, no broker involved. */
    private static void admin(String db, String... sql) throws Exception {
        try (Connection c = DriverManager.getConnection(jdbc(db)); Statement s = c.createStatement()) {
            for (String q : sql) {
                s.executeUpdate(q);
            }
        }
    }

    private static List<String> problems(KbsStore s) throws KbsException {
        return s.verifyAudit().problems();
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aPolicyChangedInTheDatabaseIsNoPolicy(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            s.createNamespace("a", "alice");
            s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, V, false);
            s.setPolicy("a", "alice", "pf", "E:" + "ab".repeat(32) + " PROD:1");
            assertThat(s.verifyAudit().intact()).isTrue();
        }
        admin(db, "UPDATE policies SET text = 'SIM:ALLOW' WHERE namespace = 'alice'");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThat(s.readForRelease("alice", "pf", null).policy()).isNull();
            assertThat(s.policy("alice", "pf")).isNull();
            assertThat(problems(s)).containsExactly(
                    "policy of alice/pf: row does not match its MAC (added or changed outside the broker)");
        }
        // A policy inserted for a secret that had none is no better.
        admin(db, "DELETE FROM policies", "INSERT INTO policies (namespace, name, text, updated_at, version, mac) "
                + "VALUES ('alice', 'pf', 'SIM:ALLOW', 0, 1, NULL)");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThat(s.readForRelease("alice", "pf", null).policy()).isNull();
            assertThat(problems(s)).hasSize(1);
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void insertedAndPromotedTokensAreRefused(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        KbsStore.IssuedToken owner;
        KbsStore.IssuedToken admin;
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            s.createNamespace("a", "alice");
            owner = s.createToken("a", Role.OWNER, "alice");
            admin = s.createToken("a", Role.ADMIN, null);
        }
        String forged = "kbs_0123456789ab_forgedforgedforgedforgedforgedforgedforged";
        byte[] hash = MessageDigest.getInstance("SHA-256").digest(forged.getBytes(StandardCharsets.UTF_8));
        try (Connection c = DriverManager.getConnection(jdbc(db)); PreparedStatement ps = c.prepareStatement(
                "INSERT INTO tokens (id, hash, role, namespace, created_at, revoked, mac) VALUES "
                        + "('0123456789ab', ?, 'admin', NULL, 0, 0, (SELECT mac FROM tokens WHERE id = ?))")) {
            ps.setBytes(1, hash);
            ps.setString(2, admin.id());
            ps.executeUpdate();
        }
        admin(db, "UPDATE tokens SET role = 'admin', namespace = NULL WHERE id = '" + owner.id() + "'");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThatThrownBy(() -> s.authenticate(forged)).isInstanceOf(KbsException.class)
                    .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(401));
            assertThatThrownBy(() -> s.authenticate(owner.token())).isInstanceOf(KbsException.class)
                    .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(401));
            assertThat(s.authenticate(admin.token()).role()).isEqualTo(Role.ADMIN);
            assertThat(problems(s)).containsExactlyInAnyOrder(
                    "token 0123456789ab: row does not match its MAC (added or changed outside the broker)",
                    "token " + owner.id() + ": row does not match its MAC (added or changed outside the broker)");
        }
        // Un-revoking by hand does not work either.
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            s.revokeToken("a", admin.id());
        }
        admin(db, "UPDATE tokens SET revoked = 0 WHERE id = '" + admin.id() + "'");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThatThrownBy(() -> s.authenticate(admin.token())).isInstanceOf(KbsException.class);
            assertThat(s.hasAdminToken()).isFalse();
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aRetiredVersionReactivatedOrSecretsSwappedAreNotReleased(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            s.createNamespace("a", "alice");
            s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, V, false);
            s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, null, true);
            s.retire("a", "alice", "pf", 1);
            s.storeSecret("a", "alice", "other", SecretKind.PF_KEY, null, false);
        }
        admin(db, "UPDATE secrets SET state = 'active', retired_at = NULL WHERE name = 'pf' AND version = 1");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThatThrownBy(() -> s.readForRelease("alice", "pf", 1)).isInstanceOf(KbsException.class)
                    .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(404));
            assertThat(s.read("alice", "pf", null).info().version()).isEqualTo(2);
            assertThat(problems(s)).containsExactly(
                    "secret alice/pf@1: row does not match its MAC (added or changed outside the broker)",
                    "secret alice/pf@1: retired by audit entry 4 but active in the database (row put back outside "
                            + "the broker)");
        }
        // Retiring the newest version by hand must not hand out the one before it.
        admin(db, "UPDATE secrets SET state = 'retired' WHERE name = 'pf' AND version = 2");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThatThrownBy(() -> s.read("alice", "pf", null)).isInstanceOf(KbsException.class);
        }
        // Swapping two secrets' names (rows moved between secrets, MACs and all).
        admin(db, "UPDATE secrets SET state = 'active' WHERE name = 'pf' AND version = 2",
                "UPDATE secrets SET name = 'tmp' WHERE name = 'pf' AND version = 2",
                "UPDATE secrets SET name = 'pf', version = 2 WHERE name = 'other'",
                "UPDATE secrets SET name = 'other', version = 1 WHERE name = 'tmp'");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThatThrownBy(() -> s.read("alice", "pf", 2)).isInstanceOf(KbsException.class);
            assertThatThrownBy(() -> s.read("alice", "other", 1)).isInstanceOf(KbsException.class);
            assertThat(problems(s)).contains(
                    "secret alice/other@1: row does not match its MAC (added or changed outside the broker)",
                    "secret alice/pf@2: row does not match its MAC (added or changed outside the broker)");
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void loweredApprovalCountsAndForgedApprovalsAreRefused(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        String id;
        KbsStore.IssuedToken o1;
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            s.createNamespace("a", "alice");
            o1 = s.createToken("a", Role.OWNER, "alice");
            s.createToken("a", Role.OWNER, "alice");
            s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, V, false);
            s.setPolicyApprovals("a", "alice", 3);
            id = s.proposePolicy("a", o1.id(), "alice", "pf", "SIM:ALLOW").id();
        }
        admin(db, "UPDATE namespace_rules SET policy_approvals = 1 WHERE namespace = 'alice'");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThatThrownBy(() -> s.proposePolicy("a", o1.id(), "alice", "pf", "SIM:ALLOW"))
                    .isInstanceOf(KbsException.class).hasMessageContaining("rules of namespace alice do not "
                            + "authenticate");
            assertThat(s.policy("alice", "pf")).isNull();
            assertThat(problems(s)).containsExactly("namespace rules of alice: row does not match its MAC "
                    + "(changed outside the broker)");
        }
        admin(db, "DELETE FROM namespace_rules");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThatThrownBy(() -> s.proposePolicy("a", o1.id(), "alice", "pf", "SIM:ALLOW"))
                    .isInstanceOf(KbsException.class);
            assertThat(problems(s)).containsExactly("namespace rules of alice: row missing (deleted outside the "
                    + "broker)");
            s.setPolicyApprovals("a", "alice", 3);
        }
        // Approvals inserted by hand do not count: the third approval leaves the proposal pending.
        admin(db, "INSERT INTO policy_approvals (proposal_id, token_id, approved_at) SELECT '" + id + "', id, 1 "
                + "FROM tokens WHERE id <> '" + o1.id() + "'");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThat(s.proposals("alice").getFirst().approvers()).containsExactly(o1.id());
            assertThat(problems(s)).hasSize(1).allMatch(p -> p.startsWith("approval of proposal " + id));
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void rowsOfABrokerFromBeforeRowMacsAreMacdOnceAtTheUpgrade(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        // The schema of the previous release, with rows that broker wrote (it had no MACs).
        Flyway.configure().dataSource(jdbc(db), null, null).locations("classpath:db/migration")
                .placeholders(java.util.Map.of("blob", kind.equals("sqlite") ? "BLOB" : "BYTEA"))
                .table("kbs_schema_history").target("2").load().migrate();
        String token = "kbs_00aa00aa00aa_oldtokenoldtokenoldtokenoldtokenoldtoken0";
        try (Connection c = DriverManager.getConnection(jdbc(db)); PreparedStatement ps = c.prepareStatement(
                "INSERT INTO tokens (id, hash, role, namespace, created_at, revoked) VALUES ('00aa00aa00aa', ?, "
                        + "'owner', 'alice', 0, 0)")) {
            admin(db, "INSERT INTO namespaces (name, created_at) VALUES ('alice', 0)",
                    "INSERT INTO policies (namespace, name, text, updated_at) VALUES ('alice', 'pf', 'PROD:1', 0)");
            ps.setBytes(1, MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
            ps.executeUpdate();
        }
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThat(s.authenticate(token).namespace()).isEqualTo("alice");
            assertThat(s.policy("alice", "pf")).isEqualTo("PROD:1");
            assertThat(s.policyApprovals("alice")).isEqualTo(1);
            assertThat(s.verifyAudit().intact()).isTrue();
            assertThat(s.audit(null, 0, 10)).extracting(AuditEntry::action)
                    .containsExactly(KbsStore.ROWS_AUTHENTICATED);
        }
        // Making the database look older again so that a forged row is MAC'd at the next start: refused.
        String[] drop = {"tokens.expires_at", "tokens.mac", "secrets.mac", "policies.version", "policies.mac",
            "namespace_rules.mac", "policy_proposals.base_version", "policy_proposals.expires_at",
            "policy_proposals.mac", "policy_approvals.mac"};
        for (String col : drop) {
            String[] tc = col.split("\\.");
            admin(db, "ALTER TABLE " + tc[0] + " DROP COLUMN " + tc[1]);
        }
        admin(db, "DELETE FROM kbs_schema_history WHERE version = '3'",
                "UPDATE policies SET text = 'SIM:ALLOW'");
        assertThatThrownBy(() -> KbsStore.open(db, master, clock)).isInstanceOf(KbsException.class)
                .hasMessageContaining("rolled back outside the broker");
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void rowsPutBackAsTheyWereBeforeARevocationOrRetirementAreNamedByVerify(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        KbsStore.IssuedToken t;
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            s.createNamespace("a", "alice");
            t = s.createToken("a", Role.OWNER, "alice");
            s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, V, false);
            s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, null, true);
            s.setPolicy("a", "alice", "pf", "SIM:ALLOW");
        }
        // The administrator keeps copies of the rows as they are now (a backup, a replica)...
        admin(db, "CREATE TABLE old_tokens AS SELECT * FROM tokens", "CREATE TABLE old_secrets AS SELECT * FROM secrets",
                "CREATE TABLE old_policies AS SELECT * FROM policies");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            s.revokeToken("a", t.id());
            s.retire("a", "alice", "pf", 1);
            s.setPolicy("a", "alice", "pf", "PROD:1");
            assertThat(s.verifyAudit().intact()).isTrue();
        }
        // ...and puts them back after the revocation, the retirement and the policy change: each row is authentic
        // on its own.
        admin(db, "DELETE FROM tokens", "INSERT INTO tokens SELECT * FROM old_tokens",
                "DELETE FROM secrets", "INSERT INTO secrets SELECT * FROM old_secrets",
                "DELETE FROM policies", "INSERT INTO policies SELECT * FROM old_policies");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            assertThat(problems(s)).containsExactly(
                    "token " + t.id() + ": revoked by audit entry 6 but active in the database (row put back "
                            + "outside the broker)",
                    "secret alice/pf@1: retired by audit entry 7 but active in the database (row put back outside "
                            + "the broker)",
                    "policy of alice/pf: version 1 but the audit log records 2 changes (an older policy put back "
                            + "outside the broker)");
        }
        // A broker that has read its log (an anchored one reads it before serving) refuses both on use as well.
        try (KbsStore s = KbsStore.open(db, master, clock, new KbsStore.Anchor(dir.resolve("anchor"), false))) {
            assertThatThrownBy(() -> s.authenticate(t.token())).isInstanceOf(KbsException.class)
                    .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(401));
            assertThatThrownBy(() -> s.read("alice", "pf", 1)).isInstanceOf(KbsException.class)
                    .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(404));
            assertThat(s.read("alice", "pf", 2).info().version()).isEqualTo(2);
            assertThat(s.readForRelease("alice", "pf", 2).policy()).isNull();
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aPolicyForgedToAcceptSimulatedEvidenceReleasesNothingOverHttps(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            s.createNamespace("a", "alice");
            s.storeSecret("a", "alice", "pf", SecretKind.PF_KEY, V, false);
            s.setPolicy("a", "alice", "pf", "E:" + "ab".repeat(32) + " PROD:1");
        }
        // What the review did: the policy row rewritten to accept the simulated workload, then a broker restart.
        admin(db, "UPDATE policies SET text = '" + TestSupport.allowPolicy() + "' WHERE name = 'pf'");
        try (KbsStore s = KbsStore.open(db, master, clock)) {
            KeyBroker broker = new KeyBroker(s, TestSupport.verifier(),
                    dev.cloister.attestation.policy.Policies::parse,
                    new NonceStore(java.time.Duration.ofMinutes(2), 100));
            Tls tls = Tls.selfSigned(Instant.now());
            try (KbsServer server = KbsServer.start(broker, new java.net.InetSocketAddress("127.0.0.1", 0), tls, 0)) {
                KbsClient workload = new KbsClient(java.net.URI.create("https://127.0.0.1:"
                        + server.address().getPort()), null, Tls.clientContextTrusting(tls.chain()[0]));
                var evidence = TestSupport.source(TestSupport.good(), dev.cloister.attestation.TcbStatus.UP_TO_DATE,
                        clock.instant());
                assertThatThrownBy(() -> workload.release("alice", "pf", null, HpkeSuite.X25519, evidence))
                        .isInstanceOf(KbsException.class)
                        .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(403));
                // The same text set through the broker is authentic: the evidence itself was never the problem.
                s.setPolicy("a", "alice", "pf", TestSupport.allowPolicy());
                assertThat(workload.release("alice", "pf", null, HpkeSuite.X25519, evidence).value()).isEqualTo(V);
            }
            assertThat(s.audit("alice", 0, 100)).extracting(AuditEntry::action, AuditEntry::outcome)
                    .contains(org.assertj.core.groups.Tuple.tuple("release", "denied"));
        }
    }
}
