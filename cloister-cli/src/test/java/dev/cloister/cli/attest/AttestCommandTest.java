package dev.cloister.cli.attest;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.CliRun;
import dev.cloister.cli.ExitCodes;
import dev.cloister.cli.Json;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AttestCommandTest {
    static final String AT = "2026-11-27T00:00:00Z";
    @TempDir
    static Path dir;

    record Run(int exit, String out, String err) {
        JsonNode json() throws IOException {
            return Json.mapper().readTree(out);
        }
    }

    static Run run(String... args) {
        CliRun r = CliRun.of(args);
        return new Run(r.code(), r.out(), r.err());
    }

    @BeforeAll
    static void copyResources() throws IOException {
        for (String n : new String[] {"gsg_milan_report.bin", "gsg_milan_vcek.der", "virtee_milan_report.hex",
            "virtee_milan_vcek.der", "trustee_vlek_report.bin", "trustee_vlek.der", "virtee_cert_chain_milan.pem"}) {
            try (InputStream in = AttestCommandTest.class.getResourceAsStream("/attest/" + n)) {
                Files.write(dir.resolve(n), in.readAllBytes());
            }
        }
    }

    static String f(String name) {
        return dir.resolve(name).toString();
    }

    @Test
    void snpReportIsDetectedVerifiedAndAcceptedByAPolicyThatAllowsDebug() {
        Run r = run("attest", "verify", "--quote", f("gsg_milan_report.bin"), "--collateral", f("gsg_milan_vcek.der"),
                "--at", AT, "--policy", "DEBUG:ALLOW MINTCB:4405000000000002");
        assertThat(r.exit()).as(r.err()).isEqualTo(ExitCodes.OK);
        assertThat(r.out()).contains("evidence:    SEV-SNP report v2").contains("root:        AMD ARK-Milan")
                .contains("verdict:     accepted");
        assertThat(r.err()).isEmpty();
    }

    @Test
    void defaultPolicyDeniesTheDebugGuestWithReasonOnStderrAndInJson() throws Exception {
        Run r = run("attest", "verify", "--quote", f("gsg_milan_report.bin"), "--collateral", f("gsg_milan_vcek.der"),
                "--at", AT, "--json");
        assertThat(r.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(r.err()).isEqualTo("cloister: policy denied the evidence: the SEV-SNP guest runs in debug mode,"
                + " which is not allowed (the host can read its memory)\n");
        JsonNode j = r.json();
        assertThat(j.get("ok").asBoolean()).isFalse();
        assertThat(j.get("teeType").asText()).isEqualTo("SEV_SNP");
        assertThat(j.get("quoteVersion").asInt()).isEqualTo(2);
        assertThat(j.get("status").asText()).isEqualTo("UpToDate");
        assertThat(j.get("rootUsed").asText()).isEqualTo("AMD ARK-Milan");
        assertThat(j.get("measurements").get("policy").asText()).isEqualTo("0xb0000");
        assertThat(j.get("measurements").get("reportedTcb").asText()).isEqualTo("4405000000000002");
        assertThat(j.get("measurements").get("reportData").asText()).hasSize(128);
        assertThat(j.get("collateral").get("nextUpdate").asText()).isEqualTo("2029-09-24T00:55:28Z");
        assertThat(j.get("policy").get("text").asText()).isEqualTo("TCB:UpToDate");
        assertThat(j.get("policy").get("reasons").get(0).asText()).contains("debug mode");
    }

    @Test
    void hexReportAndPolicyFileInYaml() throws Exception {
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, "allow-debug: true\nsnp-max-vmpl: 0\ntcb-statuses: [UpToDate]\n");
        Run r = run("attest", "verify", "--quote", f("virtee_milan_report.hex"), "--collateral",
                f("virtee_milan_vcek.der"), "--at", "1795000000", "--policy", policy.toString(), "--json");
        assertThat(r.exit()).as(r.err()).isEqualTo(ExitCodes.OK);
        assertThat(r.json().get("ok").asBoolean()).isTrue();
        assertThat(r.json().get("policy").get("text").asText()).isEqualTo("TCB:UpToDate DEBUG:ALLOW VMPL:0");
    }

    @Test
    void tamperedReportIsRejectedWithJsonAndStderr() throws Exception {
        byte[] b = Files.readAllBytes(dir.resolve("gsg_milan_report.bin"));
        b[0x90] ^= 1;
        Path bad = dir.resolve("tampered.bin");
        Files.write(bad, b);
        Run r = run("attest", "verify", "--quote", bad.toString(), "--collateral", f("gsg_milan_vcek.der"),
                "--at", AT, "--json");
        assertThat(r.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(r.err()).isEqualTo("cloister: SEV-SNP report signature does not verify with the VCEK\n");
        assertThat(r.json().get("ok").asBoolean()).isFalse();
        assertThat(r.json().get("status").asText()).isEqualTo("Rejected");
        assertThat(r.json().get("error").asText()).contains("signature does not verify");
    }

    @Test
    void verifySnpWithChainAndExpiredVlek() {
        Run ok = run("attest", "verify-snp", "--report", f("gsg_milan_report.bin"), "--vcek", f("gsg_milan_vcek.der"),
                "--chain", f("virtee_cert_chain_milan.pem"), "--at", AT, "--policy", "DEBUG:ALLOW");
        assertThat(ok.exit()).as(ok.err()).isEqualTo(ExitCodes.OK);
        Run valid = run("attest", "verify-snp", "--report", f("trustee_vlek_report.bin"), "--vcek",
                f("trustee_vlek.der"), "--at", "2025-06-01T00:00:00Z");
        assertThat(valid.exit()).as(valid.err()).isEqualTo(ExitCodes.OK);
        Run expired = run("attest", "verify-snp", "--report", f("trustee_vlek_report.bin"), "--vcek",
                f("trustee_vlek.der"), "--at", "2026-11-22T00:00:00Z");
        assertThat(expired.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(expired.err()).contains("SEV-VLEK certificate expired 2025-12-10T22:14:21Z");
    }

    @Test
    void malformedInputsAndUsageErrors() throws Exception {
        Path junk = dir.resolve("junk.bin");
        Files.write(junk, new byte[] {1, 2, 3});
        Run short1 = run("attest", "verify-snp", "--report", junk.toString(), "--vcek", f("gsg_milan_vcek.der"));
        assertThat(short1.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(short1.err()).contains("SEV-SNP report must be 1184 bytes, got 3");
        Run badPolicy = run("attest", "verify", "--quote", f("gsg_milan_report.bin"), "--collateral",
                f("gsg_milan_vcek.der"), "--policy", "SVN:three");
        assertThat(badPolicy.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(badPolicy.err()).isEqualTo("cloister: policy token 'SVN:three': 'three' is not a number\n");
        Run badTime = run("attest", "verify", "--quote", f("gsg_milan_report.bin"), "--at", "yesterday");
        assertThat(badTime.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(badTime.err()).contains("--at 'yesterday' is neither");
        Run noVcek = run("attest", "verify", "--quote", f("gsg_milan_report.bin"), "--at", AT);
        assertThat(noVcek.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        Run both = run("attest", "verify", "--quote", f("gsg_milan_report.bin"), "--collateral", "x", "--pccs",
                "http://localhost:1");
        assertThat(both.exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(both.err()).contains("mutually exclusive");
        Run missing = run("attest", "verify", "--quote", dir.resolve("nope.bin").toString());
        assertThat(missing.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(missing.err()).contains("no such file");
    }

    @Test
    void helpDescribesEveryOption() {
        Run r = run("attest", "verify", "--help");
        assertThat(r.exit()).isEqualTo(ExitCodes.OK);
        assertThat(r.out()).contains("--quote=FILE").contains("--collateral=FILE").contains("--pccs=URL")
                .contains("--at=TIME").contains("--root=DER").contains("--policy=FILE|STRING").contains("--json")
                .contains("Examples");
        Run top = run("attest");
        assertThat(top.exit()).isEqualTo(ExitCodes.USAGE);
    }
}
