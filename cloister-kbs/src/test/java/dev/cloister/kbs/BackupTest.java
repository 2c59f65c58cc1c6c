package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class BackupTest {
    @TempDir
    Path dir;

    static List<String> dbs() {
        return TestDatabases.kinds();
    }

    private final TestClock clock = new TestClock(Instant.parse("2026-11-27T12:00:00Z"));

    @ParameterizedTest
    @MethodSource("dbs")
    void exportFromSqliteRestoresIntoEitherDatabase(String targetKind) throws Exception {
        MasterKey master = MasterKey.generate();
        MasterKey backupKey = MasterKey.generate();
        Path backup = dir.resolve("kbs.backup");
        String token;
        byte[] v2;
        String logKey;
        String checkpoint;
        try (KbsStore s = KbsStore.open(dir.resolve("src.db").toString(), master, clock)) {
            s.createNamespace("t", "alice");
            s.storeSecret("t", "alice", "pf", SecretKind.PF_KEY, null, false);
            v2 = s.read("alice", "pf", s.storeSecret("t", "alice", "pf", SecretKind.PF_KEY, null, true).version()).value();
            s.retire("t", "alice", "pf", 1);
            s.setPolicy("t", "alice", "pf", "SIM:ALLOW");
            token = s.createToken("t", Role.OWNER, "alice").token();
            s.record("workload:x", "release", "alice", "pf@2", "denied", "policy denied: because");
            logKey = s.logVerifierKey();
            checkpoint = s.checkpoint();
            assertThat(Backup.export(s, backupKey, backup, false)).isGreaterThan(8);
        }
        assertThat(Files.readString(backup, java.nio.charset.StandardCharsets.ISO_8859_1)).doesNotContain("alice");
        String target = TestDatabases.fresh(targetKind, dir);
        assertThatThrownBy(() -> Backup.restore(target, master, MasterKey.generate(), backup, clock))
                .hasMessageContaining("does not authenticate");
        assertThatThrownBy(() -> Backup.restore(target, MasterKey.generate(), backupKey, backup, clock))
                .hasMessageContaining("was made under master key");
        Backup.restore(target, master, backupKey, backup, clock);
        try (KbsStore s = KbsStore.open(target, master, clock)) {
            assertThat(s.read("alice", "pf", null).value()).isEqualTo(v2);
            assertThat(s.list("alice")).extracting(SecretInfo::active).containsExactly(false, true);
            assertThat(s.policy("alice", "pf")).isEqualTo("SIM:ALLOW");
            assertThat(s.authenticate(token).namespace()).isEqualTo("alice");
            AuditReport r = s.verifyAudit();
            assertThat(r.intact()).isTrue();
            assertThat(r.entries()).isEqualTo(7);
            // The restored log keeps its signing key and signs the same checkpoint, which later ones extend.
            assertThat(s.logVerifierKey()).isEqualTo(logKey);
            assertThat(s.checkpoint()).isEqualTo(checkpoint);
            // The restored chain continues.
            s.record("t", "test", null, null, "ok", "");
            assertThat(s.verifyAudit().intact()).isTrue();
            var v = new AuditLogVerifier(dev.cloister.kbs.tlog.NoteVerifier.parse(logKey));
            var kept = v.checkpoint(checkpoint);
            var now = v.checkpoint(s.checkpoint());
            v.consistent(kept, now, s.consistencyProof(kept.size(), now.size()));
        }
        assertThatThrownBy(() -> Backup.restore(target, master, backupKey, backup, clock))
                .hasMessageContaining("is not empty");
    }
}
