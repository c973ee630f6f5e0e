package openlineage_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/lineage"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/provctx"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
)

// TestGraphCapturedTables: a table that capture records is a dataset named
// as OpenLineage names it, and the activity that changed it a run that wrote
// it, beside the pipeline runs that read it.
func TestGraphCapturedTables(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := openLog(t, st)
	app, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, err := app.Exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER)"); err != nil {
		t.Fatal(err)
	}
	c := capture.NewSQLite(st)
	if _, err := c.Enable(ctx, []string{"orders"}, nil); err != nil {
		t.Fatal(err)
	}
	actx := provctx.With(ctx, prov.Attribution{Activity: "migration:0042", Parent: "release:v1.0", Agent: "svc:api"})
	tx, err := provctx.BeginSQLiteTx(actx, app, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(actx, "INSERT INTO orders VALUES (1, 10), (2, 20)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sequencer(l).Run(ctx, false, 0); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	ns := "sqlite://" + abs
	table := lineage.DatasetNode(ns, "main.orders")
	if got := openlineage.CapturedDataset(st, "main.orders"); got != table {
		t.Errorf("CapturedDataset: got %s, want %s", got, table)
	}
	// A pipeline reads the table.
	ev := `{"eventType":"COMPLETE","eventTime":"` + time.Now().UTC().Add(time.Hour).Format(time.RFC3339) + `","producer":"https://example.com/etl","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent","run":{"runId":"0195a000-0000-7000-8000-0000000000c1"},"job":{"namespace":"etl","name":"report"},"inputs":[{"namespace":"` + ns + `","name":"main.orders"}],"outputs":[{"namespace":"s3://lake","name":"report"}]}`
	if _, err := openlineage.Ingest(ctx, l, [][]byte{[]byte(ev)}); err != nil {
		t.Fatal(err)
	}
	g := newRecorder()
	if err := openlineage.Load(ctx, st, time.Time{}, g); err != nil {
		t.Fatal(err)
	}
	r, ok := g.runs["migration:0042"]
	if !ok || r.Job != lineage.JobNode("prov", "migration") || r.Parent != "release:v1.0" || r.State != "COMPLETE" {
		t.Errorf("the activity as a run: got %+v (%v)", r, ok)
	}
	var wrote, read bool
	for _, io := range g.ios {
		wrote = wrote || io.Run == "migration:0042" && io.Dataset == table && io.Output
		read = read || io.Run == "0195a000-0000-7000-8000-0000000000c1" && io.Dataset == table && !io.Output
	}
	if !wrote || !read || !g.datasets[table] {
		t.Errorf("table %s: written by the migration %v, read by the pipeline %v; ios %+v", table, wrote, read, g.ios)
	}
	// As of before the migration, neither is there.
	g = newRecorder()
	if err := openlineage.Load(ctx, st, time.Now().Add(-time.Hour), g); err != nil {
		t.Fatal(err)
	}
	if len(g.runs) != 0 || len(g.ios) != 0 {
		t.Errorf("as of an hour ago: %+v %+v", g.runs, g.ios)
	}
}

// TestIndexedWhateverTheAppendPath: a lineage record appended as a plain
// record is indexed too, and one whose event is broken is refused whole.
func TestIndexedWhateverTheAppendPath(t *testing.T) {
	backends(t, func(t *testing.T, s prov.Store, l *tlog.Log) {
		ctx := context.Background()
		e, err := openlineage.Decode([]byte(okEvent))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := openlineage.Record(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, [][]byte{rec}); err != nil {
			t.Fatal(err)
		}
		info, err := openlineage.LoadRun(ctx, l, "0195a000-0000-7000-8000-000000000002")
		if err != nil || info.State != "COMPLETE" || len(info.Outputs) != 1 || *info.Outputs[0].RowCount != 3 {
			t.Fatalf("run of a plainly appended record: %+v %v", info, err)
		}
		broken := strings.Replace(string(rec), `"eventType":"COMPLETE"`, `"eventType":"DONE"`, 1)
		broken = strings.Replace(broken, openlineage.EventID([]byte(okEvent)), "another-event", 1)
		other := record0(t)
		_, err = l.Append(ctx, [][]byte{[]byte(other), []byte(broken)})
		if !prov.IsKind(err, prov.Invalid) || !strings.Contains(err.Error(), `field "eventType"`) {
			t.Errorf("a lineage record with a broken event: got %v", err)
		}
		if n, _ := l.Size(ctx); n != 1 {
			t.Errorf("the refused append left %d records, want 1", n)
		}
	})
}

func record0(t *testing.T) string {
	return `{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"job:1"},"generated":[{"id":"file:/x","op":"write"}]}`
}
