package capture

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/tlog"
)

// Postgres is capture in a PostgreSQL database whose log is kept in the same
// database, in the store's schema.
type Postgres struct {
	store  *postgres.Store
	schema string // quoted
}

// NewPostgres returns capture for the database of store.
func NewPostgres(store *postgres.Store) *Postgres {
	return &Postgres{store: store, schema: pgx.Identifier{store.Schema()}.Sanitize()}
}

// update runs fn in a transaction of the store, with its connection.
func (p *Postgres) update(ctx context.Context, fn func(ctx context.Context, q postgres.Querier, tx prov.Tx) error) error {
	return p.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		return fn(ctx, tx.(interface{ Querier() postgres.Querier }).Querier(), tx)
	})
}

func (p *Postgres) view(ctx context.Context, fn func(ctx context.Context, q postgres.Querier) error) error {
	return p.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		return fn(ctx, tx.(interface{ Querier() postgres.Querier }).Querier())
	})
}

// relation is an application table as the catalog describes it.
type relation struct {
	oid     uint32
	name    string // schema.table, quoted where needed
	display string // schema.table as typed names
	kind    string // r table, p partitioned table
	pk      []string
	eq      []string // the equality operator of each key column, schema-qualified: OPERATOR(s.=)
	columns []string
	parts   []uint32 // partitions, at every level
}

// resolve finds a table by name (schema-qualified or on the search path).
func (p *Postgres) resolve(ctx context.Context, q postgres.Querier, name string) (*relation, error) {
	var r relation
	var oid *uint32
	err := q.QueryRow(ctx, "SELECT to_regclass($1)::oid", name).Scan(&oid)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return nil, prov.Errorf(prov.Invalid, "%q is not a table name: %s", name, pe.Message)
		}
		return nil, wrapPG(fmt.Sprintf("look up table %s", name), err)
	}
	if oid == nil {
		return nil, prov.Errorf(prov.NotFound, "table %s does not exist%s", name, didYouMean(suggest(name, p.tableNames(ctx, q))))
	}
	r.oid = *oid
	var nsp, rel string
	err = q.QueryRow(ctx, `SELECT n.nspname, c.relname, c.relkind::text, format('%I.%I', n.nspname, c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1`, r.oid).Scan(&nsp, &rel, &r.kind, &r.name)
	if err != nil {
		return nil, wrapPG("look up table "+name, err)
	}
	r.display = nsp + "." + rel
	if nsp == p.store.Schema() {
		return nil, prov.Errorf(prov.Invalid, "%s is one of Prov's own tables: capture is for application tables", r.display)
	}
	if r.kind != "r" && r.kind != "p" {
		return nil, prov.Errorf(prov.Invalid, "%s is not a table (it is a %s): capture works on tables and partitioned tables", r.display, relkindWord(r.kind))
	}
	err = q.QueryRow(ctx, `SELECT COALESCE(array_agg(a.attname::text ORDER BY k.ord), '{}')
		FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary AND k.ord <= i.indnkeyatts`, r.oid).Scan(&r.pk)
	if err != nil {
		return nil, wrapPG("read the primary key of "+r.display, err)
	}
	// The key's equality operators, from the primary key index's operator
	// classes: the capture functions name them with their schema, since they
	// run with the caller's search_path (see install).
	err = q.QueryRow(ctx, `SELECT COALESCE(array_agg(format('OPERATOR(%I.%s)', n.nspname, o.oprname) ORDER BY k.ord), '{}')
		FROM pg_index i CROSS JOIN LATERAL unnest(i.indclass::oid[]) WITH ORDINALITY AS k(opclass, ord)
		JOIN pg_opclass c ON c.oid = k.opclass
		JOIN pg_amop a ON a.amopfamily = c.opcfamily AND a.amoplefttype = c.opcintype AND a.amoprighttype = c.opcintype
			AND a.amopstrategy = 3 AND a.amopmethod = c.opcmethod
		JOIN pg_operator o ON o.oid = a.amopopr
		JOIN pg_namespace n ON n.oid = o.oprnamespace
		WHERE i.indrelid = $1 AND i.indisprimary AND k.ord <= i.indnkeyatts`, r.oid).Scan(&r.eq)
	if err != nil {
		return nil, wrapPG("read the primary key of "+r.display, err)
	}
	if len(r.eq) != len(r.pk) {
		return nil, prov.Errorf(prov.Internal, "read the primary key of %s: %d equality operators for %d key columns", r.display, len(r.eq), len(r.pk))
	}
	err = q.QueryRow(ctx, `SELECT COALESCE(array_agg(attname::text ORDER BY attnum), '{}') FROM pg_attribute
		WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped`, r.oid).Scan(&r.columns)
	if err != nil {
		return nil, wrapPG("read the columns of "+r.display, err)
	}
	if r.kind == "p" {
		rows, err := q.Query(ctx, "SELECT relid::oid FROM pg_partition_tree($1::oid::regclass) WHERE level > 0", r.oid)
		if err != nil {
			return nil, wrapPG("read the partitions of "+r.display, err)
		}
		r.parts, err = pgx.CollectRows(rows, pgx.RowTo[uint32])
		if err != nil {
			return nil, wrapPG("read the partitions of "+r.display, err)
		}
	}
	return &r, nil
}

func relkindWord(k string) string {
	switch k {
	case "v":
		return "view"
	case "m":
		return "materialized view"
	case "f":
		return "foreign table"
	case "S":
		return "sequence"
	case "i", "I":
		return "index"
	}
	return "relation of kind " + k
}

// tableNames lists application tables, for suggestions.
func (p *Postgres) tableNames(ctx context.Context, q postgres.Querier) []string {
	rows, err := q.Query(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) AND n.nspname NOT LIKE 'pg_toast%'`, p.store.Schema())
	if err != nil {
		return nil
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	return names
}

// Enable installs capture on tables. pii names columns whose values must
// never be stored, only their salted digests: "column" (in every named table
// that has it) or "table.column". It is all or nothing: on any error nothing
// is installed.
func (p *Postgres) Enable(ctx context.Context, tables, pii []string) ([]Table, error) {
	if len(tables) == 0 {
		return nil, prov.Errorf(prov.Invalid, "name at least one table to capture")
	}
	var out []Table
	err := p.update(ctx, func(ctx context.Context, q postgres.Querier, tx prov.Tx) error {
		rels := make([]*relation, 0, len(tables))
		seen := map[uint32]bool{}
		for _, name := range tables {
			r, err := p.resolve(ctx, q, name)
			if err != nil {
				return err
			}
			if seen[r.oid] {
				continue
			}
			seen[r.oid] = true
			if len(r.pk) == 0 {
				return prov.Errorf(prov.Invalid, "table %s has no primary key: capture identifies each row by its key, so that history, blame and revert can find it. Add one (ALTER TABLE %s ADD PRIMARY KEY (…), or an identity column) and enable capture again", r.display, r.name)
			}
			var enabled bool
			err = q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+p.schema+".captured WHERE relid = $1 AND disabled IS NULL)", r.oid).Scan(&enabled)
			if err != nil {
				return wrapPG("enable capture", err)
			}
			if enabled {
				return prov.Errorf(prov.Conflict, "capture is already enabled on %s: nothing to do (see 'prov capture status')", r.display)
			}
			rels = append(rels, r)
		}
		pts := make([]piiTable, len(rels))
		for i, r := range rels {
			pts[i] = piiTable{id: int64(r.oid), display: r.display, columns: r.columns, pk: r.pk}
		}
		piiOf, err := assignPII(pts, pii)
		if err != nil {
			return err
		}
		for _, r := range rels {
			cols := piiOf[int64(r.oid)]
			salt := make([]byte, 16)
			rand.Read(salt)
			if err := p.install(ctx, q, r, cols, salt); err != nil {
				return err
			}
			_, err := q.Exec(ctx, "INSERT INTO "+p.schema+`.captured (relid, name, pk, pii, salt) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (relid) DO UPDATE SET name = excluded.name, pk = excluded.pk, pii = excluded.pii, salt = excluded.salt, enabled = now(), disabled = NULL`,
				r.oid, r.display, r.pk, cols, salt)
			if err != nil {
				return wrapPG("enable capture on "+r.display, err)
			}
			if _, err := q.Exec(ctx, "INSERT INTO "+p.schema+".capture_stats (relid) VALUES ($1) ON CONFLICT DO NOTHING", r.oid); err != nil {
				return wrapPG("enable capture on "+r.display, err)
			}
			if err := p.baseline(ctx, q, r, cols, salt); err != nil {
				return err
			}
			out = append(out, Table{Name: r.display, PK: r.pk, PII: cols})
		}
		return p.refresh(ctx, q)
	})
	return out, err
}

// image returns the SQL expression of the row image captured for alias a.
// Every name in it is schema-qualified: it runs in the capture functions,
// under the search_path of whoever changed the table (see install).
func (p *Postgres) image(a string, pii []string, salt []byte) string {
	img := "pg_catalog.to_jsonb(" + a + ".*)" // a.*: the whole row, even if a column is named a
	if len(pii) == 0 {
		return img
	}
	cols := make([]string, len(pii))
	for i, c := range pii {
		cols[i] = quoteLiteral(c)
	}
	return fmt.Sprintf("%s.pii_digest(%s, '\\x%x'::pg_catalog.bytea, ARRAY[%s]::pg_catalog.text[])", p.schema, img, salt, strings.Join(cols, ", "))
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (p *Postgres) fn(r *relation, op string) string {
	return fmt.Sprintf("%s.%s", p.schema, pgx.Identifier{fmt.Sprintf("capture_%d_%s", r.oid, op)}.Sanitize())
}

// functionsVersion marks the body of every capture function that install
// creates; refresh re-creates those without it. Change it whenever the
// functions change, so that databases captured by an older Prov get them.
const functionsVersion = "-- prov capture functions v3"

// functionDecls declares what every change of a statement shares, computed
// once per statement rather than by the queue table's defaults once per row.
const functionDecls = `DECLARE
	prov_ctx pg_catalog.text := pg_catalog.current_setting('` + prov.ContextSetting + `', true);
	prov_xid pg_catalog.xid8 := pg_catalog.pg_current_xact_id();
	prov_user pg_catalog.text := SESSION_USER;
	prov_app pg_catalog.text := pg_catalog.current_setting('application_name', true);
	prov_client pg_catalog.inet := pg_catalog.inet_client_addr();
	prov_at pg_catalog.timestamptz := pg_catalog.statement_timestamp();`

// functions returns the bodies (PL/pgSQL, after functionDecls) of r's
// capture functions by operation: i, u, d, t.
//
// The functions run in the application's transaction, on every captured
// statement, so they are kept cheap: they have no SET clause (a function
// with one pays a save and restore of the setting on every call), so they run
// under the caller's search_path — and therefore name everything they use
// with its schema, operators and types included (OPERATOR(pg_catalog.=)),
// the key's equality operators being those of the primary key index.
// Unqualified names are only the transition tables, which PostgreSQL looks
// up before any schema, and the variables of functionDecls.
func (p *Postgres) functions(r *relation, pii []string, salt []byte) map[string]string {
	var join []string
	for i, k := range r.pk {
		c := pgx.Identifier{k}.Sanitize()
		join = append(join, "prov_n."+c+" "+r.eq[i]+" prov_o."+c)
	}
	insert := "INSERT INTO " + p.schema + ".changes (xid, relid, op, new, old, ctx, db_user, app, client, at) "
	row := func(op, newImg, oldImg string) string {
		return fmt.Sprintf("SELECT prov_xid, %d, '%s', %s, %s, prov_ctx, prov_user, prov_app, prov_client, prov_at", r.oid, op, newImg, oldImg)
	}
	newImg, oldImg := p.image("prov_n", pii, salt), p.image("prov_o", pii, salt)
	return map[string]string{
		"i": insert + row("I", newImg, "NULL") + " FROM prov_new AS prov_n;",
		// Update images are paired by key, so that a key change shows as the
		// end of the old key and an insert of the new.
		"u": insert + row("U", newImg, oldImg) + " FROM prov_new AS prov_n FULL JOIN prov_old AS prov_o ON " + strings.Join(join, " AND ") + ";",
		"d": insert + row("D", "NULL", oldImg) + " FROM prov_old AS prov_o;",
		// BEFORE TRUNCATE: every row is captured with its before-image, so a
		// truncate can be reverted like a delete. It costs a scan of the table.
		"t": fmt.Sprintf("EXECUTE pg_catalog.format(%s, TG_TABLE_SCHEMA, TG_TABLE_NAME) USING prov_xid, prov_ctx, prov_user, prov_app, prov_client, prov_at;",
			quoteLiteral(insert+fmt.Sprintf("SELECT $1, %d, 'T', NULL, %s, $2, $3, $4, $5, $6 FROM %%I.%%I AS prov_o", r.oid, oldImg))),
	}
}

// createFunctions creates or replaces r's capture functions (CREATE OR
// REPLACE replaces their settings too).
func (p *Postgres) createFunctions(ctx context.Context, q postgres.Querier, r *relation, pii []string, salt []byte) error {
	// pii_digest is an SQL function whose body names pg_catalog's functions
	// without their schema: it must run under a pinned search_path, so the
	// functions of tables with PII columns keep one (and its cost).
	set := ""
	if len(pii) > 0 {
		set = " SET search_path = pg_catalog, pg_temp"
	}
	for op, body := range p.functions(r, pii, salt) {
		sql := fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER%s AS $prov$
%s
%s
BEGIN
	%s
	RETURN NULL;
END
$prov$`, p.fn(r, op), set, functionsVersion, functionDecls, body)
		if _, err := q.Exec(ctx, sql); err != nil {
			return wrapPG("create the capture function for "+r.display, err)
		}
		if _, err := q.Exec(ctx, "REVOKE ALL ON FUNCTION "+p.fn(r, op)+"() FROM PUBLIC"); err != nil {
			return wrapPG("create the capture function for "+r.display, err)
		}
	}
	return nil
}

// refresh re-creates the capture functions that an older Prov installed
// (those without functionsVersion), for every table capture is enabled on,
// keeping its PII columns and salt: the triggers call the functions by name,
// so they need not change. Functions whose owner the current role cannot act
// as are left as they are (they keep working, at their old cost), as are
// those of tables whose primary key is no longer the one captured. It runs
// when capture is enabled on any table and at a sequencer's first step.
func (p *Postgres) refresh(ctx context.Context, q postgres.Querier) error {
	rows, err := q.Query(ctx, `SELECT c.relid, c.pk, c.pii, c.salt FROM `+p.schema+`.captured c
		WHERE c.disabled IS NULL AND EXISTS (SELECT 1 FROM pg_proc f
			WHERE f.pronamespace = $1::regnamespace AND f.proname IN ('capture_' || c.relid || '_i', 'capture_' || c.relid || '_u', 'capture_' || c.relid || '_d', 'capture_' || c.relid || '_t')
			AND strpos(f.prosrc, $2) = 0 AND pg_has_role(f.proowner, 'USAGE'))
		ORDER BY c.relid`, p.schema, functionsVersion)
	if err != nil {
		return wrapPG("update the capture functions", err)
	}
	type stale struct {
		relid   uint32
		pk, pii []string
		salt    []byte
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (stale, error) {
		var s stale
		return s, row.Scan(&s.relid, &s.pk, &s.pii, &s.salt)
	})
	if err != nil {
		return wrapPG("update the capture functions", err)
	}
	for _, s := range all {
		var name *string
		if err := q.QueryRow(ctx, "SELECT to_regclass($1::oid::regclass::text)::text", s.relid).Scan(&name); err != nil {
			return wrapPG("update the capture functions", err)
		}
		if name == nil {
			continue // dropped: nothing calls its functions
		}
		r, err := p.resolve(ctx, q, *name)
		if err != nil {
			return err
		}
		if r.oid != s.relid || !slices.Equal(r.pk, s.pk) {
			continue
		}
		if err := p.createFunctions(ctx, q, r, s.pii, s.salt); err != nil {
			return err
		}
	}
	return nil
}

// install creates the trigger functions and the triggers on r and its
// partitions. The functions are SECURITY DEFINER: application roles need no
// privilege on Prov's schema, and cannot write into the capture queue except
// through a real change of a captured table.
func (p *Postgres) install(ctx context.Context, q postgres.Querier, r *relation, pii []string, salt []byte) error {
	if err := p.createFunctions(ctx, q, r, pii, salt); err != nil {
		return err
	}
	targets := []string{r.name}
	for _, part := range r.parts {
		var name string
		if err := q.QueryRow(ctx, "SELECT $1::oid::regclass::text", part).Scan(&name); err != nil {
			return wrapPG("read the partitions of "+r.display, err)
		}
		targets = append(targets, name)
	}
	for _, t := range targets {
		for _, op := range []struct{ name, ddl string }{
			{"i", "AFTER INSERT ON %s REFERENCING NEW TABLE AS prov_new FOR EACH STATEMENT"},
			{"u", "AFTER UPDATE ON %s REFERENCING OLD TABLE AS prov_old NEW TABLE AS prov_new FOR EACH STATEMENT"},
			{"d", "AFTER DELETE ON %s REFERENCING OLD TABLE AS prov_old FOR EACH STATEMENT"},
			{"t", "BEFORE TRUNCATE ON %s FOR EACH STATEMENT"},
		} {
			sql := fmt.Sprintf("CREATE TRIGGER prov_capture_%s "+op.ddl+" EXECUTE FUNCTION %s()", op.name, t, p.fn(r, op.name))
			if _, err := q.Exec(ctx, sql); err != nil {
				return wrapPG("create the capture triggers on "+t, err)
			}
		}
	}
	return nil
}

// baseline records the digest of every row that exists when capture is
// enabled, so that verify --live can tell later writes that bypassed
// capture from rows that were there before.
func (p *Postgres) baseline(ctx context.Context, q postgres.Querier, r *relation, pii []string, salt []byte) error {
	var pk []string
	for _, k := range r.pk {
		pk = append(pk, quoteLiteral(k)+", prov_t."+pgx.Identifier{k}.Sanitize())
	}
	sql := fmt.Sprintf(`INSERT INTO %s.row_state (relid, pk, digest)
		SELECT %d, jsonb_build_object(%s)::text, %s FROM %s AS prov_t
		ON CONFLICT (relid, pk) DO UPDATE SET digest = excluded.digest, idx = NULL`,
		p.schema, r.oid, strings.Join(pk, ", "), digestSQL(p.image("prov_t", pii, salt)), r.name)
	if _, err := q.Exec(ctx, sql); err != nil {
		return wrapPG("record the rows of "+r.display+" as capture begins", err)
	}
	return nil
}

// Disable removes capture from a table. Changes captured before stay in the
// queue for the sequencer, and in the log.
func (p *Postgres) Disable(ctx context.Context, table string) error {
	return p.update(ctx, func(ctx context.Context, q postgres.Querier, tx prov.Tx) error {
		r, err := p.resolve(ctx, q, table)
		if err != nil {
			return err
		}
		var enabled bool
		if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+p.schema+".captured WHERE relid = $1 AND disabled IS NULL)", r.oid).Scan(&enabled); err != nil {
			return wrapPG("disable capture", err)
		}
		if !enabled {
			return prov.Errorf(prov.Conflict, "capture is not enabled on %s: nothing to disable", r.display)
		}
		targets := []string{r.name}
		for _, part := range r.parts {
			var name string
			if err := q.QueryRow(ctx, "SELECT $1::oid::regclass::text", part).Scan(&name); err != nil {
				return wrapPG("read the partitions of "+r.display, err)
			}
			targets = append(targets, name)
		}
		for _, t := range targets {
			for _, op := range []string{"i", "u", "d", "t"} {
				if _, err := q.Exec(ctx, fmt.Sprintf("DROP TRIGGER IF EXISTS prov_capture_%s ON %s", op, t)); err != nil {
					return wrapPG("drop the capture triggers on "+t, err)
				}
			}
		}
		for _, op := range []string{"i", "u", "d", "t"} {
			if _, err := q.Exec(ctx, "DROP FUNCTION IF EXISTS "+p.fn(r, op)+"()"); err != nil {
				return wrapPG("drop the capture functions of "+r.display, err)
			}
		}
		_, err = q.Exec(ctx, "UPDATE "+p.schema+".captured SET disabled = now() WHERE relid = $1", r.oid)
		return wrapPG("disable capture on "+r.display, err)
	})
}

// Status reports the captured tables and their counts.
func (p *Postgres) Status(ctx context.Context) (Status, error) {
	var st Status
	err := p.view(ctx, func(ctx context.Context, q postgres.Querier) error {
		rows, err := q.Query(ctx, `SELECT c.name, c.pk, c.pii, to_char(c.enabled AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
				COALESCE(to_char(c.disabled AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
				COALESCE(s.changes, 0), COALESCE(s.unattributed, 0), COALESCE(s.bypassed, 0),
				COALESCE(pq.n, 0), COALESCE(pq.u, 0), to_regclass(c.relid::regclass::text) IS NULL
			FROM `+p.schema+`.captured c
			LEFT JOIN `+p.schema+`.capture_stats s ON s.relid = c.relid
			LEFT JOIN (SELECT relid, count(*) AS n, count(*) FILTER (WHERE ctx IS NULL) AS u FROM `+p.schema+`.changes GROUP BY relid) pq ON pq.relid = c.relid
			ORDER BY c.name`)
		if err != nil {
			return wrapPG("read capture status", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t TableStatus
			var logged, pendingU int64
			if err := rows.Scan(&t.Name, &t.PK, &t.PII, &t.Enabled, &t.Disabled, &logged, &t.Unattributed, &t.Bypassed, &t.Pending, &pendingU, &t.Missing); err != nil {
				return wrapPG("read capture status", err)
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
		return wrapPG("read capture status", rows.Err())
	})
	if st.Changes > 0 {
		st.Share = float64(st.Unattributed) / float64(st.Changes)
	}
	return st, err
}

// wrapPG turns PostgreSQL errors into prov errors with a sentence to act on.
func wrapPG(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *prov.Error
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "42501":
			return &prov.Error{Kind: prov.Unauthorized, Message: fmt.Sprintf("%s: permission denied (%s): the role needs to own the table (or hold the TRIGGER privilege) and to create functions in Prov's schema", op, pg.Message), Err: err}
		case pg.Code == "42P01":
			return &prov.Error{Kind: prov.NotFound, Message: fmt.Sprintf("%s: %s", op, pg.Message), Err: err}
		case strings.HasPrefix(pg.Code, "08"):
			return &prov.Error{Kind: prov.Unavailable, Message: fmt.Sprintf("%s: lost the connection to PostgreSQL: %s", op, pg.Message), Err: err}
		}
		return &prov.Error{Kind: prov.Internal, Message: fmt.Sprintf("%s: PostgreSQL says: %s", op, pg.Message), Err: err}
	}
	return &prov.Error{Kind: prov.Internal, Message: fmt.Sprintf("%s: %v", op, err), Err: err}
}

// digestSQL is the SQL expression of the digest of a row image: SHA-256 of
// PostgreSQL's text of the jsonb image without its null fields (so that a
// column added without a default does not change the digests of existing
// rows). Baselines, the sequencer and verify --live all use it.
func digestSQL(img string) string {
	return "sha256(convert_to(jsonb_strip_nulls(" + img + ")::text, 'UTF8'))"
}

// Sequencer returns a sequencer that appends to log, which must be kept in
// the same store.
func (p *Postgres) Sequencer(log *tlog.Log) *Sequencer {
	return newSequencer(&pgQueue{p: p, tables: map[int64]*tableInfo{}}, log)
}

// pgQueue is the capture queue of a PostgreSQL database, as the sequencer
// reads it.
type pgQueue struct {
	p      *Postgres
	db     string
	tables map[int64]*tableInfo // cache: a captured table's name and key never change
	// refreshed: the capture functions an older Prov installed were re-created
	// (at the first step; see Postgres.refresh).
	refreshed bool
	// found holds the ctid of every row state that rowStates read, for
	// putRowStates in the same transaction.
	found map[rowKey]pgtype.TID
}

func querier(tx prov.ReadTx) postgres.Querier {
	return tx.(interface{ Querier() postgres.Querier }).Querier()
}

func (pq *pgQueue) update(ctx context.Context, fn func(ctx context.Context, tx prov.Tx) error) error {
	return pq.p.store.Update(ctx, fn)
}

func (pq *pgQueue) take(ctx context.Context, tx prov.Tx, n int) ([]*change, int, error) {
	if !pq.refreshed {
		if err := pq.p.refresh(ctx, querier(tx)); err != nil {
			return nil, 0, err
		}
		pq.refreshed = true
	}
	changes, err := pq.takeChanges(ctx, tx, n)
	return changes, len(changes), err
}

func (pq *pgQueue) takeChanges(ctx context.Context, tx prov.Tx, n int) ([]*change, error) {
	q := querier(tx)
	schema := pq.p.schema
	if pq.db == "" {
		if err := q.QueryRow(ctx, "SELECT current_database()").Scan(&pq.db); err != nil {
			return nil, wrapPG("sequence", err)
		}
	}
	// The first n committed changes are those up to the n-th id that the
	// statement's snapshot sees: a range of the primary key, deleted by one
	// index scan. (Changes of transactions still running, whatever their
	// ids, are not in the snapshot: a later step takes them.) Writers of
	// the log take the store's lock for their whole transaction, so no other
	// sequencer deletes from the queue meanwhile; none needs the rows
	// locked first, which cost a lock record per row in the WAL and made
	// PostgreSQL join the ids with a scan of the whole queue.
	rows, err := q.Query(ctx, `DELETE FROM `+schema+`.changes WHERE id <= (
			SELECT max(id) FROM (SELECT id FROM `+schema+`.changes ORDER BY id LIMIT $1) AS first)
		RETURNING `+changeColumns, n)
	if err != nil {
		return nil, wrapPG("sequence: take changes", err)
	}
	return pq.scanChanges(ctx, q, rows)
}

// changeColumns are the columns of the changes table that scanChanges reads.
// The images' digests are not among them: scanChanges computes them from
// the images' text (pgDigest), as digestSQL would, sparing the server a
// jsonb_strip_nulls, a second printing of each image and a SHA-256 per image
// in the statement that holds the queue's rows locked.
const changeColumns = `id, xid::text, relid, op::text, new::text, old::text, ctx, db_user, app, host(client), at`

// scanChanges reads changes (changeColumns) in id order, with their tables.
func (pq *pgQueue) scanChanges(ctx context.Context, q postgres.Querier, rows pgx.Rows) ([]*change, error) {
	var changes []*change
	var relids []uint32
	for rows.Next() {
		c := &change{}
		var relid uint32
		var app, client *string
		if err := rows.Scan(&c.id, &c.xid, &relid, &c.op, &c.new, &c.old, &c.ctx, &c.dbUser, &app, &client, &c.at); err != nil {
			rows.Close()
			return nil, wrapPG("sequence: read changes", err)
		}
		var err error
		if c.newSum, err = pgDigest(c.new); err == nil {
			c.oldSum, err = pgDigest(c.old)
		}
		if err != nil {
			rows.Close()
			return nil, prov.Errorf(prov.Internal, "sequence: change %d: %v", c.id, err)
		}
		c.app, c.client = deref(app), deref(client)
		c.agent = &prov.Agent{ID: "pg-role:" + c.dbUser, Kind: "database-role"}
		if c.table = pq.tables[int64(relid)]; c.table != nil { // a table seen before
			c.parse() // now, while the server sends the next rows; errors are kept for later
		}
		changes = append(changes, c)
		relids = append(relids, relid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrapPG("sequence: read changes", err)
	}
	if len(changes) == 0 {
		return nil, nil
	}
	if err := pq.loadTables(ctx, q, relids); err != nil {
		return nil, err
	}
	for i, c := range changes {
		if c.table == nil {
			c.table = pq.tables[int64(relids[i])]
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].id < changes[j].id })
	return changes, nil
}

// loadTables caches the name and key of every table the changes belong to.
func (pq *pgQueue) loadTables(ctx context.Context, q postgres.Querier, relids []uint32) error {
	var missing []uint32
	for _, rel := range relids {
		if _, ok := pq.tables[int64(rel)]; !ok && !slices.Contains(missing, rel) {
			missing = append(missing, rel)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, "SELECT relid, name, pk FROM "+pq.p.schema+".captured WHERE relid = ANY($1)", missing)
	if err != nil {
		return wrapPG("sequence: read captured tables", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rel uint32
		t := &tableInfo{}
		if err := rows.Scan(&rel, &t.name, &t.pk); err != nil {
			return wrapPG("sequence: read captured tables", err)
		}
		t.id = int64(rel)
		t.entity = fmt.Sprintf("pg:%s/%s", pq.db, t.name)
		pq.tables[t.id] = t
	}
	if err := rows.Err(); err != nil {
		return wrapPG("sequence: read captured tables", err)
	}
	for _, rel := range missing {
		if _, ok := pq.tables[int64(rel)]; !ok {
			return prov.Errorf(prov.Internal, "sequence: changes of table oid %d, which capture does not know", rel)
		}
	}
	return nil
}

// rowStates reads row states by their key in row_state's form (pgKeyText).
func (pq *pgQueue) rowStates(ctx context.Context, tx prov.Tx, keys []rowKey) (map[rowKey][]byte, error) {
	rel := make([]uint32, len(keys))
	pk := make([]string, len(keys))
	for i, k := range keys {
		var err error
		if pk[i], err = pgKeyText(k.pk); err != nil {
			return nil, prov.Errorf(prov.Internal, "sequence: row key %s: %v", k.pk, err)
		}
		rel[i] = uint32(k.relid)
	}
	rows, err := querier(tx).Query(ctx, `SELECT u.ord, s.digest, s.ctid FROM unnest($1::oid[], $2::text[]) WITH ORDINALITY AS u(relid, pk, ord)
		JOIN `+pq.p.schema+`.row_state s ON s.relid = u.relid AND s.pk = u.pk`, rel, pk)
	if err != nil {
		return nil, wrapPG("sequence: read row states", err)
	}
	defer rows.Close()
	out := make(map[rowKey][]byte, len(keys))
	pq.found = make(map[rowKey]pgtype.TID, len(keys))
	for rows.Next() {
		var ord int64
		var digest []byte
		var tid pgtype.TID
		if err := rows.Scan(&ord, &digest, &tid); err != nil {
			return nil, wrapPG("sequence: read row states", err)
		}
		out[keys[ord-1]] = digest
		pq.found[keys[ord-1]] = tid
	}
	return out, wrapPG("sequence: read row states", rows.Err())
}

// putRowStates queues the update of the row states that rowStates found in
// this transaction by their ctid, which finds each without searching the
// primary key's index, and the insert of the others. The ctids are
// current: every writer of row_state (the sequencer, capture enable) holds
// the store's write lock for its whole transaction, so no row state read
// in this one has been updated or moved since; the UPDATE checks that it
// found every one of them.
func (pq *pgQueue) putRowStates(w *pgWrites, states []rowState) error {
	var tids []pgtype.TID
	var udigest [][]byte
	var uidx []int64
	var rel []uint32
	var pk []string
	var digest [][]byte
	var idx []int64
	for _, s := range states {
		if tid, ok := pq.found[s.rowKey]; ok {
			tids, udigest, uidx = append(tids, tid), append(udigest, s.digest), append(uidx, s.idx)
			continue
		}
		key, err := pgKeyText(s.pk)
		if err != nil {
			return prov.Errorf(prov.Internal, "sequence: row key %s: %v", s.pk, err)
		}
		rel, pk, digest, idx = append(rel, uint32(s.relid)), append(pk, key), append(digest, s.digest), append(idx, s.idx)
	}
	pq.found = nil
	const op = "sequence: write row states"
	if len(tids) > 0 {
		w.queue(op, func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() != int64(len(tids)) {
				return prov.Errorf(prov.Internal, "sequence: write row states: %d of the %d row states read in this transaction were found again: is something else writing %s.row_state?", tag.RowsAffected(), len(tids), pq.p.schema)
			}
			return nil
		}, `UPDATE `+pq.p.schema+`.row_state AS s SET digest = u.digest, idx = u.idx
			FROM unnest($1::tid[], $2::bytea[], $3::bigint[]) AS u(t, digest, idx) WHERE s.ctid = u.t`, tids, udigest, uidx)
	}
	if len(rel) > 0 {
		w.queue(op, nil, `INSERT INTO `+pq.p.schema+`.row_state (relid, pk, digest, idx)
			SELECT * FROM unnest($1::oid[], $2::text[], $3::bytea[], $4::bigint[])
			ON CONFLICT (relid, pk) DO UPDATE SET digest = excluded.digest, idx = excluded.idx`, rel, pk, digest, idx)
	}
	return nil
}

// count queues the addition of a batch's counters to the totals.
func (pq *pgQueue) count(w *pgWrites, stats map[int64]*tableStats) {
	var rel []uint32
	var c, u, b []int64
	for id, st := range stats {
		rel = append(rel, uint32(id))
		c, u, b = append(c, st.changes), append(u, st.unattributed), append(b, st.bypassed)
	}
	w.queue("sequence: count changes", nil, `INSERT INTO `+pq.p.schema+`.capture_stats AS s (relid, changes, unattributed, bypassed)
		SELECT * FROM unnest($1::oid[], $2::bigint[], $3::bigint[], $4::bigint[])
		ON CONFLICT (relid) DO UPDATE SET changes = s.changes + excluded.changes,
			unattributed = s.unattributed + excluded.unattributed, bypassed = s.bypassed + excluded.bypassed`, rel, c, u, b)
}
