-- Every security-relevant row carries an HMAC-SHA256 (RowMac: key derived from the master key, canonical versioned
-- encoding with the row's identity), computed by the broker at its first start on this schema. Also token and
-- proposal expiry, and the policy version a proposal amends. Portable between SQLite and PostgreSQL.
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN mac ${blob};
ALTER TABLE secrets ADD COLUMN mac ${blob};
ALTER TABLE policies ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE policies ADD COLUMN mac ${blob};
ALTER TABLE namespace_rules ADD COLUMN mac ${blob};
ALTER TABLE policy_proposals ADD COLUMN base_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE policy_proposals ADD COLUMN expires_at BIGINT;
ALTER TABLE policy_proposals ADD COLUMN mac ${blob};
ALTER TABLE policy_approvals ADD COLUMN mac ${blob};
-- A policy's version counts its changes, each of which is a policy.set audit entry: the log can then tell an older
-- policy put back whole (MAC and all) from the current one.
UPDATE policies SET version = CASE WHEN (SELECT COUNT(*) FROM audit a WHERE a.action = 'policy.set'
    AND a.outcome = 'ok' AND a.namespace = policies.namespace AND a.subject = policies.name) > 1
    THEN (SELECT COUNT(*) FROM audit a WHERE a.action = 'policy.set' AND a.outcome = 'ok'
        AND a.namespace = policies.namespace AND a.subject = policies.name) ELSE 1 END;
UPDATE policy_proposals SET base_version = COALESCE((SELECT p.version FROM policies p
    WHERE p.namespace = policy_proposals.namespace AND p.name = policy_proposals.name), 0);
-- Each namespace has its rules row from now on, so that a deleted row reads as tampering, not as "1 approval".
INSERT INTO namespace_rules (namespace, policy_approvals)
    SELECT name, 1 FROM namespaces WHERE name NOT IN (SELECT namespace FROM namespace_rules);
