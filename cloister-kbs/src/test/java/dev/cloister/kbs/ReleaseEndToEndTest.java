package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.policy.Policies;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.bouncycastle.crypto.AsymmetricCipherKeyPair;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The release protocol over real HTTPS, with simulated evidence, on SQLite and on PostgreSQL. */
class ReleaseEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    static List<String> dbs() {
        return TestDatabases.kinds();
    }

    private final TestClock clock = new TestClock(Instant.parse("2026-11-27T12:00:00Z"));
    private KbsStore store;
    private KeyBroker broker;
    private KbsServer server;
    private KbsClient admin;
    private KbsClient owner;
    private KbsClient workload;
    private String db;
    private javax.net.ssl.SSLContext ownerTls;
    private final byte[] pfKey = HexFormat.of().parseHex("000102030405060708090a0b0c0d0e0f");

    private void start(String kind) throws Exception {
        db = TestDatabases.fresh(kind, dir);
        store = KbsStore.open(db, MasterKey.generate(), clock);
        broker = new KeyBroker(store, TestSupport.verifier(), Policies::parse,
                new NonceStore(Duration.ofMinutes(2), 10_000));
        Tls tls = Tls.selfSigned(Instant.now());
        server = KbsServer.start(broker, new InetSocketAddress("127.0.0.1", 0), tls, 0);
        URI base = URI.create("https://127.0.0.1:" + server.address().getPort());
        var ctx = Tls.clientContextTrusting(tls.chain()[0]);
        ownerTls = ctx;
        String adminToken = store.createToken("local:test", Role.ADMIN, null).token();
        admin = new KbsClient(base, adminToken, ctx);
        admin.createNamespace("alice");
        owner = new KbsClient(base, admin.createToken(Role.OWNER, "alice").get("token").asText(), ctx);
        owner.storeSecret("alice", "pf", SecretKind.PF_KEY, pfKey, false);
        owner.setPolicy("alice", "pf", TestSupport.allowPolicy());
        workload = new KbsClient(base, null, ctx);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (store != null) {
            store.close();
        }
    }

    private KbsClient.Released release(dev.cloister.attestation.SgxMeasurements m, TcbStatus tcb) throws Exception {
        return workload.release("alice", "pf", null, HpkeSuite.X25519, TestSupport.source(m, tcb, clock.instant()));
    }

    private static void assertDenied(ThrowingRunnable r, String explanation) {
        assertThatThrownBy(r::run).isInstanceOf(KbsException.class)
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(403))
                .hasMessageContaining(explanation);
    }

    /** The workload's answer names no reason: the same status and body whatever the secret or its policy. */
    private static void assertUniformlyDenied(ThrowingRunnable r) {
        assertThatThrownBy(r::run).isInstanceOf(KbsException.class)
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(403))
                .hasMessage(KeyBroker.RELEASE_DENIED);
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    private String lastAudit() throws Exception {
        List<JsonNode> all = admin.audit(0, 1000);
        JsonNode e = all.get(all.size() - 1);
        return e.get("action").asText() + " " + e.get("outcome").asText() + " " + e.get("detail").asText();
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void allowedMeasurementGetsTheKeyBothKems(String kind) throws Exception {
        start(kind);
        KbsClient.Released r = release(TestSupport.good(), TcbStatus.UP_TO_DATE);
        assertThat(r.value()).isEqualTo(pfKey);
        assertThat(r.version()).isEqualTo(1);
        assertThat(r.kind()).isEqualTo(SecretKind.PF_KEY);
        KbsClient.Released p = workload.release("alice", "pf", 1, HpkeSuite.P256,
                TestSupport.source(TestSupport.good(), TcbStatus.UP_TO_DATE, clock.instant()));
        assertThat(p.value()).isEqualTo(pfKey);
        assertThat(lastAudit()).startsWith("release ok kem P256; SGX mrenclave ");
        // Rotation: the newest version is released; the old one still on request until retired.
        owner.storeSecret("alice", "pf", SecretKind.PF_KEY, null, true);
        assertThat(release(TestSupport.good(), TcbStatus.UP_TO_DATE).version()).isEqualTo(2);
        owner.retire("alice", "pf", 1);
        assertUniformlyDenied(() -> workload.release("alice", "pf", 1, HpkeSuite.X25519,
                TestSupport.source(TestSupport.good(), TcbStatus.UP_TO_DATE, clock.instant())));
        assertThat(admin.verifyAudit().get("intact").asBoolean()).isTrue();
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void wrongMeasurementIsDenied(String kind) throws Exception {
        start(kind);
        byte[] other = HexFormat.of().parseHex("33".repeat(32));
        assertUniformlyDenied(() -> release(TestSupport.sgx(other, false, 3), TcbStatus.UP_TO_DATE));
        assertThat(lastAudit()).startsWith("release denied policy denied: mrenclave " + "33".repeat(32)
                + " is not in the accepted list");
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void debugEnclaveIsDenied(String kind) throws Exception {
        start(kind);
        assertUniformlyDenied(() -> release(TestSupport.sgx(TestSupport.MRENCLAVE, true, 3), TcbStatus.UP_TO_DATE));
        assertThat(lastAudit()).contains("runs in debug mode, which is not allowed");
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void staleTcbIsDenied(String kind) throws Exception {
        start(kind);
        assertUniformlyDenied(() -> release(TestSupport.good(), TcbStatus.OUT_OF_DATE));
        assertThat(lastAudit()).contains("TCB status OutOfDate is not accepted");
        assertUniformlyDenied(() -> release(TestSupport.sgx(TestSupport.MRENCLAVE, false, 2), TcbStatus.UP_TO_DATE));
        assertThat(lastAudit()).contains("isvSvn 2 is below the minimum 3");
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void simulatedEvidenceUnderHardwareOnlyPolicyIsDenied(String kind) throws Exception {
        start(kind);
        owner.setPolicy("alice", "pf", TestSupport.allowPolicy().replace(" SIM:ALLOW", ""));
        assertUniformlyDenied(() -> release(TestSupport.good(), TcbStatus.UP_TO_DATE));
        assertThat(lastAudit()).contains("release denied policy denied: simulated evidence is not allowed");
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void replayedNonceIsDenied(String kind) throws Exception {
        start(kind);
        byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
        ObjectNode req = request(nonce, HpkeSuite.X25519.generateKeyPair(), HpkeSuite.X25519);
        assertThat(workload.call("POST", "/v1/release", req).get("version").asInt()).isEqualTo(1);
        assertUniformlyDenied(() -> workload.call("POST", "/v1/release", req));
        assertThat(lastAudit()).isEqualTo("release denied nonce already used (replay)");
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void oneClientAskingForNoncesLocksOutNoOne(String kind) throws Exception {
        start(kind);
        // The old store held every issued nonce (here at most 10 000, 100 000 in 'kbs serve') for all clients
        // together: one client asking for more made every other client's release fail until they expired.
        for (int i = 0; i < 200_000; i++) {
            broker.nonce();
        }
        for (int i = 0; i < 200; i++) {
            assertThat(workload.send("GET", "/v1/nonce", null).statusCode()).isEqualTo(200);
        }
        KbsClient other = new KbsClient(URI.create("https://127.0.0.1:" + server.address().getPort()), null,
                ownerTls);
        assertThat(other.release("alice", "pf", null, HpkeSuite.X25519,
                TestSupport.source(TestSupport.good(), TcbStatus.UP_TO_DATE, clock.instant())).value())
                .isEqualTo(pfKey);
        assertThat(broker.nonces().replayWindow()).isEqualTo(1);
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void anonymousRefusalsAreCountedNotAudited(String kind) throws Exception {
        start(kind);
        int before = admin.audit(0, 1000).size();
        Random rnd = new Random(3);
        for (int i = 0; i < 30; i++) {
            byte[] forged = new byte[NonceStore.LENGTH];
            rnd.nextBytes(forged);
            ObjectNode req = request(forged, HpkeSuite.X25519.generateKeyPair(), HpkeSuite.X25519);
            assertThat(workload.send("POST", "/v1/release", JSON.writeValueAsBytes(req)).statusCode()).isEqualTo(403);
            byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
            ObjectNode junk = request(nonce, HpkeSuite.X25519.generateKeyPair(), HpkeSuite.X25519);
            junk.put("evidence", TestSupport.b64(("junk" + i).getBytes(StandardCharsets.US_ASCII)));
            assertThat(workload.send("POST", "/v1/release", JSON.writeValueAsBytes(junk)).statusCode())
                    .isEqualTo(400);
        }
        // Each of these used to append (and fsync) one permanent audit entry.
        assertThat(admin.audit(0, 1000)).hasSize(before);
        assertThat(broker.unauditedRefusals()).containsEntry("nonce", 30L).containsEntry("malformed", 30L);
        // A decision about attested evidence is still audited.
        assertDenied(() -> release(TestSupport.sgx(HexFormat.of().parseHex("33".repeat(32)), false, 3),
                TcbStatus.UP_TO_DATE), "denied");
        assertThat(admin.audit(0, 1000)).hasSize(before + 1);
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void auditLimitsAreCheckedAndDatabaseErrorsRevealNothing(String kind) throws Exception {
        start(kind);
        for (String bad : List.of("limit=-1", "limit=0", "after=-5")) {
            HttpResponse<byte[]> r = admin.send("GET", "/v1/audit?" + bad, null);
            // limit=-1 used to bypass the 1000-entry cap on SQLite and to return the database's error on PostgreSQL.
            assertThat(r.statusCode()).as(bad).isEqualTo(400);
            assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("must be");
        }
        assertThat(admin.audit(0, 1)).hasSize(1);
        // A database failure answers one generic 503, naming no host, user, file or driver.
        store.close();
        for (HttpResponse<byte[]> r : List.of(workload.send("GET", "/v1/health", null),
                admin.send("GET", "/v1/audit?limit=5", null), owner.send("GET", "/v1/secrets/alice", null))) {
            assertThat(r.statusCode()).isEqualTo(503);
            String body = new String(r.body(), StandardCharsets.UTF_8);
            assertThat(body).isEqualTo("{\"status\":503,\"error\":\"" + KbsServer.UNAVAILABLE + "\"}");
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void releaseDenialsAreTheSameWhateverTheSecret(String kind) throws Exception {
        start(kind);
        admin.createNamespace("bob");
        java.util.Map<String, java.util.function.Consumer<ObjectNode>> cases = new java.util.LinkedHashMap<>();
        cases.put("unknown secret", r -> r.put("secret", "nope"));
        cases.put("unknown namespace", r -> r.put("namespace", "ghost"));
        cases.put("namespace without the secret", r -> r.put("namespace", "bob"));
        cases.put("unknown version", r -> r.put("version", 7));
        cases.put("wrong binding", r -> r.put("publicKey",
                TestSupport.b64(HpkeSuite.X25519.publicKey(HpkeSuite.X25519.generateKeyPair()))));
        cases.put("policy denied", r -> { });
        java.util.Set<String> bodies = new java.util.HashSet<>();
        for (var c : cases.entrySet()) {
            if (c.getKey().equals("policy denied")) {
                owner.setPolicy("alice", "pf", TestSupport.allowPolicy().replace("E:11", "E:12"));
            }
            byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
            ObjectNode req = request(nonce, HpkeSuite.X25519.generateKeyPair(), HpkeSuite.X25519);
            c.getValue().accept(req);
            HttpResponse<byte[]> r = workload.send("POST", "/v1/release", JSON.writeValueAsBytes(req));
            // Before: 404 "no active secret ...", 403 "policy denied: mrenclave ..." or "report data is not ...".
            assertThat(r.statusCode()).as(c.getKey()).isEqualTo(403);
            bodies.add(new String(r.body(), StandardCharsets.UTF_8));
        }
        assertThat(bodies).hasSize(1);
        // The owner reads the reasons (and the global admin those about namespaces no one owns).
        List<String> details = admin.audit(0, 1000).stream().filter(e -> e.get("action").asText().equals("release"))
                .map(e -> e.get("detail").asText()).toList();
        assertThat(details).anyMatch(d -> d.startsWith("no active secret alice/nope"))
                .anyMatch(d -> d.startsWith("no active version 7 of secret alice/pf"))
                .anyMatch(d -> d.startsWith("report data is not SHA-256"))
                .anyMatch(d -> d.startsWith("policy denied: mrenclave"));
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void expiredNonceIsDenied(String kind) throws Exception {
        start(kind);
        byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
        ObjectNode req = request(nonce, HpkeSuite.X25519.generateKeyPair(), HpkeSuite.X25519);
        clock.advance(Duration.ofMinutes(2).plusSeconds(1));
        assertDenied(() -> workload.call("POST", "/v1/release", req), "nonce expired at 2026-11-27T12:02:00Z");
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void keyNotBoundIntoEvidenceIsDenied(String kind) throws Exception {
        start(kind);
        byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
        ObjectNode req = request(nonce, HpkeSuite.X25519.generateKeyPair(), HpkeSuite.X25519);
        // A man in the middle swaps in its own key: the evidence no longer matches.
        req.put("publicKey", TestSupport.b64(HpkeSuite.X25519.publicKey(HpkeSuite.X25519.generateKeyPair())));
        assertUniformlyDenied(() -> workload.call("POST", "/v1/release", req));
        assertThat(lastAudit()).contains("report data is not SHA-256(nonce || publicKey)");
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void aJobClauseReleasesOnlyToEvidenceBoundToThatRecordAndTheAuditNamesIt(String kind) throws Exception {
        start(kind);
        byte[] record = new byte[32];
        new Random(3).nextBytes(record);
        String hex = HexFormat.of().formatHex(record);
        owner.setPolicy("alice", "pf", TestSupport.allowPolicy() + " JOB:" + hex);
        // The old form (32 zero bytes after the binding) no longer gets this key; the workload learns nothing, the
        // owner's audit log says why.
        assertUniformlyDenied(() -> release(TestSupport.good(), TcbStatus.UP_TO_DATE));
        assertThat(lastAudit()).startsWith("release denied policy denied: the evidence is bound to job record "
                + "00".repeat(32)).contains("not the registered " + hex);
        // Another record (one bit differs): denied, and the denial is audited.
        byte[] other = record.clone();
        other[0] ^= 1;
        assertUniformlyDenied(() -> workload.call("POST", "/v1/release", boundRequest(other)));
        assertThat(lastAudit()).startsWith("release denied policy denied: the evidence is bound to job record "
                + HexFormat.of().formatHex(other)).contains("not the registered " + hex);
        // The registered record: released, and the audit entry names the record that ran.
        JsonNode ok = workload.call("POST", "/v1/release", boundRequest(record));
        assertThat(ok.path("version").asInt()).isEqualTo(1);
        assertThat(lastAudit()).startsWith("release ok kem X25519; SGX mrenclave ").contains(" record " + hex + " ");
        // A policy without the clause still accepts the old form.
        owner.setPolicy("alice", "pf", TestSupport.allowPolicy());
        assertThat(release(TestSupport.good(), TcbStatus.UP_TO_DATE).value()).isEqualTo(pfKey);
        assertThat(lastAudit()).doesNotContain(" record ");
    }

    private ObjectNode boundRequest(byte[] record) throws Exception {
        byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
        AsymmetricCipherKeyPair kp = HpkeSuite.X25519.generateKeyPair();
        byte[] pk = HpkeSuite.X25519.publicKey(kp);
        ObjectNode req = request(nonce, kp, HpkeSuite.X25519);
        byte[][] ev = TestSupport.quote(TestSupport.good(), ReleaseBinding.reportData(nonce, pk, record),
                TcbStatus.UP_TO_DATE, clock.instant());
        req.put("evidence", TestSupport.b64(ev[0]));
        req.put("collateral", TestSupport.b64(ev[1]));
        return req;
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void malformedUnknownAndUnauthorized(String kind) throws Exception {
        start(kind);
        HttpResponse<byte[]> r = workload.send("POST", "/v1/release", "{\"namespace\":".getBytes(StandardCharsets.UTF_8));
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("malformed JSON");
        byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
        ObjectNode bad = request(nonce, HpkeSuite.X25519.generateKeyPair(), HpkeSuite.X25519);
        bad.put("evidence", TestSupport.b64("garbage".getBytes(StandardCharsets.US_ASCII)));
        assertThatThrownBy(() -> workload.call("POST", "/v1/release", bad)).hasMessageContaining("malformed evidence")
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(400));
        assertUniformlyDenied(() -> workload.release("alice", "nope", null, HpkeSuite.X25519,
                TestSupport.source(TestSupport.good(), TcbStatus.UP_TO_DATE, clock.instant())));
        assertThat(lastAudit()).isEqualTo("release denied no active secret alice/nope");
        assertThat(workload.send("GET", "/v1/secrets/alice", null).statusCode()).isEqualTo(401);
        // Another tenant sees neither alice's secrets nor whether the namespace exists.
        admin.createNamespace("mallory");
        KbsClient mallory = new KbsClient(URI.create("https://127.0.0.1:" + server.address().getPort()),
                admin.createToken(Role.OWNER, "mallory").get("token").asText(),
                ownerTls);
        assertThatThrownBy(() -> mallory.list("alice")).hasMessage("no namespace alice");
        assertThatThrownBy(() -> mallory.list("ghost")).hasMessage("no namespace ghost");
        assertThatThrownBy(() -> mallory.setPolicy("alice", "pf", "SIM:ALLOW")).hasMessage("no namespace alice");
        assertThat(mallory.call("GET", "/v1/namespaces", null).get("namespaces").toString()).isEqualTo("[\"mallory\"]");
        assertThatThrownBy(() -> owner.createNamespace("x")).hasMessageContaining("needs an admin token");
        HttpResponse<byte[]> big = owner.send("POST", "/v1/secrets/alice/big",
                ("{\"kind\":\"opaque\",\"value\":\"" + "A".repeat(KbsServer.MAX_BODY) + "\"}").getBytes());
        assertThat(big.statusCode()).isEqualTo(413);
        assertThatThrownBy(() -> owner.setPolicy("alice", "pf", "E:zz")).hasMessageContaining("E:zz")
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(400));
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void fuzzedReleaseRequestsNeverCauseServerErrors(String kind) throws Exception {
        start(kind);
        Random rnd = new Random(6);
        byte[] nonce = Base64.getDecoder().decode(workload.nonce().get("nonce").asText());
        byte[] good = JSON.writeValueAsBytes(request(nonce, HpkeSuite.P256.generateKeyPair(), HpkeSuite.P256));
        for (int i = 0; i < 150; i++) {
            byte[] m = good.clone();
            int edits = 1 + rnd.nextInt(4);
            for (int k = 0; k < edits; k++) {
                m[rnd.nextInt(m.length)] = (byte) rnd.nextInt(256);
            }
            int status = workload.send("POST", "/v1/release", m).statusCode();
            assertThat(status).as("mutation %d", i).isIn(400, 403, 404);
        }
    }

    @ParameterizedTest
    @MethodSource("dbs")
    void rateLimitPerClient(String kind) throws Exception {
        start(kind);
        server.close();
        KeyBroker broker = new KeyBroker(store, TestSupport.verifier(), Policies::parse,
                new NonceStore(Duration.ofMinutes(2), 10_000));
        Tls tls = Tls.selfSigned(Instant.now());
        server = KbsServer.start(broker, new InetSocketAddress("127.0.0.1", 0), tls, 5);
        KbsClient c = new KbsClient(URI.create("https://127.0.0.1:" + server.address().getPort()), null,
                Tls.clientContextTrusting(tls.chain()[0]));
        int limited = 0;
        for (int i = 0; i < 40; i++) {
            if (c.send("GET", "/v1/nonce", null).statusCode() == 429) {
                limited++;
            }
        }
        assertThat(limited).isGreaterThan(10);
    }

    private ObjectNode request(byte[] nonce, AsymmetricCipherKeyPair kp, HpkeSuite kem) {
        byte[] pk = kem.publicKey(kp);
        byte[][] ev = TestSupport.quote(TestSupport.good(), ReleaseBinding.reportData(nonce, pk),
                TcbStatus.UP_TO_DATE, clock.instant());
        ObjectNode req = JSON.createObjectNode();
        req.put("namespace", "alice");
        req.put("secret", "pf");
        req.put("nonce", TestSupport.b64(nonce));
        req.put("evidence", TestSupport.b64(ev[0]));
        req.put("collateral", TestSupport.b64(ev[1]));
        req.put("kem", kem.name());
        req.put("publicKey", TestSupport.b64(pk));
        return req;
    }
}
