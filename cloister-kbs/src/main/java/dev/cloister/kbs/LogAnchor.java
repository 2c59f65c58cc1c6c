package dev.cloister.kbs;

import dev.cloister.core.AtomicFiles;
import dev.cloister.kbs.tlog.Checkpoint;
import dev.cloister.kbs.tlog.MerkleTree;
import dev.cloister.kbs.tlog.NoteVerifier;
import dev.cloister.kbs.tlog.ProofException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker's own anchor of its audit log: the last signed checkpoint, kept in a file outside the database
 * (written atomically, mode 600). At start the log must extend it - at least as many entries, and the first ones
 * the same (a consistency proof against the kept root) - or the broker refuses to start: entries were cut off the
 * log, or an older copy of the database was restored. With {@code allowRollback} it only warns.
 */
final class LogAnchor {
    private static final Logger LOG = LoggerFactory.getLogger(LogAnchor.class);

    private final Path file;
    private final boolean allowRollback;
    private long anchored = -1;

    LogAnchor(Path file, boolean allowRollback) {
        this.file = file.toAbsolutePath();
        this.allowRollback = allowRollback;
    }

    Path file() {
        return file;
    }

    /** Checks the log against the kept checkpoint (reading the log into its tree now), then anchors the log. */
    void checkAtStart(TransparencyLog log) throws KbsException {
        String problem = problem(log);
        if (problem != null) {
            refuse(problem);
        }
        log.checkpoint();
    }

    /**
     * Why the log does not extend the kept checkpoint, or null when it does (or none is kept yet). Reads the log
     * into its tree.
     */
    String problem(TransparencyLog log) throws KbsException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            text = null;
        } catch (IOException e) {
            throw KbsException.unavailable("cannot read the log anchor " + file + ": " + e.getMessage(), e);
        }
        try {
            log.prepare();
        } catch (KbsException e) {
            return "the audit log cannot be read into its tree (" + e.getMessage() + ")";
        }
        long n = log.size();
        if (text == null) {
            LOG.info("no log anchor at {} yet: anchoring the audit log of {} entries", file, n);
            return null;
        }
        Checkpoint kept;
        try {
            kept = Checkpoint.open(text, NoteVerifier.parse(log.verifierKey()));
        } catch (ProofException e) {
            return "the log anchor " + file + " does not verify under this database's log key (" + e.getMessage()
                    + "): the database is another broker's, or the anchor was altered";
        }
        if (n < kept.size()) {
            return "the audit log has " + n + " entries, fewer than the " + kept.size() + " of the checkpoint kept in "
                    + file + ": entries were cut off the log or an older copy of the database was restored";
        }
        if (kept.size() == 0) {
            return null;
        }
        try {
            MerkleTree.verifyConsistency(kept.size(), n, kept.rootHash(), log.root(n),
                    log.consistencyProof(kept.size(), n));
            return null;
        } catch (ProofException e) {
            return "the audit log of " + n + " entries does not extend the checkpoint of " + kept.size()
                    + " entries kept in " + file + " (" + e.getMessage() + "): entries it covered were changed or "
                    + "replaced";
        }
    }

    private void refuse(String why) throws KbsException {
        if (allowRollback) {
            LOG.warn("{} (accepted: --allow-log-rollback); the anchor is moved to the log as it is now", why);
            return;
        }
        throw KbsException.denied(why + "; refusing to start (--allow-log-rollback accepts it, after you have "
                + "found out why)");
    }

    /** Keeps {@code signedCheckpoint} (of a log of {@code size} entries) as the anchor, when the log grew. */
    synchronized void update(String signedCheckpoint, long size) throws KbsException {
        if (size == anchored) {
            return;
        }
        try {
            Files.createDirectories(file.getParent());
            AtomicFiles.writeBytes(file, true, signedCheckpoint.getBytes(StandardCharsets.UTF_8));
            anchored = size;
        } catch (IOException e) {
            throw KbsException.unavailable("cannot write the log anchor " + file + ": " + e.getMessage(), e);
        }
    }
}
