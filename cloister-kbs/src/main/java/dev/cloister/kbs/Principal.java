package dev.cloister.kbs;

/**
 * Who made a request: an authenticated token's id, role and namespace (null for admin and global auditors).
 *
 * @param tokenId the token's public id (never the token itself)
 * @param role what it may do
 * @param namespace the namespace an owner or auditor is confined to, or null
 */
public record Principal(String tokenId, Role role, String namespace) {
    /** The actor name written to the audit log. */
    public String actor() {
        return "token:" + tokenId;
    }

    /** Whether this principal sees every namespace: an admin or an auditor confined to none. */
    public boolean global() {
        return role == Role.ADMIN || role == Role.AUDITOR && namespace == null;
    }

    /** Whether this principal may read {@code ns}. */
    public boolean canRead(String ns) {
        return global() || ns.equals(namespace);
    }

    /** Whether this principal may change secrets and policies in {@code ns}. */
    public boolean canWrite(String ns) {
        return role == Role.ADMIN || role == Role.OWNER && ns.equals(namespace);
    }
}
