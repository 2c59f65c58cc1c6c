package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.policy.Policies;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Crashes and outages: SIGKILL during writes, and a database that goes away under a running broker. */
class FaultTest {
    @TempDir
    Path dir;

    static List<String> dbs() {
        return TestDatabases.kinds();
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void sigkillDuringWritesLosesNoAcknowledgedWrite(String kind) throws Exception {
        String db = TestDatabases.fresh(kind, dir);
        MasterKey key = MasterKey.generate();
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                CrashWriter.class.getName(), db, key.toBase64())
                .redirectError(dir.resolve("child.err").toFile()).start();
        int lastAck = -1;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            String line;
            while ((line = r.readLine()) != null && System.nanoTime() < deadline) {
                if (line.startsWith("ACK ")) {
                    lastAck = Integer.parseInt(line.substring(4));
                    if (lastAck >= 25) {
                        break;
                    }
                }
            }
            // SIGKILL mid-stream: the child is writing its next secret right now.
            p.toHandle().destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
            // Acknowledgements already in the pipe count too: they were sent after a commit.
            while ((line = r.readLine()) != null) {
                if (line.startsWith("ACK ")) {
                    lastAck = Integer.parseInt(line.substring(4));
                }
            }
        }
        assertThat(lastAck).as("child acknowledged writes; stderr in %s", dir.resolve("child.err")).isGreaterThanOrEqualTo(25);
        try (KbsStore s = KbsStore.open(db, key, Clock.systemUTC())) {
            List<SecretInfo> stored = s.list("crash");
            assertThat(stored.size()).isGreaterThanOrEqualTo(lastAck + 1);
            for (int i = 0; i <= lastAck; i++) {
                assertThat(s.read("crash", "s" + i, null).value()).hasSize(32);
            }
            AuditReport audit = s.verifyAudit();
            assertThat(audit.intact()).as(audit.problems().toString()).isTrue();
            // Every stored secret has its audit entry and vice versa: nothing half-applied.
            assertThat(audit.entries()).isEqualTo(stored.size() + 1);
            // And the store keeps working after the crash.
            s.storeSecret("local:test", "crash", "after", SecretKind.PF_KEY, null, false);
        }
    }

    /** PostgreSQL only: a SQLite file cannot go away under an open connection. */
    @org.junit.jupiter.api.Test
    void databaseOutageAnswers503AndAppliesNothing() throws Exception {
        assumeTrue(TestDatabases.kinds().contains("postgresql"), TestDatabases.ENV + " is not set (outside CI)");
        String db = TestDatabases.fresh("postgresql", dir);
        String name = TestDatabases.databaseName(db);
        TestClock clock = new TestClock(Instant.parse("2026-11-27T12:00:00Z"));
        try (KbsStore store = KbsStore.open(db, MasterKey.generate(), clock)) {
            KeyBroker broker = new KeyBroker(store, TestSupport.verifier(), Policies::parse,
                    new NonceStore(Duration.ofMinutes(2), 1000));
            Tls tls = Tls.selfSigned(Instant.now());
            try (KbsServer server = KbsServer.start(broker, new InetSocketAddress("127.0.0.1", 0), tls, 0)) {
                var ctx = Tls.clientContextTrusting(tls.chain()[0]);
                URI base = URI.create("https://127.0.0.1:" + server.address().getPort());
                KbsClient admin = new KbsClient(base, store.createToken("t", Role.ADMIN, null).token(), ctx);
                admin.createNamespace("alice");
                admin.storeSecret("alice", "pf", SecretKind.PF_KEY, null, false);
                admin.setPolicy("alice", "pf", TestSupport.allowPolicy());
                KbsClient workload = new KbsClient(base, null, ctx);
                long auditBefore = store.verifyAudit().entries();
                assertThat(workload.send("GET", "/v1/health", null).statusCode()).isEqualTo(200);

                TestDatabases.pgAdmin("ALTER DATABASE " + name + " ALLOW_CONNECTIONS false");
                TestDatabases.pgAdmin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"
                        + name + "'");
                try {
                    var health = workload.send("GET", "/v1/health", null);
                    assertThat(health.statusCode()).isEqualTo(503);
                    // The driver's message names the host, port, user and database: it stays in the broker's log.
                    assertThat(new String(health.body(), java.nio.charset.StandardCharsets.UTF_8))
                            .contains(KbsServer.UNAVAILABLE).doesNotContain(name).doesNotContain("127.0.0.1")
                            .doesNotContainIgnoringCase("user").doesNotContainIgnoringCase("postgres");
                    assertThatThrownBy(() -> admin.storeSecret("alice", "pf", SecretKind.PF_KEY, null, true))
                            .isInstanceOf(KbsException.class)
                            .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(503))
                            .hasMessageContaining(KbsServer.UNAVAILABLE);
                    assertThatThrownBy(() -> workload.release("alice", "pf", null, HpkeSuite.X25519,
                            TestSupport.source(TestSupport.good(), TcbStatus.UP_TO_DATE, clock.instant())))
                            .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(503));
                } finally {
                    TestDatabases.pgAdmin("ALTER DATABASE " + name + " ALLOW_CONNECTIONS true");
                }
                // Back up: nothing of the failed calls was applied, and the broker recovers by itself.
                assertThat(store.list("alice")).hasSize(1);
                assertThat(store.verifyAudit().entries()).isEqualTo(auditBefore);
                assertThat(workload.release("alice", "pf", null, HpkeSuite.X25519,
                        TestSupport.source(TestSupport.good(), TcbStatus.UP_TO_DATE, clock.instant())).version())
                        .isEqualTo(1);
                assertThat(admin.storeSecret("alice", "pf", SecretKind.PF_KEY, null, true).get("version").asInt())
                        .isEqualTo(2);
                assertThat(store.verifyAudit().intact()).isTrue();
            }
        }
    }
}
