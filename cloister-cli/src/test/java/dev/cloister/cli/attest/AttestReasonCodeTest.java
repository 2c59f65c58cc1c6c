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

/**
 * {@code attest verify --json} gives every failure a stable {@code reason} code (docs/attestation.md), not only
 * prose: real quotes, mutated real quotes and simulated evidence, one case per code reachable from the CLI.
 */
class AttestReasonCodeTest {
    static final String SGX_AT = "1752919277";
    @TempDir
    static Path dir;

    @BeforeAll
    static void copy() throws IOException {
        for (String n : new String[] {"sgx_quote", "sgx_quote_collateral.json", "tdx_prod_quote_SPR_E4.dat",
            "collateral_v4_assembled.json", "gsg_milan_report.bin", "trustee_milan_vcek.der",
            "intel_sgx_root_ca.der"}) {
            try (InputStream in = AttestReasonCodeTest.class.getResourceAsStream("/attest/" + n)) {
                Files.write(dir.resolve(n), in.readAllBytes());
            }
        }
    }

    static String f(String n) {
        return dir.resolve(n).toString();
    }

    static JsonNode failed(Run r, int exit, String status, String reason) throws IOException {
        assertThat(r.exit()).as(r.err()).isEqualTo(exit);
        JsonNode j = r.json();
        assertThat(j.get("ok").asBoolean()).isFalse();
        assertThat(j.get("status").asText()).isEqualTo(status);
        assertThat(j.get("reason").asText()).as(j.toString()).isEqualTo(reason);
        assertThat(j.get("error").asText()).isNotBlank();
        return j;
    }

    static Path mutated(String name, int offset, int xor) throws IOException {
        byte[] b = Files.readAllBytes(dir.resolve(name));
        b[offset] ^= (byte) xor;
        Path p = dir.resolve(name + "." + offset + ".mutated");
        Files.write(p, b);
        return p;
    }

    @Test
    void tcbNotSupported() throws Exception {
        Run r = AttestCommandTest.run("attest", "verify", "--quote", f("tdx_prod_quote_SPR_E4.dat"), "--collateral",
                f("collateral_v4_assembled.json"), "--at", "1688173200", "--json");
        failed(r, ExitCodes.DENIED, "Rejected", "TCB_NOT_SUPPORTED");
        assertThat(r.err()).contains("TCB not supported");
    }

    @Test
    void qeVendorIdOfARealQuoteChanged() throws Exception {
        Path q = mutated("sgx_quote", 12, 0x01); // header bytes 12..27: QE vendor ID
        Run r = AttestCommandTest.run("attest", "verify", "--quote", q.toString(), "--collateral",
                f("sgx_quote_collateral.json"), "--at", SGX_AT, "--json");
        JsonNode j = failed(r, ExitCodes.DENIED, "Rejected", "QE_VENDOR_ID_MISMATCH");
        assertThat(j.get("error").asText()).contains("is not Intel's 939A7233F79C4CA9940A0DB3957F0607");
    }

    @Test
    void quoteSignatureOfARealQuoteBroken() throws Exception {
        Path q = mutated("sgx_quote", 48 + 320, 0x01); // a byte of the enclave's report data
        failed(AttestCommandTest.run("attest", "verify", "--quote", q.toString(), "--collateral",
                f("sgx_quote_collateral.json"), "--at", SGX_AT, "--json"), ExitCodes.DENIED, "Rejected",
                "SIGNATURE_INVALID");
    }

    @Test
    void collateralExpiredAndNotYetValid() throws Exception {
        failed(AttestCommandTest.run("attest", "verify", "--quote", f("sgx_quote"), "--collateral",
                f("sgx_quote_collateral.json"), "--at", "2025-07-19T10:02:18Z", "--json"), ExitCodes.DENIED,
                "Rejected", "COLLATERAL_EXPIRED");
        failed(AttestCommandTest.run("attest", "verify", "--quote", f("sgx_quote"), "--collateral",
                f("sgx_quote_collateral.json"), "--at", "2020-01-01T00:00:00Z", "--json"), ExitCodes.DENIED,
                "Rejected", "COLLATERAL_NOT_YET_VALID");
    }

    @Test
    void policyDeniedAndAcceptedCarryTheReasonField() throws Exception {
        Run denied = AttestCommandTest.run("attest", "verify", "--quote", f("sgx_quote"), "--collateral",
                f("sgx_quote_collateral.json"), "--at", SGX_AT, "--json");
        assertThat(denied.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(denied.json().get("reason").asText()).isEqualTo("POLICY_DENIED");
        Run ok = AttestCommandTest.run("attest", "verify", "--quote", f("sgx_quote"), "--collateral",
                f("sgx_quote_collateral.json"), "--at", SGX_AT, "--policy", "TCB:ConfigurationAndSWHardeningNeeded "
                        + "ADV:*", "--json");
        assertThat(ok.exit()).as(ok.err()).isEqualTo(ExitCodes.OK);
        assertThat(ok.json().has("reason")).isTrue();
        assertThat(ok.json().get("reason").isNull()).isTrue();
    }

    @Test
    void revokedTcbOfSimulatedEvidence() throws Exception {
        Path q = dir.resolve("revoked.bin");
        Path c = dir.resolve("revoked.json");
        Run sim = AttestCommandTest.run("attest", "simulate", "--tee", "sgx", "--tcb-status", "Revoked", "--at",
                "2026-11-01T00:00:00Z", "--out-quote", q.toString(), "--out-collateral", c.toString());
        assertThat(sim.exit()).as(sim.err()).isEqualTo(ExitCodes.OK);
        failed(AttestCommandTest.run("attest", "verify", "--quote", q.toString(), "--collateral", c.toString(),
                "--at", "2026-11-02T00:00:00Z", "--json"), ExitCodes.DENIED, "Rejected", "TCB_REVOKED");
    }

    @Test
    void untrustedRootWhenOnlyAnotherRootIsTrusted() throws Exception {
        Path q = dir.resolve("sim-root.bin");
        Path c = dir.resolve("sim-root.json");
        assertThat(AttestCommandTest.run("attest", "simulate", "--tee", "sgx", "--at", "2026-11-01T00:00:00Z",
                "--out-quote", q.toString(), "--out-collateral", c.toString()).exit()).isEqualTo(ExitCodes.OK);
        // Intel's real root only: the simulation root is not trusted
        Path intel = dir.resolve("intel_sgx_root_ca.der");
        failed(AttestCommandTest.run("attest", "verify", "--quote", q.toString(), "--collateral", c.toString(),
                "--at", "2026-11-02T00:00:00Z", "--root", intel.toString(), "--json"), ExitCodes.DENIED, "Rejected",
                "UNTRUSTED_ROOT");
    }

    @Test
    void malformedAndUnavailable() throws Exception {
        Path junk = dir.resolve("junk.quote");
        Files.write(junk, new byte[] {3, 0, 2, 0, 1});
        failed(AttestCommandTest.run("attest", "verify", "--quote", junk.toString(), "--collateral",
                f("sgx_quote_collateral.json"), "--json"), ExitCodes.BAD_INPUT, "Malformed", "MALFORMED");
        Path cache = dir.resolve("empty-cache");
        Files.createDirectories(cache);
        failed(AttestCommandTest.run("attest", "verify", "--quote", f("sgx_quote"), "--offline", "--cache",
                cache.toString(), "--at", SGX_AT, "--json"), ExitCodes.ENVIRONMENT, "Unavailable",
                "COLLATERAL_UNAVAILABLE");
    }

    @Test
    void snpReportWithAnotherChipsVcek() throws Exception {
        failed(AttestCommandTest.run("attest", "verify", "--quote", f("gsg_milan_report.bin"), "--collateral",
                f("trustee_milan_vcek.der"), "--at", "2026-11-27T00:00:00Z", "--json"), ExitCodes.DENIED, "Rejected",
                "SIGNATURE_INVALID");
    }
}
