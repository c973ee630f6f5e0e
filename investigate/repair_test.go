package investigate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/investigate"
)

func rowsOf(t *testing.T, e *env, q string) string {
	t.Helper()
	var out []string
	for _, r := range e.query(t, q) {
		out = append(out, strings.Join(r, "|"))
	}
	return strings.Join(out, " ")
}

func TestFix(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		seed(t, e)
		ctx := context.Background()
		poisoned := investigate.Filter{Table: e.table, Column: "photo_url", Release: "v1.0", Current: true}
		set := []investigate.Assignment{{Column: "photo_url", Expr: "replace(photo_url, '.jpg', '.png')"}}
		before := rowsOf(t, e, "SELECT id, photo_url FROM items ORDER BY id")

		// A plan changes nothing.
		plan, err := e.inv.Fix(ctx, e.log, investigate.FixOptions{Filter: poisoned, Set: set, Reason: "APP-1250"})
		if err != nil {
			t.Fatal(err)
		}
		if plan.Selected != 3 || plan.Changed != 3 || plan.Applied || len(plan.Samples) != 3 {
			t.Errorf("plan: %+v", plan)
		}
		if s := plan.Samples[0]; string(s.Before["photo_url"]) != `"frank.jpg"` || string(s.After["photo_url"]) != `"frank.png"` {
			t.Errorf("plan sample: %+v", s)
		}
		if got := rowsOf(t, e, "SELECT id, photo_url FROM items ORDER BY id"); got != before {
			t.Errorf("a plan changed rows: %s", got)
		}
		// A failing expression changes nothing and says why.
		_, err = e.inv.Fix(ctx, e.log, investigate.FixOptions{Filter: poisoned, Set: []investigate.Assignment{{Column: "photo_url", Expr: "no_such_function(photo_url)"}}, Reason: "x", Apply: true})
		if prov.KindOf(err) != prov.Invalid || !strings.Contains(err.Error(), "no_such_function") {
			t.Errorf("bad expression: %v", err)
		}
		if _, err := e.inv.Fix(ctx, e.log, investigate.FixOptions{Filter: poisoned, Set: []investigate.Assignment{{Column: "photo", Expr: "1"}}, Reason: "x"}); prov.KindOf(err) != prov.NotFound || !strings.Contains(err.Error(), "photo_url") {
			t.Errorf("unknown column: %v", err)
		}
		// Apply: exactly the poisoned rows, recorded as a fix.
		rep, err := e.inv.Fix(ctx, e.log, investigate.FixOptions{Filter: poisoned, Set: set, Reason: "APP-1250", Activity: "fix:photo-urls", Agent: "user:oncall", Apply: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Changed != 3 || !rep.Applied || rep.Index <= 0 {
			t.Errorf("fix: %+v", rep)
		}
		if got, want := rowsOf(t, e, "SELECT id, photo_url FROM items ORDER BY id"), "1|alice.png 2|bob-2026.png 3|carol.png 4|dan.png 5|erin.png 6|frank.png 7|grace.png 8|heidi.png"; got != want {
			t.Errorf("after the fix: %s, want %s", got, want)
		}
		if got := find(t, e, poisoned); len(got) != 0 {
			t.Errorf("still poisoned after the fix: %v", got)
		}
		if got := strings.Join(find(t, e, investigate.Filter{Table: e.table, Activity: "fix:photo-urls"}), " "); got != "6 7 8" {
			t.Errorf("rows changed by the fix: %s", got)
		}
		acts, err := e.inv.Activities(ctx, investigate.ActivityFilter{Kind: "fix"})
		if err != nil || len(acts) != 1 || acts[0].Reason != "APP-1250" || !strings.Contains(strings.Join(acts[0].InformedBy, ","), "migration:0042") {
			t.Errorf("fix activity: %+v %v", acts, err)
		}
		// Twice: nothing the second time, whether the filter still selects or not.
		again, err := e.inv.Fix(ctx, e.log, investigate.FixOptions{Filter: poisoned, Set: set, Reason: "APP-1250", Apply: true})
		if err != nil || again.Changed != 0 {
			t.Errorf("second fix: %+v %v", again, err)
		}
		ever := investigate.Filter{Table: e.table, Column: "photo_url", Release: "v1.0"}
		again, err = e.inv.Fix(ctx, e.log, investigate.FixOptions{Filter: ever, Set: set, Reason: "APP-1250", Apply: true})
		if err != nil || again.Changed != 0 || again.Selected == 0 || again.Index != 0 {
			t.Errorf("fix of already fixed rows: %+v %v", again, err)
		}
	})
}

func TestRevert(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.exec(t, admin, "CREATE TABLE items (id integer PRIMARY KEY, a text, b text)")
		e.enable(t)
		e.exec(t, importer, "INSERT INTO items VALUES (1, 'a1', 'b1'), (2, 'a2', 'b2'), (3, 'a3', 'b3'), (4, 'a4', 'b4')")
		bad := prov.Attribution{Activity: "job:bad", Agent: "svc:job"}
		e.exec(t, bad, "UPDATE items SET b = 'BAD' WHERE id <= 3", "INSERT INTO items VALUES (5, 'a5', 'BAD')", "DELETE FROM items WHERE id = 4")
		e.sequence(t)
		e.exec(t, upload, "UPDATE items SET a = 'edited' WHERE id = 2") // a later write: a conflict
		opts := investigate.RevertOptions{Activity: "job:bad", Reason: "job ran with the wrong config", Agent: "user:oncall"}
		plan, err := e.inv.Revert(ctx, e.log, opts)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Selected != 5 || plan.Changed != 4 || len(plan.Conflicts) != 1 || plan.Conflicts[0].PK != `{"id":2}` {
			t.Errorf("plan: %+v", plan)
		}
		before := rowsOf(t, e, "SELECT id, a, b FROM items ORDER BY id")
		if before != "1|a1|BAD 2|edited|BAD 3|a3|BAD 5|a5|BAD" {
			t.Fatalf("before the revert: %s", before)
		}
		opts.Apply = true
		rep, err := e.inv.Revert(ctx, e.log, opts)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Changed != 4 || rep.Index <= 0 {
			t.Errorf("revert: %+v", rep)
		}
		if got, want := rowsOf(t, e, "SELECT id, a, b FROM items ORDER BY id"), "1|a1|b1 2|edited|BAD 3|a3|b3 4|a4|b4"; got != want {
			t.Errorf("after the revert: %s, want %s", got, want)
		}
		// Idempotent: a second revert changes nothing, and its own changes are no conflicts.
		again, err := e.inv.Revert(ctx, e.log, opts)
		if err != nil || again.Changed != 0 || len(again.Conflicts) != 1 || again.Index != 0 {
			t.Errorf("second revert: %+v %v", again, err)
		}
		// --column and --force: the conflicting row's b is restored too.
		opts.Table, opts.Column, opts.Force = e.table, "b", true
		forced, err := e.inv.Revert(ctx, e.log, opts)
		if err != nil || forced.Changed != 1 {
			t.Errorf("forced revert: %+v %v", forced, err)
		}
		if got, want := rowsOf(t, e, "SELECT id, a, b FROM items ORDER BY id"), "1|a1|b1 2|edited|b2 3|a3|b3 4|a4|b4"; got != want {
			t.Errorf("after the forced revert: %s, want %s", got, want)
		}
		// The reverts are captured and recorded.
		_, h, err := e.inv.History(ctx, e.table, "1")
		if err != nil || len(h) != 3 || h[2].Activity == nil || h[2].Activity.Kind != "revert" {
			t.Errorf("history of a reverted row: %+v %v", h, err)
		}
		if _, err := e.inv.Revert(ctx, e.log, investigate.RevertOptions{Activity: "job:bda", Reason: "x"}); prov.KindOf(err) != prov.NotFound || !strings.Contains(err.Error(), "job:bad") {
			t.Errorf("unknown activity: %v", err)
		}
		e.sequence(t)
		if _, err := e.log.Verify(ctx, tlogVerify()); err != nil {
			t.Errorf("verify: %v", err)
		}
	})
}
