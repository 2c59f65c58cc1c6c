package dev.cloister.kbs;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Revocations and retirements as the audit log records them, collected while the log is read into its tree (at
 * start for an anchored broker, then as it grows). Both only ever go one way, so a token the log revoked or a
 * version it retired stays refused even if its row is put back, MAC and all, from a copy made before: the one
 * thing a per-row MAC cannot see. Likewise each policy change is counted, and a policy row whose version (which
 * counts its changes) is below that count is an older policy put back.
 */
final class OneWayChanges {
    private final Set<String> revokedTokens = ConcurrentHashMap.newKeySet();
    private final Set<String> retiredVersions = ConcurrentHashMap.newKeySet();
    private final ConcurrentHashMap<String, Integer> policyChanges = new ConcurrentHashMap<>();

    /** Notes what an audit entry changed for good. */
    void see(AuditEntry e) {
        if (!"ok".equals(e.outcome()) || e.subject() == null) {
            return;
        }
        if (e.action().equals("token.revoke") && e.subject().startsWith("token:")) {
            revokedTokens.add(e.subject().substring("token:".length()));
        } else if (e.action().equals("secret.retire") && e.namespace() != null) {
            retiredVersions.add(e.namespace() + "/" + e.subject());
        } else if (e.action().equals("policy.set") && e.namespace() != null) {
            policyChanges.merge(e.namespace() + "/" + e.subject(), 1, Integer::sum);
        }
    }

    boolean revoked(String tokenId) {
        return revokedTokens.contains(tokenId);
    }

    /**
     * How many changes of the policy of {@code ns/name} the log read so far records: its row's version (which counts
     * them) is at least that, or the row is an older one put back.
     */
    int policyChanges(String ns, String name) {
        return policyChanges.getOrDefault(ns + "/" + name, 0);
    }

    boolean retired(String ns, String name, int version) {
        return retiredVersions.contains(ns + "/" + name + "@" + version);
    }
}
