// Package postgres implements prov.Store on PostgreSQL, through pgx (a pool
// of native connections, not database/sql), for logs shared by many hosts.
//
// The tables live in one schema, "prov" unless Options.Schema says otherwise,
// so that several logs can share a database. Open creates the schema and
// applies the embedded migrations (migrations/*.sql) in one transaction that
// holds an advisory lock, so concurrent Opens are safe; the versions applied
// are recorded in the schema's schema_migrations table. When the schema is
// current, Open runs no DDL, so a role with only SELECT, INSERT and UPDATE on
// the tables can use the store.
//
// Update serialises writers with a transaction-scoped advisory lock derived
// from the schema name, taken before anything else, and runs at READ
// COMMITTED, so every statement after the lock sees all earlier commits.
// View runs a REPEATABLE READ, READ ONLY transaction: one snapshot, and it
// never waits for a writer. A transaction that Update has returned nil from
// is committed, and with PostgreSQL's default synchronous_commit=on, flushed
// to the server's write-ahead log: it is durable.
//
// Errors are prov errors: a server that cannot be reached is Unavailable, a
// refused login or missing privilege Unauthorized, a duplicate event id
// Conflict; a cancelled context is returned as is.
package postgres

import (
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prov-dev/prov"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultSchema is the schema that holds the tables unless Options.Schema
// names another.
const DefaultSchema = "prov"

// DefaultConnectTimeout bounds each connection attempt when the DSN sets no
// connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// copyThreshold is the batch size from which Append uses COPY rather than
// one INSERT of arrays: COPY costs two more round trips (the log's size, and
// the table's description on a connection's first COPY) but streams.
const copyThreshold = 32

// Options tune Open.
type Options struct {
	// Schema is the schema that holds the log's tables; DefaultSchema if
	// empty. It is created if it does not exist.
	Schema string
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate reports whether the options can be used.
func (o Options) Validate() error {
	if o.Schema != "" && !schemaName.MatchString(o.Schema) {
		return prov.Errorf(prov.Invalid, "postgres: schema name %q is not usable: use 1 to 63 lowercase letters, digits and underscores, not starting with a digit", o.Schema)
	}
	return nil
}

// Store is a prov.Store in one schema of a PostgreSQL database. It is safe
// for concurrent use by many goroutines and processes.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	lock   int64  // the advisory lock key of Update and migrations
	addr   string // host:port, for messages
	user   string
	db     string
	q      queries

	migrated bool // Open is done: a missing privilege is one on the tables
}

var (
	_ prov.Store       = (*Store)(nil)
	_ prov.ProofReader = (*Store)(nil)
)

// queries are the store's statements, with the schema filled in.
type queries struct {
	size, entry, entries, ofType, leaves, hashes, insert, insertAt, checkpoints, latest, putCheckpoint, meta, setMeta, forProof string
}

func newQueries(schema string) queries {
	s := pgx.Identifier{schema}.Sanitize()
	f := func(q string) string { return strings.ReplaceAll(q, "{s}", s) }
	const columns = "idx, data, hashes, type, COALESCE(event_id, ''), COALESCE(activity_id, ''), COALESCE(agent_id, ''), time"
	return queries{
		size:    f("SELECT COALESCE(MAX(idx) + 1, 0) FROM {s}.records"),
		entry:   f("SELECT " + columns + " FROM {s}.records WHERE idx = $1"),
		entries: f("SELECT " + columns + " FROM {s}.records WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3"),
		ofType:  f("SELECT " + columns + " FROM {s}.records WHERE type = '{type}' AND idx >= $1 AND idx < $2 ORDER BY idx"),
		leaves:  f("SELECT idx, data, hashes FROM {s}.records WHERE idx >= $1 AND idx < $2 ORDER BY idx"),
		hashes:  f("SELECT idx, hashes FROM {s}.records WHERE idx = ANY($1::bigint[])"),
		// One statement, so one round trip: it inserts all the entries if
		// the first continues the log, and none otherwise. The subquery is
		// evaluated once, before any row is inserted.
		insert: f(`INSERT INTO {s}.records (idx, data, hashes, type, event_id, activity_id, agent_id, time)
SELECT u.idx, u.data, u.hashes, u.type, NULLIF(u.event_id, ''), NULLIF(u.activity_id, ''), NULLIF(u.agent_id, ''), u.time
FROM unnest($2::bigint[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
	AS u(idx, data, hashes, type, event_id, activity_id, agent_id, time)
WHERE (SELECT COALESCE(MAX(idx) + 1, 0) FROM {s}.records) = $1::bigint`),
		// insert without the check, for AppendDeferred, whose first index
		// is the size read under the write lock: an index taken by a
		// writer that bypassed the lock fails on the primary key, and
		// aborts the transaction, rather than inserting nothing.
		insertAt: f(`INSERT INTO {s}.records (idx, data, hashes, type, event_id, activity_id, agent_id, time)
SELECT u.idx, u.data, u.hashes, u.type, NULLIF(u.event_id, ''), NULLIF(u.activity_id, ''), NULLIF(u.agent_id, ''), u.time
FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
	AS u(idx, data, hashes, type, event_id, activity_id, agent_id, time)`),
		checkpoints:   f("SELECT size, root, note, created FROM {s}.checkpoints ORDER BY size"),
		latest:        f("SELECT size, root, note, created FROM {s}.checkpoints ORDER BY size DESC LIMIT 1"),
		putCheckpoint: f("INSERT INTO {s}.checkpoints (size, root, note, created) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING"),
		meta:          f("SELECT value FROM {s}.meta WHERE key = $1"),
		setMeta:       f("INSERT INTO {s}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
		// One statement, so one snapshot and one round trip: a first row
		// with the size and the latest checkpoint (NULLs if none), then one
		// row per record found.
		forProof: f(`SELECT NULL::bigint, NULL::bytea, n.n, c.size, c.root, c.note, c.created
FROM (SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM {s}.records) AS n
LEFT JOIN (SELECT size, root, note, created FROM {s}.checkpoints ORDER BY size DESC LIMIT 1) AS c ON true
UNION ALL
SELECT idx, hashes, NULL, NULL, NULL, NULL, NULL FROM {s}.records WHERE idx = ANY($1::bigint[])`),
	}
}

// Open connects to the PostgreSQL database named by dsn (a postgres:// URL
// or a key=value connection string, as libpq takes), creates the schema if
// needed and applies the embedded migrations. It returns an error of kind
// Invalid for a bad DSN or schema name, Unavailable if the server cannot be
// reached, Unauthorized if it refuses the login or a privilege, and Conflict
// if the schema was migrated by a newer version of prov.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Schema == "" {
		opts.Schema = DefaultSchema
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx leaves the password out of its message.
		return nil, &prov.Error{Kind: prov.Invalid, Message: fmt.Sprintf("postgres: the DSN is not valid: %v: use a URL such as postgres://user@host:5432/db", err), Err: err}
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &prov.Error{Kind: prov.Invalid, Message: fmt.Sprintf("postgres: cannot use the DSN: %v", err), Err: err}
	}
	h := fnv.New64a()
	h.Write([]byte("github.com/prov-dev/prov/postgres:" + opts.Schema))
	s := &Store{
		pool:   pool,
		schema: opts.Schema,
		lock:   int64(h.Sum64()),
		addr:   net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))),
		user:   cfg.ConnConfig.User,
		db:     cfg.ConnConfig.Database,
		q:      newQueries(opts.Schema),
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	s.migrated = true
	return s, nil
}

// Pool returns the store's connection pool, for tests and benchmarks that
// need to reach the tables directly.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema that holds the store's tables.
func (s *Store) Schema() string { return s.schema }

// Close closes the pool's connections, waiting for those in use.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

type migration struct {
	version int
	name    string
}

func migrationFiles() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		digits, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(digits)
		if err != nil || v <= 0 || (len(out) > 0 && v <= out[len(out)-1].version) {
			return nil, fmt.Errorf("postgres: migration %s: its name must start with an increasing version number, as in 0001_log.sql", name)
		}
		out = append(out, migration{v, name})
	}
	return out, nil
}

// migrate brings the schema to the latest version. It holds the store's
// advisory lock, so concurrent Opens (and writers) wait for one another.
func (s *Store) migrate(ctx context.Context) error {
	files, err := migrationFiles()
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.wrap(ctx, "open the store", err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.lock); err != nil {
		return s.wrap(ctx, "lock the schema for migration", err)
	}
	schema := pgx.Identifier{s.schema}.Sanitize()
	// Existence is checked first: CREATE … IF NOT EXISTS needs the CREATE
	// privilege even when there is nothing to create.
	var hasSchema, hasTable bool
	err = tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), to_regclass($2) IS NOT NULL",
		s.schema, schema+".schema_migrations").Scan(&hasSchema, &hasTable)
	if err != nil {
		return s.wrap(ctx, "read the schema version", err)
	}
	if !hasSchema {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			return s.wrap(ctx, "create the schema "+s.schema, err)
		}
	}
	if !hasTable {
		_, err := tx.Exec(ctx, "CREATE TABLE "+schema+".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())")
		if err != nil {
			return s.wrap(ctx, "create the table "+s.schema+".schema_migrations", err)
		}
	}
	var version int
	if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM "+schema+".schema_migrations").Scan(&version); err != nil {
		return s.wrap(ctx, "read the schema version", err)
	}
	latest := 0
	if len(files) > 0 {
		latest = files[len(files)-1].version
	}
	if version > latest {
		return prov.Errorf(prov.Conflict, "the schema %s of PostgreSQL at %s has version %d, newer than this prov knows (%d): upgrade prov", s.schema, s.addr, version, latest)
	}
	if version == latest {
		return nil // nothing written: the rollback only releases the lock
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema); err != nil {
		return s.wrap(ctx, "migrate", err)
	}
	for _, m := range files {
		if m.version <= version {
			continue
		}
		b, err := migrations.ReadFile(m.name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(b)); err != nil { // no arguments: the simple protocol, which runs several statements
			return s.wrap(ctx, "apply migration "+m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+schema+".schema_migrations (version, name) VALUES ($1, $2)", m.version, strings.TrimPrefix(m.name, "migrations/")); err != nil {
			return s.wrap(ctx, "record migration "+m.name, err)
		}
	}
	return s.wrap(ctx, "commit the migrations", tx.Commit(ctx))
}

// rollback ends tx if it is still open, even when ctx is cancelled.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	tx.Rollback(ctx)
}

// View implements prov.Store: fn reads one snapshot (REPEATABLE READ, READ
// ONLY) and never waits for writers.
func (s *Store) View(ctx context.Context, fn func(context.Context, prov.ReadTx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return s.wrap(ctx, "begin a read", err)
	}
	defer rollback(ctx, tx)
	return fn(ctx, &txn{s: s, c: tx})
}

// Update implements prov.Store. Writers wait for one another on an advisory
// lock, taken in the same round trip as BEGIN.
func (s *Store) Update(ctx context.Context, fn func(context.Context, prov.Tx) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.wrap(ctx, "begin a write", err)
	}
	// Release closes the connection rather than pool it if a transaction is
	// still open on it (after a failed ROLLBACK).
	defer conn.Release()
	c := conn.Conn()
	done := false
	defer func() {
		if !done {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			c.Exec(ctx, "ROLLBACK")
		}
	}()
	// The log's size is read with the lock, in the same round trip: every
	// append needs it first.
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE")
	b.Queue("SELECT pg_advisory_xact_lock($1)", s.lock)
	b.Queue(s.q.size)
	t := &txn{s: s}
	t.c = &deferringConn{c: c, t: t}
	br := c.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&t.size)
		t.sizeKnown = err == nil
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return s.wrap(ctx, "begin a write", err)
	}
	err = fn(ctx, t)
	if t.flushErr != nil { // the deferred insert's error explains what followed
		return t.appendError(ctx, t.flushErr)
	}
	if err != nil {
		return err
	}
	var tag pgconn.CommandTag
	if t.pending != nil {
		// The deferred insert and the COMMIT in one round trip. If the
		// insert fails, PostgreSQL skips the COMMIT (the batch is one
		// pipeline), and the deferred ROLLBACK ends the transaction.
		b := &pgx.Batch{}
		b.Queue(s.q.insertAt, t.pending...)
		b.Queue("COMMIT")
		br := c.SendBatch(ctx, b)
		if _, ierr := br.Exec(); ierr != nil {
			br.Close()
			return t.appendError(ctx, ierr)
		}
		tag, err = br.Exec()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	} else {
		tag, err = c.Exec(ctx, "COMMIT")
	}
	done = true
	if err != nil {
		return s.wrap(ctx, "commit", err)
	}
	if tag.String() == "ROLLBACK" { // PostgreSQL ends a failed transaction so
		return prov.Errorf(prov.Internal, "postgres: commit: the transaction was rolled back because a statement in it failed; nothing was written")
	}
	return nil
}

// Querier is what pgx.Tx and *pgx.Conn share: the connection a transaction
// of View or Update runs on. Packages that keep tables of their own beside
// the log (capture) reach it through the Querier method of the transaction.
type Querier = querier

// querier is what pgx.Tx and *pgx.Conn share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	// SendBatch sends statements in one round trip (pipelined).
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

type txn struct {
	s *Store
	c querier

	// pending are the arguments of insertAt for the entries of
	// AppendDeferred, sent with the transaction's next statement or its
	// COMMIT; flushErr is the error of sending them before a statement.
	pending  []any
	flushErr error

	// size is the log's size when sizeKnown: read with the write lock and
	// kept by Append (only Append adds records in a write transaction).
	size      int64
	sizeKnown bool
}

// Querier returns the connection the transaction runs on, to read and write
// other tables in the same transaction. It must not be used after fn returns.
func (t *txn) Querier() Querier { return t.c }

func (t *txn) Size(ctx context.Context) (int64, error) {
	if t.sizeKnown {
		return t.size, nil
	}
	var n int64
	err := t.c.QueryRow(ctx, t.s.q.size).Scan(&n)
	return n, t.s.wrap(ctx, "read the log's size", err)
}

func scanEntry(row pgx.CollectableRow) (prov.Entry, error) {
	var e prov.Entry
	err := row.Scan(&e.Index, &e.Data, &e.Hashes, &e.Type, &e.EventID, &e.ActivityID, &e.AgentID, &e.Time)
	e.Time = e.Time.UTC()
	return e, err
}

func (t *txn) Entry(ctx context.Context, index int64) (prov.Entry, error) {
	rows, _ := t.c.Query(ctx, t.s.q.entry, index)
	e, err := pgx.CollectExactlyOneRow(rows, scanEntry)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, prov.Errorf(prov.NotFound, "no record at index %d", index)
	}
	return e, t.s.wrap(ctx, "read a record", err)
}

// Entries reads the records in chunks, each read whole before fn sees it,
// so that fn may use the transaction too. Chunks grow while they are small
// and shrink when their records are large.
func (t *txn) Entries(ctx context.Context, from, to int64, fn func(prov.Entry) error) error {
	const minChunk, maxChunk, maxChunkBytes = 64, 8192, 16 << 20
	limit := 512
	for from < to {
		rows, _ := t.c.Query(ctx, t.s.q.entries, from, to, limit)
		chunk, err := pgx.CollectRows(rows, scanEntry)
		if err != nil {
			return t.s.wrap(ctx, "read records", err)
		}
		bytes := 0
		for _, e := range chunk {
			bytes += len(e.Data) + len(e.Hashes)
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(chunk) < limit {
			return nil
		}
		from = chunk[len(chunk)-1].Index + 1
		switch {
		case bytes > maxChunkBytes:
			limit = max(minChunk, limit/2)
		case bytes < maxChunkBytes/4:
			limit = min(maxChunk, limit*2)
		}
	}
	return nil
}

// EntriesOfType implements prov.TypeReader: read whole before fn sees
// them, so that fn may use the transaction.
func (t *txn) EntriesOfType(ctx context.Context, typ string, from, to int64, fn func(prov.Entry) error) error {
	if !slices.Contains(prov.RecordTypes, typ) {
		return prov.Errorf(prov.Invalid, "no record type %q", typ)
	}
	// The type is a literal, so that the partial index of key records serves.
	rows, _ := t.c.Query(ctx, strings.ReplaceAll(t.s.q.ofType, "{type}", typ), from, to)
	all, err := pgx.CollectRows(rows, scanEntry)
	if err != nil {
		return t.s.wrap(ctx, "read records", err)
	}
	for _, e := range all {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) Hashes(ctx context.Context, indexes []int64) ([][]byte, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := t.c.Query(ctx, t.s.q.hashes, indexes)
	if err != nil {
		return nil, t.s.wrap(ctx, "read tree hashes", err)
	}
	found := make(map[int64][]byte, len(indexes))
	var idx int64
	var h []byte
	_, err = pgx.ForEachRow(rows, []any{&idx, &h}, func() error {
		found[idx] = h
		h = nil // the next row gets its own slice
		return nil
	})
	if err != nil {
		return nil, t.s.wrap(ctx, "read tree hashes", err)
	}
	out := make([][]byte, len(indexes))
	for i, x := range indexes {
		h, ok := found[x]
		if !ok {
			return nil, prov.Errorf(prov.NotFound, "no record at index %d", x)
		}
		out[i] = h
	}
	return out, nil
}

func scanCheckpoint(row pgx.CollectableRow) (prov.Checkpoint, error) {
	var c prov.Checkpoint
	var root []byte
	if err := row.Scan(&c.Size, &root, &c.Note, &c.Created); err != nil {
		return c, err
	}
	if len(root) != prov.HashSize {
		return c, prov.Errorf(prov.Tampered, "checkpoint at size %d: stored root is %d bytes, not %d", c.Size, len(root), prov.HashSize)
	}
	copy(c.Root[:], root)
	c.Created = c.Created.UTC()
	return c, nil
}

func (t *txn) Checkpoints(ctx context.Context, fn func(prov.Checkpoint) error) error {
	rows, _ := t.c.Query(ctx, t.s.q.checkpoints)
	all, err := pgx.CollectRows(rows, scanCheckpoint)
	if err != nil {
		return t.s.wrap(ctx, "read checkpoints", err)
	}
	for _, c := range all {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) LatestCheckpoint(ctx context.Context) (prov.Checkpoint, error) {
	rows, _ := t.c.Query(ctx, t.s.q.latest)
	c, err := pgx.CollectExactlyOneRow(rows, scanCheckpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, prov.Errorf(prov.NotFound, "the log has no checkpoint yet")
	}
	return c, t.s.wrap(ctx, "read a checkpoint", err)
}

func (t *txn) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := t.c.QueryRow(ctx, t.s.q.meta, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, t.s.wrap(ctx, "read a setting", err)
}

// Append stores the entries with one INSERT (one round trip) for small
// batches and COPY for large ones. A refused index writes nothing and
// leaves the transaction usable; after a duplicate event id, PostgreSQL
// aborts the transaction, so fn must return the error.
func (t *txn) Append(ctx context.Context, entries []prov.Entry) error {
	err := t.appendEntries(ctx, entries)
	if err != nil {
		t.sizeKnown = false
	} else if len(entries) > 0 {
		t.size = entries[len(entries)-1].Index + 1
	}
	return err
}

func (t *txn) appendEntries(ctx context.Context, entries []prov.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	first := entries[0].Index
	if err := checkBatch(entries); err != nil {
		return err
	}
	if len(entries) >= copyThreshold {
		return t.appendCopy(ctx, entries)
	}
	tag, err := t.c.Exec(ctx, t.s.q.insert, append([]any{first}, insertArgs(entries)...)...)
	if err != nil {
		return t.appendError(ctx, err)
	}
	if tag.RowsAffected() == 0 {
		return t.notNext(ctx, first)
	}
	return nil
}

// AppendDeferred implements prov.DeferringTx: the INSERT of a small batch
// is sent with the COMMIT, in one round trip, or before the transaction's
// next statement if one comes first; its errors (an event id already in the
// log: kind Conflict) are then returned by Update. Large batches, and
// batches whose first index is not the size read under the write lock, take
// Append's path.
func (t *txn) AppendDeferred(ctx context.Context, entries []prov.Entry) error {
	if len(entries) == 0 || len(entries) >= copyThreshold || !t.sizeKnown || t.pending != nil || entries[0].Index != t.size {
		return t.Append(ctx, entries)
	}
	if err := checkBatch(entries); err != nil {
		return err
	}
	t.pending = insertArgs(entries)
	t.size += int64(len(entries))
	return nil
}

// checkBatch refuses a batch whose indexes are not consecutive or that holds
// an event id twice.
func checkBatch(entries []prov.Entry) error {
	first := entries[0].Index
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		if e.Index != first+int64(i) {
			return prov.Errorf(prov.Conflict, "append: entry index %d does not follow %d: a batch's indexes must be consecutive", e.Index, first+int64(i)-1)
		}
		if e.EventID != "" {
			if seen[e.EventID] {
				return prov.Errorf(prov.Conflict, "append: event id %q is twice in the batch", e.EventID)
			}
			seen[e.EventID] = true
		}
	}
	return nil
}

// insertArgs are the column arrays of entries, for insert (after the first
// index) and insertAt.
func insertArgs(entries []prov.Entry) []any {
	n := len(entries)
	idx, data, hashes := make([]int64, n), make([][]byte, n), make([][]byte, n)
	types, events, activities, agents := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times := make([]time.Time, n)
	for i, e := range entries {
		idx[i], data[i], hashes[i] = e.Index, e.Data, e.Hashes
		types[i], events[i], activities[i], agents[i], times[i] = e.Type, e.EventID, e.ActivityID, e.AgentID, e.Time
	}
	return []any{idx, data, hashes, types, events, activities, agents, times}
}

// flush sends the deferred insert, if any, before another statement.
func (t *txn) flush(ctx context.Context, c querier) {
	if t.pending == nil || t.flushErr != nil {
		return
	}
	args := t.pending
	t.pending = nil
	if _, err := c.Exec(ctx, t.s.q.insertAt, args...); err != nil {
		t.flushErr = err
		t.sizeKnown = false
	}
}

// deferringConn is the connection of an Update: it sends the transaction's
// deferred insert before any other statement, so that every statement sees
// it. If that fails, the transaction is aborted and the statement fails;
// Update reports the insert's error.
type deferringConn struct {
	c querier
	t *txn
}

func (d *deferringConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	d.t.flush(ctx, d.c)
	return d.c.Exec(ctx, sql, args...)
}

func (d *deferringConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	d.t.flush(ctx, d.c)
	return d.c.Query(ctx, sql, args...)
}

func (d *deferringConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	d.t.flush(ctx, d.c)
	return d.c.QueryRow(ctx, sql, args...)
}

// SendBatch is pgx's, for callers that pipeline statements of their own
// (the lineage index, the sequencer).
func (d *deferringConn) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	d.t.flush(ctx, d.c)
	return d.c.SendBatch(ctx, b)
}

func (d *deferringConn) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	d.t.flush(ctx, d.c)
	return d.c.CopyFrom(ctx, table, columns, src)
}

func (t *txn) appendCopy(ctx context.Context, entries []prov.Entry) error {
	size, err := t.Size(ctx)
	if err != nil {
		return err
	}
	if entries[0].Index != size {
		return t.notNext(ctx, entries[0].Index)
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	_, err = t.c.CopyFrom(ctx, pgx.Identifier{t.s.schema, "records"},
		[]string{"idx", "data", "hashes", "type", "event_id", "activity_id", "agent_id", "time"},
		pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) {
			e := &entries[i]
			return []any{e.Index, e.Data, e.Hashes, e.Type, null(e.EventID), null(e.ActivityID), null(e.AgentID), e.Time}, nil
		}))
	if err != nil {
		return t.appendError(ctx, err)
	}
	return nil
}

// notNext explains an index that does not continue the log.
func (t *txn) notNext(ctx context.Context, index int64) error {
	size, err := t.Size(ctx)
	if err != nil {
		return err
	}
	return prov.Errorf(prov.Conflict, "append: entry index %d does not continue the log at %d", index, size)
}

func (t *txn) appendError(ctx context.Context, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		if pe.ConstraintName == "records_event_id" {
			id, ok := strings.CutPrefix(pe.Detail, "Key (event_id)=(")
			if id, ok2 := strings.CutSuffix(id, ") already exists."); ok && ok2 {
				return &prov.Error{Kind: prov.Conflict, Message: fmt.Sprintf("append: event id %q is already in the log", id), Err: err}
			}
			return &prov.Error{Kind: prov.Conflict, Message: "append: an event id of the batch is already in the log", Err: err}
		}
		return &prov.Error{Kind: prov.Conflict, Message: "append: an index of the batch is already in the log: was it written outside Update?", Err: err}
	}
	return t.s.wrap(ctx, "append", err)
}

func (t *txn) PutCheckpoint(ctx context.Context, c prov.Checkpoint) error {
	_, err := t.c.Exec(ctx, t.s.q.putCheckpoint, c.Size, c.Root[:], c.Note, c.Created)
	return t.s.wrap(ctx, "store a checkpoint", err)
}

func (t *txn) SetMeta(ctx context.Context, key, value string) error {
	_, err := t.c.Exec(ctx, t.s.q.setMeta, key, value)
	return t.s.wrap(ctx, "store a setting", err)
}

// wrap turns driver errors into prov errors with a sentence a user can act
// on. Errors of a cancelled or expired ctx are returned as they are.
func (s *Store) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *prov.Error
	if errors.As(err, &pe) {
		return err
	}
	if ctx.Err() != nil {
		if errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("postgres: %s: %w (%v)", op, ctx.Err(), err)
	}
	e := func(k prov.Kind, format string, args ...any) error {
		return &prov.Error{Kind: k, Message: fmt.Sprintf(format, args...), Err: err}
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch class := pg.Code[:2]; {
		case class == "28":
			return e(prov.Unauthorized, "PostgreSQL at %s refused the login of user %q: %s: check the user and password in the DSN", s.addr, s.user, pg.Message)
		case pg.Code == "42501" && !s.migrated:
			return e(prov.Unauthorized, "PostgreSQL user %q may not %s: %s: open the store once as a role that may create the schema %s, or have an administrator run CREATE SCHEMA %s AUTHORIZATION %s",
				s.user, op, pg.Message, s.schema, s.schema, s.user)
		case pg.Code == "42501":
			return e(prov.Unauthorized, "PostgreSQL user %q may not %s: %s: grant it SELECT, INSERT and UPDATE on the tables of the schema %s", s.user, op, pg.Message, s.schema)
		case pg.Code == "3D000":
			return e(prov.NotFound, "PostgreSQL at %s has no database %q: create it, or fix the DSN", s.addr, s.db)
		case pg.Code == "40001" || pg.Code == "40P01" || pg.Code == "55P03":
			return e(prov.Unavailable, "postgres: %s: %s (a concurrent transaction was in the way): try again", op, pg.Message)
		case class == "08" || class == "53" || class == "57":
			return e(prov.Unavailable, "postgres: %s: PostgreSQL at %s is not available: %s: try again later", op, s.addr, pg.Message)
		case pg.Code == "25006":
			return e(prov.Unavailable, "postgres: %s: PostgreSQL at %s is read-only (a standby?): connect to the primary", op, s.addr)
		}
		return e(prov.Internal, "postgres: %s: %s (SQLSTATE %s)", op, pg.Message, pg.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return e(prov.Unavailable, "cannot reach PostgreSQL at %s: %s: check that the server is running and the DSN is right", s.addr, netCause(err))
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return e(prov.Unavailable, "postgres: %s: lost the connection to PostgreSQL at %s: %s: try again", op, s.addr, netCause(err))
	}
	return e(prov.Internal, "postgres: %s: %v", op, err)
}

// netCause returns the innermost useful words of a network error, such as
// "connection refused".
func netCause(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Err.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// Leaves implements prov.LeafReader: one streamed query of three columns,
// decoded without copies, so the server and the caller work at once. fn must
// not use the transaction.
func (t *txn) Leaves(ctx context.Context, from, to int64, fn func(index int64, data, hashes []byte) error) error {
	rows, err := t.c.Query(ctx, t.s.q.leaves, from, to)
	if err != nil {
		return t.s.wrap(ctx, "read records", err)
	}
	defer rows.Close()
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 3 || len(v[0]) != 8 {
			return prov.Errorf(prov.Internal, "postgres: read records: unexpected row format")
		}
		if err := fn(int64(binary.BigEndian.Uint64(v[0])), v[1], v[2]); err != nil {
			return err
		}
	}
	return t.s.wrap(ctx, "read records", rows.Err())
}

// ReadForProof implements prov.ProofReader: one statement, so one snapshot
// in one round trip, with no transaction around it.
func (s *Store) ReadForProof(ctx context.Context, indexes []int64) (size int64, latest prov.Checkpoint, found bool, hashes [][]byte, err error) {
	if indexes == nil {
		indexes = []int64{}
	}
	rows, err := s.pool.Query(ctx, s.q.forProof, indexes)
	if err != nil {
		return 0, latest, false, nil, s.wrap(ctx, "read for a proof", err)
	}
	defer rows.Close()
	got := make(map[int64][]byte, len(indexes))
	header := false
	for rows.Next() {
		var idx, n, csize *int64
		var h, root, note []byte
		var created *time.Time
		if err := rows.Scan(&idx, &h, &n, &csize, &root, &note, &created); err != nil {
			return 0, latest, false, nil, s.wrap(ctx, "read for a proof", err)
		}
		if idx != nil {
			got[*idx] = h
			continue
		}
		if n == nil {
			return 0, latest, false, nil, prov.Errorf(prov.Internal, "postgres: read for a proof: no size")
		}
		header, size = true, *n
		if csize != nil {
			if len(root) != prov.HashSize {
				return 0, latest, false, nil, prov.Errorf(prov.Tampered, "checkpoint at size %d: stored root is %d bytes, not %d", *csize, len(root), prov.HashSize)
			}
			latest.Size, latest.Note, found = *csize, note, true
			copy(latest.Root[:], root)
			if created != nil {
				latest.Created = created.UTC()
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, latest, false, nil, s.wrap(ctx, "read for a proof", err)
	}
	if !header {
		return 0, latest, false, nil, prov.Errorf(prov.Internal, "postgres: read for a proof: no size")
	}
	hashes = make([][]byte, len(indexes))
	for i, x := range indexes {
		hashes[i] = got[x]
	}
	return size, latest, found, hashes, nil
}
