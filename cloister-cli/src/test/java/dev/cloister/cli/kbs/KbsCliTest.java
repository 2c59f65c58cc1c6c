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
                "--tls-self-signed", "--cert-out", ca.toString(), "--admin-token-file", adminToken.toString(), "--json");
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
        assertThat(json).as("serve output; stderr in %s", dir.resolve("serve.err")).contains("\"url\"");
        JsonNode j = Json.mapper().readTree(json.toString());
        url = j.get("url").asText();
        assertThat(j.get("adminTokenFile").asText()).isEqualTo(adminToken.toString());
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (server != null) {
            server.destroy();
            server.waitFor(20, TimeUnit.SECONDS);
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

    private static String[] concat(String[] a, String[] b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
