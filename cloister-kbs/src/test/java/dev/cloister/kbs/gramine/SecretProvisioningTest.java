package dev.cloister.kbs.gramine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.policy.Policies;
import dev.cloister.kbs.AuditEntry;
import dev.cloister.kbs.KbsStore;
import dev.cloister.kbs.KeyBroker;
import dev.cloister.kbs.MasterKey;
import dev.cloister.kbs.NonceStore;
import dev.cloister.kbs.SecretKind;
import dev.cloister.kbs.TestSupport;
import dev.cloister.kbs.Tls;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Gramine secret provisioning over RA-TLS against a client written from the reference. */
class SecretProvisioningTest {
    @TempDir
    Path dir;

    private KbsStore store;
    private SecretProvisioningServer server;
    private X509Certificate serverCert;
    private final byte[] key = HexFormat.of().parseHex("00112233445566778899aabbccddeeff");
    private final Instant now = Instant.now();

    private KeyBroker broker;

    @BeforeEach
    void start() throws Exception {
        store = KbsStore.open(dir.resolve("kbs.db").toString(), MasterKey.generate(), Clock.systemUTC());
        store.createNamespace("t", "alice");
        store.storeSecret("t", "alice", "pf", SecretKind.PF_KEY, key, false);
        store.setPolicy("t", "alice", "pf", Policies.parse(TestSupport.allowPolicy()).toText());
        broker = new KeyBroker(store, TestSupport.verifier(), Policies::parse,
                new NonceStore(Duration.ofMinutes(1), 100));
        Tls tls = Tls.selfSigned(now);
        serverCert = tls.chain()[0];
        // RA-TLS certificates carry no collateral: the broker looks it up; here, the simulator's for that quote.
        server = SecretProvisioningServer.start(broker, TestSupport.verifier(), collateralFn,
                new InetSocketAddress("127.0.0.1", 0), tls, "alice", "pf");
    }

    @AfterEach
    void stop() {
        server.close();
        store.close();
    }

    private final java.util.Map<String, byte[]> collaterals = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.function.Function<byte[], byte[]> collateralFn =
            q -> collaterals.get(java.util.Base64.getEncoder().encodeToString(q));

    private byte[] quote(SgxMeasurements m, byte[] rd) {
        byte[][] e = TestSupport.quote(m, rd, TcbStatus.UP_TO_DATE, now);
        collaterals.put(java.util.Base64.getEncoder().encodeToString(e[0]), e[1]);
        return e[0];
    }

    private String lastAudit() throws Exception {
        List<AuditEntry> all = store.audit(null, 0, 1000);
        AuditEntry e = all.get(all.size() - 1);
        return e.action() + " " + e.outcome() + " " + e.detail();
    }

    /** The server audits after the client saw the failure; wait for it (bounded). */
    @Test
    void certificateHasGramineByteLayout() throws Exception {
        GramineClient c = new GramineClient(rd -> quote(TestSupport.good(), rd), true, true);
        byte[] der = c.cert.getEncoded();
        assertThat(indexOf(der, GramineClient.LEGACY_OID_TLV)).isPositive();
        assertThat(indexOf(der, GramineClient.TCG_OID_TLV)).isPositive();
        assertThat(c.claims).hasSize(51);
        assertThat(c.cert.getExtensionValue(RaTlsCertificate.LEGACY_OID)).isNotNull();
        RaTlsCertificate parsed = RaTlsCertificate.parse(c.cert);
        assertThat(parsed.tcg()).isTrue();
        assertThat(parsed.expectedReportData()).startsWith(GramineClient.sha256(c.claims));
    }

    @Test
    void enclaveWithAllowedMeasurementReceivesTheKey() throws Exception {
        GramineClient c = new GramineClient(rd -> quote(TestSupport.good(), rd), true, true);
        assertThat(c.provision(server.address(), serverCert)).isEqualTo(key);
        assertThat(lastAudit()).isEqualTo("release.gramine ok ra-tls");
        // Counted for the broker's metrics as the Gramine channel's release.
        assertThat(broker.releaseDecisions()).containsEntry("release.gramine ok", 1L);
    }

    @Test
    void legacyOnlyCertificateWorksToo() throws Exception {
        GramineClient c = new GramineClient(rd -> quote(TestSupport.good(), rd), false, true);
        assertThat(c.provision(server.address(), serverCert)).isEqualTo(key);
    }

    @Test
    void quoteNotBindingTheKeyFailsTheHandshake() throws Exception {
        GramineClient c = new GramineClient(rd -> quote(TestSupport.good(), new byte[64]), true, false);
        assertThatThrownBy(() -> c.provision(server.address(), serverCert)).isInstanceOf(IOException.class);
        // Counted, not audited: a refused handshake involves nothing attested, and anyone can cause one.
        long end = System.nanoTime() + 10_000_000_000L;
        while (!broker.unauditedRefusals().containsKey("ratls") && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertThat(broker.unauditedRefusals()).containsEntry("ratls", 1L);
        assertThat(broker.releaseDecisions()).doesNotContainKey("release.gramine denied");
    }

    @Test
    void wrongMeasurementGetsNothing() throws Exception {
        SgxMeasurements other = TestSupport.sgx(HexFormat.of().parseHex("44".repeat(32)), false, 3);
        GramineClient c = new GramineClient(rd -> quote(other, rd), true, false);
        assertThatThrownBy(() -> c.provision(server.address(), serverCert)).isInstanceOf(IOException.class);
        assertThat(lastAudit()).startsWith("release.gramine denied policy denied: mrenclave 4444");
        assertThat(broker.releaseDecisions()).containsEntry("release.gramine denied", 1L)
                .doesNotContainKey("release.gramine ok");
    }

    @Test
    void debugEnclaveGetsNothing() throws Exception {
        GramineClient c = new GramineClient(rd -> quote(TestSupport.sgx(TestSupport.MRENCLAVE, true, 3), rd), true,
                false);
        assertThatThrownBy(() -> c.provision(server.address(), serverCert)).isInstanceOf(IOException.class);
        assertThat(lastAudit()).contains("debug mode");
    }

    @Test
    void mutatedEvidenceOnlyEverFailsWithRaTlsException() throws Exception {
        GramineClient c = new GramineClient(rd -> quote(TestSupport.good(), rd), true, false);
        byte[] tcg = RaTlsCertificate.extension(c.cert, RaTlsCertificate.TCG_OID);
        Random rnd = new Random(4433);
        int rejected = 0;
        for (int i = 0; i < 2000; i++) {
            byte[] m = tcg.clone();
            int edits = 1 + rnd.nextInt(3);
            for (int k = 0; k < edits; k++) {
                m[rnd.nextInt(Math.min(m.length, 80))] = (byte) rnd.nextInt(256);
            }
            try {
                Cbor.decode(m);
            } catch (RaTlsException e) {
                rejected++;
            }
        }
        assertThat(rejected).isGreaterThan(100);
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
}
