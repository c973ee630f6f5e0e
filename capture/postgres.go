package capture

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
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
		WHERE i.indrelid = $1 AND i.indisprimary`, r.oid).Scan(&r.pk)
	if err != nil {
		return nil, wrapPG("read the primary key of "+r.display, err)
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
		piiOf, err := assignPII(rels, pii)
		if err != nil {
			return err
		}
		for _, r := range rels {
			if piiOf[r.oid] == nil {
				piiOf[r.oid] = []string{}
			}
			salt := make([]byte, 16)
			rand.Read(salt)
			if err := p.install(ctx, q, r, piiOf[r.oid], salt); err != nil {
				return err
			}
			_, err := q.Exec(ctx, "INSERT INTO "+p.schema+`.captured (relid, name, pk, pii, salt) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (relid) DO UPDATE SET name = excluded.name, pk = excluded.pk, pii = excluded.pii, salt = excluded.salt, enabled = now(), disabled = NULL`,
				r.oid, r.display, r.pk, piiOf[r.oid], salt)
			if err != nil {
				return wrapPG("enable capture on "+r.display, err)
			}
			if _, err := q.Exec(ctx, "INSERT INTO "+p.schema+".capture_stats (relid) VALUES ($1) ON CONFLICT DO NOTHING", r.oid); err != nil {
				return wrapPG("enable capture on "+r.display, err)
			}
			if err := p.baseline(ctx, q, r, piiOf[r.oid], salt); err != nil {
				return err
			}
			out = append(out, Table{Name: r.display, PK: r.pk, PII: piiOf[r.oid]})
		}
		return nil
	})
	return out, err
}

// assignPII maps each --pii name to the tables it applies to.
func assignPII(rels []*relation, pii []string) (map[uint32][]string, error) {
	out := map[uint32][]string{}
	for _, name := range pii {
		matched := false
		var all []string
		for _, r := range rels {
			col := name
			if i := strings.LastIndexByte(name, '.'); i >= 0 {
				tbl := name[:i]
				if tbl != r.display && tbl != r.display[strings.IndexByte(r.display, '.')+1:] {
					continue
				}
				col = name[i+1:]
			}
			all = append(all, r.columns...)
			for _, c := range r.columns {
				if c != col {
					continue
				}
				for _, k := range r.pk {
					if k == c {
						return nil, prov.Errorf(prov.Invalid, "--pii %s: %s is part of the primary key of %s; key values appear in entity ids, so they cannot be kept as digests only", name, c, r.display)
					}
				}
				matched = true
				out[r.oid] = append(out[r.oid], c)
			}
		}
		if !matched {
			return nil, prov.Errorf(prov.NotFound, "--pii %s: no table named here has that column%s", name, didYouMean(suggest(name, all)))
		}
	}
	return out, nil
}

// image returns the SQL expression of the row image captured for alias a.
func (p *Postgres) image(a string, pii []string, salt []byte) string {
	img := "to_jsonb(" + a + ".*)" // a.*: the whole row, even if a column is named a
	if len(pii) == 0 {
		return img
	}
	cols := make([]string, len(pii))
	for i, c := range pii {
		cols[i] = quoteLiteral(c)
	}
	return fmt.Sprintf("%s.pii_digest(%s, '\\x%x'::bytea, ARRAY[%s]::text[])", p.schema, img, salt, strings.Join(cols, ", "))
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (p *Postgres) fn(r *relation, op string) string {
	return fmt.Sprintf("%s.%s", p.schema, pgx.Identifier{fmt.Sprintf("capture_%d_%s", r.oid, op)}.Sanitize())
}

// install creates the trigger functions and the triggers on r and its
// partitions. The functions are SECURITY DEFINER: application roles need no
// privilege on Prov's schema, and cannot write into the capture queue except
// through a real change of a captured table.
func (p *Postgres) install(ctx context.Context, q postgres.Querier, r *relation, pii []string, salt []byte) error {
	ctxExpr := "current_setting('" + prov.ContextSetting + "', true)"
	var join []string
	for _, k := range r.pk {
		c := pgx.Identifier{k}.Sanitize()
		join = append(join, "prov_n."+c+" = prov_o."+c)
	}
	insert := "INSERT INTO " + p.schema + ".changes (relid, op, new, old, ctx) "
	bodies := map[string]string{
		"i": insert + fmt.Sprintf("SELECT %d, 'I', %s, NULL, %s FROM prov_new AS prov_n", r.oid, p.image("prov_n", pii, salt), ctxExpr),
		"u": insert + fmt.Sprintf("SELECT %d, 'U', %s, %s, %s FROM prov_new AS prov_n FULL JOIN prov_old AS prov_o ON %s",
			r.oid, p.image("prov_n", pii, salt), p.image("prov_o", pii, salt), ctxExpr, strings.Join(join, " AND ")),
		"d": insert + fmt.Sprintf("SELECT %d, 'D', NULL, %s, %s FROM prov_old AS prov_o", r.oid, p.image("prov_o", pii, salt), ctxExpr),
		// BEFORE TRUNCATE: every row is captured with its before-image, so a
		// truncate can be reverted like a delete. It costs a scan of the table.
		"t": fmt.Sprintf("EXECUTE format(%s, TG_RELID::regclass)", quoteLiteral(insert+fmt.Sprintf("SELECT %d, 'T', NULL, %s, %s FROM %%s AS prov_o", r.oid, p.image("prov_o", pii, salt), ctxExpr))),
	}
	for op, body := range bodies {
		sql := fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $prov$
BEGIN
	%s;
	RETURN NULL;
END
$prov$`, p.fn(r, op), body)
		if _, err := q.Exec(ctx, sql); err != nil {
			return wrapPG("create the capture function for "+r.display, err)
		}
		if _, err := q.Exec(ctx, "REVOKE ALL ON FUNCTION "+p.fn(r, op)+"() FROM PUBLIC"); err != nil {
			return wrapPG("create the capture function for "+r.display, err)
		}
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
		SELECT %d, jsonb_build_object(%s), %s FROM %s AS prov_t
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
