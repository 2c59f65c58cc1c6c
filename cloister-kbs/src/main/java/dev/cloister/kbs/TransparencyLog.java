package dev.cloister.kbs;

import dev.cloister.kbs.tlog.Checkpoint;
import dev.cloister.kbs.tlog.MerkleTree;
import dev.cloister.kbs.tlog.NoteSigner;
import java.util.List;

/**
 * The audit log as a transparency log: an RFC 9162 Merkle tree over the audit entries' canonical bytes, held in
 * memory and filled from the audit table on demand, with Ed25519-signed checkpoints and proofs.
 */
final class TransparencyLog {
    private final AuditRows audit;
    private final NoteSigner signer;
    /** Leaf hashes of the audit entries read so far, filled on the first checkpoint or proof asked for. */
    private final MerkleTree tree = new MerkleTree();
    /** Where each signed checkpoint is kept outside the database, or null. */
    private volatile LogAnchor anchor;
    /** Why the log could not be read (entries missing), or null: the broker's health reports it. */
    private volatile String damage;

    private final OneWayChanges oneWay;

    TransparencyLog(AuditRows audit, NoteSigner signer, OneWayChanges oneWay) {
        this.audit = audit;
        this.signer = signer;
        this.oneWay = oneWay;
    }

    void anchor(LogAnchor a) {
        this.anchor = a;
    }

    String damage() {
        return damage;
    }

    long size() {
        synchronized (tree) {
            return tree.size();
        }
    }

    byte[] root(long n) {
        synchronized (tree) {
            return tree.root(n);
        }
    }

    String verifierKey() {
        return signer.verifierKey();
    }

    String checkpoint() throws KbsException {
        synchronized (tree) {
            sync();
            long n = tree.size();
            String signed = signer.sign(new Checkpoint(signer.name(), n, tree.root(n)).toText());
            LogAnchor a = anchor;
            if (a != null) {
                a.update(signed, n);
            }
            return signed;
        }
    }

    void prepare() throws KbsException {
        synchronized (tree) {
            sync();
        }
    }

    List<byte[]> inclusionProof(long seq, long size) throws KbsException {
        synchronized (tree) {
            sync();
            if (size < 1 || size > tree.size() || seq < 1 || seq > size) {
                throw KbsException.badRequest("no entry " + seq + " in a log of " + size + " entries (the log has "
                        + tree.size() + ")");
            }
            return tree.inclusionProof(seq - 1, size);
        }
    }

    List<byte[]> consistencyProof(long oldSize, long newSize) throws KbsException {
        synchronized (tree) {
            sync();
            if (oldSize < 1 || oldSize > newSize || newSize > tree.size()) {
                throw KbsException.badRequest("no consistency proof from " + oldSize + " to " + newSize
                        + " entries (the log has " + tree.size() + ")");
            }
            return tree.consistencyProof(oldSize, newSize);
        }
    }

    /** Reads the entries committed since the last call into the tree; a gap means rows were removed. */
    private void sync() throws KbsException {
        while (true) {
            List<AuditEntry> page = audit.list(null, tree.size(), 5000);
            if (page.isEmpty()) {
                return;
            }
            for (AuditEntry e : page) {
                if (e.seq() != tree.size() + 1) {
                    damage = "audit entry " + (tree.size() + 1) + " is missing";
                    throw KbsException.unavailable("the audit log is damaged: entry " + (tree.size() + 1)
                            + " is missing; no checkpoint is signed over it", null);
                }
                tree.append(MerkleTree.leafHash(e.canonical()));
                oneWay.see(e);
            }
        }
    }
}
