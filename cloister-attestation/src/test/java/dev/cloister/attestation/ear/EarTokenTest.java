package dev.cloister.attestation.ear;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.PlainHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.util.Base64URL;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.Verdict;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EarTokenTest {
    private static EarToken token(TcbStatus tcb, boolean sim, boolean debug, Verdict v) {
        return Ears.fromAppraisal(EarFixtures.sgx(tcb, sim, debug), v, "cloister:policy:test", "cloister-test",
                EarFixtures.NOW, Duration.ofMinutes(5));
    }

    @Test
    void roundTripsEveryClaim() throws Exception {
        EarSigner s = EarFixtures.newSigner();
        EarToken t = token(TcbStatus.UP_TO_DATE, false, false, Verdict.accept());
        String jwt = s.sign(t);
        EarToken back = new EarVerifier(s.jwks()).verify(jwt, EarFixtures.NOW.plusSeconds(1));
        assertThat(back).isEqualTo(t);
        assertThat(back.status()).isEqualTo(EarStatus.AFFIRMING);
        assertThat(back.trustVector().hardware()).isEqualTo(2);
        assertThat(back.measurements()).containsEntry("mrEnclave", "ab".repeat(32)).containsEntry("isvSvn", "3");
        assertThat(SignedJWT.parse(jwt).getHeader().getKeyID()).isEqualTo(s.keyId());
        assertThat(s.jwks()).doesNotContain("\"d\"");
    }

    @Test
    void everyChangedByteIsRefused() throws Exception {
        EarSigner s = EarFixtures.newSigner();
        EarVerifier v = new EarVerifier(s.jwks());
        String jwt = s.sign(token(TcbStatus.UP_TO_DATE, false, false, Verdict.accept()));
        int refused = 0;
        for (int i = 0; i < jwt.length(); i++) {
            char c = jwt.charAt(i);
            if (c == '.') {
                continue;
            }
            String bad = jwt.substring(0, i) + (c == 'A' ? 'B' : 'A') + jwt.substring(i + 1);
            try {
                v.verify(bad, EarFixtures.NOW);
            } catch (EarException e) {
                refused++;
                continue;
            }
            // Changing only the unused low bits of the last base64url character can decode to the same bytes.
            assertThat(i).as("byte %d accepted", i).isEqualTo(jwt.length() - 1);
        }
        assertThat(refused).isGreaterThan(jwt.length() - 4);
    }

    @Test
    void anotherKeyIsRefused() throws Exception {
        EarSigner s = EarFixtures.newSigner();
        EarSigner other = EarFixtures.newSigner();
        String jwt = s.sign(token(TcbStatus.UP_TO_DATE, false, false, Verdict.accept()));
        assertThatThrownBy(() -> new EarVerifier(other.jwks()).verify(jwt, EarFixtures.NOW))
                .isInstanceOf(EarException.class).hasMessageContaining("key id");
        // Same kid, different key: the signature check must catch it.
        String forged = jwt.substring(0, jwt.lastIndexOf('.')) + "."
                + other.sign(token(TcbStatus.UP_TO_DATE, false, false, Verdict.accept())).split("\\.")[2];
        assertThatThrownBy(() -> new EarVerifier(s.jwks()).verify(forged, EarFixtures.NOW))
                .isInstanceOf(EarException.class).hasMessageContaining("signature");
    }

    @Test
    void noneAndHs256ConfusionAreRefused() throws Exception {
        EarSigner s = EarFixtures.newSigner();
        EarVerifier v = new EarVerifier(s.jwks());
        SignedJWT good = SignedJWT.parse(s.sign(token(TcbStatus.UP_TO_DATE, false, false, Verdict.accept())));
        String none = new PlainJWT(new PlainHeader(), good.getJWTClaimsSet()).serialize();
        assertThatThrownBy(() -> v.verify(none, EarFixtures.NOW)).isInstanceOf(EarException.class);
        // HS256 keyed with the public JWKS text, the classic algorithm-confusion forgery.
        SignedJWT hs = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.HS256).type(JOSEObjectType.JWT)
                .keyID(s.keyId()).build(), good.getJWTClaimsSet());
        hs.sign(new MACSigner(s.jwks().repeat(2).getBytes(StandardCharsets.UTF_8)));
        assertThatThrownBy(() -> v.verify(hs.serialize(), EarFixtures.NOW)).isInstanceOf(EarException.class)
                .hasMessageContaining("only ES256");
        // alg rewritten to none with the ES256 signature kept.
        String hdr = Base64URL.encode("{\"alg\":\"none\",\"kid\":\"" + s.keyId() + "\"}").toString();
        String swapped = hdr + good.serialize().substring(good.serialize().indexOf('.'));
        assertThatThrownBy(() -> v.verify(swapped, EarFixtures.NOW)).isInstanceOf(EarException.class);
    }

    @Test
    void expiredTokenIsRefused() throws Exception {
        EarSigner s = EarFixtures.newSigner();
        String jwt = s.sign(token(TcbStatus.UP_TO_DATE, false, false, Verdict.accept()));
        assertThatThrownBy(() -> new EarVerifier(s.jwks()).verify(jwt, EarFixtures.NOW.plusSeconds(300)))
                .isInstanceOf(EarException.class).hasMessageContaining("expired");
    }

    @Test
    void simulatedEvidenceIsNeverAffirmingForHardware() throws Exception {
        EarSigner s = EarFixtures.newSigner();
        EarToken t = new EarVerifier(s.jwks()).verify(s.sign(token(TcbStatus.UP_TO_DATE, true, false,
                Verdict.accept())), EarFixtures.NOW);
        assertThat(t.simulated()).isTrue();
        assertThat(t.status()).isEqualTo(EarStatus.WARNING);
        assertThat(EarStatus.tierOf(t.trustVector().hardware())).isNotEqualTo(EarStatus.AFFIRMING);
        assertThat(EarStatus.tierOf(t.trustVector().instanceIdentity())).isNotEqualTo(EarStatus.AFFIRMING);
        String payload = new String(Base64URL.from(s.sign(t).split("\\.")[1]).decode(), StandardCharsets.UTF_8);
        assertThat(payload).contains("\"cloister.simulated\":true").doesNotContain("\"hardware\"");
    }

    @Test
    void mappingFollowsVerdictAndTcbStatus() {
        assertThat(token(TcbStatus.UP_TO_DATE, false, false, Verdict.deny(List.of("mrEnclave differs"))).status())
                .isEqualTo(EarStatus.CONTRAINDICATED);
        EarToken stale = token(TcbStatus.OUT_OF_DATE, false, false, Verdict.accept());
        assertThat(stale.status()).isEqualTo(EarStatus.WARNING);
        assertThat(stale.trustVector().hardware()).isEqualTo(32);
        EarToken revoked = token(TcbStatus.REVOKED, false, false, Verdict.accept());
        assertThat(revoked.status()).isEqualTo(EarStatus.CONTRAINDICATED);
        EarToken debug = token(TcbStatus.UP_TO_DATE, false, true, Verdict.accept());
        assertThat(debug.trustVector().runtimeOpaque()).isEqualTo(96);
        assertThat(debug.status()).isEqualTo(EarStatus.CONTRAINDICATED);
    }

    @Test
    void trustVectorParsingIsStrict() {
        assertThatThrownBy(() -> TrustVector.fromClaims(Map.of("hardwar", 2))).hasMessageContaining("hardwar");
        assertThatThrownBy(() -> TrustVector.fromClaims(Map.of("hardware", 2.5))).hasMessageContaining("hardware");
        assertThatThrownBy(() -> TrustVector.fromClaims(Map.of("hardware", 300))).hasMessageContaining("hardware");
    }

    @Test
    void pkcs8AndSec1PemKeysLoadWithTheRightPublicKey() throws Exception {
        java.security.KeyPairGenerator g = java.security.KeyPairGenerator.getInstance("EC");
        g.initialize(new java.security.spec.ECGenParameterSpec("secp256r1"));
        java.security.KeyPair kp = g.generateKeyPair();
        String pem = "-----BEGIN PRIVATE KEY-----\n" + java.util.Base64.getMimeEncoder().encodeToString(
                kp.getPrivate().getEncoded()) + "\n-----END PRIVATE KEY-----\n";
        EarSigner fromPem = EarSigner.fromPem(pem);
        EarSigner direct = new EarSigner((java.security.interfaces.ECPublicKey) kp.getPublic(),
                (java.security.interfaces.ECPrivateKey) kp.getPrivate());
        assertThat(fromPem.keyId()).isEqualTo(direct.keyId());
        String jwt = fromPem.sign(token(TcbStatus.UP_TO_DATE, false, false, Verdict.accept()));
        assertThat(new EarVerifier(direct.jwks()).verify(jwt, EarFixtures.NOW).status())
                .isEqualTo(EarStatus.AFFIRMING);
        // SEC1 "EC PRIVATE KEY", as `openssl ecparam -genkey` writes it (openssl is in .ci/run's packages).
        Process p = new ProcessBuilder("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout")
                .redirectErrorStream(true).start();
        String sec1 = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        assertThat(p.waitFor()).as(sec1).isZero();
        assertThat(sec1).contains("BEGIN EC PRIVATE KEY");
        EarSigner s1 = EarSigner.fromPem(sec1);
        assertThat(new EarVerifier(s1.jwks()).verify(s1.sign(token(TcbStatus.UP_TO_DATE, false, false,
                Verdict.accept())), EarFixtures.NOW).status()).isEqualTo(EarStatus.AFFIRMING);
    }

    @Test
    void pemKeyLoadsAndRejectsOtherCurves() throws Exception {
        java.security.KeyPairGenerator g = java.security.KeyPairGenerator.getInstance("EC");
        g.initialize(new java.security.spec.ECGenParameterSpec("secp384r1"));
        String pem = "-----BEGIN PRIVATE KEY-----\n" + java.util.Base64.getMimeEncoder().encodeToString(
                g.generateKeyPair().getPrivate().getEncoded()) + "\n-----END PRIVATE KEY-----\n";
        assertThatThrownBy(() -> EarSigner.fromPem(pem)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> EarSigner.fromPem("nonsense")).isInstanceOf(IllegalArgumentException.class);
    }
}
