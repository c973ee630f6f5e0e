-- Capture: the tables that row-change triggers write into, in the
-- application's own transaction, and that the sequencer moves into the log.
-- Run with search_path set to the store's schema.

-- The tables capture is enabled on. A disabled table keeps its row (with
-- disabled set) so that its pending changes can still be sequenced.
CREATE TABLE captured (
	relid    oid         PRIMARY KEY,
	name     text        NOT NULL,            -- schema.table when enabled
	pk       text[]      NOT NULL,            -- primary key columns, in key order
	pii      text[]      NOT NULL DEFAULT '{}',
	salt     bytea       NOT NULL,            -- salts the digests of pii columns
	enabled  timestamptz NOT NULL DEFAULT now(),
	disabled timestamptz
);

-- One row per changed row, written by the triggers: the minimum, so that the
-- application's transaction pays little. Digests, changed columns, entity ids
-- and checks are derived by the sequencer.
CREATE TABLE changes (
	id      bigserial   PRIMARY KEY,
	xid     xid8        NOT NULL DEFAULT pg_current_xact_id(),
	relid   oid         NOT NULL,
	op      "char"      NOT NULL,              -- I insert, U update, D delete, T truncate
	new     jsonb,                             -- the row after (I, U)
	old     jsonb,                             -- the row before (U, D, T)
	ctx     text,                              -- prov.context, or NULL: unattributed
	db_user text        NOT NULL DEFAULT session_user, -- the login role: the triggers run as their owner
	app     text        DEFAULT current_setting('application_name', true),
	client  inet        DEFAULT inet_client_addr(),
	at      timestamptz NOT NULL DEFAULT statement_timestamp()
);

-- The last known state of every captured row: the digest of its image and
-- the log index of the change that wrote it (NULL: as found when capture was
-- enabled). The sequencer keeps it; verify --live compares live rows with it.
CREATE TABLE row_state (
	relid   oid    NOT NULL,
	pk      jsonb  NOT NULL,
	digest  bytea,                             -- NULL: the row is deleted
	idx     bigint,
	PRIMARY KEY (relid, pk)
);

-- Counters per captured table, kept by the sequencer.
CREATE TABLE capture_stats (
	relid        oid    PRIMARY KEY,
	changes      bigint NOT NULL DEFAULT 0,
	unattributed bigint NOT NULL DEFAULT 0,
	bypassed     bigint NOT NULL DEFAULT 0      -- changes whose before-image was not the last captured state
);

-- Replaces the values of the named keys of j with salted SHA-256 digests,
-- so that personal data never reaches the capture tables.
CREATE FUNCTION pii_digest(j jsonb, salt bytea, cols text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT j || COALESCE(jsonb_object_agg(k,
		CASE WHEN jsonb_typeof(j->k) = 'null' THEN 'null'::jsonb
		ELSE to_jsonb('sha256:' || encode(sha256(salt || convert_to(j->>k, 'UTF8')), 'hex')) END), '{}'::jsonb)
	FROM unnest(cols) AS k WHERE j ? k
$$;
