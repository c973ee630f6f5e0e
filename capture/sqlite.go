package capture

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// SQLite is capture in a SQLite database that holds both the application's
// tables and the log: the embedded default (prov --db app.db). Its semantics
// are those of Postgres, with what SQLite allows:
//
//   - Enable installs row-level triggers (SQLite has no other kind) named
//     prov_capture_<id>_i, _u and _d (trigger names are unique per database,
//     not per table), which write the row images, made by json_object from
//     the columns the table had then, into prov_changes, with the attribution
//     of the transaction: the newest row of prov_context, which the SDK
//     writes first in an attributed transaction and deletes before COMMIT
//     (provctx.BeginSQLiteTx). A fourth, BEFORE INSERT trigger (_r) reads the
//     row an INSERT OR REPLACE is about to replace, since SQLite deletes it
//     without firing delete triggers; the sequencer records the pair as an
//     update.
//   - The triggers call only SQLite's own functions (JSON functions: SQLite
//     3.38 or later, or an older one built with JSON1), so that every writer
//     of the file, in any language or process, is captured and none fails.
//     For that reason the PII columns' values are replaced by their salted
//     digests by the sequencer, not by the triggers: they are in
//     prov_changes, in the same file as the table that holds them, until the
//     next sequencer step, and never in the log.
//   - Columns are fixed in the triggers. Every sequencer step (and Enable and
//     Disable) first compares each captured table's triggers with what its
//     columns call for now and re-creates them in its transaction if they
//     differ: after ALTER TABLE … ADD COLUMN or RENAME COLUMN, after a rename
//     of the table, after someone dropped or altered them, or after another
//     trigger was created on the table after them (SQLite fires the most
//     recent first, and capture must see a row before the application's
//     AFTER triggers change it again). Changes made between such a change
//     and the next step lack the new column. DROP COLUMN fails while capture
//     is enabled (SQLite refuses to drop a column a trigger names): disable,
//     drop, enable. A captured table dropped and created again under its
//     name with the same primary key (SQLite's way to change a table: create
//     a new one, copy, drop, rename) is captured again from the next step;
//     rows that differ from what capture last saw are then flagged.
//   - A row that a writer left in prov_context (committing without deleting
//     it) is deleted at the next step; until then it attributes unattributed
//     changes.
//   - There is no database user, application name, client address or
//     transaction id in SQLite: records of attributed changes carry the id of
//     their prov_context row as xid; unattributed ones name no agent.
//   - Rows deleted by INSERT OR REPLACE because of a conflict on a UNIQUE
//     constraint other than the primary key are not captured unless the
//     writer sets PRAGMA recursive_triggers; the next change of such a key is
//     flagged as a bypass.
//
// Digests are SHA-256 of a canonical JSON text of the image (keys sorted,
// null fields left out, values in one form whatever SQLite version wrote
// them), computed in Go at baseline and by the sequencer.
type SQLite struct {
	store *sqlite.Store
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// NewSQLite returns capture for the database file of store.
func NewSQLite(store *sqlite.Store) *SQLite {
	return &SQLite{store: store}
}

func (s *SQLite) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// sqliteOwnTables are the tables of the store's log (sqlite/migrations).
var sqliteOwnTables = []string{"records", "checkpoints", "meta"}

func sqlTxOf(tx prov.ReadTx) *sql.Tx { return tx.(interface{ SQLTx() *sql.Tx }).SQLTx() }

// update runs fn in a write transaction of the store.
func (s *SQLite) update(ctx context.Context, fn func(ctx context.Context, q *sql.Tx) error) error {
	return s.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error { return fn(ctx, sqlTxOf(tx)) })
}

func (s *SQLite) view(ctx context.Context, fn func(ctx context.Context, q *sql.Tx) error) error {
	return s.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error { return fn(ctx, sqlTxOf(tx)) })
}

// sqlTable is an application table as SQLite describes it.
type sqlTable struct {
	name    string // as SQLite spells it
	display string // main.name
	pk      []string
	columns []string // generated ones included, in order
}

// resolve finds an application table by name (case-insensitive, optionally
// "main.").
func (s *SQLite) resolve(ctx context.Context, q *sql.Tx, name string) (*sqlTable, error) {
	lookup := func(n string) (tname, typ, ddl string, ok bool, err error) {
		err = q.QueryRowContext(ctx, "SELECT name, type, COALESCE(sql, '') FROM sqlite_master WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')", n).Scan(&tname, &typ, &ddl)
		if errors.Is(err, sql.ErrNoRows) {
			return "", "", "", false, nil
		}
		return tname, typ, ddl, err == nil, wrapSQLite("look up table "+name, err)
	}
	tname, typ, ddl, ok, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if schema, rest, cut := strings.Cut(name, "."); !ok && cut {
		switch strings.ToLower(schema) {
		case "main":
			if tname, typ, ddl, ok, err = lookup(rest); err != nil {
				return nil, err
			}
		case "temp":
			return nil, prov.Errorf(prov.Invalid, "%s is a temporary table: capture works on the tables of the database file", name)
		}
	}
	if !ok {
		return nil, prov.Errorf(prov.NotFound, "table %s does not exist%s", name, didYouMean(suggest(name, s.tableNames(ctx, q))))
	}
	display := "main." + tname
	lower := strings.ToLower(tname)
	switch {
	case strings.HasPrefix(lower, "sqlite_"):
		return nil, prov.Errorf(prov.Invalid, "%s is one of SQLite's own tables: capture is for application tables", display)
	case strings.HasPrefix(lower, "prov_") || slices.Contains(sqliteOwnTables, lower):
		return nil, prov.Errorf(prov.Invalid, "%s is one of Prov's own tables: capture is for application tables", display)
	case typ == "view":
		return nil, prov.Errorf(prov.Invalid, "%s is not a table (it is a view): capture works on tables", display)
	case strings.HasPrefix(strings.ToUpper(strings.TrimSpace(ddl)), "CREATE VIRTUAL TABLE"):
		return nil, prov.Errorf(prov.Invalid, "%s is a virtual table: SQLite cannot put triggers on it, so capture cannot see its changes", display)
	}
	return describe(ctx, q, tname)
}

// describe reads the columns and primary key of the table named exactly tbl.
func describe(ctx context.Context, q *sql.Tx, tbl string) (*sqlTable, error) {
	t := &sqlTable{name: tbl, display: "main." + tbl}
	rows, err := q.QueryContext(ctx, "SELECT name, pk FROM pragma_table_xinfo(?, 'main') WHERE hidden <> 1 ORDER BY cid", tbl)
	if err != nil {
		return nil, wrapSQLite("read the columns of "+t.display, err)
	}
	defer rows.Close()
	var keys []struct {
		name string
		pos  int
	}
	for rows.Next() {
		var name string
		var pk int
		if err := rows.Scan(&name, &pk); err != nil {
			return nil, wrapSQLite("read the columns of "+t.display, err)
		}
		t.columns = append(t.columns, name)
		if pk > 0 {
			keys = append(keys, struct {
				name string
				pos  int
			}{name, pk})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrapSQLite("read the columns of "+t.display, err)
	}
	slices.SortFunc(keys, func(a, b struct {
		name string
		pos  int
	}) int {
		return a.pos - b.pos
	})
	for _, k := range keys {
		t.pk = append(t.pk, k.name)
	}
	return t, nil
}

// tableNames lists application tables, for suggestions.
func (s *SQLite) tableNames(ctx context.Context, q *sql.Tx) []string {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE 'prov\_%' ESCAPE '\'`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil && !slices.Contains(sqliteOwnTables, strings.ToLower(n)) {
			names = append(names, "main."+n)
		}
	}
	return names
}

// sqliteCaptured is a row of prov_captured.
type sqliteCaptured struct {
	id       int64
	name     string
	tbl      string
	db       string
	pk       []string
	pii      []string
	salt     []byte
	enabled  int64
	disabled *int64
}

const sqliteCapturedColumns = "id, name, tbl, db, pk, pii, salt, enabled, disabled"

func scanCaptured(sc interface{ Scan(...any) error }) (*sqliteCaptured, error) {
	c := &sqliteCaptured{}
	var pk, pii string
	if err := sc.Scan(&c.id, &c.name, &c.tbl, &c.db, &pk, &pii, &c.salt, &c.enabled, &c.disabled); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(pk), &c.pk); err != nil {
		return nil, prov.Errorf(prov.Internal, "prov_captured %d: primary key %q is not a JSON list", c.id, pk)
	}
	if err := json.Unmarshal([]byte(pii), &c.pii); err != nil {
		return nil, prov.Errorf(prov.Internal, "prov_captured %d: pii %q is not a JSON list", c.id, pii)
	}
	return c, nil
}

// capturedOf returns the capture row of the table named tbl: the enabled
// one if any, else the latest; nil if capture never knew the table. The
// names are those sync last saw.
func capturedOf(ctx context.Context, q *sql.Tx, tbl string) (*sqliteCaptured, error) {
	c, err := scanCaptured(q.QueryRowContext(ctx, "SELECT "+sqliteCapturedColumns+` FROM prov_captured
		WHERE tbl = ? COLLATE NOCASE ORDER BY disabled IS NULL DESC, id DESC LIMIT 1`, tbl))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return c, wrapSQLite("read captured tables", err)
}

var sqliteOps = []string{"r", "i", "u", "d"}

func triggerName(id int64, op string) string { return fmt.Sprintf("prov_capture_%d_%s", id, op) }

func triggerNames(id int64) []any {
	names := make([]any, len(sqliteOps))
	for i, op := range sqliteOps {
		names[i] = triggerName(id, op)
	}
	return names
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// imageSQL returns the SQL expression of the image of row a (NEW, OLD or a
// table alias): a JSON object of cols. A BLOB is written as PostgreSQL
// writes bytea, "\x" and hex digits (json_object would read it as JSONB).
// Past 50 columns, the image is an array of objects, so that no function
// call passes the 127 arguments that older SQLite versions allow.
func imageSQL(a string, cols []string) string {
	pairs := make([]string, len(cols))
	for i, c := range cols {
		v := a + "." + quoteIdent(c)
		pairs[i] = quoteLiteral(c) + ", CASE WHEN typeof(" + v + ") = 'blob' THEN '\\x' || lower(hex(" + v + ")) ELSE " + v + " END"
	}
	const chunk = 50
	if len(pairs) <= chunk {
		return "json_object(" + strings.Join(pairs, ", ") + ")"
	}
	var parts []string
	for i := 0; i < len(pairs); i += chunk {
		parts = append(parts, "json_object("+strings.Join(pairs[i:min(i+chunk, len(pairs))], ", ")+")")
	}
	return "json_array(" + strings.Join(parts, ", ") + ")"
}

// triggerSQL returns the CREATE TRIGGER statements of capture on t, by name.
func triggerSQL(id int64, t *sqlTable) map[string]string {
	const attribution = "(SELECT ctx FROM prov_context ORDER BY id DESC LIMIT 1), (SELECT max(id) FROM prov_context)"
	tbl := quoteIdent(t.name)
	insert := "INSERT INTO prov_changes (relid, op, new, old, ctx, xid) "
	var match []string
	for _, k := range t.pk {
		match = append(match, "prov_t."+quoteIdent(k)+" = NEW."+quoteIdent(k))
	}
	out := map[string]string{}
	for _, op := range []struct{ op, when, body string }{
		{"r", "BEFORE INSERT", fmt.Sprintf("SELECT %d, 'R', NULL, %s, %s FROM %s AS prov_t WHERE %s", id, imageSQL("prov_t", t.columns), attribution, tbl, strings.Join(match, " AND "))},
		{"i", "AFTER INSERT", fmt.Sprintf("VALUES (%d, 'I', %s, NULL, %s)", id, imageSQL("NEW", t.columns), attribution)},
		{"u", "AFTER UPDATE", fmt.Sprintf("VALUES (%d, 'U', %s, %s, %s)", id, imageSQL("NEW", t.columns), imageSQL("OLD", t.columns), attribution)},
		{"d", "AFTER DELETE", fmt.Sprintf("VALUES (%d, 'D', NULL, %s, %s)", id, imageSQL("OLD", t.columns), attribution)},
	} {
		name := triggerName(id, op.op)
		out[name] = fmt.Sprintf("CREATE TRIGGER %s %s ON %s FOR EACH ROW BEGIN\n\t%s%s;\nEND", quoteIdent(name), op.when, tbl, insert, op.body)
	}
	return out
}

// install creates the capture triggers of t, replacing those of id. Unless
// force, it does nothing if they are as they should be: the SQL that t's
// columns call for, and created after every other trigger on t.
func install(ctx context.Context, q *sql.Tx, id int64, t *sqlTable, force bool) error {
	want := triggerSQL(id, t)
	names := triggerNames(id)
	in := "(?" + strings.Repeat(", ?", len(names)-1) + ")"
	if !force {
		rows, err := q.QueryContext(ctx, "SELECT name, sql, rowid FROM sqlite_master WHERE type = 'trigger' AND name IN "+in, names...)
		if err != nil {
			return wrapSQLite("read the capture triggers of "+t.display, err)
		}
		n, first, ok := 0, int64(-1), true
		for rows.Next() {
			var name, ddl string
			var rowid int64
			if err := rows.Scan(&name, &ddl, &rowid); err != nil {
				rows.Close()
				return wrapSQLite("read the capture triggers of "+t.display, err)
			}
			n++
			ok = ok && want[name] == ddl
			if first < 0 || rowid < first {
				first = rowid
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrapSQLite("read the capture triggers of "+t.display, err)
		}
		if ok && n == len(names) {
			var later bool
			err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE AND rowid > ? AND name NOT IN "+in+")",
				append([]any{t.name, first}, names...)...).Scan(&later)
			if err != nil {
				return wrapSQLite("read the triggers of "+t.display, err)
			}
			if !later {
				return nil
			}
		}
	}
	if err := dropTriggers(ctx, q, id); err != nil {
		return err
	}
	for _, op := range sqliteOps {
		if _, err := q.ExecContext(ctx, want[triggerName(id, op)]); err != nil {
			return wrapSQLite("create the capture triggers on "+t.display, err)
		}
	}
	return nil
}

func dropTriggers(ctx context.Context, q *sql.Tx, id int64) error {
	for _, op := range sqliteOps {
		if _, err := q.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+quoteIdent(triggerName(id, op))); err != nil {
			return wrapSQLite("drop the capture triggers", err)
		}
	}
	return nil
}

// sync brings the triggers of every enabled table in line with the table as
// it is now (see SQLite), and clears prov_context. Any row there is left by a
// writer that committed without deleting it: an attributed transaction
// holds SQLite's write lock from its first statement to its COMMIT, so in a
// write transaction no other one's row can be seen.
func (s *SQLite) sync(ctx context.Context, q *sql.Tx) error {
	rows, err := q.QueryContext(ctx, "SELECT "+sqliteCapturedColumns+" FROM prov_captured WHERE disabled IS NULL ORDER BY id")
	if err != nil {
		return wrapSQLite("read captured tables", err)
	}
	var enabled []*sqliteCaptured
	for rows.Next() {
		c, err := scanCaptured(rows)
		if err != nil {
			rows.Close()
			return wrapSQLite("read captured tables", err)
		}
		enabled = append(enabled, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return wrapSQLite("read captured tables", err)
	}
	for _, c := range enabled {
		// Its triggers name the table, even renamed; without them, its name.
		names := triggerNames(c.id)
		tbl := c.tbl
		err := q.QueryRowContext(ctx, "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name IN (?"+strings.Repeat(", ?", len(names)-1)+") LIMIT 1", names...).Scan(&tbl)
		if errors.Is(err, sql.ErrNoRows) {
			var exists bool
			if err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE)", c.tbl).Scan(&exists); err != nil {
				return wrapSQLite("read captured tables", err)
			}
			if !exists {
				continue // dropped: Status says so
			}
		} else if err != nil {
			return wrapSQLite("read the capture triggers of "+c.name, err)
		}
		t, err := describe(ctx, q, tbl)
		if err != nil {
			return err
		}
		if !slices.Equal(t.pk, c.pk) {
			continue // another table of that name: capture it with enable
		}
		if err := install(ctx, q, c.id, t, false); err != nil {
			return err
		}
		if tbl != c.tbl {
			if _, err := q.ExecContext(ctx, "UPDATE prov_captured SET tbl = ? WHERE id = ?", tbl, c.id); err != nil {
				return wrapSQLite("record the new name of "+c.name, err)
			}
		}
	}
	_, err = q.ExecContext(ctx, "DELETE FROM prov_context")
	return wrapSQLite("clear prov_context", err)
}

// dbName is the database's name in entity ids: the file's name without its
// extension, as when capture was enabled.
func dbName(path string) string {
	base := filepath.Base(path)
	if n := strings.TrimSuffix(base, filepath.Ext(base)); n != "" {
		return n
	}
	return base
}

// Enable installs capture on tables. pii names columns whose values must
// never reach the log, only their salted digests: "column" (in every named
// table that has it) or "table.column". It is all or nothing: on any error
// nothing is installed. Enabling a table again keeps its id and salt, and
// records its rows anew as they are.
func (s *SQLite) Enable(ctx context.Context, tables, pii []string) ([]Table, error) {
	if len(tables) == 0 {
		return nil, prov.Errorf(prov.Invalid, "name at least one table to capture")
	}
	var out []Table
	err := s.update(ctx, func(ctx context.Context, q *sql.Tx) error {
		if err := s.sync(ctx, q); err != nil {
			return err
		}
		var rels []*sqlTable
		var prev []*sqliteCaptured
		seen := map[string]bool{}
		for _, name := range tables {
			r, err := s.resolve(ctx, q, name)
			if err != nil {
				return err
			}
			if seen[strings.ToLower(r.name)] {
				continue
			}
			seen[strings.ToLower(r.name)] = true
			if len(r.pk) == 0 {
				return prov.Errorf(prov.Invalid, "table %s has no primary key: capture identifies each row by its key, so that history, blame and revert can find it (SQLite's rowid is no key: VACUUM may renumber it). SQLite cannot add a primary key to a table: create a new table with one, copy the rows into it (INSERT INTO … SELECT …), drop the old table, rename the new one to %s, and enable capture again", r.display, quoteIdent(r.name))
			}
			c, err := capturedOf(ctx, q, r.name)
			if err != nil {
				return err
			}
			if c != nil && c.disabled == nil {
				return prov.Errorf(prov.Conflict, "capture is already enabled on %s: nothing to do (see 'prov capture status')", r.display)
			}
			rels, prev = append(rels, r), append(prev, c)
		}
		pts := make([]piiTable, len(rels))
		for i, r := range rels {
			pts[i] = piiTable{id: int64(i), display: r.display, columns: r.columns, pk: r.pk}
		}
		piiOf, err := assignPII(pts, pii)
		if err != nil {
			return err
		}
		now := s.now().UnixMicro()
		db := dbName(s.store.Path())
		for i, r := range rels {
			cols := piiOf[int64(i)]
			pkJSON, _ := json.Marshal(r.pk)
			piiJSON, _ := json.Marshal(cols)
			var id int64
			var salt []byte
			if c := prev[i]; c != nil {
				id, salt = c.id, c.salt
				if !slices.Equal(c.pk, r.pk) || !slices.Equal(c.pii, cols) {
					var pending int64
					if err := q.QueryRowContext(ctx, "SELECT count(*) FROM prov_changes WHERE relid = ? AND op <> 'R'", id).Scan(&pending); err != nil {
						return wrapSQLite("enable capture on "+r.display, err)
					}
					if pending > 0 {
						return prov.Errorf(prov.Conflict, "%s has %d captured changes not yet in the log, captured with another primary key or other --pii columns (%s): run 'prov sequence' first, then enable capture again", r.display, pending, strings.Join(c.pii, ", "))
					}
				}
				_, err := q.ExecContext(ctx, "UPDATE prov_captured SET name = ?, tbl = ?, db = ?, pk = ?, pii = ?, enabled = ?, disabled = NULL WHERE id = ?",
					r.display, r.name, db, string(pkJSON), string(piiJSON), now, id)
				if err != nil {
					return wrapSQLite("enable capture on "+r.display, err)
				}
			} else {
				salt = make([]byte, 16)
				rand.Read(salt)
				res, err := q.ExecContext(ctx, "INSERT INTO prov_captured (name, tbl, db, pk, pii, salt, enabled) VALUES (?, ?, ?, ?, ?, ?, ?)",
					r.display, r.name, db, string(pkJSON), string(piiJSON), salt, now)
				if err != nil {
					return wrapSQLite("enable capture on "+r.display, err)
				}
				if id, err = res.LastInsertId(); err != nil {
					return wrapSQLite("enable capture on "+r.display, err)
				}
			}
			if _, err := q.ExecContext(ctx, "INSERT INTO prov_capture_stats (relid) VALUES (?) ON CONFLICT DO NOTHING", id); err != nil {
				return wrapSQLite("enable capture on "+r.display, err)
			}
			if err := install(ctx, q, id, r, true); err != nil {
				return err
			}
			if err := baselineSQLite(ctx, q, id, r, cols, salt); err != nil {
				return err
			}
			out = append(out, Table{Name: r.display, PK: r.pk, PII: cols})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// baselineSQLite records the digest of every row of t as capture begins
// (replacing what an earlier enablement recorded), so that later writes
// that bypassed capture can be told from rows that were there before.
func baselineSQLite(ctx context.Context, q *sql.Tx, id int64, t *sqlTable, pii []string, salt []byte) error {
	op := "record the rows of " + t.display + " as capture begins"
	if _, err := q.ExecContext(ctx, "DELETE FROM prov_row_state WHERE relid = ?", id); err != nil {
		return wrapSQLite(op, err)
	}
	rows, err := q.QueryContext(ctx, "SELECT "+imageSQL("prov_t", t.columns)+" FROM "+quoteIdent(t.name)+" AS prov_t")
	if err != nil {
		return wrapSQLite(op, err)
	}
	var states []rowState
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return wrapSQLite(op, err)
		}
		img, sum, err := canonicalImage([]byte(raw), pii, salt)
		if err != nil {
			rows.Close()
			return fmt.Errorf("%s: %w", op, err)
		}
		pk, err := keyOf(img, t.pk)
		if err != nil {
			rows.Close()
			return fmt.Errorf("%s: %w", op, err)
		}
		states = append(states, rowState{rowKey: rowKey{id, pk}, digest: sum})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return wrapSQLite(op, err)
	}
	stmt, err := q.PrepareContext(ctx, "INSERT INTO prov_row_state (relid, pk, digest) VALUES (?, ?, ?) ON CONFLICT (relid, pk) DO UPDATE SET digest = excluded.digest")
	if err != nil {
		return wrapSQLite(op, err)
	}
	defer stmt.Close()
	for _, st := range states {
		if _, err := stmt.ExecContext(ctx, st.relid, st.pk, st.digest); err != nil {
			return wrapSQLite(op, err)
		}
	}
	return nil
}

// Disable removes capture from a table. Changes captured before stay in the
// queue for the sequencer, and in the log.
func (s *SQLite) Disable(ctx context.Context, table string) error {
	return s.update(ctx, func(ctx context.Context, q *sql.Tx) error {
		if err := s.sync(ctx, q); err != nil {
			return err
		}
		r, err := s.resolve(ctx, q, table)
		if err != nil {
			return err
		}
		c, err := capturedOf(ctx, q, r.name)
		if err != nil {
			return err
		}
		if c == nil || c.disabled != nil {
			return prov.Errorf(prov.Conflict, "capture is not enabled on %s: nothing to disable", r.display)
		}
		if err := dropTriggers(ctx, q, c.id); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, "UPDATE prov_captured SET disabled = ? WHERE id = ?", s.now().UnixMicro(), c.id)
		return wrapSQLite("disable capture on "+r.display, err)
	})
}

// Status reports the captured tables and their counts.
func (s *SQLite) Status(ctx context.Context) (Status, error) {
	var st Status
	err := s.view(ctx, func(ctx context.Context, q *sql.Tx) error {
		rows, err := q.QueryContext(ctx, `SELECT c.name, c.pk, c.pii, c.enabled, c.disabled,
				COALESCE(s.changes, 0), COALESCE(s.unattributed, 0), COALESCE(s.bypassed, 0),
				COALESCE(p.n, 0), COALESCE(p.u, 0),
				NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE (m.type = 'table' AND m.name = c.tbl COLLATE NOCASE)
					OR (m.type = 'trigger' AND m.name IN ('prov_capture_' || c.id || '_i', 'prov_capture_' || c.id || '_u', 'prov_capture_' || c.id || '_d')))
			FROM prov_captured c
			LEFT JOIN prov_capture_stats s ON s.relid = c.id
			LEFT JOIN (SELECT relid, count(*) AS n, sum(ctx IS NULL) AS u FROM prov_changes WHERE op <> 'R' GROUP BY relid) p ON p.relid = c.id
			ORDER BY c.name, c.id`)
		if err != nil {
			return wrapSQLite("read capture status", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t TableStatus
			var pk, pii string
			var enabled int64
			var disabled *int64
			var logged, pendingU int64
			if err := rows.Scan(&t.Name, &pk, &pii, &enabled, &disabled, &logged, &t.Unattributed, &t.Bypassed, &t.Pending, &pendingU, &t.Missing); err != nil {
				return wrapSQLite("read capture status", err)
			}
			json.Unmarshal([]byte(pk), &t.PK)
			json.Unmarshal([]byte(pii), &t.PII)
			t.Enabled = time.UnixMicro(enabled).UTC().Format(time.RFC3339)
			if disabled != nil {
				t.Disabled = time.UnixMicro(*disabled).UTC().Format(time.RFC3339)
			}
			t.Changes = logged + t.Pending
			t.Unattributed += pendingU
			if t.Changes > 0 {
				t.Share = float64(t.Unattributed) / float64(t.Changes)
			}
			st.Tables = append(st.Tables, t)
			st.Changes += t.Changes
			st.Pending += t.Pending
			st.Unattributed += t.Unattributed
		}
		return wrapSQLite("read capture status", rows.Err())
	})
	if st.Changes > 0 {
		st.Share = float64(st.Unattributed) / float64(st.Changes)
	}
	return st, err
}

// Sequencer returns a sequencer that appends to log, which must be kept in
// the same store.
func (s *SQLite) Sequencer(log *tlog.Log) *Sequencer {
	return newSequencer(&sqliteQueue{s: s}, log)
}

// sqliteQueue is prov_changes, as the sequencer reads it.
type sqliteQueue struct{ s *SQLite }

func (sq *sqliteQueue) update(ctx context.Context, fn func(ctx context.Context, tx prov.Tx) error) error {
	return sq.s.store.Update(ctx, fn)
}

// sqliteTableConf is what the sequencer needs of a captured table.
type sqliteTableConf struct {
	info *tableInfo
	pii  []string
	salt []byte
}

func (sq *sqliteQueue) take(ctx context.Context, tx prov.Tx, n int) ([]*change, int, error) {
	q := sqlTxOf(tx)
	if err := sq.s.sync(ctx, q); err != nil {
		return nil, 0, err
	}
	changes, err := readQueue(ctx, q, n)
	if err != nil || len(changes) == 0 {
		return nil, 0, err
	}
	// Writers take turns in SQLite: every change up to the last read is
	// committed and read.
	if _, err := q.ExecContext(ctx, "DELETE FROM prov_changes WHERE id <= ?", changes[len(changes)-1].id); err != nil {
		return nil, 0, wrapSQLite("sequence: take changes", err)
	}
	out, _ := pairReplaced(changes)
	return out, len(changes), nil
}

func (sq *sqliteQueue) peek(ctx context.Context, tx prov.ReadTx) ([]*change, error) {
	changes, err := readQueue(ctx, sqlTxOf(tx), -1)
	if err != nil {
		return nil, err
	}
	out, _ := pairReplaced(changes)
	return out, nil
}

// readQueue reads about n changes from the queue (n < 0: all), in id order,
// with their images in canonical form and digested, and with every replaced
// row's insert.
func readQueue(ctx context.Context, q *sql.Tx, n int) ([]*change, error) {
	conf := map[int64]*sqliteTableConf{}
	rows, err := q.QueryContext(ctx, "SELECT "+sqliteCapturedColumns+" FROM prov_captured")
	if err != nil {
		return nil, wrapSQLite("sequence: read captured tables", err)
	}
	for rows.Next() {
		c, err := scanCaptured(rows)
		if err != nil {
			rows.Close()
			return nil, wrapSQLite("sequence: read captured tables", err)
		}
		conf[c.id] = &sqliteTableConf{
			info: &tableInfo{id: c.id, name: c.name, pk: c.pk, entity: "sqlite:" + c.db + "/" + c.name},
			pii:  c.pii, salt: c.salt,
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrapSQLite("sequence: read captured tables", err)
	}
	read := func(after int64, limit int) ([]*change, error) {
		rows, err := q.QueryContext(ctx, "SELECT id, relid, op, new, old, ctx, xid, at FROM prov_changes WHERE id > ? ORDER BY id LIMIT ?", after, limit)
		if err != nil {
			return nil, wrapSQLite("sequence: take changes", err)
		}
		defer rows.Close()
		var out []*change
		for rows.Next() {
			c := &change{}
			var relid, at int64
			var newText, oldText *string
			var xid *int64
			if err := rows.Scan(&c.id, &relid, &c.op, &newText, &oldText, &c.ctx, &xid, &at); err != nil {
				return nil, wrapSQLite("sequence: read changes", err)
			}
			t := conf[relid]
			if t == nil {
				return nil, prov.Errorf(prov.Internal, "sequence: change %d is of table %d, which capture does not know", c.id, relid)
			}
			c.table, c.at = t.info, time.UnixMicro(at)
			if xid != nil {
				c.xid = strconv.FormatInt(*xid, 10)
			}
			if newText != nil {
				if c.new, c.newSum, err = canonicalImage([]byte(*newText), t.pii, t.salt); err != nil {
					return nil, fmt.Errorf("sequence: change %d of %s: %w", c.id, t.info.name, err)
				}
			}
			if oldText != nil {
				if c.old, c.oldSum, err = canonicalImage([]byte(*oldText), t.pii, t.salt); err != nil {
					return nil, fmt.Errorf("sequence: change %d of %s: %w", c.id, t.info.name, err)
				}
			}
			out = append(out, c)
		}
		return out, wrapSQLite("sequence: read changes", rows.Err())
	}
	changes, err := read(0, n)
	if err != nil {
		return nil, err
	}
	// A replaced row's insert follows it in the same statement: read on
	// until it is in the batch, if the batch ended first.
	for full := len(changes) == n; full; {
		if _, open := pairReplaced(changes); !open {
			break
		}
		const more = 16
		next, err := read(changes[len(changes)-1].id, more)
		if err != nil {
			return nil, err
		}
		changes, full = append(changes, next...), len(next) == more
	}
	return changes, nil
}

// pairReplaced folds each R change (the row an INSERT is about to replace,
// read by the BEFORE INSERT trigger) into the insert that replaced it, which
// becomes an update from that row. The insert is the next change of the same
// row in the same statement (same time and attribution). An R whose INSERT
// did not replace the row (OR IGNORE, an upsert that updated or did nothing,
// a REPLACE that fired delete triggers) is dropped. open reports an R
// unresolved at the end of changes, whose insert may come next.
func pairReplaced(changes []*change) (out []*change, open bool) {
	out = make([]*change, 0, len(changes))
	folded := map[*change]*change{} // insert → its replaced row
	for i, r := range changes {
		if r.op != "R" {
			continue
		}
		k, err := keyOf(r.old, r.table.pk)
		if err != nil {
			continue
		}
		ended := false
		for _, d := range changes[i+1:] {
			if !d.at.Equal(r.at) {
				ended = true
				break
			}
			img := d.old
			if img == nil {
				img = d.new
			}
			if d.table != r.table {
				continue
			}
			if dk, err := keyOf(img, d.table.pk); err != nil || dk != k {
				continue
			}
			ended = true
			if d.op == "I" && deref(d.ctx) == deref(r.ctx) && d.xid == r.xid {
				folded[d] = r
			}
			break
		}
		open = open || !ended
	}
	for _, c := range changes {
		if c.op == "R" {
			continue
		}
		if r := folded[c]; r != nil {
			c = &change{id: c.id, table: c.table, op: "U", new: c.new, newSum: c.newSum, old: r.old, oldSum: r.oldSum, ctx: c.ctx, xid: c.xid, at: c.at}
		}
		out = append(out, c)
	}
	return out, open
}

func (sq *sqliteQueue) rowStates(ctx context.Context, tx prov.Tx, keys []rowKey) (map[rowKey][]byte, error) {
	stmt, err := sqlTxOf(tx).PrepareContext(ctx, "SELECT digest FROM prov_row_state WHERE relid = ? AND pk = ?")
	if err != nil {
		return nil, wrapSQLite("sequence: read row states", err)
	}
	defer stmt.Close()
	out := make(map[rowKey][]byte, len(keys))
	for _, k := range keys {
		var d []byte
		err := stmt.QueryRowContext(ctx, k.relid, k.pk).Scan(&d)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, wrapSQLite("sequence: read row states", err)
		default:
			out[k] = d
		}
	}
	return out, nil
}

func (sq *sqliteQueue) write(ctx context.Context, tx prov.Tx, b *batch) error {
	if err := sq.index(ctx, tx, b.index, b.acts); err != nil {
		return err
	}
	if err := sq.putRowStates(ctx, tx, b.states); err != nil {
		return err
	}
	return sq.count(ctx, tx, b.stats)
}

func (sq *sqliteQueue) putRowStates(ctx context.Context, tx prov.Tx, states []rowState) error {
	stmt, err := sqlTxOf(tx).PrepareContext(ctx, `INSERT INTO prov_row_state (relid, pk, digest, idx) VALUES (?, ?, ?, ?)
		ON CONFLICT (relid, pk) DO UPDATE SET digest = excluded.digest, idx = excluded.idx`)
	if err != nil {
		return wrapSQLite("sequence: write row states", err)
	}
	defer stmt.Close()
	for _, s := range states {
		var digest any // NULL, not an empty BLOB, for a deleted row
		if s.digest != nil {
			digest = s.digest
		}
		if _, err := stmt.ExecContext(ctx, s.relid, s.pk, digest, s.idx); err != nil {
			return wrapSQLite("sequence: write row states", err)
		}
	}
	return nil
}

func (sq *sqliteQueue) count(ctx context.Context, tx prov.Tx, stats map[int64]*tableStats) error {
	for id, st := range stats {
		_, err := sqlTxOf(tx).ExecContext(ctx, `INSERT INTO prov_capture_stats (relid, changes, unattributed, bypassed) VALUES (?, ?, ?, ?)
			ON CONFLICT (relid) DO UPDATE SET changes = changes + excluded.changes,
				unattributed = unattributed + excluded.unattributed, bypassed = bypassed + excluded.bypassed`,
			id, st.changes, st.unattributed, st.bypassed)
		if err != nil {
			return wrapSQLite("sequence: count changes", err)
		}
	}
	return nil
}

// wrapSQLite turns SQLite errors into prov errors with a sentence to act on.
func wrapSQLite(op string, err error) error {
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
			return &prov.Error{Kind: prov.Unavailable, Message: fmt.Sprintf("%s: the database is locked by another process; try again", op), Err: err}
		case sqlite3lib.SQLITE_READONLY, sqlite3lib.SQLITE_CANTOPEN, sqlite3lib.SQLITE_PERM:
			return &prov.Error{Kind: prov.Unavailable, Message: fmt.Sprintf("%s: cannot write the database file (check its permissions)", op), Err: err}
		}
		return &prov.Error{Kind: prov.Internal, Message: fmt.Sprintf("%s: SQLite says: %s", op, se.Error()), Err: err}
	}
	return &prov.Error{Kind: prov.Internal, Message: fmt.Sprintf("%s: %v", op, err), Err: err}
}

// writers keeps prov_column_writers: see columnWriters.
func (sq *sqliteQueue) writers(ctx context.Context, q *sql.Tx, rows []indexRow) error {
	resets, puts, _ := columnWriters(rows)
	if len(resets) > 0 {
		del, err := q.PrepareContext(ctx, `DELETE FROM prov_column_writers WHERE relid = ? AND pk = ?`)
		if err != nil {
			return wrapSQLite("sequence: index column writers", err)
		}
		defer del.Close()
		for _, k := range resets {
			if _, err := del.ExecContext(ctx, k.relid, k.pk); err != nil {
				return wrapSQLite("sequence: index column writers", err)
			}
		}
	}
	if len(puts) == 0 {
		return nil
	}
	put, err := q.PrepareContext(ctx, `INSERT INTO prov_column_writers (relid, pk, col, idx, op, activity, agent, at, columns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (relid, pk, col) DO UPDATE SET idx = excluded.idx, op = excluded.op, activity = excluded.activity,
			agent = excluded.agent, at = excluded.at, columns = excluded.columns`)
	if err != nil {
		return wrapSQLite("sequence: index column writers", err)
	}
	defer put.Close()
	for _, c := range puts {
		r := c.w
		if _, err := put.ExecContext(ctx, r.relid, r.pk, c.col, r.idx, r.op, nullString(r.activity), nullString(r.agent), r.at.UnixMicro(), columnsOfEntry(c)); err != nil {
			return wrapSQLite("sequence: index column writers", err)
		}
	}
	return nil
}

func (sq *sqliteQueue) index(ctx context.Context, tx prov.Tx, rows []indexRow, acts map[string]*activitySpan) error {
	q := sqlTxOf(tx)
	stmt, err := q.PrepareContext(ctx, `INSERT INTO prov_row_changes (relid, pk, idx, op, activity, agent, at, columns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return wrapSQLite("sequence: index changes", err)
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r.relid, r.pk, r.idx, r.op, nullString(r.activity), nullString(r.agent), r.at.UnixMicro(), columnsField(r.columns)); err != nil {
			return wrapSQLite("sequence: index changes", err)
		}
	}
	if err := sq.writers(ctx, q, rows); err != nil {
		return err
	}
	for id, s := range acts {
		_, err := q.ExecContext(ctx, `INSERT INTO prov_change_activities AS a (id, parent, first, last, changes) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET parent = COALESCE(a.parent, excluded.parent),
				first = min(a.first, excluded.first), last = max(a.last, excluded.last), changes = a.changes + excluded.changes`,
			id, nullString(s.parent), s.first.UnixMicro(), s.last.UnixMicro(), s.changes)
		if err != nil {
			return wrapSQLite("sequence: index activities", err)
		}
	}
	return nil
}
