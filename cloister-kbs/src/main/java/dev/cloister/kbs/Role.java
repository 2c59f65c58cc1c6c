package dev.cloister.kbs;

import java.util.Locale;

/** What a bearer token may do. */
public enum Role {
    /** Everything: namespaces, tokens, every namespace's secrets and policies, the audit log. */
    ADMIN,
    /** Secrets and policies of one namespace, and that namespace's audit entries. */
    OWNER,
    /** Read-only: the audit log (of one namespace, or all when the token has none) and secret metadata. */
    AUDITOR;

    /** Parses {@code admin}, {@code owner} or {@code auditor}. */
    public static Role parse(String s) throws KbsException {
        try {
            return valueOf(s.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw KbsException.badRequest("unknown role '" + s + "' (admin, owner, auditor)");
        }
    }

    /** Lower-case spelling for JSON and the CLI. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
