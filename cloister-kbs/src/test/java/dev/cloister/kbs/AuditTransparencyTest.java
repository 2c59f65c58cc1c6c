package dev.cloister.kbs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.kbs.tlog.Checkpoint;
import dev.cloister.kbs.tlog.NoteVerifier;
import dev.cloister.kbs.tlog.ProofException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The audit log as a transparency log: an owner pins the broker's log key, then checks signed checkpoints, that each
 * later checkpoint extends the earlier one, and that the entries it was shown are in the log, all on its own side.
 * Edits and deletions made behind the broker's back show up as failed proofs against a checkpoint the owner kept.
 */
class AuditTransparencyTest {
    @TempDir Path tmp;

    @Test
    void anOwnerChecksCheckpointsAndItsEntriesOverTheApi() throws Exception {
        try (LocalBroker broker = LocalBroker.start(tmp.resolve("b"), "lab")) {
            // Pinned through a trusted channel (here: the broker's own process), not taken from the API.
            AuditLogVerifier v = new AuditLogVerifier(NoteVerifier.parse(broker.store().logVerifierKey()));
            KbsClient owner = broker.owner();
            owner.storeSecret("lab", "k1", SecretKind.AES256, new byte[32], false);
            Checkpoint first = v.checkpoint(owner.auditCheckpoint());
            assertThat(first.origin()).startsWith("cloister-kbs/");
            assertThat(first.size()).isGreaterThanOrEqualTo(1);

            owner.storeSecret("lab", "k2", SecretKind.AES256, new byte[32], false);
            broker.store().record("local:test", "secret.put", "other", "x", "ok", "");
            Checkpoint second = v.checkpoint(owner.auditCheckpoint());
            assertThat(second.size()).isGreaterThan(first.size());
            v.consistent(first, second, owner.auditConsistency(first.size(), second.size()));

            List<JsonNode> mine = owner.audit(0, 100);
            assertThat(mine).isNotEmpty();
            for (JsonNode e : mine) {
                Map.Entry<AuditEntry, List<byte[]>> p = owner.auditInclusion(e.get("seq").asLong(), second.size());
                assertThat(p.getKey().toJson().toString()).isEqualTo(e.toString());
                v.contains(second, p.getKey(), p.getValue());
            }
            // An entry of another namespace is "not found" for this owner, as a missing one is.
            long foreign = second.size();
            assertThatThrownBy(() -> owner.auditInclusion(foreign, second.size())).isInstanceOf(KbsException.class)
                    .hasMessageContaining("no audit entry " + foreign + " visible to this token");
            assertThatThrownBy(() -> owner.auditInclusion(second.size() + 5, second.size()))
                    .isInstanceOf(KbsException.class);
            // A checkpoint is only good with the key pinned for this log.
            try (LocalBroker other = LocalBroker.start(tmp.resolve("c"), "lab")) {
                AuditLogVerifier wrong = new AuditLogVerifier(NoteVerifier.parse(other.store().logVerifierKey()));
                assertThatThrownBy(() -> wrong.checkpoint(owner.auditCheckpoint())).isInstanceOf(ProofException.class)
                        .hasMessageContaining("not signed by");
            }
            // An entry shown with different content does not verify.
            Map.Entry<AuditEntry, List<byte[]>> p = owner.auditInclusion(mine.getFirst().get("seq").asLong(),
                    second.size());
            AuditEntry e = p.getKey();
            AuditEntry edited = new AuditEntry(e.seq(), e.at(), e.actor(), e.action(), e.namespace(), e.subject(),
                    "denied", e.detail(), e.prevHash(), e.hash());
            assertThatThrownBy(() -> v.contains(second, edited, p.getValue())).isInstanceOf(ProofException.class);
        }
    }

    @Test
    void editsAndDeletionsBehindTheBrokersBackFailAgainstAKeptCheckpoint() throws Exception {
        MasterKey mk = MasterKey.generate();
        String db = tmp.resolve("kbs.db").toString();
        String key;
        Checkpoint kept;
        AuditLogVerifier v;
        try (KbsStore store = KbsStore.open(db, mk, Clock.systemUTC())) {
            for (int i = 0; i < 10; i++) {
                store.record("local:test", "release", "lab", "k" + i, "ok", "");
            }
            key = store.logVerifierKey();
            v = new AuditLogVerifier(NoteVerifier.parse(key));
            kept = v.checkpoint(store.checkpoint());
            assertThat(kept.size()).isEqualTo(10);
        }
        // The key survives a restart, and an untouched log still extends the kept checkpoint.
        try (KbsStore store = KbsStore.open(db, mk, Clock.systemUTC())) {
            assertThat(store.logVerifierKey()).isEqualTo(key);
            store.record("local:test", "release", "lab", "k10", "ok", "");
            Checkpoint now = v.checkpoint(store.checkpoint());
            v.consistent(kept, now, store.consistencyProof(kept.size(), now.size()));
            // Someone with database access edits entry 3 ...
            store.executeRaw("UPDATE audit SET subject = 'k99' WHERE seq = 3");
        }
        try (KbsStore store = KbsStore.open(db, mk, Clock.systemUTC())) {
            Checkpoint now = v.checkpoint(store.checkpoint());
            assertThatThrownBy(() -> v.consistent(kept, now, store.consistencyProof(kept.size(), now.size())))
                    .isInstanceOf(ProofException.class).hasMessageContaining("changed or removed");
            // ... and removes the newest entries: the log is now shorter than a checkpoint the owner holds.
            store.executeRaw("DELETE FROM audit WHERE seq > 5");
        }
        try (KbsStore store = KbsStore.open(db, mk, Clock.systemUTC())) {
            Checkpoint now = v.checkpoint(store.checkpoint());
            assertThat(now.size()).isEqualTo(5);
            assertThatThrownBy(() -> v.consistent(kept, now, List.of())).isInstanceOf(ProofException.class)
                    .hasMessageContaining("cannot shrink");
            // A gap in the middle is refused by the broker itself.
            store.executeRaw("DELETE FROM audit WHERE seq = 2");
        }
        try (KbsStore store = KbsStore.open(db, mk, Clock.systemUTC())) {
            assertThatThrownBy(store::checkpoint).isInstanceOf(KbsException.class)
                    .hasMessageContaining("entry 2 is missing");
        }
    }

    @Test
    void entriesRoundTripThroughTheirJsonFormStrictly() {
        AuditEntry e = new AuditEntry(7, java.time.Instant.ofEpochMilli(1_700_000_000_123L), "token:t", "release",
                null, "k@1", "ok", "", new byte[32], new byte[32]);
        AuditEntry back = AuditEntry.fromJson(e.toJson());
        assertThat(back.canonical()).isEqualTo(e.canonical());
        var missing = e.toJson();
        missing.remove("outcome");
        assertThatThrownBy(() -> AuditEntry.fromJson(missing)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("outcome");
        var wrongType = e.toJson();
        wrongType.put("seq", "7");
        assertThatThrownBy(() -> AuditEntry.fromJson(wrongType)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("seq");
    }
}
