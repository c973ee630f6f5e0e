package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/provctx"
	"github.com/spf13/cobra"
)

// demoApp is the demo's application: it writes to its own table, through the
// Go SDK, so that capture attributes each transaction.
type demoApp interface {
	// exec runs statements in one transaction attributed to a (none if zero).
	exec(ctx context.Context, a prov.Attribution, stmts ...string) error
	// tamper runs a statement on the log's tables, behind Prov's back.
	tamper(ctx context.Context, stmt string) error
	rows(ctx context.Context, query string) ([][3]string, error)
	close()
}

type sqliteDemo struct{ db *sql.DB }

func (d *sqliteDemo) exec(ctx context.Context, a prov.Attribution, stmts ...string) error {
	var tx interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		Commit() error
		Rollback() error
	}
	if a.Activity != "" {
		t, err := provctx.BeginSQLiteTx(provctx.With(ctx, a), d.db, nil)
		if err != nil {
			return err
		}
		tx = t
	} else {
		t, err := d.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		tx = t
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return tx.Commit()
}

func (d *sqliteDemo) tamper(ctx context.Context, stmt string) error {
	_, err := d.db.ExecContext(ctx, stmt)
	return err
}

func (d *sqliteDemo) rows(ctx context.Context, query string) ([][3]string, error) {
	r, err := d.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out [][3]string
	for r.Next() {
		var x [3]string
		if err := r.Scan(&x[0], &x[1], &x[2]); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, r.Err()
}

func (d *sqliteDemo) close() { d.db.Close() }

type pgDemo struct {
	pool   *pgxpool.Pool
	schema string // the log's schema
}

func (d *pgDemo) exec(ctx context.Context, a prov.Attribution, stmts ...string) error {
	var tx pgx.Tx
	var err error
	if a.Activity != "" {
		tx, err = provctx.BeginTx(provctx.With(ctx, a), d.pool, pgx.TxOptions{})
	} else {
		tx, err = d.pool.Begin(ctx)
	}
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return tx.Commit(ctx)
}

func (d *pgDemo) tamper(ctx context.Context, stmt string) error {
	_, err := d.pool.Exec(ctx, strings.ReplaceAll(stmt, "records", pgx.Identifier{d.schema, "records"}.Sanitize()))
	return err
}

func (d *pgDemo) rows(ctx context.Context, query string) ([][3]string, error) {
	r, err := d.pool.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out [][3]string
	for r.Next() {
		var id int64
		var x [3]string
		if err := r.Scan(&id, &x[1], &x[2]); err != nil {
			return nil, err
		}
		x[0] = fmt.Sprint(id)
		out = append(out, x)
	}
	return out, r.Err()
}

func (d *pgDemo) close() { d.pool.Close() }

func (m *Main) demoCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR] [--db postgres://…]",
		Short: "A bad release, captured, investigated and proved — on a fresh embedded database, with no setup",
		Long: `Play the story of a bad release end to end. An application keeps users with
photo URLs. Release v1.0 runs a migration that rewrites the URLs to end in
.jpg, and v1.0's code keeps creating users with such URLs; release v1.1 reverts
the migration, but only for the users that existed before v1.0. Legitimate
edits happen in between, some through tools that say nothing about who they
are. Prov captures every row change with its activity and agent, in the
application's own transactions, moves them into its tamper-evident log,
checks the live rows against it, and shows verify naming a record edited
behind its back. Every step prints the prov command a user would type.

By default everything lives in one new SQLite file in a temporary directory
(--dir to choose). With --db postgres://… the application table goes to the
schema prov_demo and the log to prov_demo_log (or --schema).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if dir == "" {
				d, err := os.MkdirTemp("", "prov-demo-")
				if err != nil {
					return err
				}
				dir = d
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			base := []string{}
			table := "users"
			var app demoApp
			if isPostgres(m.DB) {
				schema := m.Schema
				if schema == "" {
					schema = "prov_demo_log"
				}
				pool, err := pgxpool.New(ctx, m.DB)
				if err != nil {
					return prov.Errorf(prov.Unavailable, "cannot reach PostgreSQL: %v", err)
				}
				var exists bool
				if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname IN ('prov_demo', $1))", schema).Scan(&exists); err != nil {
					pool.Close()
					return prov.Errorf(prov.Unavailable, "cannot reach PostgreSQL: %v", err)
				}
				if exists {
					pool.Close()
					return prov.Errorf(prov.Conflict, "the schema prov_demo or %s exists already: the demo needs fresh ones (DROP SCHEMA prov_demo, %s CASCADE)", schema, schema)
				}
				if _, err := pool.Exec(ctx, "CREATE SCHEMA prov_demo"); err != nil {
					pool.Close()
					return err
				}
				table = "prov_demo.users"
				base = []string{"--db", m.DB, "--schema", schema, "--key", filepath.Join(dir, "prov.key")}
				app = &pgDemo{pool: pool, schema: schema}
			} else {
				db := filepath.Join(dir, "app.db")
				if _, err := os.Stat(db); err == nil {
					return fmt.Errorf("%s exists already: pass an empty --dir", db)
				}
				base = []string{"--db", db}
				defer func() {
					if app != nil {
						app.close()
					}
				}()
			}
			out := m.Stdout
			step := func(title string) { fmt.Fprintf(out, "\n== %s\n", title) }
			say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
			run := func(args ...string) int {
				fmt.Fprintf(out, "$ prov %s\n", shellJoin(args))
				sub := &Main{Stdin: m.Stdin, Stdout: out, Stderr: out, Getenv: func(string) string { return "" }}
				return sub.Run(ctx, append(append([]string{}, base...), args...))
			}
			// output runs a prov command, prints and returns what it wrote.
			output := func(args ...string) (string, error) {
				fmt.Fprintf(out, "$ prov %s\n", shellJoin(args))
				var buf strings.Builder
				sub := &Main{Stdin: m.Stdin, Stdout: &buf, Stderr: out, Getenv: func(string) string { return "" }}
				code := sub.Run(ctx, append(append([]string{}, base...), args...))
				fmt.Fprint(out, buf.String())
				if code != 0 {
					return "", fmt.Errorf("demo step 'prov %s' failed (exit %d)", strings.Join(args, " "), code)
				}
				return buf.String(), nil
			}
			must := func(args ...string) error {
				if code := run(args...); code != 0 {
					return fmt.Errorf("demo step 'prov %s' failed (exit %d)", strings.Join(args, " "), code)
				}
				return nil
			}
			write := func(who, what string, a prov.Attribution, stmts ...string) error {
				if what != "" {
					what = ": " + what
				}
				if a.Activity != "" {
					say("-- %s (activity %s, agent %s)%s", who, a.Activity, a.Agent, what)
				} else {
					say("-- %s, with no attribution%s", who, what)
				}
				for _, s := range stmts {
					say("   %s;", s)
				}
				return app.exec(ctx, a, stmts...)
			}
			showTable := func() error {
				rows, err := app.rows(ctx, "SELECT id, name, photo_url FROM "+table+" ORDER BY id")
				if err != nil {
					return err
				}
				for _, r := range rows {
					say("   %3s  %-8s %s", r[0], r[1], r[2])
				}
				return nil
			}

			say("Prov demo: a bad release, captured and proved. Files in %s", dir)
			step("Create the log; its signing key stays in a file beside it (mode 0600)")
			if err := must("init", "--origin", "demo.example/prov"); err != nil {
				return err
			}
			if app == nil {
				d, err := sql.Open("sqlite", "file:"+base[1]+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
				if err != nil {
					return err
				}
				d.SetMaxOpenConns(1)
				app = &sqliteDemo{db: d}
			}
			step("The application's table, and capture on it")
			if err := write("the app's schema", "create the users table", prov.Attribution{}, "CREATE TABLE "+table+" (id integer PRIMARY KEY, name text NOT NULL, photo_url text NOT NULL)"); err != nil {
				return err
			}
			if err := must("capture", "enable", table); err != nil {
				return err
			}
			if err := write("the importer", "the first five users", prov.Attribution{Activity: "import:2026-01-01", Agent: "svc:importer"},
				"INSERT INTO "+table+" VALUES (1, 'alice', 'alice.png'), (2, 'bob', 'bob.png'), (3, 'carol', 'carol.png'), (4, 'dan', 'dan.png'), (5, 'erin', 'erin.png')"); err != nil {
				return err
			}

			step("Release v1.0 ships migration 0042, which rewrites every photo URL to .jpg (the files are .png: a bug)")
			acts := filepath.Join(dir, "activities.jsonl")
			os.WriteFile(acts, []byte(strings.Join([]string{
				`{"type":"activity","time":"2026-01-02T03:00:00Z","activity":{"id":"release:v1.0","kind":"release","release":"v1.0","code_version":"3f2a9c1"},"agent":{"id":"ci:deploy","kind":"ci"},"reason":"weekly release"}`,
				`{"type":"activity","time":"2026-01-02T03:01:00Z","activity":{"id":"migration:0042","kind":"migration","name":"0042_photo_urls","release":"v1.0","parent":"release:v1.0","code_version":"3f2a9c1"},"agent":{"id":"ci:deploy","kind":"ci"},"reason":"normalise photo URLs","ticket":"APP-1234"}`,
				`{"type":"activity","time":"2026-01-05T09:00:00Z","activity":{"id":"migration:0043","kind":"migration","name":"0043_revert_photo_urls","release":"v1.1","code_version":"8be41d0"},"agent":{"id":"ci:deploy","kind":"ci"},"reason":"revert 0042","ticket":"APP-1240"}`,
			}, "\n")+"\n"), 0o644)
			if err := must("append", acts); err != nil {
				return err
			}
			say("(the activities are recorded; 'prov run --activity migration:0042 --release v1.0 -- psql -f 0042.sql' does this for any tool)")
			if err := write("migration 0042", "rewrite photo URLs", prov.Attribution{Activity: "migration:0042", Agent: "ci:deploy"},
				"UPDATE "+table+" SET photo_url = replace(photo_url, '.png', '.jpg')"); err != nil {
				return err
			}
			if err := write("v1.0's signup handler", "new users get .jpg URLs too", prov.Attribution{Activity: "request:signup-6", Agent: "svc:api", Parent: "release:v1.0"},
				"INSERT INTO "+table+" VALUES (6, 'frank', 'frank.jpg')"); err != nil {
				return err
			}
			if err := write("v1.0's signup handler", "", prov.Attribution{Activity: "request:signup-7", Agent: "svc:api", Parent: "release:v1.0"},
				"INSERT INTO "+table+" VALUES (7, 'grace', 'grace.jpg')"); err != nil {
				return err
			}
			step("Legitimate edits in between")
			if err := write("bob, through the app", "uploads a new photo", prov.Attribution{Activity: "request:upload-91", Agent: "user:bob"},
				"UPDATE "+table+" SET photo_url = 'bob-2026.png' WHERE id = 2"); err != nil {
				return err
			}
			if err := write("an admin in a SQL console", "fixes a name", prov.Attribution{},
				"UPDATE "+table+" SET name = 'carol b.' WHERE id = 3"); err != nil {
				return err
			}
			step("Release v1.1 reverts 0042 — but only for the users that existed before v1.0")
			if err := write("migration 0043", "", prov.Attribution{Activity: "migration:0043", Agent: "ci:deploy"},
				"UPDATE "+table+" SET photo_url = replace(photo_url, '.jpg', '.png') WHERE id <= 5 AND photo_url LIKE '%.jpg'"); err != nil {
				return err
			}
			say("The table now:")
			if err := showTable(); err != nil {
				return err
			}
			say("frank and grace still have broken .jpg URLs: written by release v1.0, untouched by the v1.1 revert.")

			step("Move the captured changes into the tamper-evident log, and look")
			if err := must("sequence"); err != nil {
				return err
			}
			if err := must("capture", "status"); err != nil {
				return err
			}
			if err := must("log"); err != nil {
				return err
			}
			say("Every change carries its activity and agent; the admin's edit is there too, as unattributed.")

			step("Investigate: what did each activity do, and who wrote each cell?")
			if err := must("activities"); err != nil {
				return err
			}
			if err := must("blame", table, "7"); err != nil {
				return err
			}
			if err := must("history", table, "2"); err != nil {
				return err
			}

			step("Find the poisoned set: rows whose photo_url was last written by release v1.0")
			poisoned := []string{"--table", table, "--column", "photo_url", "--release", "v1.0", "--current"}
			if err := must(append([]string{"find"}, poisoned...)...); err != nil {
				return err
			}
			ids, err := output(append(append([]string{"find"}, poisoned...), "--format", "ids")...)
			if err != nil {
				return err
			}
			if got := strings.Fields(ids); strings.Join(got, " ") != "6 7" {
				return fmt.Errorf("demo: the poisoned set is %v, want exactly frank and grace (6 7)", got)
			}
			say("Exactly frank (6) and grace (7): not alice..erin, whose URLs v1.1 reverted, nor bob, who uploaded a new photo.")
			say("A blind revert of migration 0042 would clobber those later writes; prov revert sees them as conflicts:")
			if err := must("revert", "--activity", "migration:0042", "--reason", "undo 0042"); err != nil {
				return err
			}

			step("Fix exactly the poisoned rows, recorded as a fix activity")
			fix := append(append([]string{"fix"}, poisoned...), "--set", "photo_url = replace(photo_url, '.jpg', '.png')", "--reason", "APP-1250: restore .png URLs", "--id", "fix:APP-1250")
			if err := must(fix...); err != nil {
				return err
			}
			if err := must(append(fix, "--apply")...); err != nil {
				return err
			}
			if err := showTable(); err != nil {
				return err
			}
			n, err := output(append(append([]string{"find"}, poisoned...), "--count")...)
			if err != nil {
				return err
			}
			if strings.TrimSpace(n) != "0" {
				return fmt.Errorf("demo: %s rows still poisoned after the fix", strings.TrimSpace(n))
			}
			say("Nothing poisoned is left, and running the fix again changes nothing:")
			if err := must(append(fix[:len(fix)-2], "--id", "fix:APP-1250-again", "--apply")...); err != nil {
				return err
			}
			if err := must("sequence"); err != nil {
				return err
			}

			step("Prove it: the live rows match their last captured change, and the log is intact")
			if err := must("verify", "--live"); err != nil {
				return err
			}
			if err := saveCheckpoint(m, ctx, base, filepath.Join(dir, "checkpoint.txt")); err != nil {
				return err
			}

			step("Someone rewrites history in the log's own table, behind Prov's back")
			stmt := `UPDATE records SET data = replace(data, 'migration:0042', 'migration:0041') WHERE idx = (SELECT min(idx) FROM records WHERE activity_id = 'migration:0042' AND type = 'change')`
			if isPostgres(m.DB) {
				stmt = `UPDATE records SET data = convert_to(replace(convert_from(data, 'UTF8'), 'migration:0042', 'migration:0041'), 'UTF8') WHERE idx = (SELECT min(idx) FROM records WHERE activity_id = 'migration:0042' AND type = 'change')`
			}
			say("sql> %s;", stmt)
			if err := app.tamper(ctx, stmt); err != nil {
				return err
			}
			code := run("verify", "--checkpoint", filepath.Join(dir, "checkpoint.txt"))
			say("(verify exited %d and named the first bad record)", code)
			if code != exitTampered {
				return fmt.Errorf("demo: verify did not detect the edit (exit %d)", code)
			}
			say("\nDone. The demo's files are in %s.", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the demo's files (default: a new temporary directory)")
	return cmd
}

// saveCheckpoint writes the latest checkpoint to path, as
// 'prov checkpoint > path' would.
func saveCheckpoint(m *Main, ctx context.Context, base []string, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	sub := &Main{Stdin: m.Stdin, Stdout: f, Stderr: m.Stderr, Getenv: func(string) string { return "" }}
	code := sub.Run(ctx, append(append([]string{}, base...), "checkpoint"))
	if err := f.Close(); err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("demo: saving the checkpoint failed (exit %d)", code)
	}
	fmt.Fprintf(m.Stdout, "$ prov checkpoint > %s\n", path)
	return nil
}

// shellJoin writes args as a shell would need them typed.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
			out[i] = a
			continue
		}
		if strings.Contains(a, "'") && !strings.ContainsAny(a, "\"$`\\!") {
			out[i] = `"` + a + `"`
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
