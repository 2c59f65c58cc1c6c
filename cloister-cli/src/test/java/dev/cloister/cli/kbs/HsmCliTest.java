package dev.cloister.cli.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code kbs serve} with its master key in a real SoftHSM2 token, initialised here in a token folder of this test's
 * own: the key is made with {@code kbs master create-hsm-key}, a secret put and released over HTTPS, the broker
 * restarted (key named by a PKCS#11 URI, PIN from the environment this time) and the secret released again; a start with a wrong PIN or with
 * the token gone exits 4 and creates nothing. Every PKCS#11 user is a child process, given SOFTHSM2_CONF. In CI a
 * missing SoftHSM2 fails the test; elsewhere it skips.
 */
class HsmCliTest {
    private static final Path MODULE = Path.of("/usr/lib/softhsm/libsofthsm2.so");
    private static final String PIN = "2468-cli";

    @TempDir
    Path dir;

    private Process server;

    @AfterEach
    void stop() throws Exception {
        stopServer();
    }

    @Test
    void aBrokerOnAnHsmKeyServesAcrossARestartAndRefusesToStartWithoutItsToken() throws Exception {
        boolean present = Files.isRegularFile(MODULE) && Files.isExecutable(Path.of("/usr/bin/softhsm2-util"));
        if (!present && "true".equalsIgnoreCase(System.getenv("CI"))) {
            throw new IllegalStateException("SoftHSM2 is not installed in CI: .ci/run must install softhsm2");
        }
        assumeTrue(present, "SoftHSM2 is not installed (apt-get install softhsm2)");
        Path conf = dir.resolve("softhsm2.conf");
        Files.createDirectories(dir.resolve("tokens"));
        Files.writeString(conf, "directories.tokendir = " + dir.resolve("tokens") + "\nobjectstore.backend = file\n"
                + "log.level = ERROR\n");
        Map<String, String> env = Map.of("SOFTHSM2_CONF", conf.toString());
        exec(env, "softhsm2-util", "--init-token", "--free", "--label", "cli-kbs", "--so-pin", "12345678", "--pin", PIN);
        Path pin = dir.resolve("pin");
        Files.writeString(pin, PIN + "\n");
        String[] hsm = {"--hsm-module", MODULE.toString(), "--hsm-token", "cli-kbs", "--hsm-key", "kbs-master"};

        Result made = cli(env, concat(new String[] {"kbs", "master", "create-hsm-key", "--hsm-pin-file", pin.toString()}, hsm));
        assertThat(made.exit()).as(made.err()).isZero();
        assertThat(made.out()).contains("created AES-256 key 'kbs-master' in PKCS#11 token 'cli-kbs'");
        Result again = cli(env, concat(new String[] {"kbs", "master", "create-hsm-key", "--hsm-pin-file", pin.toString()}, hsm));
        assertThat(again.exit()).isEqualTo(ExitCodes.BAD_INPUT);

        Path state = dir.resolve("state");
        String url = start(env, concat(hsm, "--hsm-pin-file", pin.toString()), state);
        String e = "ab".repeat(32);
        String sgn = "cd".repeat(32);
        Path value = dir.resolve("pf.key");
        Files.write(value, java.util.HexFormat.of().parseHex("000102030405060708090a0b0c0d0e0f"));
        assertThat(client(url, state, "kbs", "namespace", "create", "wl").exit()).isZero();
        assertThat(client(url, state, "kbs", "secret", "put", "wl/pf", "--kind", "pf-key", "--value-file",
                value.toString()).exit()).isZero();
        assertThat(client(url, state, "kbs", "policy", "set", "wl/pf", "--text", "E:" + e + " S:" + sgn
                + " SVN:2 SIM:ALLOW").exit()).isZero();
        assertThat(release(url, state, e, sgn, dir.resolve("out1"))).isEqualTo(Files.readAllBytes(value));
        stopServer();
        // No master key file was written (the default place is under user.home, which is this test's folder): the
        // database is readable with the token only.
        assertThat(dir.resolve(".cloister").resolve("kbs-master.key")).doesNotExist();
        assertThat(state).isDirectoryNotContaining("glob:**.key");

        // Restarted, the key named by an RFC 7512 URI and the PIN from the environment: the secret is still there
        // and still released.
        url = start(Map.of("SOFTHSM2_CONF", conf.toString(), "CLOISTER_KBS_HSM_PIN", PIN), new String[] {"--hsm-uri",
            "pkcs11:token=cli-kbs;object=kbs-master;type=secret-key?module-path=" + MODULE}, state);
        assertThat(release(url, state, e, sgn, dir.resolve("out2"))).isEqualTo(Files.readAllBytes(value));
        Result verify = client(url, state, "kbs", "audit", "verify");
        assertThat(verify.exit()).as(verify.err()).isZero();
        stopServer();

        // A wrong PIN: exit 4, nothing created.
        Path fresh = dir.resolve("fresh");
        Files.writeString(dir.resolve("bad-pin"), "0000\n");
        Result wrong = serveOnce(env, concat(hsm, "--hsm-pin-file", dir.resolve("bad-pin").toString()), fresh);
        assertThat(wrong.exit()).as(wrong.err()).isEqualTo(ExitCodes.ENVIRONMENT);
        assertThat(wrong.err()).contains("cannot log in to PKCS#11 token 'cli-kbs'").doesNotContain("0000");
        assertThat(fresh).doesNotExist();

        // The token removed: exit 4 naming it, nothing created; the existing broker's files untouched.
        exec(env, "softhsm2-util", "--delete-token", "--token", "cli-kbs");
        Result gone = serveOnce(env, concat(hsm, "--hsm-pin-file", pin.toString()), fresh);
        assertThat(gone.exit()).as(gone.err()).isEqualTo(ExitCodes.ENVIRONMENT);
        assertThat(gone.err()).contains("no token labelled 'cli-kbs'");
        assertThat(fresh).doesNotExist();
        long dbSize = Files.size(state.resolve("kbs.db"));
        Result old = serveOnce(env, concat(hsm, "--hsm-pin-file", pin.toString()), state);
        assertThat(old.exit()).isEqualTo(ExitCodes.ENVIRONMENT);
        assertThat(Files.size(state.resolve("kbs.db"))).isEqualTo(dbSize);

        // Options that do not go together are usage errors before any token is touched.
        Result both = cli(env, "kbs", "audit", "verify", "--db", state.resolve("kbs.db").toString(), "--master-key",
                dir.resolve("m.key").toString(), "--hsm-module", MODULE.toString(), "--hsm-token", "x", "--hsm-key", "y");
        assertThat(both.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(both.err()).contains("exclude each other");
    }

    private byte[] release(String url, Path state, String e, String sgn, Path out) throws Exception {
        Result r = inProcess("kbs", "release", "wl/pf", "--simulate", "--mrenclave", e, "--mrsigner", sgn,
                "--isv-svn", "2", "--out", out.toString(), "--url", url, "--ca", state.resolve("cert.pem").toString());
        assertThat(r.exit()).as(r.err()).isZero();
        return Files.readAllBytes(out);
    }

    private Result client(String url, Path state, String... args) {
        return inProcess(concat(args, "--url", url, "--ca", state.resolve("cert.pem").toString(), "--token-file",
                state.resolve("admin.token").toString()));
    }

    private static String[] serveArgs(String[] hsm, Path state) {
        return concat(new String[] {"kbs", "serve", "--db", state.resolve("kbs.db").toString(), "--listen",
            "127.0.0.1:0", "--tls-self-signed", "--allow-simulation", "--cert-out", state.resolve("cert.pem").toString(),
            "--admin-token-file", state.resolve("admin.token").toString(), "--json"}, hsm);
    }

    private String start(Map<String, String> env, String[] hsm, Path state) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(javaCommand(serveArgs(hsm, state)))
                .redirectError(dir.resolve("serve.err").toFile());
        pb.environment().putAll(env);
        server = pb.start();
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
        return j.get("url").asText();
    }

    private void stopServer() throws Exception {
        if (server != null) {
            server.destroy();
            if (!server.waitFor(20, TimeUnit.SECONDS)) {
                server.destroyForcibly();
                assertThat(server.waitFor(20, TimeUnit.SECONDS)).as("kbs serve ended").isTrue();
            }
            server = null;
        }
    }

    /** A {@code kbs serve} expected to exit by itself. */
    private Result serveOnce(Map<String, String> env, String[] hsm, Path state) throws Exception {
        return cli(env, serveArgs(hsm, state));
    }

    private Result cli(Map<String, String> env, String... args) throws Exception {
        return exec(env, javaCommand(args).toArray(String[]::new));
    }

    private Result exec(Map<String, String> env, String... cmd) throws Exception {
        Path err = Files.createTempFile(dir, "err", ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(err.toFile());
        pb.environment().remove("CLOISTER_KBS_HSM_PIN");
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not end");
        }
        Result r = new Result(p.exitValue(), out, Files.readString(err));
        if (cmd[0].startsWith("softhsm2") && r.exit() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed: " + r.out() + r.err());
        }
        return r;
    }

    private List<String> javaCommand(String... args) {
        List<String> c = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Duser.home=" + dir, "-cp", System.getProperty("java.class.path"),
                Cloister.class.getName()));
        c.addAll(List.of(args));
        return c;
    }

    private static Result inProcess(String... args) {
        CommandLine cl = Cloister.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return new Result(cl.execute(args), out.toString(), err.toString());
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    record Result(int exit, String out, String err) {}
}
