package dev.cloister.cli.kbs;

import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsException;
import dev.cloister.kbs.KbsStore;
import dev.cloister.kbs.KeyEncryptionKey;
import dev.cloister.kbs.MasterKey;
import dev.cloister.kbs.Pkcs11Kek;
import java.nio.file.Path;
import java.time.Clock;
import picocli.CommandLine.Option;

/** The broker's database and master key, for commands that work on them directly. */
public final class LocalOptions {
    @Option(names = "--db", paramLabel = "PATH|URL",
            description = "SQLite file or jdbc:postgresql://host:port/db?user=.. (default: ~/.cloister/kbs.db). "
                    + "Give a PostgreSQL password with --db-password-file or $" + LocalOptions.PASSWORD_ENV
                    + ", not in the URL: a command line is visible to every user (ps).")
    String db;

    /** The environment variable holding the database password. */
    static final String PASSWORD_ENV = "CLOISTER_KBS_DB_PASSWORD";

    @Option(names = "--db-password-file", paramLabel = "FILE",
            description = "File holding the PostgreSQL password (one line; default: $" + PASSWORD_ENV + " if set).")
    Path dbPasswordFile;

    @Option(names = "--master-key", paramLabel = "FILE",
            description = "Master key file, 32 bytes base64 (default: $CLOISTER_KBS_MASTER_KEY if set, else "
                    + "~/.cloister/kbs-master.key).")
    Path masterKey;

    @Option(names = "--hsm-module", paramLabel = "LIB",
            description = "Keep the master key in a PKCS#11 token instead of a file: the module (e.g. "
                    + "/usr/lib/softhsm/libsofthsm2.so). Needs --hsm-token, --hsm-key and a PIN (--hsm-pin-file or $"
                    + Pkcs11Kek.PIN_ENV + "); the key never leaves the token.")
    Path hsmModule;

    @Option(names = "--hsm-uri", paramLabel = "URI",
            description = "The key as an RFC 7512 PKCS#11 URI instead of the three options: pkcs11:token=LABEL;"
                    + "object=LABEL?module-path=LIB[&pin-source=file:PATH] (pin-value is refused).")
    String hsmUri;

    @Option(names = "--hsm-token", paramLabel = "LABEL", description = "The token's label (with --hsm-module).")
    String hsmToken;

    @Option(names = "--hsm-key", paramLabel = "LABEL",
            description = "The label of the AES-256 key in the token (with --hsm-module; 'kbs master create-hsm-key' "
                    + "makes one).")
    String hsmKey;

    @Option(names = "--hsm-pin-file", paramLabel = "FILE",
            description = "File holding the token's user PIN (one line; default: $" + Pkcs11Kek.PIN_ENV + "). "
                    + "There is no option taking the PIN itself: a command line is visible to every user (ps).")
    Path hsmPinFile;

    @Option(names = "--log-anchor", paramLabel = "FILE",
            description = "Where the broker keeps its last signed audit-log checkpoint, outside the database "
                    + "(default: next to an SQLite database as DB.anchor; for PostgreSQL "
                    + "~/.cloister/kbs-log-<hash of the URL>.anchor).")
    Path logAnchor;

    @Option(names = "--allow-log-rollback",
            description = "Start even when the audit log does not extend the anchored checkpoint (cut off, or an "
                    + "older database restored): warn instead of refusing.")
    boolean allowLogRollback;

    static Path home() {
        return Path.of(System.getProperty("user.home"), ".cloister");
    }

    String db() {
        return db != null ? db : home().resolve("kbs.db").toString();
    }

    /** Whether any of the PKCS#11 options is given (the master key is then in a token). */
    boolean hsmConfigured() {
        return hsmUri != null || hsmModule != null || hsmToken != null || hsmKey != null || hsmPinFile != null;
    }

    /**
     * The key that wraps the broker's keys: in the PKCS#11 token named by the --hsm options, else the master key file
     * or $CLOISTER_KBS_MASTER_KEY. With a token, nothing is created: a missing module, token or key or a refused PIN
     * is an environment error (exit 4).
     */
    KeyEncryptionKey masterKey(boolean create) throws CloisterException {
        if (hsmUri != null) {
            if (hsmModule != null || hsmToken != null || hsmKey != null || masterKey != null) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "--hsm-uri excludes --hsm-module, "
                        + "--hsm-token, --hsm-key and --master-key");
            }
            dev.cloister.kbs.Pkcs11Uri u = dev.cloister.kbs.Pkcs11Uri.parse(hsmUri);
            if (u.module() == null) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        "--hsm-uri must name the PKCS#11 library (module-path=...)");
            }
            if (u.pinFile() != null && hsmPinFile != null) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        "the PIN file is given twice (--hsm-pin-file and pin-source in --hsm-uri)");
            }
            hsmModule = u.module();
            hsmToken = u.token();
            hsmKey = u.object();
            hsmPinFile = u.pinFile() != null ? u.pinFile() : hsmPinFile;
            hsmUri = null;
        }
        if (hsmModule != null || hsmToken != null || hsmKey != null || hsmPinFile != null) {
            if (hsmModule == null || hsmToken == null || hsmKey == null) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        "--hsm-module, --hsm-token and --hsm-key go together");
            }
            if (masterKey != null) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                        "--master-key and --hsm-module exclude each other: the master key is either a file or in a token");
            }
            char[] pin = hsmPin();
            try {
                return Pkcs11Kek.open(hsmModule, hsmToken, hsmKey, pin);
            } finally {
                java.util.Arrays.fill(pin, '\0');
            }
        }
        if (masterKey == null && System.getenv(MasterKey.ENV) != null) {
            return MasterKey.load(null, false);
        }
        return MasterKey.load(masterKey != null ? masterKey : home().resolve("kbs-master.key"), create);
    }

    /**
     * Opens the database; with {@code create} false (commands that read or export an existing broker) neither the
     * master key nor an SQLite database is made, so a mistyped path is an error, not a new empty broker.
     */
    KbsStore open(boolean create) throws CloisterException {
        String d = db();
        if (!create && !d.startsWith("jdbc:postgresql:")) {
            Path file = Path.of(d.startsWith("jdbc:sqlite:") ? d.substring("jdbc:sqlite:".length()) : d);
            if (!java.nio.file.Files.isRegularFile(file)) {
                throw KbsException.badRequest("no broker database at " + file + " (pass --db, or start one with "
                        + "'cloister kbs serve')");
            }
        }
        return KbsStore.open(d, password(), masterKey(create), Clock.systemUTC(), null);
    }

    /** The token's user PIN from --hsm-pin-file or the environment. */
    char[] hsmPin() throws CloisterException {
        if (hsmPinFile != null) {
            try {
                String p = java.nio.file.Files.readString(hsmPinFile, java.nio.charset.StandardCharsets.UTF_8).strip();
                if (p.isEmpty() || p.contains("\n")) {
                    throw new CloisterException(CloisterException.Kind.BAD_INPUT, "PIN file " + hsmPinFile
                            + " must hold one non-empty line");
                }
                return p.toCharArray();
            } catch (java.io.IOException e) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "cannot read PIN file " + hsmPinFile
                        + ": " + e.getMessage(), e);
            }
        }
        String env = System.getenv(Pkcs11Kek.PIN_ENV);
        if (env == null || env.isEmpty()) {
            throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                    "no PIN for PKCS#11 token '" + hsmToken + "': pass --hsm-pin-file FILE or set " + Pkcs11Kek.PIN_ENV);
        }
        return env.toCharArray();
    }

    /** The database password from --db-password-file or the environment, or null. */
    String password() throws CloisterException {
        if (dbPasswordFile != null) {
            try {
                String p = java.nio.file.Files.readString(dbPasswordFile, java.nio.charset.StandardCharsets.UTF_8)
                        .strip();
                if (p.isEmpty() || p.contains("\n")) {
                    throw new CloisterException(CloisterException.Kind.BAD_INPUT, "database password file "
                            + dbPasswordFile + " must hold one non-empty line");
                }
                return p;
            } catch (java.io.IOException e) {
                throw new CloisterException(CloisterException.Kind.BAD_INPUT, "cannot read database password file "
                        + dbPasswordFile + ": " + e.getMessage(), e);
            }
        }
        String env = System.getenv(PASSWORD_ENV);
        return env == null || env.isEmpty() ? null : env;
    }

    /** The file the broker's log anchor is kept in (see {@code --log-anchor}). */
    Path anchorFile() {
        if (logAnchor != null) {
            return logAnchor;
        }
        String d = db();
        if (d.startsWith("jdbc:postgresql:")) {
            try {
                byte[] h = java.security.MessageDigest.getInstance("SHA-256")
                        .digest(d.replaceAll("(?i)(password=)[^&]*", "$1").getBytes(java.nio.charset.StandardCharsets.UTF_8));
                return home().resolve("kbs-log-" + java.util.HexFormat.of().formatHex(h, 0, 4) + ".anchor");
            } catch (java.security.GeneralSecurityException e) {
                throw new IllegalStateException(e);
            }
        }
        String file = d.startsWith("jdbc:sqlite:") ? d.substring("jdbc:sqlite:".length()) : d;
        return Path.of(file + ".anchor");
    }

    /** Opens the database for a broker: created if new, its audit log checked against and kept in the anchor. */
    KbsStore openAnchored(KeyEncryptionKey kek) throws CloisterException {
        return KbsStore.open(db(), password(), kek, Clock.systemUTC(),
                new KbsStore.Anchor(anchorFile(), allowLogRollback));
    }
}
