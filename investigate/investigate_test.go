package investigate_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/investigate"
)

var (
	importer = prov.Attribution{Activity: "import:1", Agent: "svc:importer"}
	m42      = prov.Attribution{Activity: "migration:0042", Agent: "ci:deploy"}
	m43      = prov.Attribution{Activity: "migration:0043", Agent: "ci:deploy"}
	upload   = prov.Attribution{Activity: "request:upload-91", Agent: "user:bob"}
	admin    = prov.Attribution{}
)

func signup(n string) prov.Attribution {
	return prov.Attribution{Activity: "request:signup-" + n, Agent: "svc:api", Parent: "release:v1.0"}
}

// seed plays the bad release: v1.0's migration and handlers write bad URLs,
// legitimate and unattributed edits happen, v1.1 reverts only the rows that
// existed before v1.0. Some changes are left unsequenced.
func seed(t *testing.T, e *env) {
	e.exec(t, admin, "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, photo_url text NOT NULL)")
	e.enable(t)
	e.exec(t, importer, "INSERT INTO items VALUES (1, 'alice', 'alice.png'), (2, 'bob', 'bob.png'), (3, 'carol', 'carol.png'), (4, 'dan', 'dan.png'), (5, 'erin', 'erin.png')")
	e.record(t,
		prov.Record{Type: prov.TypeActivity, Activity: &prov.Activity{ID: "release:v1.0", Kind: "release", Release: "v1.0", CodeVersion: "3f2a9c1"}, Agent: &prov.Agent{ID: "ci:deploy"}},
		prov.Record{Type: prov.TypeActivity, Activity: &prov.Activity{ID: "migration:0042", Kind: "migration", Name: "0042_photo_urls", Parent: "release:v1.0", CodeVersion: "3f2a9c1"}, Agent: &prov.Agent{ID: "ci:deploy"}, Reason: "normalise photo URLs", Ticket: "APP-1234"},
		prov.Record{Type: prov.TypeActivity, Activity: &prov.Activity{ID: "migration:0043", Kind: "migration", Release: "v1.1", CodeVersion: "8be41d0"}, Agent: &prov.Agent{ID: "ci:deploy"}, Reason: "revert 0042"},
	)
	e.exec(t, m42, "UPDATE items SET photo_url = replace(photo_url, '.png', '.jpg')")
	e.exec(t, signup("6"), "INSERT INTO items VALUES (6, 'frank', 'frank.jpg')")
	e.exec(t, signup("7"), "INSERT INTO items VALUES (7, 'grace', 'grace.jpg')")
	e.exec(t, upload, "UPDATE items SET photo_url = 'bob-2026.png' WHERE id = 2")
	e.exec(t, admin, "UPDATE items SET name = 'carol b.' WHERE id = 3")
	e.sequence(t) // the rest stays pending
	e.exec(t, signup("8"), "INSERT INTO items VALUES (8, 'heidi', 'heidi.jpg')")
	e.exec(t, signup("9"), "INSERT INTO items VALUES (9, 'ivan', 'ivan.jpg')")
	e.exec(t, admin, "DELETE FROM items WHERE id = 9")
	e.exec(t, m43, "UPDATE items SET photo_url = replace(photo_url, '.jpg', '.png') WHERE id <= 5 AND photo_url LIKE '%.jpg'")
}

func find(t *testing.T, e *env, f investigate.Filter) []string {
	t.Helper()
	var out []string
	if err := e.inv.Find(context.Background(), f, func(m investigate.Match) error {
		out = append(out, investigate.KeyValue(m.PK))
		return nil
	}); err != nil {
		t.Fatalf("find %+v: %v", f, err)
	}
	n, err := e.inv.Count(context.Background(), f)
	if err != nil {
		t.Fatalf("count %+v: %v", f, err)
	}
	if int(n) != len(out) {
		t.Errorf("count %+v = %d, find gave %d rows", f, n, len(out))
	}
	sort.Strings(out)
	return out
}

func TestFindSeed(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		seed(t, e)
		tbl := e.table
		for _, c := range []struct {
			name string
			f    investigate.Filter
			want string
		}{
			{"poisoned: current photo_url by release v1.0", investigate.Filter{Table: tbl, Column: "photo_url", Release: "v1.0", Current: true}, "6 7 8"},
			{"ever written by v1.0", investigate.Filter{Table: tbl, Column: "photo_url", Release: "v1.0"}, "1 2 3 4 5 6 7 8 9"},
			{"not rewritten by v1.1", investigate.Filter{Table: tbl, Column: "photo_url", Release: "v1.0", NotRelease: []string{"v1.1"}}, "2 6 7 8 9"},
			{"latest change by v1.0", investigate.Filter{Table: tbl, Release: "v1.0", Current: true}, "6 7 8"},
			{"migration 0042", investigate.Filter{Table: tbl, Activity: "migration:0042"}, "1 2 3 4 5"},
			{"migration 0042, still current", investigate.Filter{Table: tbl, Activity: "migration:0042", Column: "photo_url", Current: true}, ""},
			{"requests", investigate.Filter{Table: tbl, Kind: "request"}, "2 6 7 8 9"},
			{"migrations of v1.1", investigate.Filter{Table: tbl, Kind: "migration", Release: "v1.1"}, "1 3 4 5"},
			{"agent", investigate.Filter{Table: tbl, Agent: "svc:api"}, "6 7 8 9"},
			{"name column ever", investigate.Filter{Table: tbl, Column: "name"}, "1 2 3 4 5 6 7 8 9"},
			{"name, current, import", investigate.Filter{Table: tbl, Column: "name", Activity: "import:1", Current: true}, "1 2 4 5"},
			{"excluded by a later activity", investigate.Filter{Table: tbl, Activity: "import:1", NotActivity: []string{"migration:0043"}}, "2"},
		} {
			got := strings.Join(find(t, e, c.f), " ")
			if got != c.want {
				t.Errorf("%s: got [%s], want [%s]", c.name, got, c.want)
			}
		}
		// Once everything is sequenced, the same answers.
		e.sequence(t)
		if got := strings.Join(find(t, e, investigate.Filter{Table: tbl, Column: "photo_url", Release: "v1.0", Current: true}), " "); got != "6 7 8" {
			t.Errorf("after sequencing: got [%s]", got)
		}
	})
}

func TestFindBadInput(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		seed(t, e)
		ctx := context.Background()
		for _, c := range []struct {
			f    investigate.Filter
			kind prov.Kind
			want string
		}{
			{investigate.Filter{Table: "itemz"}, prov.NotFound, "did you mean"},
			{investigate.Filter{Table: e.table, Column: "photo"}, prov.NotFound, "photo_url"},
			{investigate.Filter{Table: e.table, Activity: "migration:042"}, prov.NotFound, "migration:0042"},
			{investigate.Filter{Table: e.table, Release: "v1"}, prov.NotFound, "v1.0"},
			{investigate.Filter{Table: e.table, Kind: "migrations"}, prov.NotFound, "migration"},
			{investigate.Filter{Table: e.table, NotActivity: []string{"nope"}}, prov.NotFound, "no activity nope"},
		} {
			_, err := e.inv.Count(ctx, c.f)
			var pe *prov.Error
			if !errors.As(err, &pe) || pe.Kind != c.kind || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%+v: got %v, want a %v error saying %q", c.f, err, c.kind, c.want)
			}
		}
	})
}

func TestBlameHistory(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		seed(t, e)
		ctx := context.Background()
		b, err := e.inv.Blame(ctx, e.table, "3")
		if err != nil {
			t.Fatal(err)
		}
		who := map[string]string{}
		for _, c := range b.Cells {
			switch {
			case c.Change == nil:
				who[c.Column] = "-"
			case c.Change.Activity == nil:
				who[c.Column] = "unattributed"
			default:
				who[c.Column] = c.Change.Activity.ID + "@" + c.Change.Activity.Release
			}
		}
		want := map[string]string{"id": "import:1@", "name": "unattributed", "photo_url": "migration:0043@v1.1"}
		for k, v := range want {
			if who[k] != v {
				t.Errorf("blame 3 %s: %s, want %s (all: %v)", k, who[k], v, who)
			}
		}
		if b, err := e.inv.Blame(ctx, e.table, "6"); err != nil || b.Cells[2].Change.Activity.Release != "v1.0" || string(b.Cells[2].Value) != `"frank.jpg"` {
			t.Errorf("blame 6: %+v %v", b, err)
		}
		if b, err := e.inv.Blame(ctx, e.table, "9"); err != nil || b.Deleted == nil || !b.Deleted.Unattributed {
			t.Errorf("blame 9 (deleted): %+v %v", b, err)
		}
		_, h, err := e.inv.History(ctx, e.table, "2")
		if err != nil {
			t.Fatal(err)
		}
		var ops []string
		for _, c := range h {
			ops = append(ops, c.Op+":"+c.Activity.ID)
		}
		if w := []string{"insert:import:1", "update:migration:0042", "update:request:upload-91"}; !slices.Equal(ops, w) {
			t.Errorf("history 2: %v, want %v", ops, w)
		}
		if got := string(h[2].Before["photo_url"]) + ">" + string(h[2].After["photo_url"]); got != `"bob.jpg">"bob-2026.png"` {
			t.Errorf("history 2 last change: %s", got)
		}
		_, h, err = e.inv.History(ctx, e.table, "1") // the revert is pending
		if err != nil || len(h) != 3 || h[2].Index != -1 || h[2].Activity.ID != "migration:0043" {
			t.Errorf("history 1: %+v %v", h, err)
		}
		if _, err := e.inv.Blame(ctx, e.table, "42"); prov.KindOf(err) != prov.NotFound {
			t.Errorf("blame of an unknown key: %v", err)
		}
	})
}

func TestActivities(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		seed(t, e)
		acts, err := e.inv.Activities(context.Background(), investigate.ActivityFilter{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, a := range acts {
			var rows []string
			for _, r := range a.Rows {
				rows = append(rows, r.Op+"="+strconv.FormatInt(r.Rows, 10))
			}
			got[a.ID] = a.Kind + "/" + a.Release + "/" + strings.Join(rows, ",")
		}
		for id, w := range map[string]string{
			"migration:0042":   "migration/v1.0/update=5",
			"migration:0043":   "migration/v1.1/update=4",
			"request:signup-9": "request/v1.0/insert=1",
			"import:1":         "import//insert=5",
			"release:v1.0":     "release/v1.0/",
		} {
			if got[id] != w {
				t.Errorf("activity %s: %q, want %q", id, got[id], w)
			}
		}
	})
}
