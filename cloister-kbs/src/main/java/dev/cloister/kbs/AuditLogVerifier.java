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

    /** Checks that {@code entry} is in the log of checkpoint {@code cp}, at its sequence number. */
    public void contains(Checkpoint cp, AuditEntry entry, List<byte[]> proof) throws ProofException {
        MerkleTree.verifyInclusion(entry.seq() - 1, cp.size(), MerkleTree.leafHash(entry.canonical()), proof,
                cp.rootHash());
    }
}
