package dev.cloister.cli.kbs;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.cli.Cloister;
import dev.cloister.cli.ExitCodes;
import dev.cloister.cli.Json;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The kbs commands against a real broker started with 'cloister kbs serve' in its own JVM. */
class KbsCliTest {
    @TempDir
    static Path dir;

    static Process server;
    static String url;
    static Path ca;
    static Path adminToken;
    static Path db;
    static Path master;

    record Run(int exit, String out, String err) {}

    static Run run(String... args) {
        CommandLine cl = Cloister.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    static String[] client(String... args) {
        List<String> a = new ArrayList<>(List.of(args));
        a.addAll(List.of("--url", url, "--ca", ca.toString(), "--token-file", adminToken.toString()));
        return a.toArray(String[]::new);
    }

    @BeforeAll
    static void startServer() throws Exception {
        db = dir.resolve("kbs.db");
        master = dir.resolve("master.key");
        ca = dir.resolve("cert.pem");
        adminToken = dir.resolve("admin.token");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Duser.home=" + dir, "-cp", System.getProperty("java.class.path"), Cloister.class.getName(),
                "kbs", "serve", "--db", db.toString(), "--master-key", master.toString(), "--listen", "127.0.0.1:0",
                "--tls-self-signed", "--allow-simulation", "--cert-out", ca.toString(), "--admin-token-file", adminToken.toString(), "--json");
        server = new ProcessBuilder(cmd).redirectError(dir.resolve("serve.err").toFile()).start();
        BufferedReader r = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
        StringBuilder json = new StringBuilder();
        String line;
        while ((line = r.readLine()) != null) {
            json.append(line).append('\n');
            if (line.equals("}")) {
                break;
            }
        }
        if (!json.toString().contains("\"url\"")) {
            server.waitFor(5, TimeUnit.SECONDS);
            throw new AssertionError("kbs serve did not start: " + Files.readString(dir.resolve("serve.err")));
        }
        JsonNode j = Json.mapper().readTree(json.toString());
        url = j.get("url").asText();
        assertThat(j.get("adminTokenFile").asText()).isEqualTo(adminToken.toString());
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (server != null) {
            server.destroy();
            if (!server.waitFor(20, TimeUnit.SECONDS)) {
                server.destroyForcibly();
                assertThat(server.waitFor(20, TimeUnit.SECONDS)).as("kbs serve ended").isTrue();
            }
        }
    }

    @Test
    void ownerWorkflowAndAudit() throws Exception {
        assertThat(run(client("kbs", "namespace", "create", "alice")).exit()).isEqualTo(0);
        Path ownerToken = dir.resolve("owner.token");
        Run t = run(client("kbs", "token", "create", "--role", "owner", "--namespace", "alice", "--out",
                ownerToken.toString(), "--json"));
        assertThat(t.exit()).as(t.err()).isEqualTo(0);
        assertThat(t.out()).doesNotContain(Files.readString(ownerToken).strip());
        String[] owner = {"--url", url, "--ca", ca.toString(), "--token-file", ownerToken.toString()};

        Run g = run(concat(new String[] {"kbs", "secret", "generate", "alice/pf", "--kind", "pf-key", "--json"}, owner));
        assertThat(g.exit()).as(g.err()).isEqualTo(0);
        assertThat(Json.mapper().readTree(g.out()).get("version").asInt()).isEqualTo(1);
        Path value = dir.resolve("v.bin");
        Files.write(value, new byte[32]);
        assertThat(run(concat(new String[] {"kbs", "secret", "put", "alice/aes", "--kind", "aes256", "--value-file",
            value.toString()}, owner)).exit()).isEqualTo(0);
        Run rot = run(concat(new String[] {"kbs", "secret", "rotate", "alice/pf"}, owner));
        assertThat(rot.out()).contains("alice/pf version 2 (pf-key)");
        assertThat(run(concat(new String[] {"kbs", "secret", "retire", "alice/pf", "1"}, owner)).exit()).isEqualTo(0);
        Run list = run(concat(new String[] {"kbs", "secret", "list", "alice"}, owner));
        assertThat(list.out()).contains("alice/pf  v1  pf-key   retired").contains("alice/pf  v2  pf-key   active");

        Run bad = run(concat(new String[] {"kbs", "policy", "set", "alice/pf", "--text", "E:zz"}, owner));
        assertThat(bad.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(bad.err()).startsWith("cloister: ").contains("E:zz");
        Run set = run(concat(new String[] {"kbs", "policy", "set", "alice/pf", "--text", "SVN:2 SIM:ALLOW"}, owner));
        assertThat(set.exit()).as(set.err()).isEqualTo(0);
        assertThat(run(concat(new String[] {"kbs", "policy", "show", "alice/pf"}, owner)).out())
                .isEqualTo(set.out());

        // Another tenant's names stay hidden; a missing token is a clear error.
        Run other = run(concat(new String[] {"kbs", "secret", "list", "bob"}, owner));
        assertThat(other.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(other.err()).isEqualTo("cloister: no namespace bob\n");
        Run noToken = run("kbs", "secret", "list", "alice", "--url", url, "--ca", ca.toString(), "--token-file",
                dir.resolve("nope").toString());
        assertThat(noToken.exit()).isEqualTo(ExitCodes.BAD_INPUT);

        Run audit = run(client("kbs", "audit", "verify", "--json"));
        assertThat(audit.exit()).as(audit.err()).isEqualTo(0);
        assertThat(Json.mapper().readTree(audit.out()).get("intact").asBoolean()).isTrue();
        Run entries = run(client("kbs", "audit", "list"));
        assertThat(entries.out()).contains("secret.generate").contains("secret.retire").contains("policy.set");

        // Local tools on the same database: backup, restore elsewhere, verify there.
        Path backup = dir.resolve("backup.kbs");
        Path backupKey = dir.resolve("backup.key");
        Run ex = run("kbs", "export", "--db", db.toString(), "--master-key", master.toString(), "--backup-key",
                backupKey.toString(), "--out", backup.toString());
        assertThat(ex.exit()).as(ex.err()).isEqualTo(0);
        Path restored = dir.resolve("restored.db");
        Run im = run("kbs", "import", "--db", restored.toString(), "--master-key", master.toString(),
                "--backup-key", backupKey.toString(), "--in", backup.toString());
        assertThat(im.exit()).as(im.err()).isEqualTo(0);
        Run v = run("kbs", "audit", "verify", "--db", restored.toString(), "--master-key", master.toString());
        assertThat(v.exit()).as(v.err()).isEqualTo(0);
        assertThat(v.out()).startsWith("audit chain intact: ");
        // Tamper with the restored copy: the verifier says so and exits 1.
        try (var c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + restored);
                var s = c.createStatement()) {
            s.executeUpdate("UPDATE audit SET detail = 'x' WHERE seq = 2");
        }
        Run broken = run("kbs", "audit", "verify", "--db", restored.toString(), "--master-key", master.toString());
        assertThat(broken.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(broken.out()).contains("entry 2: content does not match its MAC (edited)");
    }

    @Test
    void theSelfSignedCertificateIsStoredForTheNextStart() throws Exception {
        Path key = ca.resolveSibling("kbs-tls-key.pem");
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(key)))
                .isEqualTo("rw-------");
        // What the next start would serve is what this one serves.
        assertThat(dev.cloister.kbs.Tls.selfSignedStored(ca, key, java.time.Instant.now()).certificatePem())
                .isEqualTo(Files.readString(ca));
    }

    @Test
    void workloadReleaseWithSimulatedEvidence() throws Exception {
        String e = "ab".repeat(32);
        String sgn = "cd".repeat(32);
        assertThat(run(client("kbs", "namespace", "create", "wl")).exit()).isEqualTo(0);
        Path key = dir.resolve("pf.key");
        Files.write(key, java.util.HexFormat.of().parseHex("000102030405060708090a0b0c0d0e0f"));
        assertThat(run(client("kbs", "secret", "put", "wl/pf", "--kind", "pf-key", "--value-file", key.toString()))
                .exit()).isEqualTo(0);
        Run set = run(client("kbs", "policy", "set", "wl/pf", "--text",
                "E:" + e + " S:" + sgn + " SVN:2 SIM:ALLOW"));
        assertThat(set.exit()).as(set.err()).isEqualTo(0);
        String[] wl = {"--url", url, "--ca", ca.toString()};
        Path out = dir.resolve("released.key");
        Run ok = run(concat(new String[] {"kbs", "release", "wl/pf", "--simulate", "--mrenclave", e, "--mrsigner", sgn,
            "--isv-svn", "2", "--out", out.toString(), "--json"}, wl));
        assertThat(ok.exit()).as(ok.err()).isEqualTo(0);
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(key));
        assertThat(Json.mapper().readTree(ok.out()).get("version").asInt()).isEqualTo(1);

        Path out2 = dir.resolve("denied.key");
        Run denied = run(concat(new String[] {"kbs", "release", "wl/pf", "--simulate", "--mrenclave", "ef".repeat(32),
            "--mrsigner", sgn, "--isv-svn", "1", "--out", out2.toString()}, wl));
        assertThat(denied.exit()).isEqualTo(ExitCodes.DENIED);
        // The workload learns nothing about the policy; the owner's audit log has the reason.
        assertThat(denied.err()).contains(dev.cloister.kbs.KeyBroker.RELEASE_DENIED).doesNotContain("ef".repeat(32));
        assertThat(out2).doesNotExist();
        Run debug = run(concat(new String[] {"kbs", "release", "wl/pf", "--simulate", "--mrenclave", e,
            "--mrsigner", sgn, "--isv-svn", "2", "--debug-enclave", "--out", out2.toString()}, wl));
        assertThat(debug.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(debug.err()).contains(dev.cloister.kbs.KeyBroker.RELEASE_DENIED).doesNotContain("debug mode");
        Run audit = run(client("kbs", "audit", "list"));
        assertThat(audit.out()).contains("policy denied: mrenclave " + "ef".repeat(32)).contains("debug mode");

        // policy test: appraise an evidence file locally and explain.
        var m = new dev.cloister.attestation.SgxMeasurements(java.util.HexFormat.of().parseHex(e),
                java.util.HexFormat.of().parseHex(sgn), 0, 2, new byte[] {5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0},
                false);
        var ev = dev.cloister.attestation.sim.Simulator.standard().sgxQuote(m, new byte[64],
                dev.cloister.attestation.TcbStatus.OUT_OF_DATE, java.time.Instant.now());
        Path q = dir.resolve("quote.bin");
        Path col = dir.resolve("collateral.json");
        Files.write(q, ev.quote());
        Files.write(col, ev.collateral());
        Run pt = run("kbs", "policy", "test", "--text", "E:" + e + " SIM:ALLOW", "--evidence", q.toString(),
                "--collateral", col.toString(), "--allow-simulation");
        assertThat(pt.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(pt.out()).contains("TCB status OutOfDate is not accepted");
        Run pt2 = run("kbs", "policy", "test", "--text", "E:" + e + " SIM:ALLOW TCB:OutOfDate ADV:*", "--evidence",
                q.toString(), "--collateral", col.toString(), "--allow-simulation");
        assertThat(pt2.exit()).as(pt2.out() + pt2.err()).isEqualTo(0);
        Run hw = run("kbs", "policy", "test", "--text", "E:" + e + " SIM:ALLOW TCB:OutOfDate", "--evidence",
                q.toString(), "--collateral", col.toString());
        assertThat(hw.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(hw.err()).contains("unknown root");
    }

    @Test
    void serveNeverOverwritesAnAdminTokenFileNorTakesAnEmptyDatabaseForANewOne() throws Exception {
        Path d = Files.createDirectories(dir.resolve("serve-refusals"));
        Path token = Files.writeString(d.resolve("admin.token"), "kbs_keep_me\n");
        Run r = run("kbs", "serve", "--db", d.resolve("new.db").toString(), "--master-key",
                d.resolve("m.key").toString(), "--listen", "127.0.0.1:0", "--tls-self-signed", "--cert-out",
                d.resolve("cert.pem").toString(), "--admin-token-file", token.toString());
        assertThat(r.exit()).isEqualTo(3);
        assertThat(r.err()).contains(token + " exists: it is not overwritten");
        assertThat(Files.readString(token)).isEqualTo("kbs_keep_me\n");
        Path empty = Files.createFile(d.resolve("empty.db"));
        r = run("kbs", "serve", "--db", empty.toString(), "--master-key", d.resolve("m.key").toString(),
                "--listen", "127.0.0.1:0", "--tls-self-signed", "--cert-out", d.resolve("cert.pem").toString(),
                "--admin-token-file", d.resolve("other.token").toString());
        assertThat(r.exit()).isEqualTo(3);
        assertThat(r.err()).contains("is empty (zero length)");
        assertThat(d.resolve("other.token")).doesNotExist();
    }

    @Test
    void tokensAreIssuedWithALifetime() throws Exception {
        Path out = dir.resolve("ttl.token");
        Run bad = run(client("kbs", "token", "create", "--role", "auditor", "--ttl", "90x", "--out", out.toString()));
        assertThat(bad.exit()).isEqualTo(3);
        assertThat(bad.err()).contains("bad duration '90x'");
        assertThat(out).doesNotExist();
        Run ok = run(client("kbs", "token", "create", "--role", "auditor", "--ttl", "2h", "--out", out.toString(),
                "--json"));
        assertThat(ok.exit()).as(ok.err()).isEqualTo(0);
        java.time.Instant expires = java.time.Instant.parse(Json.mapper().readTree(ok.out()).get("expires").asText());
        assertThat(expires).isBetween(java.time.Instant.now().plusSeconds(7000), java.time.Instant.now().plusSeconds(7300));
        Run list = run(client("kbs", "token", "list"));
        assertThat(list.out()).contains("expires " + expires);
    }

    @Test
    void helpDescribesEveryCommand() {
        for (String c : new String[] {"serve", "secret", "policy", "release", "audit", "token", "export", "import",
            "namespace"}) {
            Run r = run("kbs", c, "--help");
            assertThat(r.exit()).isEqualTo(0);
            assertThat(r.out()).contains("Usage: cloister kbs " + c);
        }
        Run usage = run("kbs", "serve", "--listen", "x");
        assertThat(usage.exit()).isEqualTo(ExitCodes.USAGE);
    }

    @Test
    void ownersCheckTheSignedAuditLogWithThePinnedKey() throws Exception {
        // 'kbs serve' wrote the log key next to the certificate; the admin sees the same key over the API.
        Path keyFile = dir.resolve("kbs-log-key");
        String key = Files.readString(keyFile).strip();
        Run k = run(client("kbs", "audit", "key"));
        assertThat(k.exit()).as(k.err()).isEqualTo(0);
        assertThat(k.out().strip()).isEqualTo(key).startsWith("cloister-kbs/");

        assertThat(run(client("kbs", "namespace", "create", "carol")).exit()).isEqualTo(0);
        Path ownerToken = dir.resolve("carol.token");
        assertThat(run(client("kbs", "token", "create", "--role", "owner", "--namespace", "carol", "--out",
                ownerToken.toString())).exit()).isEqualTo(0);
        String[] owner = {"--url", url, "--ca", ca.toString(), "--token-file", ownerToken.toString()};
        assertThat(run(concat(new String[] {"kbs", "secret", "generate", "carol/pf", "--kind", "pf-key"}, owner))
                .exit()).isEqualTo(0);

        Path state = dir.resolve("carol.checkpoint");
        Run first = run(concat(new String[] {"kbs", "audit", "checkpoint", "--state", state.toString(), "--json"},
                owner));
        assertThat(first.exit()).as(first.err()).isEqualTo(0);
        JsonNode f = Json.mapper().readTree(first.out());
        assertThat(f.get("previousSize").isNull()).isTrue();
        assertThat(Files.readString(state)).startsWith(f.get("origin").asText() + "\n" + f.get("size").asLong() + "\n");

        assertThat(run(concat(new String[] {"kbs", "secret", "rotate", "carol/pf"}, owner)).exit()).isEqualTo(0);
        Run proved = run(concat(new String[] {"kbs", "audit", "prove", "--all", "--state", state.toString(),
            "--json"}, owner));
        assertThat(proved.exit()).as(proved.err()).isEqualTo(0);
        JsonNode p = Json.mapper().readTree(proved.out());
        assertThat(p.get("checkpoint").get("previousSize").asLong()).isEqualTo(f.get("size").asLong());
        assertThat(p.get("entries")).hasSizeGreaterThanOrEqualTo(2);
        p.get("entries").forEach(e -> assertThat(e.get("namespace").asText()).isEqualTo("carol"));
        Run text = run(concat(new String[] {"kbs", "audit", "prove", p.get("entries").get(0).get("seq").asText(),
            "--no-state"}, owner));
        assertThat(text.out()).as(text.err()).contains("is in the log of").contains("carol/-");

        // Another key, a kept checkpoint that was altered, or no arguments: each refused with its reason.
        String otherKey = dev.cloister.kbs.tlog.NoteSigner.generate("cloister-kbs/other").verifierKey();
        Run wrong = run(concat(new String[] {"kbs", "audit", "checkpoint", "--no-state", "--log-key", otherKey},
                owner));
        assertThat(wrong.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(wrong.err()).contains("the broker's checkpoint: ").contains("not signed by");
        Files.writeString(state, Files.readString(state).replaceFirst("\n[0-9]+\n", "\n1\n"));
        Run altered = run(concat(new String[] {"kbs", "audit", "checkpoint", "--state", state.toString()}, owner));
        assertThat(altered.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(altered.err()).contains("the checkpoint kept in " + state).contains("does not verify");
        Run neither = run(concat(new String[] {"kbs", "audit", "prove", "--no-state"}, owner));
        assertThat(neither.exit()).isEqualTo(ExitCodes.USAGE);
        // A key that does not parse is a bad argument, not a failed check; a missing database is not created.
        Run badKey = run(concat(new String[] {"kbs", "audit", "checkpoint", "--no-state", "--log-key", "garbage"},
                owner));
        assertThat(badKey.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(badKey.err()).contains("--log-key: a verifier key is <name>+<key id>+<key>");
        Path missing = dir.resolve("missing.db");
        Run noDb = run("kbs", "audit", "key", "--db", missing.toString(), "--master-key", master.toString());
        assertThat(noDb.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(noDb.err()).contains("no broker database at " + missing);
        assertThat(missing).doesNotExist();
        Run noFolder = run(concat(new String[] {"kbs", "audit", "checkpoint", "--state", "/proc/nope/x"}, owner));
        assertThat(noFolder.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(noFolder.err()).contains("cannot keep the checkpoint in /proc/nope/x: ");
    }

    @Test
    void aNamespaceCanRequireTwoApprovalsForPolicyChanges() throws Exception {
        assertThat(run(client("kbs", "namespace", "create", "dave")).exit()).isEqualTo(0);
        Path t1 = dir.resolve("dave1.token");
        Path t2 = dir.resolve("dave2.token");
        for (Path t : new Path[] {t1, t2}) {
            assertThat(run(client("kbs", "token", "create", "--role", "owner", "--namespace", "dave", "--out",
                    t.toString())).exit()).isEqualTo(0);
        }
        String[] one = {"--url", url, "--ca", ca.toString(), "--token-file", t1.toString()};
        String[] two = {"--url", url, "--ca", ca.toString(), "--token-file", t2.toString()};
        Run rules = run(client("kbs", "namespace", "rules", "dave", "--policy-approvals", "2"));
        assertThat(rules.out()).as(rules.err()).contains("policy changes need 2 approvals");
        assertThat(run(concat(new String[] {"kbs", "namespace", "rules", "dave", "--policy-approvals", "1"}, one))
                .exit()).as("only an admin sets the rules").isNotZero();

        Run nosecret = run(concat(new String[] {"kbs", "policy", "set", "dave/k", "--text", "SIM:ALLOW"}, one));
        assertThat(nosecret.exit()).isEqualTo(3);
        assertThat(nosecret.err()).contains("no secret dave/k");
        assertThat(run(concat(new String[] {"kbs", "secret", "generate", "dave/k", "--kind", "pf-key"}, one)).exit())
                .isEqualTo(0);
        Run set = run(concat(new String[] {"kbs", "policy", "set", "dave/k", "--text", "SIM:ALLOW"}, one));
        assertThat(set.exit()).as(set.err()).isEqualTo(0);
        assertThat(set.out()).contains("1 of 2 approvals; not in force yet").contains("cloister kbs policy approve dave ");
        String id = set.out().lines().filter(l -> l.startsWith("  approve:")).findFirst().orElseThrow()
                .replaceAll(".* ", "");
        Run pending = run(concat(new String[] {"kbs", "policy", "proposals", "dave", "--json"}, two));
        assertThat(Json.mapper().readTree(pending.out()).get("proposals").get(0).get("proposal").asText()).isEqualTo(id);
        Run again = run(concat(new String[] {"kbs", "policy", "approve", "dave", id}, one));
        assertThat(again.exit()).isNotZero();
        assertThat(again.err()).contains("approved proposal " + id + " already");
        Run ok = run(concat(new String[] {"kbs", "policy", "approve", "dave", id}, two));
        assertThat(ok.exit()).as(ok.err()).isEqualTo(0);
        assertThat(run(concat(new String[] {"kbs", "policy", "show", "dave/k"}, two)).out()).isEqualTo(ok.out());
        Run nobody = run(client("kbs", "policy", "proposals", "nobody"));
        assertThat(nobody.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(nobody.err()).contains("no namespace nobody");
    }

    private static String[] concat(String[] a, String[] b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
