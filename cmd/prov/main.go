// Command prov is Prov's command line: the tamper-evident provenance log,
// embedded (SQLite, the default) or on PostgreSQL.
//
// This package alone reads flags, the environment and files; it wires the
// library packages together. Exit codes: 0 success, 1 error, 2 bad usage,
// 3 verification found damage, or prov quarantine check found a quarantine.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/client"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitTampered = 3
)

// DefaultDB is the store used when neither --db nor PROV_DB is given.
const DefaultDB = "prov.db"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := m.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// Main is the program with its environment, so that tests run the real wiring.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string

	// Global flags.
	DB             string
	Schema         string
	Key            string
	JSON           bool
	MaxRecordBytes int

	// Client mode (remote.go): talk to a prov serve instead of a database.
	Server, Token, TokenFile, LogKey string
	Insecure                         bool
	client                           *client.Client
}

// usageError marks errors in how the command was called.
type usageError struct{ error }

// Run runs the command line args and returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	root := m.command()
	root.SetArgs(args)
	root.SetIn(m.Stdin)
	root.SetOut(m.Stdout)
	root.SetErr(m.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue usageError
	var ec exitCode
	code := exitError
	switch {
	case errors.As(err, &ec):
		return int(ec)
	case errors.As(err, &ue):
		code = exitUsage
	case prov.IsKind(err, prov.Tampered):
		code = exitTampered
	case !errors.As(err, new(*prov.Error)) && isCobraUsage(err):
		code = exitUsage
	}
	if !errors.As(err, new(errSilent)) {
		m.printError(err)
	}
	return code
}

func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires ", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func (m *Main) printError(err error) {
	if m.JSON {
		kind := prov.KindOf(err)
		if isCobraUsage(err) {
			kind = prov.Invalid
		}
		json.NewEncoder(m.Stderr).Encode(map[string]any{"error": map[string]string{"kind": string(kind), "message": err.Error()}})
		return
	}
	fmt.Fprintf(m.Stderr, "prov: %v\n", err)
}

func (m *Main) command() *cobra.Command {
	root := &cobra.Command{
		Use:           "prov",
		Short:         "Provenance stored alongside your data, in a tamper-evident log",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := m.setupClient(cmd); err != nil {
				return err
			}
			if m.DB == "" {
				m.DB = m.Getenv("PROV_DB")
			}
			if m.DB == "" {
				m.DB = DefaultDB
			}
			if m.Key == "" {
				m.Key = m.Getenv("PROV_KEY")
			}
			if m.Schema == "" {
				m.Schema = m.Getenv("PROV_SCHEMA")
			}
			if m.MaxRecordBytes <= 0 {
				return usageError{fmt.Errorf("--max-record-bytes must be positive")}
			}
			return nil
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&m.DB, "db", "", "the store: a SQLite file path or a postgres:// URL (env PROV_DB; default ./"+DefaultDB+")")
	f.StringVar(&m.Schema, "schema", "", "PostgreSQL schema for Prov's tables (env PROV_SCHEMA; default "+postgres.DefaultSchema+")")
	f.StringVar(&m.Key, "key", "", "the log's private key file (env PROV_KEY; default: the SQLite file's path + .key, or ./prov.key for PostgreSQL)")
	f.BoolVar(&m.JSON, "json", false, "machine-readable JSON output")
	f.IntVar(&m.MaxRecordBytes, "max-record-bytes", prov.DefaultMaxRecordBytes, "refuse records larger than this")
	m.clientFlags(f)
	root.AddCommand(m.initCommand(), m.appendCommand(), m.getCommand(), m.logCommand(), m.checkpointCommand(),
		m.keyCommand(), m.proofCommand(), m.verifyCommand(), m.demoCommand(),
		m.captureCommand(), m.sequenceCommand(), m.runCommand(),
		m.blameCommand(), m.historyCommand(), m.activitiesCommand(), m.findCommand(), m.fixCommand(), m.revertCommand(),
		m.serveCommand(), m.tokenCommand(), m.agentCommand(), m.signCommand())
	root.AddCommand(m.ingestCommand(), m.diffRunsCommand())                                          // OpenLineage
	root.AddCommand(m.lineageCommand(), m.impactCommand(), m.quarantineCommand(), m.exportCommand()) // lineage queries
	return root
}

// isPostgres reports whether dsn names a PostgreSQL database.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// sqlitePath returns the file path of a SQLite dsn.
func sqlitePath(dsn string) string {
	for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
		if s, ok := strings.CutPrefix(dsn, p); ok {
			return s
		}
	}
	return dsn
}

// openStore opens the store named by --db; create allows creating a new one.
func (m *Main) openStore(ctx context.Context, create bool) (prov.Store, error) {
	if isPostgres(m.DB) {
		return postgres.Open(ctx, m.DB, postgres.Options{Schema: m.Schema})
	}
	return sqlite.Open(ctx, sqlitePath(m.DB), sqlite.Options{Create: create})
}

// keyPath returns the path of the log's private key file.
func (m *Main) keyPath() string {
	if m.Key != "" {
		return m.Key
	}
	if isPostgres(m.DB) {
		return "prov.key"
	}
	return sqlitePath(m.DB) + ".key"
}

// openLog opens the store and the log in it. With needKey, the private key
// must be present; otherwise it is loaded if present.
func (m *Main) openLog(ctx context.Context, needKey bool) (*tlog.Log, func(), error) {
	store, err := m.openStore(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	l, _, err := m.openLogIn(ctx, store, needKey)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return l, func() { store.Close() }, nil
}

// openLogIn opens the log kept in an open store; the returned func closes
// nothing (the store belongs to the caller).
func (m *Main) openLogIn(ctx context.Context, store prov.Store, needKey bool) (*tlog.Log, func(), error) {
	var opts tlog.Options
	skey, err := readKeyFile(m.keyPath())
	switch {
	case err == nil:
		if opts.Signer, err = note.NewSigner(skey); err != nil {
			return nil, nil, prov.Errorf(prov.Invalid, "key file %s does not hold a signed-note private key: %v", m.keyPath(), err)
		}
	case needKey || !errors.Is(err, os.ErrNotExist):
		return nil, nil, err
	}
	l, err := tlog.Open(ctx, store, opts)
	if err != nil {
		return nil, nil, err
	}
	l.MaxRecordBytes = m.MaxRecordBytes
	l.AddIndexer(openlineage.Indexer(store)) // lineage records are indexed in their append's transaction
	return l, func() {}, nil
}

// readKeyFile reads a private key file, refusing one that others can read.
func readKeyFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", &prov.Error{Kind: prov.NotFound, Message: fmt.Sprintf("no key file at %s: pass --key (or PROV_KEY), or run 'prov init' to create a log and its key", path), Err: err}
	}
	if err != nil {
		return "", prov.Errorf(prov.Unavailable, "cannot read key file: %v", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", prov.Errorf(prov.Unauthorized, "key file %s is readable by others (mode %04o): run 'chmod 600 %s'", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", prov.Errorf(prov.Unavailable, "cannot read key file: %v", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeKeyFile creates a private key file with mode 0600; it never
// overwrites one.
func writeKeyFile(path, skey string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return prov.Errorf(prov.Conflict, "key file %s exists already: remove it or pass another --key", path)
	}
	if err != nil {
		return prov.Errorf(prov.Unavailable, "cannot create key file: %v", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return prov.Errorf(prov.Unavailable, "cannot write key file: %v", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return prov.Errorf(prov.Unavailable, "cannot write key file: %v", err)
	}
	if err := f.Close(); err != nil {
		return prov.Errorf(prov.Unavailable, "cannot write key file: %v", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	d.Sync()
	return nil
}

// printJSON writes v as indented JSON.
func (m *Main) printJSON(v any) error {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
