-- Capture: the tables that row-change triggers write into, in the
-- application's own transaction, and that the sequencer moves into the log.
-- The application's tables live in the same file (package capture).

-- The tables capture is enabled on. A disabled table keeps its row (with
-- disabled set) so that its pending changes can still be sequenced, and so
-- that enabling it again keeps its id and salt.
CREATE TABLE prov_captured (
	id       INTEGER PRIMARY KEY,         -- in the names of its triggers and in its changes
	name     TEXT    NOT NULL,            -- main.table when enabled: what records and entity ids say
	tbl      TEXT    NOT NULL,            -- the table's name now (the triggers follow renames)
	db       TEXT    NOT NULL,            -- the database's name in entity ids, sqlite:<db>/…
	pk       TEXT    NOT NULL,            -- JSON array of the primary key columns, in key order
	pii      TEXT    NOT NULL DEFAULT '[]', -- JSON array of the columns kept as salted digests
	salt     BLOB    NOT NULL,            -- salts the digests of pii columns
	enabled  INTEGER NOT NULL,            -- unix microseconds
	disabled INTEGER                      -- unix microseconds
);

-- One row per changed row, written by the triggers: the minimum, so that the
-- application's transaction pays little. Canonical images, PII digests,
-- digests, changed columns, entity ids and checks are derived by the
-- sequencer. AUTOINCREMENT: ids are never reused once sequenced.
CREATE TABLE prov_changes (
	id    INTEGER PRIMARY KEY AUTOINCREMENT,
	relid INTEGER NOT NULL,               -- prov_captured.id
	op    TEXT    NOT NULL,               -- I insert, U update, D delete; R the row an INSERT is about to replace
	new   TEXT,                           -- the row after (I, U), as json_object made it
	old   TEXT,                           -- the row before (U, D, R)
	ctx   TEXT,                           -- prov_context.ctx, or NULL: unattributed
	xid   INTEGER,                        -- prov_context.id: the attributed transaction
	at    INTEGER NOT NULL DEFAULT (CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000) -- unix microseconds, of the statement
);

-- The last known state of every captured row: the digest of its image and
-- the log index of the change that wrote it (NULL: as found when capture was
-- enabled). The sequencer keeps it.
CREATE TABLE prov_row_state (
	relid  INTEGER NOT NULL,
	pk     TEXT    NOT NULL,              -- the primary key as a JSON object, canonical
	digest BLOB,                          -- NULL: the row is deleted
	idx    INTEGER,
	PRIMARY KEY (relid, pk)
) WITHOUT ROWID;

-- Counters per captured table, kept by the sequencer.
CREATE TABLE prov_capture_stats (
	relid        INTEGER PRIMARY KEY,
	changes      INTEGER NOT NULL DEFAULT 0,
	unattributed INTEGER NOT NULL DEFAULT 0,
	bypassed     INTEGER NOT NULL DEFAULT 0 -- changes whose before-image was not the last captured state
);

-- The attribution of the transaction being written, the SQLite counterpart
-- of PostgreSQL's prov.context setting: an attributed transaction inserts its
-- encoded prov.Attribution as its first statement and deletes it just before
-- COMMIT (package provctx, BeginSQLiteTx), so that no other transaction ever
-- sees the row. The triggers read the newest row; its id, never reused,
-- identifies the transaction.
CREATE TABLE prov_context (
	id  INTEGER PRIMARY KEY AUTOINCREMENT,
	ctx TEXT    NOT NULL
);
