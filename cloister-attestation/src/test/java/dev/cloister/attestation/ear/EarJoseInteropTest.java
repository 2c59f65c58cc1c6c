package dev.cloister.attestation.ear;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.Verdict;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Interoperability: the npm {@code jose} package, run under node, verifies Cloister's EAR with the published JWKS
 * and refuses a tampered one. node and npm are required: without them this test fails (never skips), so CI cannot
 * pass without the peer; .ci/run installs them when missing. jose is installed with npm into target/ at test time.
 */
class EarJoseInteropTest {
    private static final Path DIR = Path.of("target", "ear-jose-peer");

    @BeforeAll
    static void installJose() throws Exception {
        Files.createDirectories(DIR);
        try (InputStream in = EarJoseInteropTest.class.getResourceAsStream("/ear/verify_ear.mjs")) {
            Files.write(DIR.resolve("verify_ear.mjs"), in.readAllBytes());
        }
        if (!Files.isDirectory(DIR.resolve("node_modules/jose"))) {
            Files.writeString(DIR.resolve("package.json"), "{\"private\":true,\"type\":\"module\"}\n");
            Result r = run(List.of("npm", "install", "--no-audit", "--no-fund", "jose@6"), 300);
            assertThat(r.exit).as("npm install jose: %s", r.output).isZero();
        }
    }

    private record Result(int exit, String output) {
    }

    private static Result run(List<String> cmd, int timeoutSeconds) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder(cmd).directory(DIR.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError(cmd.get(0) + " is required for the EAR interop test (install nodejs/npm)", e);
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(cmd + " timed out");
        }
        return new Result(p.exitValue(), out);
    }

    private static Result verifyWithJose(String jwks, String token) throws Exception {
        Files.writeString(DIR.resolve("jwks.json"), jwks);
        Files.writeString(DIR.resolve("token.jwt"), token);
        return run(List.of("node", "verify_ear.mjs", "jwks.json", "token.jwt",
                Long.toString(EarFixtures.NOW.getEpochSecond() + 1)), 60);
    }

    @Test
    void joseVerifiesTheTokenWithThePublishedJwks() throws Exception {
        EarSigner s = EarFixtures.newSigner();
        String jwt = s.sign(Ears.fromAppraisal(EarFixtures.sgx(TcbStatus.UP_TO_DATE, true, false), Verdict.accept(),
                "cloister:policy:test", "cloister-test", EarFixtures.NOW, Duration.ofMinutes(5)));
        Result r = verifyWithJose(s.jwks(), jwt);
        assertThat(r.exit).as(r.output).isZero();
        JsonNode out = new ObjectMapper().readTree(r.output);
        assertThat(out.path("alg").asText()).isEqualTo("ES256");
        JsonNode sub = out.path("payload").path("submods").path("SGX");
        assertThat(sub.path("ear.status").asText()).isEqualTo("warning");
        assertThat(sub.path("cloister.simulated").asBoolean()).isTrue();
        assertThat(out.path("payload").path("ear.verifier-id").path("build").asText()).isEqualTo("cloister-test");
    }

    @Test
    void joseRefusesATamperedTokenAndAnotherKey() throws Exception {
        EarSigner s = EarFixtures.newSigner();
        String jwt = s.sign(Ears.fromAppraisal(EarFixtures.sgx(TcbStatus.UP_TO_DATE, false, false), Verdict.accept(),
                "cloister:policy:test", "cloister-test", EarFixtures.NOW, Duration.ofMinutes(5)));
        int mid = jwt.indexOf('.') + 10;
        String tampered = jwt.substring(0, mid) + (jwt.charAt(mid) == 'A' ? 'B' : 'A') + jwt.substring(mid + 1);
        Result bad = verifyWithJose(s.jwks(), tampered);
        assertThat(bad.exit).as(bad.output).isEqualTo(1);
        Result other = verifyWithJose(EarFixtures.newSigner().jwks(), jwt);
        assertThat(other.exit).as(other.output).isEqualTo(1);
    }
}
