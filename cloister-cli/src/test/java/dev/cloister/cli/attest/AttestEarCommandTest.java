package dev.cloister.cli.attest;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.ear.EarStatus;
import dev.cloister.attestation.ear.EarToken;
import dev.cloister.attestation.ear.EarVerifier;
import dev.cloister.cli.ExitCodes;
import dev.cloister.cli.attest.AttestCommandTest.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.util.Base64;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code attest verify --ear} and {@code attest ear-jwks} end to end on simulated SGX evidence. */
class AttestEarCommandTest {
    static final String AT = "2026-11-02T00:00:00Z";
    @TempDir
    static Path dir;
    static Path key;
    static Path quote;
    static Path collateral;

    @BeforeAll
    static void setUp() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        key = dir.resolve("ear.pem");
        Files.writeString(key, "-----BEGIN PRIVATE KEY-----\n" + Base64.getMimeEncoder().encodeToString(
                g.generateKeyPair().getPrivate().getEncoded()) + "\n-----END PRIVATE KEY-----\n");
        quote = dir.resolve("sim.bin");
        collateral = dir.resolve("sim.json");
        Run sim = AttestCommandTest.run("attest", "simulate", "--tee", "sgx", "--mrenclave", "11".repeat(32),
                "--mrsigner", "22".repeat(32), "--isv-prod-id", "1", "--isv-svn", "3", "--at", "2026-11-01T00:00:00Z",
                "--out-quote", quote.toString(), "--out-collateral", collateral.toString());
        assertThat(sim.exit()).as(sim.err()).isEqualTo(ExitCodes.OK);
    }

    private static EarVerifier verifier() {
        Run jwks = AttestCommandTest.run("attest", "ear-jwks", key.toString());
        assertThat(jwks.exit()).as(jwks.err()).isEqualTo(ExitCodes.OK);
        assertThat(jwks.out()).contains("\"P-256\"").doesNotContain("\"d\"");
        return new EarVerifier(jwks.out());
    }

    @Test
    void jsonCarriesAnEarThatSaysSimulatedAndVerifiesWithThePublishedJwks() throws Exception {
        Run ok = AttestCommandTest.run("attest", "verify", "--quote", quote.toString(), "--collateral",
                collateral.toString(), "--at", AT, "--policy", "SIM:ALLOW E:" + "11".repeat(32), "--json", "--ear",
                key.toString());
        assertThat(ok.exit()).as(ok.err()).isEqualTo(ExitCodes.OK);
        EarToken t = verifier().verify(ok.json().get("ear").asText(), Instant.parse(AT));
        assertThat(t.simulated()).isTrue();
        assertThat(t.status()).isEqualTo(EarStatus.WARNING);
        assertThat(t.trustVector().hardware()).isZero();
        assertThat(t.tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
        assertThat(t.measurements()).containsEntry("mrEnclave", "11".repeat(32));
        assertThat(t.issuedAt()).isEqualTo(Instant.parse(AT));
        assertThat(t.policyId()).startsWith("cloister:policy:sha256:");
    }

    @Test
    void aDenialStillEmitsAContraindicatedEar() throws Exception {
        Run denied = AttestCommandTest.run("attest", "verify", "--quote", quote.toString(), "--collateral",
                collateral.toString(), "--at", AT, "--ear", key.toString());
        assertThat(denied.exit()).isEqualTo(ExitCodes.DENIED);
        String line = denied.out().lines().filter(l -> l.startsWith("ear:")).findFirst().orElseThrow();
        EarToken t = verifier().verify(line.substring(4).strip(), Instant.parse(AT));
        assertThat(t.status()).isEqualTo(EarStatus.CONTRAINDICATED);
    }

    @Test
    void aBadKeyIsMalformedInputBeforeAnyVerification() throws Exception {
        Path bad = dir.resolve("bad.pem");
        Files.writeString(bad, "not a key\n");
        Run r = AttestCommandTest.run("attest", "verify", "--quote", quote.toString(), "--collateral",
                collateral.toString(), "--at", AT, "--ear", bad.toString());
        assertThat(r.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("EAR key");
        assertThat(AttestCommandTest.run("attest", "ear-jwks", bad.toString()).exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(AttestCommandTest.run("attest", "ear-jwks", dir.resolve("missing.pem").toString()).exit())
                .isEqualTo(ExitCodes.ENVIRONMENT);
    }
}
