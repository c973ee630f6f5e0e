-- API tokens of prov serve: only the SHA-256 of each secret is stored.
CREATE TABLE prov_tokens (
	id      TEXT    PRIMARY KEY,          -- the public part of the token
	name    TEXT    NOT NULL,             -- what it is for
	hash    BLOB    NOT NULL,             -- SHA-256 of the secret part
	scopes  TEXT    NOT NULL,             -- space-separated: ingest, read, audit, admin
	created INTEGER NOT NULL,             -- unix microseconds
	revoked INTEGER
) WITHOUT ROWID;
