package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cloister.core.CloisterException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import javax.crypto.KeyGenerator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The master key in a real PKCS#11 token (SoftHSM2): wrapping, derivation and a broker's store on it, across a
 * restart; the key's value cannot be read out; a wrong PIN, a missing token or key is an environment error.
 */
class Pkcs11KekTest {
    private static final char[] PIN = SoftHsm.PIN.toCharArray();
    private static SoftHsm hsm;

    @TempDir
    Path dir;

    @BeforeAll
    static void token() throws Exception {
        SoftHsm.require();
        String conf = System.getenv("SOFTHSM2_CONF");
        assertThat(conf).as("SOFTHSM2_CONF is set by the build (cloister-kbs/pom.xml)").isNotNull();
        // Every token is made before the module is first initialised in this JVM: SoftHSM2 reads the token
        // folder then.
        hsm = SoftHsm.fresh(Path.of(conf));
        hsm.initToken("kbs-a");
        hsm.initToken("kbs-b");
        hsm.initToken("kbs-gone");
        Pkcs11Kek.generate(SoftHsm.MODULE, "kbs-a", "master", PIN);
        Pkcs11Kek.generate(SoftHsm.MODULE, "kbs-b", "master", PIN);
        plainKey("kbs-a", "plain");
        Pkcs11Kek.generate(SoftHsm.MODULE, "kbs-gone", "master", PIN);
    }

    private static Pkcs11Kek open(String token) throws CloisterException {
        return Pkcs11Kek.open(SoftHsm.MODULE, token, "master", PIN);
    }

    @Test
    void wrapsUnwrapsAndDerivesInTheToken() throws Exception {
        Pkcs11Kek k = open("kbs-a");
        byte[] dk = new byte[32];
        dk[3] = 7;
        byte[] aad = "alice/pf@1".getBytes(StandardCharsets.US_ASCII);
        byte[] w = k.wrap(dk, aad);
        assertThat(w).hasSize(1 + 12 + 32 + 16);
        assertThat(k.wrap(dk, aad)).isNotEqualTo(w);
        assertThat(k.unwrap(w, aad)).isEqualTo(dk);
        assertThatThrownBy(() -> k.unwrap(w, "alice/pf@2".getBytes(StandardCharsets.US_ASCII)))
                .isInstanceOf(KbsException.class).satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(403));
        byte[] bad = w.clone();
        bad[20] ^= 1;
        assertThatThrownBy(() -> k.unwrap(bad, aad)).isInstanceOf(KbsException.class)
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(403));
        // Derivation: 32 bytes, the same on every call and from another session, one per label.
        byte[] mac = k.deriveKey("cloister-kbs row mac v1");
        assertThat(mac).hasSize(32).isEqualTo(open("kbs-a").deriveKey("cloister-kbs row mac v1"));
        assertThat(k.deriveKey("another label")).hasSize(32).isNotEqualTo(mac);
        assertThat(java.util.Arrays.copyOfRange(mac, 0, 16)).isNotEqualTo(java.util.Arrays.copyOfRange(mac, 16, 32));
        // Another token's key: another id, other derived keys, and its wraps do not open.
        Pkcs11Kek other = open("kbs-b");
        assertThat(other.id()).startsWith("pkcs11:").isNotEqualTo(k.id());
        assertThat(other.deriveKey("cloister-kbs row mac v1")).isNotEqualTo(mac);
        assertThatThrownBy(() -> other.unwrap(w, aad)).isInstanceOf(KbsException.class)
                .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(403));
    }

    @Test
    void theKeyCannotBeReadOutOfTheToken() throws Throwable {
        Pkcs11Kek k = open("kbs-a");
        var key = k.tokenKey();
        assertThat(key.getEncoded()).as("SunPKCS11 hands out no value for a sensitive key").isNull();
        // Ask the token itself for the value (C_GetAttributeValue, bypassing the provider): refused as sensitive.
        assertThat(RawPkcs11.readValue(SoftHsm.MODULE, "kbs-a", "master", SoftHsm.PIN))
                .isEqualTo(RawPkcs11.CKR_ATTRIBUTE_SENSITIVE);
        // Control: the same call on a key made extractable and not sensitive returns its value (CKR_OK), so the
        // refusal above is about the key's attributes, not the call.
        assertThat(RawPkcs11.readValue(SoftHsm.MODULE, "kbs-a", "plain", SoftHsm.PIN)).isZero();
    }

    /** A key whose value may be read (the control for the test above), made with a provider of its own. */
    private static void plainKey(String token, String label) throws Exception {
        long slot = Pkcs11Slots.find(SoftHsm.MODULE, token);
        var p = java.security.Security.getProvider("SunPKCS11").configure("--name = plain\nlibrary = "
                + SoftHsm.MODULE + "\nslot = " + slot + "\nattributes(*, CKO_SECRET_KEY, CKK_AES) = {\n"
                + "  CKA_SENSITIVE = false\n  CKA_EXTRACTABLE = true\n}\n");
        var ks = java.security.KeyStore.getInstance("PKCS11", p);
        ks.load(null, PIN);
        KeyGenerator g = KeyGenerator.getInstance("AES", p);
        g.init(256);
        ks.setEntry(label, new java.security.KeyStore.SecretKeyEntry(g.generateKey()), null);
    }

    @Test
    void aBrokerStoreOnTheTokenKeepsItsSecretsAcrossARestart() throws Exception {
        String db = dir.resolve("kbs.db").toString();
        byte[] v = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
        TestClock clock = new TestClock(Instant.parse("2026-12-08T00:00:00Z"));
        try (KbsStore s = KbsStore.open(db, open("kbs-a"), clock)) {
            s.createNamespace("local:test", "alice");
            s.storeSecret("local:test", "alice", "pf", SecretKind.PF_KEY, v, false);
            s.setPolicy("local:test", "alice", "pf", "SIM:ALLOW");
        }
        try (KbsStore s = KbsStore.open(db, open("kbs-a"), clock)) {
            KbsStore.Releasable r = s.readForRelease("alice", "pf", null);
            assertThat(r.secret().value()).isEqualTo(v);
            assertThat(r.policy()).isEqualTo("SIM:ALLOW");
            assertThat(s.verifyAudit().intact()).isTrue();
        }
        // The same database under another key (another token's, or a key file) is refused when opened.
        assertThatThrownBy(() -> KbsStore.open(db, open("kbs-b"), clock)).isInstanceOf(KbsException.class)
                .hasMessageContaining("was created under master key");
        assertThatThrownBy(() -> KbsStore.open(db, MasterKey.generate(), clock)).isInstanceOf(KbsException.class)
                .hasMessageContaining("was created under master key");
    }

    @Test
    void aDatabaseUnderAKeyFileIsRotatedIntoTheToken() throws Exception {
        String db = dir.resolve("rot.db").toString();
        TestClock clock = new TestClock(Instant.parse("2026-12-08T00:00:00Z"));
        MasterKey file = MasterKey.generate();
        byte[] v = "fedcba9876543210".getBytes(StandardCharsets.US_ASCII);
        try (KbsStore s = KbsStore.open(db, file, clock)) {
            s.createNamespace("local:test", "bob");
            s.storeSecret("local:test", "bob", "pf", SecretKind.PF_KEY, v, false);
            assertThat(s.rotateMasterKey("local:test", open("kbs-b"))).isEqualTo(1);
        }
        assertThatThrownBy(() -> KbsStore.open(db, file, clock)).hasMessageContaining("was created under master key");
        try (KbsStore s = KbsStore.open(db, open("kbs-b"), clock)) {
            assertThat(s.read("bob", "pf", null).value()).isEqualTo(v);
            assertThat(s.verifyAudit().problems()).isEmpty();
        }
    }

    @Test
    void aTokenLostWhileServingMakesItsOperationsUnavailableNotDenied() throws Exception {
        Pkcs11Kek k = open("kbs-gone");
        byte[] aad = "x".getBytes(StandardCharsets.US_ASCII);
        byte[] w = k.wrap(new byte[32], aad);
        hsm.deleteToken("kbs-gone");
        for (var op : List.<ThrowingCallable>of(() -> k.unwrap(w, aad), () -> k.wrap(new byte[32], aad),
                () -> k.deriveKey("l"))) {
            assertThatThrownBy(op).isInstanceOf(KbsException.class)
                    .satisfies(e -> assertThat(((KbsException) e).httpStatus()).isEqualTo(503));
        }
    }

    @Test
    void aWrongPinAMissingTokenOrKeyIsAnEnvironmentError() {
        // A wrong PIN is tested with the CLI (a process of its own): PKCS#11 logins are per process, so once this
        // JVM logged in, the token accepts any PIN here.
        assertThatThrownBy(() -> open("no-such-token"))
                .isInstanceOfSatisfying(CloisterException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.ENVIRONMENT))
                .hasMessageContaining("no token labelled 'no-such-token'");
        assertThatThrownBy(() -> Pkcs11Kek.open(SoftHsm.MODULE, "kbs-a", "nokey", PIN))
                .isInstanceOfSatisfying(CloisterException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.ENVIRONMENT))
                .hasMessageContaining("no AES key labelled 'nokey'");
        assertThatThrownBy(() -> Pkcs11Kek.open(Path.of("/nonexistent/libpkcs11.so"), "kbs-a", "master", PIN))
                .isInstanceOfSatisfying(CloisterException.class,
                        e -> assertThat(e.kind()).isEqualTo(CloisterException.Kind.ENVIRONMENT));
    }
}
