package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prov-dev/prov/sqlite"
	"github.com/spf13/cobra"
)

// demoRecords is the story the demo logs: release v1.0 ships a migration that
// rewrites photo URLs, and the API keeps writing users.
var demoRecords = []string{
	`{"type":"activity","time":"2026-01-02T03:00:00Z","activity":{"id":"release:v1.0","kind":"release","name":"v1.0","release":"v1.0","code_version":"3f2a9c1","started":"2026-01-02T03:00:00Z"},"agent":{"id":"ci:deploy","kind":"ci"},"reason":"weekly release"}`,
	`{"type":"activity","time":"2026-01-02T03:01:00Z","activity":{"id":"migration:0042","kind":"migration","name":"0042_photo_urls","release":"v1.0","parent":"release:v1.0","code_version":"3f2a9c1"},"agent":{"id":"ci:deploy","kind":"ci"},"reason":"normalise photo URLs","ticket":"APP-1234"}`,
	`{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"migration:0042","kind":"migration","release":"v1.0"},"agent":{"id":"svc:api"},"generated":[{"id":"pg:app/public.users/{\"id\":42}","op":"update","columns":["photo_url"]}],"reason":"bad photo URL migration"}`,
	`{"type":"change","time":"2026-01-02T03:04:06Z","activity":{"id":"migration:0042","kind":"migration","release":"v1.0"},"agent":{"id":"svc:api"},"generated":[{"id":"pg:app/public.users/{\"id\":43}","op":"update","columns":["photo_url"]}],"reason":"bad photo URL migration"}`,
	`{"type":"change","time":"2026-01-02T04:10:00Z","activity":{"id":"request:7f3e","kind":"request","release":"v1.0","name":"POST /users"},"agent":{"id":"user:alice","kind":"person"},"generated":[{"id":"pg:app/public.users/{\"id\":44}","op":"insert"}]}`,
}

func (m *Main) demoCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Walk through Prov on a fresh embedded log, with no setup",
		Long: `Create a fresh embedded log in a new directory, append provenance records of
a release and its migration, sign checkpoints, prove inclusion and
consistency, verify the log, then tamper with one stored record and show that
verify names it. Every step prints the prov command a user would type.`,
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
			db := filepath.Join(dir, "prov.db")
			if _, err := os.Stat(db); err == nil {
				return fmt.Errorf("%s exists already: pass an empty --dir", db)
			}
			records := filepath.Join(dir, "records.jsonl")
			if err := os.WriteFile(records, []byte(strings.Join(demoRecords, "\n")+"\n"), 0o644); err != nil {
				return err
			}
			out := m.Stdout
			step := func(title string) { fmt.Fprintf(out, "\n== %s\n", title) }
			run := func(args ...string) int {
				fmt.Fprintf(out, "$ prov %s\n", strings.Join(args, " "))
				sub := &Main{Stdin: m.Stdin, Stdout: out, Stderr: out, Getenv: func(string) string { return "" }}
				return sub.Run(ctx, append([]string{"--db", db}, args...))
			}
			must := func(args ...string) error {
				if code := run(args...); code != 0 {
					return fmt.Errorf("demo step 'prov %s' failed (exit %d)", strings.Join(args, " "), code)
				}
				return nil
			}
			fmt.Fprintf(out, "Prov demo in %s\n", dir)
			step("Create a log: its signing key stays in a file beside the store (mode 0600)")
			if err := must("init", "--origin", "demo.example/prov"); err != nil {
				return err
			}
			step("Record a release, its migration and the changes they made (JSON Lines; atomic)")
			if err := must("append", records); err != nil {
				return err
			}
			step("The signed checkpoint (C2SP tlog-checkpoint): origin, size, root hash, signature")
			if err := must("checkpoint"); err != nil {
				return err
			}
			step("Who wrote what: the log")
			if err := must("log"); err != nil {
				return err
			}
			step("Prove that record 2 is in the log (RFC 9162 inclusion proof)")
			if err := must("proof", "inclusion", "2"); err != nil {
				return err
			}
			step("Save today's checkpoint, append more, and prove the log only grew")
			saved := filepath.Join(dir, "checkpoint.txt")
			if err := saveCheckpoint(m, ctx, db, saved); err != nil {
				return err
			}
			fmt.Fprintf(out, "(saved the checkpoint to %s)\n", saved)
			more := filepath.Join(dir, "more.jsonl")
			os.WriteFile(more, []byte(`{"type":"change","time":"2026-01-03T09:00:00Z","activity":{"id":"release:v1.1","kind":"release","release":"v1.1"},"agent":{"id":"svc:api"},"generated":[{"id":"pg:app/public.users/{\"id\":42}","op":"update","columns":["photo_url"]}],"reason":"revert 0042 for old users"}`+"\n"), 0o644)
			if err := must("append", more); err != nil {
				return err
			}
			if err := must("proof", "consistency", "5", "6"); err != nil {
				return err
			}
			step("Verify everything from the stored bytes, and that the log extends the saved checkpoint")
			if err := must("verify", "--checkpoint", saved); err != nil {
				return err
			}
			step("Now someone edits record 3 in the database behind Prov's back")
			store, err := sqlite.Open(ctx, db, sqlite.Options{})
			if err != nil {
				return err
			}
			_, err = store.DB().ExecContext(ctx, `UPDATE records SET data = replace(data, '"id\":43', '"id\":99') WHERE idx = 3`)
			store.Close()
			if err != nil {
				return err
			}
			fmt.Fprintln(out, `sqlite> UPDATE records SET data = replace(data, '"id\":43', '"id\":99') WHERE idx = 3;`)
			code := run("verify")
			fmt.Fprintf(out, "(verify exited %d: it names the first bad record)\n", code)
			if code != exitTampered {
				return fmt.Errorf("demo: verify did not detect the edit (exit %d)", code)
			}
			fmt.Fprintf(out, "\nDone. The demo's files are in %s.\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the demo's files (default: a new temporary directory)")
	return cmd
}

// saveCheckpoint writes the latest checkpoint of db to path, as
// 'prov checkpoint > path' would.
func saveCheckpoint(m *Main, ctx context.Context, db, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	sub := &Main{Stdin: m.Stdin, Stdout: f, Stderr: m.Stderr, Getenv: func(string) string { return "" }}
	code := sub.Run(ctx, []string{"--db", db, "checkpoint"})
	if err := f.Close(); err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("demo: saving the checkpoint failed (exit %d)", code)
	}
	fmt.Fprintf(m.Stdout, "$ prov checkpoint > %s\n", path)
	return nil
}
