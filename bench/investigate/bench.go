package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prov-dev/prov/investigate"
)

type options struct {
	runs, samples int
	repairs       bool
	apply         bool
	only          string
}

// naive holds the baseline's hand-written SQL.
type naive struct {
	count, ids, blame, history string
	key                        func(id int64) any
}

func naiveQueries(pg bool) naive {
	if pg {
		// The rows whose latest change that wrote photo_url (or deleted the
		// row) is v1.0's and not a delete: v1.0's photo_url writes with no
		// later write of photo_url or delete of the row.
		sel := `SELECT x.pk FROM naive_audit x
WHERE x.release = 'v1.0' AND x.tbl = 'users' AND x.op <> 'D'
  AND (x.op = 'I' OR x.old -> 'photo_url' IS DISTINCT FROM x.new -> 'photo_url')
  AND NOT EXISTS (SELECT 1 FROM naive_audit y WHERE y.tbl = x.tbl AND y.pk = x.pk AND y.id > x.id
    AND (y.op = 'D' OR y.op = 'I' OR y.old -> 'photo_url' IS DISTINCT FROM y.new -> 'photo_url'))`
		return naive{
			count: "SELECT count(*) FROM (" + sel + ") s",
			ids:   "SELECT pk ->> 'id' FROM (" + sel + ") s",
			blame: `SELECT DISTINCT ON (k) k, v::text, a.id, a.activity, a.release, a.at FROM naive_audit a CROSS JOIN LATERAL jsonb_each(a.new) e(k, v)
WHERE a.tbl = 'users' AND a.pk = $1 AND (a.old IS NULL OR a.old -> k IS DISTINCT FROM v) ORDER BY k, a.id DESC`,
			history: `SELECT id, op, old::text, new::text, activity, release, at FROM naive_audit WHERE tbl = 'users' AND pk = $1 ORDER BY id`,
			key:     func(id int64) any { return fmt.Sprintf(`{"id": %d}`, id) },
		}
	}
	sel := `SELECT x.pk FROM naive_audit x
WHERE x.release = 'v1.0' AND x.tbl = 'users' AND x.op <> 'D'
  AND (x.op = 'I' OR json_extract(x.old, '$.photo_url') IS NOT json_extract(x.new, '$.photo_url'))
  AND NOT EXISTS (SELECT 1 FROM naive_audit y WHERE y.tbl = x.tbl AND y.pk = x.pk AND y.id > x.id
    AND (y.op = 'D' OR y.op = 'I' OR json_extract(y.old, '$.photo_url') IS NOT json_extract(y.new, '$.photo_url')))`
	return naive{
		count: "SELECT count(*) FROM (" + sel + ") s",
		ids:   "SELECT json_extract(pk, '$.id') FROM (" + sel + ") s",
		blame: `SELECT e.key, max(a.id) FROM naive_audit a, json_each(a.new) e
WHERE a.tbl = 'users' AND a.pk = ? AND (a.old IS NULL OR json_extract(a.old, '$.' || e.key) IS NOT e.value) GROUP BY e.key`,
		history: `SELECT id, op, old, new, activity, release, at FROM naive_audit WHERE tbl = 'users' AND pk = ? ORDER BY id`,
		key:     func(id int64) any { return fmt.Sprintf(`{"id":%d}`, id) },
	}
}

// drain runs a query and reads every column of every row as text; first is
// the time to the first row.
func (b *bench) drain(ctx context.Context, q string, args ...any) (rows int, first time.Duration, err error) {
	t0 := time.Now()
	if b.pg {
		r, err := b.pgConn.Query(ctx, q, args...)
		if err != nil {
			return 0, 0, err
		}
		defer r.Close()
		for r.Next() {
			if rows == 0 {
				first = time.Since(t0)
			}
			if _, err := r.Values(); err != nil {
				return rows, first, err
			}
			rows++
		}
		return rows, first, r.Err()
	}
	r, err := b.sqlDB.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	cols, _ := r.Columns()
	vals := make([]any, len(cols))
	for i := range vals {
		vals[i] = new(any)
	}
	for r.Next() {
		if rows == 0 {
			first = time.Since(t0)
		}
		if err := r.Scan(vals...); err != nil {
			return rows, first, err
		}
		rows++
	}
	return rows, first, r.Err()
}

type series []time.Duration

func (s series) pct(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(p*float64(len(c))+0.5) - 1
	return c[max(0, min(i, len(c)-1))]
}
func (s series) median() time.Duration { return s.pct(0.5) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func measure(ctx context.Context, b *bench, o options) error {
	iv, err := investigate.New(b.cap)
	if err != nil {
		return err
	}
	nRows, _ := b.meta(ctx, "rows")
	nChanges, _ := b.meta(ctx, "changes")
	wantS, _ := b.meta(ctx, "poisoned")
	want, _ := strconv.ParseInt(wantS, 10, 64)
	N, _ := strconv.Atoi(nRows)
	engine := "SQLite"
	if b.pg {
		engine = "PostgreSQL"
	}
	fmt.Printf("# %s: %s rows, %s captured changes; poisoned set %d rows; %d runs\n", engine, nRows, nChanges, want, o.runs)
	nq := naiveQueries(b.pg)
	poisoned := investigate.Filter{Table: b.table, Column: "photo_url", Release: "v1.0", Current: true}

	if o.only == "explain" {
		return explain(ctx, b, iv, poisoned)
	}
	if o.only == "count" {
		return measureCount(ctx, iv, o, poisoned, want)
	}
	if o.only == "" || o.only == "find" {
		if err := measureFind(ctx, b, iv, o, nq, poisoned, want); err != nil {
			return err
		}
	}
	if o.only == "" || o.only == "rows" {
		if err := measureRows(ctx, b, iv, o, nq, N); err != nil {
			return err
		}
	}
	if o.repairs && (o.only == "" || o.only == "repairs") {
		return measureRepairs(ctx, b, iv, o, poisoned, want)
	}
	return nil
}

func measureFind(ctx context.Context, b *bench, iv *investigate.Investigator, o options, nq naive, poisoned investigate.Filter, want int64) error {
	var err error
	// find --count, interleaved with the baseline.
	var provCount, naiveCount series
	for i := 0; i < o.runs; i++ {
		for j := 0; j < 2; j++ {
			if (i+j)%2 == 0 {
				t0 := time.Now()
				n, err := iv.Count(ctx, poisoned)
				if err != nil {
					return fmt.Errorf("count: %w", err)
				}
				provCount = append(provCount, time.Since(t0))
				if n != want {
					return fmt.Errorf("find --count gave %d rows, the workload made %d", n, want)
				}
			} else {
				t0 := time.Now()
				n, err := b.queryInt(ctx, nq.count)
				if err != nil {
					return fmt.Errorf("naive count: %w", err)
				}
				naiveCount = append(naiveCount, time.Since(t0))
				if n != want {
					return fmt.Errorf("the naive count gave %d rows, the workload made %d", n, want)
				}
			}
		}
	}
	fmt.Printf("find --count (poisoned set)      prov %-10s naive %-10s ratio naive/prov %.1f  (runs: prov %v naive %v)\n",
		ms(provCount.median()), ms(naiveCount.median()), float64(naiveCount.median())/float64(provCount.median()), provCount, naiveCount)

	// --format ids: time to the first id and to the last.
	var provFirst, provAll, naiveFirst, naiveAll series
	for i := 0; i < o.runs; i++ {
		for j := 0; j < 2; j++ {
			if (i+j)%2 == 0 {
				w := bufio.NewWriter(io.Discard)
				n := 0
				t0 := time.Now()
				err := iv.Find(ctx, poisoned, func(m investigate.Match) error {
					if n == 0 {
						w.WriteString(investigate.KeyValue(m.PK) + "\n")
						w.Flush()
						provFirst = append(provFirst, time.Since(t0))
					} else {
						w.WriteString(investigate.KeyValue(m.PK) + "\n")
					}
					n++
					return nil
				})
				w.Flush()
				if err != nil {
					return fmt.Errorf("find: %w", err)
				}
				provAll = append(provAll, time.Since(t0))
				if int64(n) != want {
					return fmt.Errorf("find gave %d rows, the workload made %d", n, want)
				}
			} else {
				t0 := time.Now()
				n, first, err := b.drain(ctx, nq.ids)
				if err != nil {
					return fmt.Errorf("naive ids: %w", err)
				}
				naiveFirst, naiveAll = append(naiveFirst, first), append(naiveAll, time.Since(t0))
				if int64(n) != want {
					return fmt.Errorf("the naive ids gave %d rows, the workload made %d", n, want)
				}
			}
		}
	}
	fmt.Printf("find --format ids, first id      prov %-10s naive %-10s ratio %.1f\n", ms(provFirst.median()), ms(naiveFirst.median()), float64(naiveFirst.median())/float64(provFirst.median()))
	fmt.Printf("find --format ids, all ids       prov %-10s naive %-10s ratio %.1f\n", ms(provAll.median()), ms(naiveAll.median()), float64(naiveAll.median())/float64(provAll.median()))

	// Other shapes of find, Prov only (one run each, after a warm-up).
	for _, f := range []investigate.Filter{
		{Table: b.table, Activity: "migration:0042-photo-cdn"},
		{Table: b.table, Activity: "migration:0042-photo-cdn", Column: "photo_url", NotRelease: []string{"v1.1"}},
		{Table: b.table, Release: "v1.0", Current: true},
		{Table: b.table, Kind: "migration", Column: "photo_url", Current: true},
		{Table: b.table, Agent: "ci:deploy", Column: "photo_url"},
	} {
		var s series
		var n int64
		for i := 0; i < 3; i++ {
			t0 := time.Now()
			if n, err = iv.Count(ctx, f); err != nil {
				return fmt.Errorf("count %+v: %w", f, err)
			}
			s = append(s, time.Since(t0))
		}
		fmt.Printf("find --count %-60s %8d rows  %s\n", describe(f), n, ms(s.median()))
	}
	return nil
}

// measureCount times Prov's find --count of the poisoned set alone, for
// profiles of it (-cpuprofile) without the baseline's share.
func measureCount(ctx context.Context, iv *investigate.Investigator, o options, poisoned investigate.Filter, want int64) error {
	var s series
	for i := 0; i < o.runs; i++ {
		t0 := time.Now()
		n, err := iv.Count(ctx, poisoned)
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		s = append(s, time.Since(t0))
		if n != want {
			return fmt.Errorf("find --count gave %d rows, the workload made %d", n, want)
		}
	}
	fmt.Printf("find --count (poisoned set)      prov %-10s (runs: %v)\n", ms(s.median()), s)
	return nil
}

func measureRows(ctx context.Context, b *bench, iv *investigate.Investigator, o options, nq naive, N int) error {

	// blame and history of random rows, interleaved with the baseline.
	rng := rand.New(rand.NewPCG(1, 2))
	var pb, nb, ph, nh series
	for i := 0; i < o.samples; i++ {
		id := int64(rng.IntN(N+N/100) + 1)
		key := strconv.FormatInt(id, 10)
		first := i%2 == 0
		for j := 0; j < 2; j++ {
			if (j == 0) == first {
				t0 := time.Now()
				_, err := iv.Blame(ctx, b.table, key)
				if err != nil {
					return fmt.Errorf("blame %s: %w", key, err)
				}
				pb = append(pb, time.Since(t0))
				t0 = time.Now()
				_, h, err := iv.History(ctx, b.table, key)
				if err != nil {
					return fmt.Errorf("history %s: %w", key, err)
				}
				ph = append(ph, time.Since(t0))
				if len(h) < 2 {
					return fmt.Errorf("history %s: %d changes", key, len(h))
				}
			} else {
				t0 := time.Now()
				if _, _, err := b.drain(ctx, nq.blame, nq.key(id)); err != nil {
					return fmt.Errorf("naive blame: %w", err)
				}
				nb = append(nb, time.Since(t0))
				t0 = time.Now()
				if _, _, err := b.drain(ctx, nq.history, nq.key(id)); err != nil {
					return fmt.Errorf("naive history: %w", err)
				}
				nh = append(nh, time.Since(t0))
			}
		}
	}
	fmt.Printf("blame   (%d random rows)        prov p50 %-9s p95 %-9s  naive p50 %-9s p95 %-9s\n", o.samples, ms(pb.median()), ms(pb.pct(0.95)), ms(nb.median()), ms(nb.pct(0.95)))
	fmt.Printf("history (%d random rows)        prov p50 %-9s p95 %-9s  naive p50 %-9s p95 %-9s\n", o.samples, ms(ph.median()), ms(ph.pct(0.95)), ms(nh.median()), ms(nh.pct(0.95)))
	return nil
}

func describe(f investigate.Filter) string {
	s := ""
	add := func(k, v string) {
		if v != "" {
			s += " --" + k + " " + v
		}
	}
	add("column", f.Column)
	add("activity", f.Activity)
	add("release", f.Release)
	add("kind", f.Kind)
	add("agent", f.Agent)
	for _, r := range f.NotRelease {
		add("not-release", r)
	}
	if f.Current {
		s += " --current"
	}
	return s
}

// measureRepairs plans the revert of migration 0042 and the fix of the
// poisoned set -runs times (the same statements, rolled back), then applies
// the fix and reverts it.
func measureRepairs(ctx context.Context, b *bench, iv *investigate.Investigator, o options, poisoned investigate.Filter, want int64) error {
	seq := b.cap.Sequencer(b.log)
	seq.Batch = 10000
	set := []investigate.Assignment{{Column: "photo_url", Expr: "replace(photo_url, '.jpg', '.png')"}}
	var rev, fix series
	var revRep, fixRep *investigate.Repair
	for i := 0; i < o.runs; i++ {
		t0 := time.Now()
		r, err := iv.Revert(ctx, b.log, investigate.RevertOptions{Activity: "migration:0042-photo-cdn", Table: b.table, Column: "photo_url", Reason: "bench", Agent: "user:bench"})
		if err != nil {
			return fmt.Errorf("revert plan: %w", err)
		}
		rev, revRep = append(rev, time.Since(t0)), r
		t0 = time.Now()
		f, err := iv.Fix(ctx, b.log, investigate.FixOptions{Filter: poisoned, Set: set, Reason: "bench", Agent: "user:bench"})
		if err != nil {
			return fmt.Errorf("fix plan: %w", err)
		}
		fix, fixRep = append(fix, time.Since(t0)), f
	}
	fmt.Printf("revert --activity migration:0042 --column photo_url (plan) %s  (selected %d, changed %d, conflicts %d; runs %v)\n",
		ms(rev.median()), revRep.Selected, revRep.Changed, len(revRep.Conflicts), rev)
	fmt.Printf("fix of the poisoned set (plan, rolled back)          %s  (selected %d, changed %d; runs %v)\n",
		ms(fix.median()), fixRep.Selected, fixRep.Changed, fix)
	if !o.apply {
		return nil
	}
	t0 := time.Now()
	f, err := iv.Fix(ctx, b.log, investigate.FixOptions{Filter: poisoned, Set: set, Reason: "bench", Activity: "fix:bench-" + time.Now().UTC().Format("150405"), Agent: "user:bench", Apply: true})
	if err != nil {
		return fmt.Errorf("fix: %w", err)
	}
	fmt.Printf("fix --apply                                          %s  (changed %d)\n", ms(time.Since(t0)), f.Changed)
	if int64(f.Changed) != want {
		return fmt.Errorf("the fix changed %d rows, want %d", f.Changed, want)
	}
	t0 = time.Now()
	n, err := seq.Run(ctx, false, 0)
	if err != nil {
		return err
	}
	log.Printf("sequenced the fix's %d changes in %s", n, time.Since(t0).Round(time.Millisecond))
	if left, err := iv.Count(ctx, poisoned); err != nil || left != 0 {
		return fmt.Errorf("after the fix, find --count gives %d (%v), want 0", left, err)
	}
	t0 = time.Now()
	r, err := iv.Revert(ctx, b.log, investigate.RevertOptions{Activity: f.Activity, Reason: "bench", Agent: "user:bench", Apply: true})
	if err != nil {
		return fmt.Errorf("revert: %w", err)
	}
	fmt.Printf("revert --activity <the fix> --apply                  %s  (changed %d)\n", ms(time.Since(t0)), r.Changed)
	t0 = time.Now()
	if n, err = seq.Run(ctx, false, 0); err != nil {
		return err
	}
	log.Printf("sequenced the revert's %d changes in %s", n, time.Since(t0).Round(time.Millisecond))
	return nil
}

// explain prints the database's plan of the query Find runs for f, run
// (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).
func explain(ctx context.Context, b *bench, iv *investigate.Investigator, f investigate.Filter) error {
	text, err := iv.Explain(ctx, f)
	if err != nil {
		return err
	}
	q, rest, _ := strings.Cut(text, ";\n")
	var args []any
	for _, line := range strings.Split(rest, "\n") {
		_, v, ok := strings.Cut(line, " = ")
		if !ok || !strings.HasPrefix(line, "-- ") {
			continue
		}
		var x any
		if json.Unmarshal([]byte(v), &x) != nil {
			x = v // a time
		}
		if l, ok := x.([]any); ok {
			s := make([]string, len(l))
			for i := range l {
				s[i] = fmt.Sprint(l[i])
			}
			x = s
			if !b.pg {
				j, _ := json.Marshal(s)
				x = string(j)
			}
		}
		if n, ok := x.(float64); ok {
			x = int64(n)
		}
		args = append(args, x)
	}
	if b.pg {
		rows, err := b.pgConn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			rows.Scan(&line)
			if len(line) > 200 {
				line = line[:200] + "…"
			}
			fmt.Println(line)
		}
		return rows.Err()
	}
	rows, err := b.sqlDB.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, notused int
		var detail string
		rows.Scan(&id, &parent, &notused, &detail)
		fmt.Println(id, parent, detail)
	}
	return rows.Err()
}
