-- Key broker schema. Portable between SQLite and PostgreSQL; ${blob} is BLOB or BYTEA.
CREATE TABLE kbs_meta (
  k VARCHAR(64) PRIMARY KEY,
  v ${blob} NOT NULL
);
CREATE TABLE namespaces (
  name VARCHAR(64) PRIMARY KEY,
  created_at BIGINT NOT NULL
);
CREATE TABLE tokens (
  id VARCHAR(32) PRIMARY KEY,
  hash ${blob} NOT NULL UNIQUE,
  role VARCHAR(16) NOT NULL,
  namespace VARCHAR(64),
  created_at BIGINT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE secrets (
  namespace VARCHAR(64) NOT NULL,
  name VARCHAR(128) NOT NULL,
  version INTEGER NOT NULL,
  kind VARCHAR(16) NOT NULL,
  state VARCHAR(16) NOT NULL,
  wrapped_dek ${blob} NOT NULL,
  ciphertext ${blob} NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT,
  PRIMARY KEY (namespace, name, version)
);
CREATE TABLE policies (
  namespace VARCHAR(64) NOT NULL,
  name VARCHAR(128) NOT NULL,
  text TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (namespace, name)
);
CREATE TABLE audit (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  actor VARCHAR(64) NOT NULL,
  action VARCHAR(32) NOT NULL,
  namespace VARCHAR(64),
  subject VARCHAR(256),
  outcome VARCHAR(16) NOT NULL,
  detail TEXT NOT NULL,
  prev_hash ${blob} NOT NULL,
  hash ${blob} NOT NULL
);
