package dev.cloister.cli.kbs;

import dev.cloister.core.AtomicFiles;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.AuditLogVerifier;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.KbsException;
import dev.cloister.kbs.tlog.Checkpoint;
import dev.cloister.kbs.tlog.NoteVerifier;
import dev.cloister.kbs.tlog.ProofException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The client side of the audit transparency log for {@code kbs audit checkpoint|prove}: the pinned log key, the
 * checkpoint kept from the last run, and the check that the broker's current log extends it.
 */
public final class LogCheck {
    @Option(names = "--log-key", paramLabel = "KEY",
            description = "The broker's audit log key, <origin>+<id>+<key> (default: $CLOISTER_KBS_LOG_KEY, else the "
                    + "kbs-log-key file next to the --ca certificate, as written by 'kbs serve'). Get it from the "
                    + "broker's operator, not from the broker you are checking.")
    String logKey;

    @Option(names = "--state", paramLabel = "FILE",
            description = "Keep the newest verified checkpoint in FILE; each run checks that the log extends it "
                    + "(default: ~/.cloister/checkpoints/<origin>).")
    Path state;

    @Option(names = "--no-state", description = "Neither read nor keep a checkpoint: only check the signature.")
    boolean noState;

    /** What one check found, and the verifier it used (for proving entries against the same checkpoint). */
    public record Result(Checkpoint checkpoint, Checkpoint previous, Path state, AuditLogVerifier verifier) {}

    /** Fetches the broker's checkpoint, verifies it and its consistency with the kept one, and keeps it. */
    public Result check(KbsClient client, ClientOptions where) throws CloisterException {
        AuditLogVerifier v = verifier(where);
        String note = client.auditCheckpoint();
        Checkpoint now = proof(() -> v.checkpoint(note), "the broker's checkpoint");
        if (noState) {
            return new Result(now, null, null, v);
        }
        Path file = state != null ? state : LocalOptions.home().resolve("checkpoints")
                .resolve(now.origin().replaceAll("[^A-Za-z0-9._-]", "_"));
        Checkpoint kept = null;
        if (Files.exists(file)) {
            String old;
            try {
                old = Files.readString(file, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw KbsException.badRequest("cannot read kept checkpoint " + file + ": " + why(e));
            }
            kept = proof(() -> v.checkpoint(old), "the checkpoint kept in " + file);
            Checkpoint before = kept;
            List<byte[]> consistency = before.size() == 0 || before.size() >= now.size() ? List.of()
                    : client.auditConsistency(before.size(), now.size());
            proof(() -> {
                v.consistent(before, now, consistency);
                return null;
            }, "the log against the checkpoint kept in " + file);
        }
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            AtomicFiles.writeBytes(file, true, note.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw KbsException.badRequest("cannot keep the checkpoint in " + file + ": " + why(e));
        }
        return new Result(now, kept, file, v);
    }

    /** Whether a log key is configured (option, environment or the file next to the certificate). */
    public boolean hasKey(ClientOptions where) {
        return logKey != null || System.getenv("CLOISTER_KBS_LOG_KEY") != null
                || Files.exists(where.caFile().toAbsolutePath().resolveSibling("kbs-log-key"));
    }

    /** The JDK's file exceptions carry only the path as their message; say what went wrong with it. */
    private static String why(IOException e) {
        return switch (e) {
            case java.nio.file.NoSuchFileException n -> "no such file or folder " + n.getFile();
            case java.nio.file.AccessDeniedException a -> "permission denied on " + a.getFile();
            case java.nio.file.FileSystemException f -> f.getReason() != null ? f.getFile() + ": " + f.getReason()
                    : "cannot write " + f.getFile();
            default -> e.getMessage();
        };
    }

    /** The verifier for the pinned key. */
    private AuditLogVerifier verifier(ClientOptions where) throws CloisterException {
        String k = logKey != null ? logKey : System.getenv("CLOISTER_KBS_LOG_KEY");
        if (k == null) {
            Path f = where.caFile().toAbsolutePath().resolveSibling("kbs-log-key");
            if (!Files.exists(f)) {
                throw KbsException.badRequest("no audit log key: pass --log-key KEY (ask the broker's operator; "
                        + "'kbs serve' writes it to kbs-log-key next to its certificate)");
            }
            try {
                k = Files.readString(f, StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                throw KbsException.badRequest("cannot read " + f + ": " + e.getMessage());
            }
        }
        try {
            return new AuditLogVerifier(NoteVerifier.parse(k));
        } catch (ProofException e) {
            // A key that does not parse is a bad argument (exit 3), not a failed check.
            throw KbsException.badRequest("--log-key: " + e.getMessage());
        }
    }

    /** Runs a check; a failed proof is a denial (exit 1) that says what did not verify. */
    public static <T> T proof(Check<T> c, String what) throws CloisterException {
        try {
            return c.run();
        } catch (ProofException e) {
            throw new CloisterException(CloisterException.Kind.DENIED, what + ": " + e.getMessage());
        }
    }

    /** A step that may fail with a {@link ProofException}. */
    @FunctionalInterface
    public interface Check<T> {
        T run() throws ProofException, CloisterException;
    }
}
