package investigate_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
)

// checkBackfill checks that migration 0017's backfill of column_writers,
// run over the database's row_changes, builds what the sequencer kept while
// it indexed them.
func checkBackfill(t *testing.T, e *env) {
	t.Helper()
	file, table, rc, check := "../sqlite/migrations/0017_column_writers.sql", "prov_column_writers", "prov_row_changes", "cw_check"
	create := "CREATE TABLE cw_check (relid, pk, col, idx, op, activity, agent, at, columns, PRIMARY KEY (relid, pk, col))"
	if e.name == "postgres" {
		schema := e.store.(*postgres.Store).Schema()
		file, table, rc, check = "../postgres/migrations/0017_column_writers.sql", schema+".column_writers", schema+".row_changes", schema+".cw_check"
		create = "CREATE TABLE " + check + " (LIKE " + table + " INCLUDING ALL)"
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// The statements from the first INSERT to the CREATE INDEX.
	text := string(b)
	text = text[strings.Index(text, "INSERT INTO"):strings.Index(text, "CREATE INDEX")]
	stmts := []string{create}
	for _, stmt := range strings.Split(text, ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if e.name == "postgres" {
			stmt = strings.ReplaceAll(stmt, "INSERT INTO column_writers", "INSERT INTO "+check)
			stmt = strings.ReplaceAll(stmt, "JOIN row_changes", "JOIN "+rc)
			stmt = strings.ReplaceAll(stmt, "FROM row_changes", "FROM "+rc)
		} else {
			stmt = strings.ReplaceAll(stmt, "prov_column_writers", check)
		}
		stmts = append(stmts, stmt)
	}
	if len(stmts) != 3 {
		t.Fatalf("%s: want two INSERT statements before the CREATE INDEX, found %d", file, len(stmts)-1)
	}
	e.exec(t, prov.Attribution{}, stmts...)
	defer e.exec(t, prov.Attribution{}, "DROP TABLE "+check)
	q := func(tb string) [][]string {
		return e.query(t, "SELECT relid, pk, col, idx, op, activity, agent, at, columns FROM "+tb+" ORDER BY relid, pk, col")
	}
	kept, built := q(table), q(check)
	if len(kept) == 0 {
		t.Fatalf("%s is empty", table)
	}
	if !reflect.DeepEqual(kept, built) {
		t.Errorf("the backfill of %s differs from what the sequencer kept:\nkept:  %v\nbuilt: %v", table, kept, built)
	}
}
