package provctx_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prov-dev/prov/provctx"
)

func ExampleWithActivity() {
	ctx := provctx.WithActivity(context.Background(), "migration:0042")
	ctx = provctx.WithAgent(ctx, "ci:deploy")

	a, ok := provctx.From(ctx)
	fmt.Println(ok, a.Activity, a.Agent)
	fmt.Println(a.Encode()) // the value of prov.context
	// Output:
	// true migration:0042 ci:deploy
	// {"activity":"migration:0042","agent":"ci:deploy"}
}

func ExampleMiddleware() {
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Transactions begun with r.Context() carry this attribution.
		a, _ := provctx.From(r.Context())
		fmt.Fprintln(w, a.Activity, a.Agent)
	})
	opts := provctx.DefaultMiddlewareOptions()           // request id from X-Request-Id
	opts.Agent = provctx.HeaderAgent("X-Forwarded-User") // set by the authenticating proxy
	h := provctx.Middleware(orders, opts)

	r := httptest.NewRequest("POST", "/orders", nil)
	r.Header.Set("X-Request-Id", "7f3a9c")
	r.Header.Set("X-Forwarded-User", "alice")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Print(w.Body)
	// Output: request:7f3a9c alice
}

// A pgx application begins its transactions through provctx.BeginTx.
func ExampleBeginTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://localhost/app")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	ctx = provctx.WithActivity(ctx, "job:nightly-reprice")
	ctx = provctx.WithAgent(ctx, "service:pricer")
	tx, err := provctx.BeginTx(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if _, err := tx.Exec(ctx, "UPDATE prices SET amount = amount * 1.02 WHERE sku = $1", "A-1"); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}
}

// A database/sql application opens its *sql.DB through provctx; then every
// db.BeginTx given an attributed context is attributed.
func ExampleOpenDB() {
	cfg, err := pgx.ParseConfig("postgres://localhost/app")
	if err != nil {
		log.Fatal(err)
	}
	db := provctx.OpenDB(*cfg)
	defer db.Close()

	ctx := provctx.WithActivity(context.Background(), "request:7f3a9c")
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM carts WHERE id = $1", 42); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
}

func ExampleBeginSQLiteTx() {
	dir, err := os.MkdirTemp("", "provctx")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	// What capture enable sets up, in short.
	if _, err := db.Exec(`
		CREATE TABLE prov_context (id INTEGER PRIMARY KEY AUTOINCREMENT, ctx TEXT NOT NULL);
		CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
		CREATE TABLE changes (note INTEGER, ctx TEXT);
		CREATE TRIGGER capture AFTER INSERT ON notes BEGIN
			INSERT INTO changes VALUES (NEW.id, (SELECT ctx FROM prov_context ORDER BY id DESC LIMIT 1));
		END;`); err != nil {
		log.Fatal(err)
	}

	ctx := provctx.WithAgent(provctx.WithActivity(context.Background(), "script:import"), "alice")
	tx, err := provctx.BeginSQLiteTx(ctx, db, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO notes (id, body) VALUES (1, 'hello')"); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	var note int
	var attribution string
	if err := db.QueryRow("SELECT note, ctx FROM changes").Scan(&note, &attribution); err != nil {
		log.Fatal(err)
	}
	fmt.Println(note, attribution)
	// Output: 1 {"activity":"script:import","agent":"alice"}
}
