package provctx_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/provctx"
)

// openSQLite opens a fresh SQLite database with prov_context and a table,
// items, whose inserts a trigger copies into audit with the attribution
// they were made under, as SQLite capture does.
func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`
		CREATE TABLE IF NOT EXISTS prov_context (id INTEGER PRIMARY KEY AUTOINCREMENT, ctx TEXT NOT NULL);
		CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL DEFAULT '');
		CREATE TABLE audit (n INTEGER PRIMARY KEY, item INTEGER NOT NULL, ctx TEXT);
		CREATE TRIGGER capture AFTER INSERT ON items BEGIN
			INSERT INTO audit (item, ctx) VALUES (NEW.id, (SELECT ctx FROM prov_context ORDER BY id DESC LIMIT 1));
		END;`)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestBeginSQLiteTx(t *testing.T) {
	db := openSQLite(t)
	bg := context.Background()
	attributed := provctx.With(bg, attr)
	insert := func(t *testing.T, tx *provctx.SQLiteTx, id int) {
		t.Helper()
		if _, err := tx.ExecContext(bg, "INSERT INTO items (id) VALUES (?)", id); err != nil {
			t.Fatal(err)
		}
	}
	audited := func(t *testing.T, id int) (string, bool) {
		t.Helper()
		var ctx sql.NullString
		err := db.QueryRow("SELECT ctx FROM audit WHERE item = ?", id).Scan(&ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return "", false
		}
		if err != nil {
			t.Fatal(err)
		}
		return ctx.String, true
	}
	// empty checks that the attribution never outlives its transaction.
	empty := func(t *testing.T) {
		t.Helper()
		var n int
		if err := db.QueryRow("SELECT count(*) FROM prov_context").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("prov_context holds %d rows after the transaction, want 0", n)
		}
	}

	t.Run("attributed", func(t *testing.T) {
		tx, err := provctx.BeginSQLiteTx(attributed, db, nil)
		if err != nil {
			t.Fatalf("BeginSQLiteTx: %v", err)
		}
		insert(t, tx, 1)
		insert(t, tx, 2)
		if err := tx.Commit(); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if err := tx.Rollback(); !errors.Is(err, sql.ErrTxDone) {
			t.Errorf("Rollback after Commit = %v, want sql.ErrTxDone", err)
		}
		empty(t)
		for _, id := range []int{1, 2} {
			if got, ok := audited(t, id); !ok || got != attr.Encode() {
				t.Errorf("item %d: captured ctx = %q (found %v), want %q", id, got, ok, attr.Encode())
			}
		}
	})

	t.Run("unattributed", func(t *testing.T) {
		tx, err := provctx.BeginSQLiteTx(bg, db, nil)
		if err != nil {
			t.Fatalf("BeginSQLiteTx: %v", err)
		}
		insert(t, tx, 3)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		empty(t)
		if got, ok := audited(t, 3); !ok || got != "" {
			t.Errorf("captured ctx = %q (found %v), want unattributed", got, ok)
		}
	})

	t.Run("rolled back", func(t *testing.T) {
		tx, err := provctx.BeginSQLiteTx(attributed, db, nil)
		if err != nil {
			t.Fatalf("BeginSQLiteTx: %v", err)
		}
		insert(t, tx, 4)
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		empty(t)
		if _, ok := audited(t, 4); ok {
			t.Error("rolled back change captured")
		}
	})

	t.Run("read only", func(t *testing.T) {
		tx, err := provctx.BeginSQLiteTx(attributed, db, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("BeginSQLiteTx: %v", err)
		}
		var n int
		if err := tx.QueryRowContext(bg, "SELECT count(*) FROM prov_context").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("read-only transaction wrote %d prov_context rows, want 0", n)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(attributed)
		tx, err := provctx.BeginSQLiteTx(ctx, db, nil)
		if err != nil {
			t.Fatalf("BeginSQLiteTx: %v", err)
		}
		insert(t, tx, 5)
		cancel()
		if err := tx.Commit(); err == nil {
			t.Fatal("Commit after the context ended succeeded")
		}
		empty(t)
		if _, ok := audited(t, 5); ok {
			t.Error("change of a cancelled transaction captured")
		}
	})

	t.Run("agent without activity", func(t *testing.T) {
		_, err := provctx.BeginSQLiteTx(provctx.WithAgent(bg, "alice"), db, nil)
		if !prov.IsKind(err, prov.Invalid) {
			t.Errorf("BeginSQLiteTx = %v, want an error of kind invalid", err)
		}
	})
}

func TestBeginSQLiteTxWithoutTable(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "bare.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = provctx.BeginSQLiteTx(provctx.With(t.Context(), attr), db, nil)
	if !prov.IsKind(err, prov.Conflict) {
		t.Fatalf("BeginSQLiteTx = %v, want an error of kind conflict", err)
	}
	t.Log(err)
	if n := db.Stats().InUse; n != 0 {
		t.Errorf("%d connections in use, want 0", n)
	}
}
