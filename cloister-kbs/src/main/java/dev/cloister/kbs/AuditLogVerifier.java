package dev.cloister.kbs;

import dev.cloister.kbs.tlog.Checkpoint;
import dev.cloister.kbs.tlog.MerkleTree;
import dev.cloister.kbs.tlog.NoteVerifier;
import dev.cloister.kbs.tlog.ProofException;
import java.util.List;

/**
 * What an owner or auditor runs on their side to check the broker's audit log without trusting the broker: that a
 * checkpoint is signed by the log key they pinned, that a later checkpoint extends an earlier one (no entry changed
 * or removed in between), and that an audit entry they were shown is in the log a checkpoint commits to.
 */
public final class AuditLogVerifier {
    private final NoteVerifier key;

    /** Checks against this log key (the broker's {@code kbs audit key}, obtained through a trusted channel). */
    public AuditLogVerifier(NoteVerifier key) {
        this.key = key;
    }

    /** Verifies a signed checkpoint and returns what it says. */
    public Checkpoint checkpoint(String signedNote) throws ProofException {
        return Checkpoint.open(signedNote, key);
    }

    /** Checks that {@code newer} extends {@code older} with {@code proof} (the broker's consistency proof). */
    public void consistent(Checkpoint older, Checkpoint newer, List<byte[]> proof) throws ProofException {
        if (!older.origin().equals(newer.origin())) {
            throw new ProofException("checkpoints of two logs: " + older.origin() + " and " + newer.origin());
        }
        MerkleTree.verifyConsistency(older.size(), newer.size(), older.rootHash(), newer.rootHash(), proof);
    }

    /** Fetches entry {@code seq} from the broker and checks it is in the log of {@code cp}; returns it. */
    public AuditEntry prove(KbsClient broker, Checkpoint cp, long seq) throws KbsException, ProofException {
        var p = broker.auditInclusion(seq, cp.size());
        if (p.getKey().seq() != seq) {
            throw new ProofException("asked for entry " + seq + ", the broker sent entry " + p.getKey().seq());
        }
        contains(cp, p.getKey(), p.getValue());
        return p.getKey();
    }

    /** Proves every entry up to {@code cp} that the broker lets this client see (an owner: its namespace's). */
    public java.util.List<AuditEntry> proveVisible(KbsClient broker, Checkpoint cp)
            throws KbsException, ProofException {
        return proveMatching(broker, cp, e -> true);
    }

    /**
     * Proves the entries up to {@code cp} that this client may see and {@code wanted} selects (given the API's JSON
     * form of each); returns them as proven.
     */
    public java.util.List<AuditEntry> proveMatching(KbsClient broker, Checkpoint cp,
            java.util.function.Predicate<com.fasterxml.jackson.databind.JsonNode> wanted)
            throws KbsException, ProofException {
        java.util.List<AuditEntry> out = new java.util.ArrayList<>();
        long after = 0;
        while (after < cp.size()) {
            java.util.List<com.fasterxml.jackson.databind.JsonNode> page = broker.audit(after, 1000);
            for (var e : page) {
                long seq = e.path("seq").asLong();
                if (seq <= after) {
                    throw new ProofException("the broker listed entry " + seq + " after entry " + after);
                }
                after = seq;
                if (seq <= cp.size() && wanted.test(e)) {
                    out.add(prove(broker, cp, seq));
                }
            }
            if (page.size() < 1000) {
                break;
            }
        }
        return out;
    }

    /** Checks that {@code entry} is in the log of checkpoint {@code cp}, at its sequence number. */
    public void contains(Checkpoint cp, AuditEntry entry, List<byte[]> proof) throws ProofException {
        MerkleTree.verifyInclusion(entry.seq() - 1, cp.size(), MerkleTree.leafHash(entry.canonical()), proof,
                cp.rootHash());
    }
}
