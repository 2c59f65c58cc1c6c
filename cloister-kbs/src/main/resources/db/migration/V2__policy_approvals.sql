-- Multi-party control of release policies: a namespace may require K approvals (distinct tokens) before a policy
-- change takes effect. Portable between SQLite and PostgreSQL.
CREATE TABLE namespace_rules (
  namespace VARCHAR(64) PRIMARY KEY,
  policy_approvals INTEGER NOT NULL
);
CREATE TABLE policy_proposals (
  id VARCHAR(32) PRIMARY KEY,
  namespace VARCHAR(64) NOT NULL,
  name VARCHAR(128) NOT NULL,
  text TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  state VARCHAR(16) NOT NULL
);
CREATE TABLE policy_approvals (
  proposal_id VARCHAR(32) NOT NULL,
  token_id VARCHAR(32) NOT NULL,
  approved_at BIGINT NOT NULL,
  PRIMARY KEY (proposal_id, token_id)
);
