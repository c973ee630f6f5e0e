-- API tokens of prov serve: only the SHA-256 of each secret is stored.
CREATE TABLE tokens (
	id      text        PRIMARY KEY,          -- the public part of the token
	name    text        NOT NULL,             -- what it is for
	hash    bytea       NOT NULL,             -- SHA-256 of the secret part
	scopes  text        NOT NULL,             -- space-separated: ingest, read, audit, admin
	created timestamptz NOT NULL,
	revoked timestamptz
);
