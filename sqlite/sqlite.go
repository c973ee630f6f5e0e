// Package sqlite implements prov.Store on SQLite through a pure Go driver
// (modernc.org/sqlite): one file, no setup, the embedded default.
//
// The database runs in WAL mode with synchronous=FULL, so a transaction that
// Update has returned from is on disk. Writers are serialised by SQLite's
// write lock (BEGIN IMMEDIATE); readers use their own connections and never
// wait for a writer. The WAL is checkpointed into the database file by a
// goroutine of the Store on a connection of its own, not by the committing
// writer (see Store.checkpointer).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prov-dev/prov"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a prov.Store in one SQLite file.
type Store struct {
	path string
	w    *sql.DB // one connection: the writer
	r    *sql.DB // readers
	// p reads for proofs (ReadForProof): a few rows from pages all over
	// the file, which a fresh process reads faster with pread than through
	// the map (a page fault for each page touched first).
	p *sql.DB
	// ck runs the WAL checkpoints (see checkpointer); kick wakes it after
	// a commit, stop and stopped end it.
	ck         *sql.DB
	kick, stop chan struct{}
	stopped    chan struct{}
	closeOnce  sync.Once

	// stmts are the readers' prepared statements, by database and query,
	// reused by every read (database/sql prepares each once per connection).
	mu    sync.Mutex
	stmts map[stmtKey]*sql.Stmt
}

type stmtKey struct {
	db    *sql.DB
	query string
}

// CheckpointInterval is the least time between two WAL checkpoints of a
// Store. SQLite's own automatic checkpoint, which a Store's writer does not
// run, copies the WAL into the database file in the commit that takes the
// WAL past 1000 pages, so that commit (and every transaction queued behind
// it) waits for the copy and for the database file's fsync.
const CheckpointInterval = 100 * time.Millisecond

// maxCachedINList is the longest IN list of Hashes whose statement is
// kept prepared; longer ones are prepared per call.
const maxCachedINList = 64

var (
	_ prov.Store       = (*Store)(nil)
	_ prov.ProofReader = (*Store)(nil)
)

// Options tune Open.
type Options struct {
	// Create allows Open to create the file when it does not exist.
	Create bool
}

// Open opens (and with opts.Create, creates) the SQLite database at path and
// applies the embedded schema migrations. A missing file without Create is an
// error of kind NotFound.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, prov.Errorf(prov.Invalid, "sqlite: empty database path")
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && !opts.Create {
		return nil, prov.Errorf(prov.NotFound, "no Prov store at %s: run 'prov init' first, or pass --db", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, prov.Errorf(prov.NotFound, "cannot create %s: directory %s does not exist", path, dir)
		}
	}
	dsn := func(lock string, extra ...string) string {
		q := url.Values{}
		for _, p := range append([]string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(30000)"}, extra...) {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", lock)
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	// The writer keeps statement journals (multi-row INSERTs, upserts) in
	// memory: they only roll back one statement, and in a temporary file
	// each journaled page cost a write(2). It never checkpoints
	// (wal_autocheckpoint(0)): the Store's checkpointer does, beside it.
	w, err := sql.Open("sqlite", dsn("immediate", "temp_store(MEMORY)", "wal_autocheckpoint(0)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	// Readers map the file: proofs read a few hashes from pages all over it.
	r, err := sql.Open("sqlite", dsn("deferred", "query_only(1)", "mmap_size(1073741824)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	p, err := sql.Open("sqlite", dsn("deferred", "query_only(1)"))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	p.SetMaxOpenConns(8)
	ck, err := sql.Open("sqlite", dsn("deferred"))
	if err != nil {
		w.Close()
		r.Close()
		p.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	s := &Store{path: path, w: w, r: r, p: p, ck: ck, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.checkpointer()
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkpointer copies the WAL into the database file after commits, at
// most every CheckpointInterval, on a connection of its own. Committed
// transactions are durable in the WAL already (synchronous=FULL; a
// checkpoint syncs the WAL before copying and the database file after).
//
// It copies with a PASSIVE checkpoint, which never waits for the writer
// nor makes it wait. But the writer starts the WAL again from its
// beginning only if, when it begins a transaction, the whole WAL has been
// copied, which a busy writer rarely sees (it began its next transaction
// while the copy ran); so once the WAL holds restartFrames, a second
// PASSIVE checkpoint runs on the writer's connection, between two of its
// transactions: it copies only what was committed since the first (a
// little), and the writer's next transaction reuses the WAL from its
// start instead of growing the file. (A RESTART checkpoint would do the
// same from here, but waits for the write lock in the busy handler's
// sleeps, and held it for up to 250 ms on a loaded machine.)
func (s *Store) checkpointer() {
	defer close(s.stopped)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		// An error (a full disk, say) is the next commit's to report.
		var busy, frames, copied int
		err := s.ck.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		if err == nil && frames >= restartFrames {
			s.w.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		}
		select {
		case <-s.stop:
			return
		case <-time.After(CheckpointInterval):
		}
	}
}

// restartFrames is the WAL's length (in pages) from which the checkpointer
// makes the writer start it again (16 MiB with pages of 4 KiB).
const restartFrames = 4096

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// DB returns the writer's database handle, for tests and benchmarks that
// need to reach the tables directly.
func (s *Store) DB() *sql.DB { return s.w }

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	s.mu.Unlock()
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.stopped
	// The last connection to close checkpoints the WAL, if no other
	// process has the database open.
	return errors.Join(append(errs, s.ck.Close(), s.p.Close(), s.r.Close(), s.w.Close())...)
}

func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("open", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return wrap("read schema version", err)
	}
	if version > len(names) {
		return prov.Errorf(prov.Conflict, "%s has schema version %d, newer than this prov knows (%d): upgrade prov", s.path, version, len(names))
	}
	for i := version; i < len(names); i++ {
		b, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(b)); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", names[i], err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			return wrap("migrate", err)
		}
	}
	return wrap("migrate", tx.Commit())
}

// View implements prov.Store.
func (s *Store) View(ctx context.Context, fn func(context.Context, prov.ReadTx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return wrap("begin", err)
	}
	defer tx.Rollback()
	return fn(ctx, &txn{tx: tx, s: s})
}

// readStmt returns the prepared statement of query on db (s.r or s.p),
// preparing it the first time.
func (s *Store) readStmt(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	k := stmtKey{db, query}
	s.mu.Lock()
	st := s.stmts[k]
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if have := s.stmts[k]; have != nil {
		st.Close()
		return have, nil
	}
	if s.stmts == nil {
		s.stmts = make(map[stmtKey]*sql.Stmt)
	}
	s.stmts[k] = st
	return st, nil
}

// Update implements prov.Store.
func (s *Store) Update(ctx context.Context, fn func(context.Context, prov.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("begin", err)
	}
	defer tx.Rollback()
	t := &txn{tx: tx}
	defer t.close()
	if err := fn(ctx, t); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap("commit", err)
	}
	select {
	case s.kick <- struct{}{}:
	default: // the checkpointer is awake already
	}
	return nil
}

type txn struct {
	tx     *sql.Tx
	insert [len(insertRows)]*sql.Stmt // by insertRows' index; closed with the transaction
	s      *Store                     // set in View: reads use the readers' prepared statements
}

// query runs query in the transaction, through a prepared statement of
// the readers in a View.
func (t *txn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if t.s == nil {
		return t.tx.QueryContext(ctx, query, args...)
	}
	st, err := t.s.readStmt(ctx, t.s.r, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (t *txn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if t.s == nil {
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	st, err := t.s.readStmt(ctx, t.s.r, query)
	if err != nil {
		return t.tx.QueryRowContext(ctx, query, args...) // reports the error
	}
	return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

// Query runs query in the transaction; in a View, through a statement the
// store prepares once and keeps (until Close), as the log's own reads do.
// It is for code kept beside the log that runs the same few queries often
// (investigate's blame and history): each distinct query text stays
// prepared, so it must not be used for queries built with varying text.
func (t *txn) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.query(ctx, query, args...)
}

// SQLTx returns the database/sql transaction the store transaction runs
// on, so that code kept beside the log (capture) can read and write its own
// tables in the same transaction. It must not be used after fn returns.
func (t *txn) SQLTx() *sql.Tx { return t.tx }

func (t *txn) close() {
	for _, st := range t.insert {
		if st != nil {
			st.Close()
		}
	}
}

func (t *txn) Size(ctx context.Context) (int64, error) {
	var n int64
	err := t.queryRow(ctx, "SELECT COALESCE(MAX(idx)+1, 0) FROM records").Scan(&n)
	return n, wrap("size", err)
}

const entryColumns = "idx, data, hashes, type, COALESCE(event_id, ''), COALESCE(activity_id, ''), COALESCE(agent_id, ''), time"

func scanEntry(sc interface{ Scan(...any) error }) (prov.Entry, error) {
	var e prov.Entry
	var us int64
	err := sc.Scan(&e.Index, &e.Data, &e.Hashes, &e.Type, &e.EventID, &e.ActivityID, &e.AgentID, &us)
	e.Time = time.UnixMicro(us).UTC()
	return e, err
}

func (t *txn) Entry(ctx context.Context, index int64) (prov.Entry, error) {
	e, err := scanEntry(t.queryRow(ctx, "SELECT "+entryColumns+" FROM records WHERE idx = ?", index))
	if errors.Is(err, sql.ErrNoRows) {
		return e, prov.Errorf(prov.NotFound, "no record at index %d", index)
	}
	return e, wrap("read record", err)
}

func (t *txn) Entries(ctx context.Context, from, to int64, fn func(prov.Entry) error) error {
	rows, err := t.tx.QueryContext(ctx, "SELECT "+entryColumns+" FROM records WHERE idx >= ? AND idx < ? ORDER BY idx", from, to)
	if err != nil {
		return wrap("read records", err)
	}
	defer rows.Close()
	var data, hashes sql.RawBytes // valid during fn only, as the contract allows: no copy per row
	for rows.Next() {
		var e prov.Entry
		var us int64
		if err := rows.Scan(&e.Index, &data, &hashes, &e.Type, &e.EventID, &e.ActivityID, &e.AgentID, &us); err != nil {
			return wrap("read records", err)
		}
		e.Data, e.Hashes, e.Time = data, hashes, time.UnixMicro(us).UTC()
		if err := fn(e); err != nil {
			return err
		}
	}
	return wrap("read records", rows.Err())
}

// EntriesOfType implements prov.TypeReader, through the index of key
// records for type "key". The rows are read whole before fn sees them, so
// that fn may use the transaction.
func (t *txn) EntriesOfType(ctx context.Context, typ string, from, to int64, fn func(prov.Entry) error) error {
	if !slices.Contains(prov.RecordTypes, typ) {
		return prov.Errorf(prov.Invalid, "no record type %q", typ)
	}
	// The type is a literal, so that the partial index of key records serves.
	rows, err := t.query(ctx, "SELECT "+entryColumns+" FROM records WHERE type = '"+typ+"' AND idx >= ? AND idx < ? ORDER BY idx", from, to)
	if err != nil {
		return wrap("read records", err)
	}
	var all []prov.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			rows.Close()
			return wrap("read records", err)
		}
		all = append(all, e)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return wrap("read records", err)
	}
	rows.Close()
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
	q := "SELECT idx, hashes FROM records WHERE idx IN (?" + strings.Repeat(",?", len(indexes)-1) + ")"
	args := make([]any, len(indexes))
	for i, x := range indexes {
		args[i] = x
	}
	var rows *sql.Rows
	var err error
	if len(indexes) <= maxCachedINList {
		rows, err = t.query(ctx, q, args...)
	} else {
		rows, err = t.tx.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, wrap("read hashes", err)
	}
	defer rows.Close()
	found := make(map[int64][]byte, len(indexes))
	for rows.Next() {
		var idx int64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, wrap("read hashes", err)
		}
		found[idx] = h
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("read hashes", err)
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

func (t *txn) Checkpoints(ctx context.Context, fn func(prov.Checkpoint) error) error {
	rows, err := t.tx.QueryContext(ctx, "SELECT size, root, note, created FROM checkpoints ORDER BY size")
	if err != nil {
		return wrap("read checkpoints", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return wrap("read checkpoints", err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return wrap("read checkpoints", rows.Err())
}

func scanCheckpoint(sc interface{ Scan(...any) error }) (prov.Checkpoint, error) {
	var c prov.Checkpoint
	var root []byte
	var us int64
	if err := sc.Scan(&c.Size, &root, &c.Note, &us); err != nil {
		return c, err
	}
	if len(root) != prov.HashSize {
		return c, prov.Errorf(prov.Tampered, "checkpoint at size %d: stored root is %d bytes, not %d", c.Size, len(root), prov.HashSize)
	}
	copy(c.Root[:], root)
	c.Created = time.UnixMicro(us).UTC()
	return c, nil
}

func (t *txn) LatestCheckpoint(ctx context.Context) (prov.Checkpoint, error) {
	c, err := scanCheckpoint(t.queryRow(ctx, "SELECT size, root, note, created FROM checkpoints ORDER BY size DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return c, prov.Errorf(prov.NotFound, "the log has no checkpoint yet")
	}
	return c, wrap("read checkpoint", err)
}

func (t *txn) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := t.queryRow(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, wrap("read setting", err)
}

// insertRows are the numbers of records one INSERT statement of Append
// writes, largest first: a batch is written by as few statements as these
// sizes allow, since every execution costs a bind, a step and
// database/sql's bookkeeping (per row, that was a third of a large
// batch's time), and one statement of each size is prepared per
// transaction.
var insertRows = [...]int{32, 4, 1}

// insertQuery is the INSERT statement of n records.
func insertQuery(n int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?)"
	var b strings.Builder
	b.WriteString("INSERT INTO records (idx, data, hashes, type, event_id, activity_id, agent_id, time) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}

// insertStmt returns the transaction's INSERT statement of insertRows[k]
// records, preparing it the first time.
func (t *txn) insertStmt(ctx context.Context, k int) (*sql.Stmt, error) {
	if t.insert[k] == nil {
		st, err := t.tx.PrepareContext(ctx, insertQuery(insertRows[k]))
		if err != nil {
			return nil, err
		}
		t.insert[k] = st
	}
	return t.insert[k], nil
}

func (t *txn) Append(ctx context.Context, entries []prov.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	size, err := t.Size(ctx)
	if err != nil {
		return err
	}
	for i, e := range entries {
		if e.Index != size+int64(i) {
			return prov.Errorf(prov.Conflict, "append: entry index %d does not continue the log at %d", e.Index, size+int64(i))
		}
	}
	var args []any
	for k, n := range insertRows {
		for len(entries) >= n {
			st, err := t.insertStmt(ctx, k)
			if err != nil {
				return wrap("append", err)
			}
			args = args[:0]
			for _, e := range entries[:n] {
				args = append(args, e.Index, e.Data, e.Hashes, e.Type, null(e.EventID), null(e.ActivityID), null(e.AgentID), e.Time.UnixMicro())
			}
			if _, err := st.ExecContext(ctx, args...); err != nil {
				if isConstraint(err) && n > 1 {
					// The statement wrote nothing: find the refused record.
					return t.appendRows(ctx, entries[:n])
				}
				return t.appendErr(err, entries[0])
			}
			entries = entries[n:]
		}
	}
	return nil
}

// appendRows inserts entries one statement each, for the error of the
// first one refused.
func (t *txn) appendRows(ctx context.Context, entries []prov.Entry) error {
	st, err := t.insertStmt(ctx, len(insertRows)-1)
	if err != nil {
		return wrap("append", err)
	}
	for _, e := range entries {
		if _, err := st.ExecContext(ctx, e.Index, e.Data, e.Hashes, e.Type, null(e.EventID), null(e.ActivityID), null(e.AgentID), e.Time.UnixMicro()); err != nil {
			return t.appendErr(err, e)
		}
	}
	return prov.Errorf(prov.Internal, "sqlite: append: a constraint refused records %d to %d together, but none alone", entries[0].Index, entries[len(entries)-1].Index)
}

func (t *txn) appendErr(err error, e prov.Entry) error {
	if isConstraint(err) && e.EventID != "" {
		return prov.Errorf(prov.Conflict, "append: event id %q is already in the log", e.EventID)
	}
	return wrap("append", err)
}

func (t *txn) PutCheckpoint(ctx context.Context, c prov.Checkpoint) error {
	_, err := t.tx.ExecContext(ctx, "INSERT INTO checkpoints (size, root, note, created) VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
		c.Size, c.Root[:], c.Note, c.Created.UnixMicro())
	return wrap("store checkpoint", err)
}

func (t *txn) SetMeta(ctx context.Context, key, value string) error {
	_, err := t.tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	return wrap("store setting", err)
}

func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func isConstraint(err error) bool {
	var se *sqlite3.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3lib.SQLITE_CONSTRAINT
}

// wrap turns driver errors into prov errors with a sentence a user can act on.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *prov.Error
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED:
			return &prov.Error{Kind: prov.Unavailable, Message: fmt.Sprintf("sqlite: %s: the database is locked by another process; try again", op), Err: err}
		case sqlite3lib.SQLITE_NOTADB:
			return &prov.Error{Kind: prov.Invalid, Message: fmt.Sprintf("sqlite: %s: the file is not a SQLite database", op), Err: err}
		case sqlite3lib.SQLITE_CORRUPT:
			return &prov.Error{Kind: prov.Tampered, Message: fmt.Sprintf("sqlite: %s: the database file is corrupt", op), Err: err}
		case sqlite3lib.SQLITE_READONLY, sqlite3lib.SQLITE_CANTOPEN, sqlite3lib.SQLITE_PERM:
			return &prov.Error{Kind: prov.Unavailable, Message: fmt.Sprintf("sqlite: %s: cannot write the database file (check its permissions and directory)", op), Err: err}
		case sqlite3lib.SQLITE_FULL:
			return &prov.Error{Kind: prov.Unavailable, Message: fmt.Sprintf("sqlite: %s: the disk is full", op), Err: err}
		}
	}
	return &prov.Error{Kind: prov.Internal, Message: fmt.Sprintf("sqlite: %s: %v", op, err), Err: err}
}

// Leaves implements prov.LeafReader.
func (t *txn) Leaves(ctx context.Context, from, to int64, fn func(index int64, data, hashes []byte) error) error {
	rows, err := t.tx.QueryContext(ctx, "SELECT idx, data, hashes FROM records WHERE idx >= ? AND idx < ? ORDER BY idx", from, to)
	if err != nil {
		return wrap("read records", err)
	}
	defer rows.Close()
	var idx int64
	var data, hashes sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&idx, &data, &hashes); err != nil {
			return wrap("read records", err)
		}
		if err := fn(idx, data, hashes); err != nil {
			return err
		}
	}
	return wrap("read records", rows.Err())
}

// forProofQuery is ReadForProof's statement for n indexes: a first row with
// the size and the latest checkpoint (NULLs if none), then one row per
// record found. One statement reads one snapshot, with no transaction
// around it.
func forProofQuery(n int) string {
	q := `SELECT NULL, NULL, (SELECT COALESCE(MAX(idx)+1, 0) FROM records), c.size, c.root, c.note, c.created
FROM (SELECT 1) LEFT JOIN (SELECT size, root, note, created FROM checkpoints ORDER BY size DESC LIMIT 1) AS c ON 1`
	if n > 0 {
		q += "\nUNION ALL\nSELECT idx, hashes, NULL, NULL, NULL, NULL, NULL FROM records WHERE idx IN (?" + strings.Repeat(",?", n-1) + ")"
	}
	return q
}

// ReadForProof implements prov.ProofReader: one prepared statement on a
// connection of s.p, outside any transaction.
func (s *Store) ReadForProof(ctx context.Context, indexes []int64) (size int64, latest prov.Checkpoint, found bool, hashes [][]byte, err error) {
	q := forProofQuery(len(indexes))
	args := make([]any, len(indexes))
	for i, x := range indexes {
		args[i] = x
	}
	var rows *sql.Rows
	if len(indexes) <= maxCachedINList {
		var st *sql.Stmt
		if st, err = s.readStmt(ctx, s.p, q); err == nil {
			rows, err = st.QueryContext(ctx, args...)
		}
	} else {
		rows, err = s.p.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return 0, latest, false, nil, wrap("read for a proof", err)
	}
	defer rows.Close()
	got := make(map[int64][]byte, len(indexes))
	header := false
	for rows.Next() {
		var idx, n, csize, created sql.NullInt64
		var h, root, note []byte
		if err := rows.Scan(&idx, &h, &n, &csize, &root, &note, &created); err != nil {
			return 0, latest, false, nil, wrap("read for a proof", err)
		}
		if idx.Valid {
			got[idx.Int64] = h
			continue
		}
		header, size = true, n.Int64
		if csize.Valid {
			if len(root) != prov.HashSize {
				return 0, latest, false, nil, prov.Errorf(prov.Tampered, "checkpoint at size %d: stored root is %d bytes, not %d", csize.Int64, len(root), prov.HashSize)
			}
			latest.Size, latest.Note, found = csize.Int64, note, true
			copy(latest.Root[:], root)
			latest.Created = time.UnixMicro(created.Int64).UTC()
		}
	}
	if err := rows.Err(); err != nil {
		return 0, latest, false, nil, wrap("read for a proof", err)
	}
	if !header {
		return 0, latest, false, nil, prov.Errorf(prov.Internal, "sqlite: read for a proof: no size")
	}
	hashes = make([][]byte, len(indexes))
	for i, x := range indexes {
		hashes[i] = got[x]
	}
	return size, latest, found, hashes, nil
}
