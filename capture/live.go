package capture

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/postgres"
)

// Drift kinds: how a live row differs from what capture recorded.
const (
	DriftChanged  = "changed"  // the row's content is not what its last captured change wrote
	DriftInserted = "inserted" // the row exists, but capture never saw it written
	DriftDeleted  = "deleted"  // capture saw the row, but it is gone with no captured delete
)

// Drift is a row that was written behind capture's back.
type Drift struct {
	Table string `json:"table"`
	Key   string `json:"key"`
	What  string `json:"what"`
	Index *int64 `json:"last_change,omitempty"` // log index of the last captured change, if any
}

// LiveReport is the outcome of VerifyLive.
type LiveReport struct {
	Tables int     `json:"tables"`
	Rows   int64   `json:"rows"` // live rows checked
	Drift  []Drift `json:"drift"`
	More   int64   `json:"more,omitempty"` // drifted rows beyond the listing limit
}

// VerifyLive checks every captured row against the live table: the digest of
// the row as it is now must equal the digest its last captured change wrote
// (or, for rows that were there when capture began, the digest recorded
// then). Changes still waiting for the sequencer count as captured. Rows
// written with triggers disabled (session_replication_role = replica,
// ALTER TABLE … DISABLE TRIGGER) or while capture was off are listed, at most
// limit of them (all if limit <= 0). It reads one snapshot.
func (p *Postgres) VerifyLive(ctx context.Context, limit int) (LiveReport, error) {
	var rep LiveReport
	rep.Drift = []Drift{}
	err := p.view(ctx, func(ctx context.Context, q postgres.Querier) error {
		rows, err := q.Query(ctx, "SELECT relid, name, pk, pii, salt, to_regclass(relid::regclass::text) IS NOT NULL FROM "+p.schema+".captured WHERE disabled IS NULL ORDER BY name")
		if err != nil {
			return wrapPG("verify live rows", err)
		}
		type tbl struct {
			oid    uint32
			name   string
			pk     []string
			pii    []string
			salt   []byte
			exists bool
		}
		var tables []tbl
		for rows.Next() {
			var t tbl
			if err := rows.Scan(&t.oid, &t.name, &t.pk, &t.pii, &t.salt, &t.exists); err != nil {
				rows.Close()
				return wrapPG("verify live rows", err)
			}
			tables = append(tables, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrapPG("verify live rows", err)
		}
		for _, t := range tables {
			if !t.exists {
				continue
			}
			rep.Tables++
			var live, pend []string
			for _, k := range t.pk {
				live = append(live, quoteLiteral(k)+", prov_t."+pgx.Identifier{k}.Sanitize())
				pend = append(pend, quoteLiteral(k)+", COALESCE(new, old)->"+quoteLiteral(k))
			}
			var name string
			if err := q.QueryRow(ctx, "SELECT $1::oid::regclass::text", t.oid).Scan(&name); err != nil {
				return wrapPG("verify live rows of "+t.name, err)
			}
			sql := fmt.Sprintf(`WITH live AS (
					SELECT jsonb_build_object(%[1]s)::text AS pk, %[2]s AS d FROM %[3]s AS prov_t),
				pending AS (
					SELECT DISTINCT ON (pk) pk, CASE WHEN new IS NULL THEN NULL ELSE %[4]s END AS d
					FROM (SELECT jsonb_build_object(%[5]s)::text AS pk, new, id FROM %[6]s.changes WHERE relid = $1) c
					ORDER BY pk, id DESC),
				expected AS (
					SELECT COALESCE(p.pk, s.pk) AS pk, CASE WHEN p.pk IS NOT NULL THEN p.d ELSE s.digest END AS d,
						s.idx, (p.pk IS NOT NULL OR s.pk IS NOT NULL) AS seen
					FROM (SELECT pk, digest, idx FROM %[6]s.row_state WHERE relid = $1) s
					FULL JOIN pending p ON p.pk = s.pk)
				SELECT COALESCE(l.pk, e.pk), l.pk IS NOT NULL, e.d IS NOT NULL, e.idx, count(*) OVER ()
				FROM live l FULL JOIN expected e ON e.pk = l.pk
				WHERE l.d IS DISTINCT FROM e.d
				ORDER BY 1 LIMIT $2`,
				strings.Join(live, ", "), digestSQL(p.image("prov_t", t.pii, t.salt)), name,
				digestSQL("new"), strings.Join(pend, ", "), p.schema)
			lim := int64(limit)
			if limit <= 0 {
				lim = 1 << 62
			}
			drows, err := q.Query(ctx, sql, t.oid, lim)
			if err != nil {
				return wrapPG("verify live rows of "+t.name, err)
			}
			var total int64
			n := 0
			for drows.Next() {
				var d Drift
				var isLive, hasExpected bool
				if err := drows.Scan(&d.Key, &isLive, &hasExpected, &d.Index, &total); err != nil {
					drows.Close()
					return wrapPG("verify live rows of "+t.name, err)
				}
				d.Table = t.name
				switch {
				case isLive && hasExpected:
					d.What = DriftChanged
				case isLive:
					d.What = DriftInserted
				default:
					d.What = DriftDeleted
				}
				rep.Drift = append(rep.Drift, d)
				n++
			}
			drows.Close()
			if err := drows.Err(); err != nil {
				return wrapPG("verify live rows of "+t.name, err)
			}
			rep.More += total - int64(n)
			var count int64
			if err := q.QueryRow(ctx, "SELECT count(*) FROM "+name).Scan(&count); err != nil {
				return wrapPG("count rows of "+t.name, err)
			}
			rep.Rows += count
		}
		return nil
	})
	return rep, err
}
