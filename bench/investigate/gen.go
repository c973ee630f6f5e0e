package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strconv"
	"strings"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
)

// The workload: a users table of N rows that a history of releases, jobs,
// migrations, requests and admins wrote, about 10 changes per row, through
// the real capture path (the application's statements under capture, then
// the sequencer), with a naive audit trigger on the same table recording
// every change as well (the baseline).
//
//	import:initial              inserts rows 1..N                         N
//	job:score-1..5  (v0.9)      score of every row, one job per pass       5N
//	migration:0042-photo-cdn    photo_url .png→.jpg where id%20 ∈ {0,1,2}  0.15N
//	  (v1.0, its parent release:v1.0)
//	request:v1.0-K  (v1.0)      name of 10 rows each                        0.5N
//	request:v1.0-signup-K       inserts rows N+1..N+N/100 with a .jpg        0.01N
//	migration:0043-revert-photo photo_url back where id%20 = 0              0.05N
//	  (release v1.1, its own)
//	request:v1.1-K  (v1.1)      plan of 10 rows each                        0.5N
//	request:v1.1-upload-K       a new photo_url where id%400 = 2            0.0025N
//	(unattributed admin)        deletes id%100 = 1, re-inserts id%200 = 1    0.015N
//	job:score-6..8  (v1.2)      score of every row                          3N
//
// The poisoned set — rows whose current photo_url a v1.0 activity wrote:
// find --table users --column photo_url --release v1.0 --current — is
// id%20 ∈ {1,2} less the uploads and the deleted rows, plus the signups:
// 0.0975N rows (97,500 of 1,000,000).

// scale is the size of the workload.
type scale struct {
	rows     int // N
	scoreOld int // score passes of v0.9
	scoreNew int // score passes of v1.2
	perReq   int // rows per request
	chunk    int // rows per application transaction of a bulk statement
}

func newScale(n int) scale {
	return scale{rows: n, scoreOld: 5, scoreNew: 3, perReq: 10, chunk: 50000}
}

// poisoned returns the size of the poisoned set, computed from the
// workload's definition.
func (s scale) poisoned() int64 {
	var n int64
	for id := 1; id <= s.rows; id++ {
		if m := id % 20; (m == 1 || m == 2) && id%400 != 2 && id%100 != 1 {
			n++
		}
	}
	return n + int64(s.rows/100)
}

// reqIDs are the rows request k of a release touches: spread over the table.
func (s scale) reqIDs(k, salt int) []string {
	out := make([]string, s.perReq)
	for j := range out {
		out[j] = strconv.Itoa(int((int64(k)*7919+int64(j)*104729+int64(salt)*15485863)%int64(s.rows)) + 1)
	}
	return out
}

func activityRecord(id, kind, release, parent, name string) prov.Record {
	return prov.Record{Type: prov.TypeActivity, Time: time.Now().UTC(),
		Activity: &prov.Activity{ID: id, Kind: kind, Release: release, Parent: parent, Name: name},
		Agent:    &prov.Agent{ID: "ci:deploy"}}
}

// series is the FROM item of the integers lo..hi as column i.
func (b *bench) series(lo, hi int) string {
	if b.pg {
		return fmt.Sprintf("generate_series(%d, %d) AS s(i)", lo, hi)
	}
	return fmt.Sprintf("(WITH RECURSIVE r(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM r WHERE i < %d) SELECT i FROM r) AS s", lo, hi)
}

// generate builds the workload.
func generate(ctx context.Context, b *bench, s scale) error {
	start := time.Now()
	var captureTime, seqTime time.Duration
	var changes int64
	// The application's table, the naive audit trigger, capture.
	if err := b.exec(ctx, "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL, plan text NOT NULL, score integer NOT NULL, photo_url text)"); err != nil {
		return err
	}
	for _, q := range naiveSchema(b.pg, b.app) {
		if err := b.exec(ctx, q); err != nil {
			return err
		}
	}
	if _, err := b.cap.Enable(ctx, []string{b.table}, nil); err != nil {
		return err
	}
	if !b.pg {
		// SQLite fires the newest trigger first: the naive one, created
		// after capture, and capture's are re-created by the sequencer.
		for _, q := range naiveSQLiteTriggers {
			if err := b.exec(ctx, q); err != nil {
				return err
			}
		}
	}
	var recs [][]byte
	for _, r := range []prov.Record{
		activityRecord("import:initial", "import", "", "", "initial import"),
		activityRecord("release:v0.9", "release", "v0.9", "", ""),
		activityRecord("release:v1.0", "release", "v1.0", "", ""),
		activityRecord("migration:0042-photo-cdn", "migration", "", "release:v1.0", "photo URLs to the CDN's .jpg"),
		activityRecord("release:v1.1", "release", "v1.1", "", ""),
		activityRecord("migration:0043-revert-photo", "migration", "v1.1", "", "revert 0042 for the rows it broke"),
		activityRecord("release:v1.2", "release", "v1.2", "", ""),
	} {
		data, _ := json.Marshal(r)
		recs = append(recs, data)
	}
	if _, err := b.log.Append(ctx, recs); err != nil {
		return err
	}
	seq := b.cap.Sequencer(b.log)
	seq.Batch = 10000
	phase := func(name string, fn func() (int64, error)) error {
		t0 := time.Now()
		n, err := fn()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		t1 := time.Now()
		moved, err := seq.Run(ctx, false, 0)
		if err != nil {
			return fmt.Errorf("%s: sequence: %w", name, err)
		}
		t2 := time.Now()
		captureTime += t1.Sub(t0)
		seqTime += t2.Sub(t1)
		changes += int64(moved)
		log.Printf("%-28s %9d rows changed in %7.1fs, %9d changes sequenced in %7.1fs (%6.0f/s); total %d changes, %s",
			name, n, t1.Sub(t0).Seconds(), moved, t2.Sub(t1).Seconds(), float64(moved)/t2.Sub(t1).Seconds(), changes, time.Since(start).Round(time.Second))
		return nil
	}
	bulk := func(a prov.Attribution, release string, lo, hi int, stmt func(lo, hi int) string) (int64, error) {
		var total int64
		for c := lo; c <= hi; c += s.chunk {
			err := b.tx(ctx, func(w *writer) error {
				if err := w.as(a, release); err != nil {
					return err
				}
				n, err := w.exec(stmt(c, min(c+s.chunk-1, hi)))
				total += n
				return err
			})
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
	// requests runs n requests, 1000 per application transaction.
	requests := func(n int, attr func(k int) (prov.Attribution, string), stmt func(k int) string) (int64, error) {
		var total int64
		for k0 := 1; k0 <= n; k0 += 1000 {
			err := b.tx(ctx, func(w *writer) error {
				for k := k0; k < k0+1000 && k <= n; k++ {
					a, rel := attr(k)
					if err := w.as(a, rel); err != nil {
						return err
					}
					m, err := w.exec(stmt(k))
					if err != nil {
						return err
					}
					total += m
				}
				return nil
			})
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
	N := s.rows
	photo := "'https://cdn.example/u/' || i || '.png'"
	if err := phase("import", func() (int64, error) {
		return bulk(prov.Attribution{Activity: "import:initial", Agent: "svc:importer"}, "", 1, N, func(lo, hi int) string {
			return "INSERT INTO users (id, name, plan, score, photo_url) SELECT i, 'user-' || i, 'free', 0, " + photo + " FROM " + b.series(lo, hi)
		})
	}); err != nil {
		return err
	}
	score := func(k int, release string) error {
		return phase("job:score-"+strconv.Itoa(k), func() (int64, error) {
			a := prov.Attribution{Activity: "job:score-" + strconv.Itoa(k), Agent: "svc:jobs", Parent: "release:" + release}
			return bulk(a, release, 1, N+N/100, func(lo, hi int) string {
				return fmt.Sprintf("UPDATE users SET score = score + %d WHERE id BETWEEN %d AND %d", k, lo, hi)
			})
		})
	}
	for k := 1; k <= s.scoreOld; k++ {
		if err := score(k, "v0.9"); err != nil {
			return err
		}
	}
	if err := phase("migration:0042-photo-cdn", func() (int64, error) {
		return bulk(prov.Attribution{Activity: "migration:0042-photo-cdn", Agent: "ci:deploy", Parent: "release:v1.0"}, "v1.0", 1, N, func(lo, hi int) string {
			return fmt.Sprintf("UPDATE users SET photo_url = replace(photo_url, '.png', '.jpg') WHERE id BETWEEN %d AND %d AND id %% 20 IN (0, 1, 2)", lo, hi)
		})
	}); err != nil {
		return err
	}
	if err := phase("requests v1.0", func() (int64, error) {
		n, err := requests(N/2/s.perReq, func(k int) (prov.Attribution, string) {
			return prov.Attribution{Activity: fmt.Sprintf("request:v1.0-%d", k), Agent: "svc:api", Parent: "release:v1.0"}, "v1.0"
		}, func(k int) string {
			return "UPDATE users SET name = name || '.' WHERE id IN (" + strings.Join(s.reqIDs(k, 1), ", ") + ")"
		})
		if err != nil {
			return n, err
		}
		m, err := requests(N/100, func(k int) (prov.Attribution, string) {
			return prov.Attribution{Activity: fmt.Sprintf("request:v1.0-signup-%d", k), Agent: "svc:api", Parent: "release:v1.0"}, "v1.0"
		}, func(k int) string {
			id := N + k
			return fmt.Sprintf("INSERT INTO users (id, name, plan, score, photo_url) VALUES (%d, 'user-%d', 'free', 0, 'https://cdn.example/u/%d.jpg')", id, id, id)
		})
		return n + m, err
	}); err != nil {
		return err
	}
	if err := phase("migration:0043-revert-photo", func() (int64, error) {
		return bulk(prov.Attribution{Activity: "migration:0043-revert-photo", Agent: "ci:deploy"}, "v1.1", 1, N, func(lo, hi int) string {
			return fmt.Sprintf("UPDATE users SET photo_url = replace(photo_url, '.jpg', '.png') WHERE id BETWEEN %d AND %d AND id %% 20 = 0", lo, hi)
		})
	}); err != nil {
		return err
	}
	if err := phase("requests v1.1", func() (int64, error) {
		n, err := requests(N/2/s.perReq, func(k int) (prov.Attribution, string) {
			return prov.Attribution{Activity: fmt.Sprintf("request:v1.1-%d", k), Agent: "svc:api", Parent: "release:v1.1"}, "v1.1"
		}, func(k int) string {
			return "UPDATE users SET plan = CASE plan WHEN 'free' THEN 'pro' ELSE 'free' END WHERE id IN (" + strings.Join(s.reqIDs(k, 2), ", ") + ")"
		})
		if err != nil {
			return n, err
		}
		m, err := requests(N/400, func(k int) (prov.Attribution, string) {
			return prov.Attribution{Activity: fmt.Sprintf("request:v1.1-upload-%d", k), Agent: "user:" + strconv.Itoa(k), Parent: "release:v1.1"}, "v1.1"
		}, func(k int) string {
			id := 400*(k-1) + 2
			return fmt.Sprintf("UPDATE users SET photo_url = 'https://cdn.example/u/%d-v2.png' WHERE id = %d", id, id)
		})
		return n + m, err
	}); err != nil {
		return err
	}
	if err := phase("admin (unattributed)", func() (int64, error) {
		n, err := bulk(prov.Attribution{}, "", 1, N, func(lo, hi int) string {
			return fmt.Sprintf("DELETE FROM users WHERE id BETWEEN %d AND %d AND id %% 100 = 1", lo, hi)
		})
		if err != nil {
			return n, err
		}
		m, err := bulk(prov.Attribution{}, "", 1, N, func(lo, hi int) string {
			return "INSERT INTO users (id, name, plan, score, photo_url) SELECT i, 'user-' || i, 'free', 0, " + photo + " FROM " + b.series(lo, hi) + " WHERE i % 200 = 1"
		})
		return n + m, err
	}); err != nil {
		return err
	}
	for k := s.scoreOld + 1; k <= s.scoreOld+s.scoreNew; k++ {
		if err := score(k, "v1.2"); err != nil {
			return err
		}
	}
	log.Printf("generated %d changes over %d rows in %s: application statements under capture %s, sequencer %s (%.0f changes/s)",
		changes, N, time.Since(start).Round(time.Second), captureTime.Round(time.Second), seqTime.Round(time.Second), float64(changes)/seqTime.Seconds())
	t0 := time.Now()
	if b.pg {
		// As autovacuum would (it is off on the benchmark's server): the
		// capture queue above all, which every investigation reads and
		// which the sequencer emptied of millions of rows.
		for _, t := range []string{"users", "naive_audit", b.schema + ".changes", b.schema + ".row_changes", b.schema + ".change_activities", b.schema + ".records"} {
			if err := b.exec(ctx, "VACUUM ANALYZE "+t); err != nil {
				return err
			}
		}
	} else if err := b.exec(ctx, "ANALYZE"); err != nil {
		return err
	}
	log.Printf("vacuum/analyze: %s", time.Since(t0).Round(time.Second))
	for k, v := range map[string]string{"rows": strconv.Itoa(N), "changes": strconv.FormatInt(changes, 10), "poisoned": strconv.FormatInt(s.poisoned(), 10),
		"generated": time.Now().UTC().Format(time.RFC3339), "sequencer_seconds": fmt.Sprintf("%.1f", seqTime.Seconds()), "capture_seconds": fmt.Sprintf("%.1f", captureTime.Seconds())} {
		if err := b.setMeta(ctx, k, v); err != nil {
			return err
		}
	}
	return nil
}

var _ = capture.DefaultBatch

// naiveSchema is the baseline: the hand-made audit-trigger design, one row
// per change with the table, the key, the operation, the whole row before
// and after as JSON, the activity and release the application set, and the
// time; indexed for the questions asked of it.
func naiveSchema(pg bool, schema string) []string {
	if pg {
		// The trigger names its table with its schema: repairs run on the
		// store's connections, whose search_path is Prov's schema.
		audit := schema + ".naive_audit"
		return []string{
			`CREATE TABLE naive_audit (
				id       bigserial   PRIMARY KEY,
				tbl      text        NOT NULL,
				pk       jsonb       NOT NULL,
				op       char(1)     NOT NULL,
				old      jsonb,
				new      jsonb,
				activity text,
				release  text,
				at       timestamptz NOT NULL DEFAULT now())`,
			`CREATE INDEX naive_audit_row ON naive_audit (tbl, pk, id)`,
			`CREATE INDEX naive_audit_release ON naive_audit (release, tbl)`,
			`CREATE INDEX naive_audit_activity ON naive_audit (activity, tbl)`,
			`CREATE OR REPLACE FUNCTION naive_audit() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF TG_OP = 'DELETE' THEN
					INSERT INTO ` + audit + ` (tbl, pk, op, old, activity, release)
					VALUES (TG_TABLE_NAME, jsonb_build_object(TG_ARGV[0], to_jsonb(OLD) -> TG_ARGV[0]), 'D', to_jsonb(OLD),
						nullif(current_setting('naive.activity', true), ''), nullif(current_setting('naive.release', true), ''));
					RETURN OLD;
				END IF;
				INSERT INTO ` + audit + ` (tbl, pk, op, old, new, activity, release)
				VALUES (TG_TABLE_NAME, jsonb_build_object(TG_ARGV[0], to_jsonb(NEW) -> TG_ARGV[0]), left(TG_OP, 1),
					CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END, to_jsonb(NEW),
					nullif(current_setting('naive.activity', true), ''), nullif(current_setting('naive.release', true), ''));
				RETURN NEW;
			END $$`,
			`CREATE TRIGGER naive_audit AFTER INSERT OR UPDATE OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION naive_audit('id')`,
		}
	}
	return []string{
		`CREATE TABLE naive_audit (
			id       INTEGER PRIMARY KEY,
			tbl      TEXT    NOT NULL,
			pk       TEXT    NOT NULL,
			op       TEXT    NOT NULL,
			old      TEXT,
			new      TEXT,
			activity TEXT,
			release  TEXT,
			at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)))`,
		`CREATE INDEX naive_audit_row ON naive_audit (tbl, pk, id)`,
		`CREATE INDEX naive_audit_release ON naive_audit (release, tbl)`,
		`CREATE INDEX naive_audit_activity ON naive_audit (activity, tbl)`,
		`CREATE TABLE naive_ctx (activity TEXT, release TEXT)`,
		`INSERT INTO naive_ctx VALUES (NULL, NULL)`,
	}
}

const sqliteImage = "json_object('id', %[1]s.id, 'name', %[1]s.name, 'plan', %[1]s.plan, 'score', %[1]s.score, 'photo_url', %[1]s.photo_url)"

var naiveSQLiteTriggers = []string{
	`CREATE TRIGGER naive_audit_i AFTER INSERT ON users BEGIN
		INSERT INTO naive_audit (tbl, pk, op, new, activity, release)
		SELECT 'users', json_object('id', NEW.id), 'I', ` + fmt.Sprintf(sqliteImage, "NEW") + `, activity, release FROM naive_ctx;
	END`,
	`CREATE TRIGGER naive_audit_u AFTER UPDATE ON users BEGIN
		INSERT INTO naive_audit (tbl, pk, op, old, new, activity, release)
		SELECT 'users', json_object('id', NEW.id), 'U', ` + fmt.Sprintf(sqliteImage, "OLD") + `, ` + fmt.Sprintf(sqliteImage, "NEW") + `, activity, release FROM naive_ctx;
	END`,
	`CREATE TRIGGER naive_audit_d AFTER DELETE ON users BEGIN
		INSERT INTO naive_audit (tbl, pk, op, old, activity, release)
		SELECT 'users', json_object('id', OLD.id), 'D', ` + fmt.Sprintf(sqliteImage, "OLD") + `, activity, release FROM naive_ctx;
	END`,
}
