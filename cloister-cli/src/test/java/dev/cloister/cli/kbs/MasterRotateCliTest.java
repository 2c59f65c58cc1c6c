package dev.cloister.cli.kbs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.cli.Cloister;
import dev.cloister.cli.ExitCodes;
import dev.cloister.cli.Json;
import dev.cloister.kbs.KbsStore;
import dev.cloister.kbs.MasterKey;
import dev.cloister.kbs.SecretKind;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code kbs master rotate} from one key file to a new one, and its usage errors. */
class MasterRotateCliTest {
    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {}

    static Run run(String... args) {
        CommandLine cl = Cloister.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return new Run(cl.execute(args), out.toString(), err.toString());
    }

    @Test
    void rotatesADatabaseToANewKeyFile() throws Exception {
        Path db = dir.resolve("kbs.db");
        Path oldKey = dir.resolve("old.key");
        Path newKey = dir.resolve("new.key");
        byte[] v = new byte[32];
        v[0] = 42;
        try (KbsStore s = KbsStore.open(db.toString(), MasterKey.load(oldKey, true), Clock.systemUTC())) {
            s.createNamespace("local:test", "alice");
            s.storeSecret("local:test", "alice", "k", SecretKind.AES256, v, false);
        }
        Run none = run("kbs", "master", "rotate", "--db", db.toString(), "--master-key", oldKey.toString());
        assertThat(none.exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(none.err()).contains("--to-master-key FILE or --to-hsm-uri URI");
        Run r = run("kbs", "master", "rotate", "--db", db.toString(), "--master-key", oldKey.toString(),
                "--to-master-key", newKey.toString(), "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(Json.mapper().readTree(r.out()).get("secretVersions").asInt()).isEqualTo(1);
        assertThat(Files.exists(newKey)).isTrue();
        Run verifyNew = run("kbs", "audit", "verify", "--db", db.toString(), "--master-key", newKey.toString());
        assertThat(verifyNew.exit()).as(verifyNew.err()).isZero();
        Run verifyOld = run("kbs", "audit", "verify", "--db", db.toString(), "--master-key", oldKey.toString());
        assertThat(verifyOld.exit()).isEqualTo(ExitCodes.DENIED);
        assertThat(verifyOld.err()).contains("was created under master key");
        try (KbsStore s = KbsStore.open(db.toString(), MasterKey.load(newKey, false), Clock.systemUTC())) {
            assertThat(s.read("alice", "k", null).value()).isEqualTo(v);
        }
        Run bad = run("kbs", "master", "rotate", "--db", db.toString(), "--master-key", newKey.toString(),
                "--to-hsm-uri", "pkcs11:token=t;object=o?pin-value=1234");
        assertThat(bad.exit()).isEqualTo(ExitCodes.BAD_INPUT);
        assertThat(bad.err()).contains("pin-value is refused").doesNotContain("1234");
    }
}
