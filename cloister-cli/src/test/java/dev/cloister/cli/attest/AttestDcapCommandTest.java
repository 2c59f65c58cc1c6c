package dev.cloister.cli.attest;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.ExitCodes;
import dev.cloister.cli.attest.AttestCommandTest.Run;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AttestDcapCommandTest {
    static final String SGX_AT = "1752919277";
    static final String E = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
    static final String S = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6";
    @TempDir
    static Path dir;

    @BeforeAll
    static void copy() throws IOException {
        for (String n : new String[] {"sgx_quote", "sgx_quote_collateral.json", "tdx_quote", "tdx_quote_collateral.json"}) {
            try (InputStream in = AttestDcapCommandTest.class.getResourceAsStream("/attest/" + n)) {
                Files.write(dir.resolve(n), in.readAllBytes());
            }
        }
    }

    static String f(String n) {
        return dir.resolve(n).toString();
    }

    static Run run(String... args) {
        return AttestCommandTest.run(args);
    }

    @Test
    void realSgxQuoteIsDeniedByTheDefaultPolicyAndAcceptedByOneThatNamesItsStatusAndAdvisories() throws Exception {
        Run denied = run("attest", "verify", "--quote", f("sgx_quote"), "--collateral", f("sgx_quote_collateral.json"),
                "--at", SGX_AT, "--json");
        assertThat(denied.exit()).isEqualTo(ExitCodes.DENIED);
        JsonNode j = denied.json();
        assertThat(j.get("ok").asBoolean()).isFalse();
        assertThat(j.get("teeType").asText()).isEqualTo("SGX");
        assertThat(j.get("quoteVersion").asInt()).isEqualTo(3);
        assertThat(j.get("status").asText()).isEqualTo("ConfigurationAndSWHardeningNeeded");
        assertThat(j.get("advisoryIds").toString()).isEqualTo("[\"INTEL-SA-00289\",\"INTEL-SA-00615\"]");
        assertThat(j.get("measurements").get("mrenclave").asText()).isEqualTo(E);
        assertThat(j.get("measurements").get("mrsigner").asText()).isEqualTo(S);
        assertThat(j.get("measurements").get("isvProdId").asInt()).isZero();
        assertThat(j.get("measurements").get("attributes").asText()).hasSize(32);
        assertThat(j.get("rootUsed").asText()).isEqualTo("Intel SGX Root CA");
        assertThat(j.get("collateral").get("nextUpdate").asText()).isEqualTo("2025-07-19T10:01:18Z");
        assertThat(j.get("policy").get("reasons")).hasSize(3);
        assertThat(denied.err()).startsWith("cloister: policy denied the evidence: TCB status "
                + "ConfigurationAndSWHardeningNeeded is not accepted");

        String policy = "E:" + E + " S:" + S + " PROD:0 SVN:0 TCB:UpToDate,ConfigurationAndSWHardeningNeeded"
                + " ADV:INTEL-SA-00289,INTEL-SA-00615 RD:48656c6c6f2c20776f726c6421";
        Run ok = run("attest", "verify", "--quote", f("sgx_quote"), "--collateral", f("sgx_quote_collateral.json"),
                "--at", SGX_AT, "--policy", policy, "--json");
        assertThat(ok.exit()).as(ok.err()).isEqualTo(ExitCodes.OK);
        assertThat(ok.json().get("ok").asBoolean()).isTrue();

        Run oneAdvisory = run("attest", "verify", "--quote", f("sgx_quote"), "--collateral",
                f("sgx_quote_collateral.json"), "--at", SGX_AT, "--policy",
                "TCB:ConfigurationAndSWHardeningNeeded ADV:INTEL-SA-00289");
        assertThat(oneAdvisory.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(oneAdvisory.err()).isEqualTo("cloister: policy denied the evidence: advisory INTEL-SA-00615 is not"
                + " accepted\n");
    }

    @Test
    void aMinuteAfterTheCollateralExpiresTheQuoteFails() {
        Run r = run("attest", "verify", "--quote", f("sgx_quote"), "--collateral", f("sgx_quote_collateral.json"),
                "--at", "2025-07-19T10:02:18Z", "--policy", "TCB:ConfigurationAndSWHardeningNeeded ADV:*");
        assertThat(r.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(r.err()).startsWith("cloister: ");
    }

    @Test
    void realTdxQuoteVerifiesUpToDateWithTdFields() throws Exception {
        Run r = run("attest", "verify", "--quote", f("tdx_quote"), "--collateral", f("tdx_quote_collateral.json"),
                "--at", "1752919234", "--json", "--policy", "MRTD:91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a"
                        + "3520c942a604a407de03ae6dc5f87f27428b2538873118b7");
        assertThat(r.exit()).as(r.err()).isEqualTo(ExitCodes.OK);
        JsonNode m = r.json().get("measurements");
        assertThat(r.json().get("teeType").asText()).isEqualTo("TDX");
        assertThat(m.get("tdAttributes").asText()).isEqualTo("0000001000000000");
        assertThat(m.get("teeTcbSvn").asText()).isEqualTo("06010300000000000000000000000000");
        for (String k : new String[] {"rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrConfigId", "mrOwner"}) {
            assertThat(m.get(k).asText()).as(k).hasSize(96);
        }
    }

    @Test
    void simulatedSgxEvidenceRoundTripsAndIsDeniedUnlessAllowed() throws Exception {
        Path q = dir.resolve("sim.bin");
        Path c = dir.resolve("sim.json");
        String rd = "cafe".repeat(8);
        Run sim = run("attest", "simulate", "--tee", "sgx", "--mrenclave", "11".repeat(32), "--mrsigner",
                "22".repeat(32), "--isv-prod-id", "1", "--isv-svn", "3", "--report-data", rd, "--at",
                "2026-11-01T00:00:00Z", "--out-quote", q.toString(), "--out-collateral", c.toString(), "--json");
        assertThat(sim.exit()).as(sim.err()).isEqualTo(ExitCodes.OK);
        assertThat(sim.json().get("validUntil").asText()).isEqualTo("2026-12-01T00:00:00Z");
        assertThat(sim.json().get("simulated").asBoolean()).isTrue();

        Run denied = run("attest", "verify", "--quote", q.toString(), "--collateral", c.toString(), "--at",
                "2026-11-02T00:00:00Z", "--json");
        assertThat(denied.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(denied.json().get("simulated").asBoolean()).isTrue();
        assertThat(denied.json().get("rootUsed").asText()).isEqualTo("Cloister simulation root");
        assertThat(denied.err()).contains("simulated evidence is not allowed");

        Run ok = run("attest", "verify", "--quote", q.toString(), "--collateral", c.toString(), "--at",
                "2026-11-02T00:00:00Z", "--policy", "SIM:ALLOW E:" + "11".repeat(32) + " S:" + "22".repeat(32)
                        + " PROD:1 SVN:3 RD:" + rd, "--json");
        assertThat(ok.exit()).as(ok.err()).isEqualTo(ExitCodes.OK);
        JsonNode m = ok.json().get("measurements");
        assertThat(m.get("isvSvn").asInt()).isEqualTo(3);
        assertThat(m.get("reportData").asText()).startsWith(rd).hasSize(128);

        Run upgrade = run("attest", "verify", "--quote", q.toString(), "--collateral", c.toString(), "--at",
                "2026-11-02T00:00:00Z", "--policy", "SIM:ALLOW S:" + "22".repeat(32) + " PROD:1 SVN:4");
        assertThat(upgrade.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(upgrade.err()).contains("isvSvn 3 is below the minimum 4");

        Run exists = run("attest", "simulate", "--tee", "sgx", "--out-quote", q.toString(), "--out-collateral",
                c.toString());
        assertThat(exists.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(exists.err()).contains("output already exists");
    }

    @Test
    void simulatedTdxDebugTdIsDeniedForDebug() throws Exception {
        Path q = dir.resolve("tdsim.bin");
        Path c = dir.resolve("tdsim.json");
        Run sim = run("attest", "simulate", "--tee", "tdx", "--mrtd", "33".repeat(48), "--debug", "--at",
                "2026-11-01T00:00:00Z", "--out-quote", q.toString(), "--out-collateral", c.toString());
        assertThat(sim.exit()).as(sim.err()).isEqualTo(ExitCodes.OK);
        assertThat(sim.out()).contains("SIMULATED TDX quote");
        Run r = run("attest", "verify", "--quote", q.toString(), "--collateral", c.toString(), "--at",
                "2026-11-02T00:00:00Z", "--policy", "SIM:ALLOW MRTD:" + "33".repeat(48), "--json");
        assertThat(r.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(r.json().get("policy").get("reasons").toString()).contains("TDX trust domain runs in debug mode");
        assertThat(r.json().get("measurements").get("debug").asBoolean()).isTrue();
    }

    @Test
    void malformedQuoteIsExit3AndPccsIsAnEnvironmentProblem() throws Exception {
        Path junk = dir.resolve("junk.quote");
        Files.write(junk, new byte[] {3, 0, 2, 0, 1});
        Run r = run("attest", "verify", "--quote", junk.toString(), "--collateral", f("sgx_quote_collateral.json"),
                "--json");
        assertThat(r.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(r.json().get("status").asText()).isEqualTo("Malformed");
        Run p = run("attest", "verify", "--quote", f("sgx_quote"), "--pccs", "http://127.0.0.1:9", "--at", SGX_AT);
        assertThat(p.exit()).as(p.err()).isEqualTo(ExitCodes.ENVIRONMENT);
        Run none = run("attest", "verify", "--quote", f("sgx_quote"), "--at", SGX_AT);
        assertThat(none.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(none.err()).contains("no collateral given");
        Run offlineAlone = run("attest", "verify", "--quote", f("sgx_quote"), "--offline");
        assertThat(offlineAlone.exit()).isEqualTo(ExitCodes.USAGE);
    }

    @Test
    void offlineVerificationUsesTheCollateralCache() throws Exception {
        Path cache = dir.resolve("cache");
        Files.createDirectories(cache);
        String[] args = {"attest", "verify", "--quote", f("sgx_quote"), "--offline", "--cache", cache.toString(),
            "--at", SGX_AT, "--policy", "TCB:ConfigurationAndSWHardeningNeeded ADV:*"};
        Run miss = run(args);
        assertThat(miss.exit()).isEqualTo(ExitCodes.ENVIRONMENT);
        assertThat(miss.err()).contains("offline: no cached collateral valid at 2025-07-19T10:01:17Z for SGX FMSPC ");
        // The message names the cache entry the provider looks for; put the matching collateral there.
        String entry = miss.err().substring(miss.err().indexOf(" in ") + 4).strip();
        Files.copy(dir.resolve("sgx_quote_collateral.json"), Path.of(entry));
        Run hit = run(args);
        assertThat(hit.exit()).as(hit.err()).isEqualTo(ExitCodes.OK);
        assertThat(hit.out()).contains("tcb status:  ConfigurationAndSWHardeningNeeded");
        // A time after the cached collateral lapses is a cache miss again, not a stale verdict.
        args[8] = "2025-07-20T00:00:00Z";
        assertThat(run(args).exit()).isEqualTo(ExitCodes.ENVIRONMENT);
    }
}
