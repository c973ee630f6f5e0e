package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/storetest"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// TestMain lets the test binary act as the prov command, so that crash tests
// can run and kill a real process without building one.
func TestMain(m *testing.M) {
	if os.Getenv("PROV_TEST_AS_PROV") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// provCmd returns a command that runs this test binary as prov.
func provCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PROV_TEST_AS_PROV=1")
	return cmd
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs prov in-process with the given stdin.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := m.Run(context.Background(), args)
	return result{code, out.String(), errb.String()}
}

const sample = `{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"migration:0042","kind":"migration","release":"v1.0"},"agent":{"id":"svc:api"},"generated":[{"id":"pg:app/public.users/{\"id\":42}","op":"update"}],"reason":"bad photo URL migration"}`

func record(i int) string {
	return fmt.Sprintf(`{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d","kind":"job"},"agent":{"id":"svc:test"},"generated":[{"id":"file:/data/%d","op":"write"}],"reason":"record %d"}`, i, i, i)
}

// testLog is an initialised log on one backend, and how to reach it.
type testLog struct {
	backend string
	args    []string // --db and friends
	keyFile string
	tamper  func(t *testing.T, query string)
}

// run runs prov against the log.
func (l *testLog) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return run(t, stdin, append(append([]string{}, l.args...), args...)...)
}

// cmd returns a command running this test binary as prov against the log.
func (l *testLog) cmd(args ...string) *exec.Cmd {
	return provCmd(append(append([]string{}, l.args...), args...)...)
}

// forEachBackend runs f on a fresh log on SQLite and one on PostgreSQL.
// PostgreSQL needs PROV_TEST_POSTGRES; without it that subtest is skipped,
// unless PROV_REQUIRE_SERVICES=1 (CI), which makes it fail.
func forEachBackend(t *testing.T, f func(t *testing.T, newLog func(t *testing.T) *testLog)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newSQLiteLog) })
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		f(t, func(t *testing.T) *testLog { return newPostgresLog(t, dsn) })
	})
}

func newSQLiteLog(t *testing.T) *testLog {
	t.Helper()
	db := filepath.Join(t.TempDir(), "prov.db")
	l := &testLog{backend: "sqlite", args: []string{"--db", db}, keyFile: db + ".key"}
	l.tamper = func(t *testing.T, query string) {
		t.Helper()
		s, err := sqlite.Open(context.Background(), db, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.DB().Exec(query); err != nil {
			t.Fatal(err)
		}
	}
	l.init(t)
	return l
}

func newPostgresLog(t *testing.T, dsn string) *testLog {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "provcli_" + hex.EncodeToString(b)
	keyFile := filepath.Join(t.TempDir(), "prov.key")
	exec := func(t *testing.T, query string) {
		t.Helper()
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "SET search_path TO "+schema+"; "+query); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { exec(t, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	l := &testLog{backend: "postgres", args: []string{"--db", dsn, "--schema", schema, "--key", keyFile}, keyFile: keyFile, tamper: exec}
	l.init(t)
	return l
}

func (l *testLog) init(t *testing.T) {
	t.Helper()
	if r := l.run(t, "", "init", "--origin", "test.example/log"); r.code != 0 {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
}

func TestInitCreatesPrivateKeyFile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(*testing.T) *testLog) {
		testInitCreatesPrivateKeyFile(t, newLog(t))
	})
}

func testInitCreatesPrivateKeyFile(t *testing.T, db *testLog) {
	fi, err := os.Stat(db.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", perm)
	}
	skey, _ := os.ReadFile(db.keyFile)
	if db.backend == "sqlite" {
		b, _ := os.ReadFile(db.args[1])
		if bytes.Contains(b, bytes.TrimSpace(skey)) {
			t.Error("the private key is inside the database")
		}
	}
	r := db.run(t, "", "init", "--origin", "test.example/log")
	if r.code == 0 || !strings.Contains(r.stderr, "exists already") {
		t.Errorf("second init: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
	r = db.run(t, "", "key")
	want, _ := tlog.VerifierKey(strings.TrimSpace(string(skey)))
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Errorf("key = %q (exit %d), want %q", r.stdout, r.code, want)
	}
	if _, err := note.NewVerifier(strings.TrimSpace(r.stdout)); err != nil {
		t.Errorf("key output is not a verifier key: %v", err)
	}
}

func TestCommandsNeedAnInitialisedStore(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	r := run(t, sample, "--db", db, "append")
	if r.code != exitError || !strings.Contains(r.stderr, "prov init") {
		t.Errorf("append to a missing store: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("append created a store")
	}
}

func TestAppendGetExactBytes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(*testing.T) *testLog) { testAppendGetExactBytes(t, newLog) })
}

func testAppendGetExactBytes(t *testing.T, newLog func(*testing.T) *testLog) {
	db := newLog(t)
	in := sample + "\n\n  " + record(1) + "  \r\n" + record(2)
	r := db.run(t, in, "append")
	if r.code != 0 {
		t.Fatalf("append: exit %d: %s", r.code, r.stderr)
	}
	if got, want := r.stdout, "0\n1\n2\n"; got != want {
		t.Errorf("append printed %q, want %q", got, want)
	}
	for i, want := range []string{sample, record(1), record(2)} {
		r := db.run(t, "", "get", fmt.Sprint(i))
		if r.stdout != want+"\n" {
			t.Errorf("get %d = %q, want %q", i, r.stdout, want)
		}
	}
	r = db.run(t, "", "--json", "append", "-")
	if r.code == 0 {
		t.Error("empty input accepted")
	}
	r = db.run(t, record(3)+"\n", "--json", "append")
	if strings.TrimSpace(r.stdout) != `{"line":1,"index":3}` {
		t.Errorf("append --json = %q", r.stdout)
	}
	r = db.run(t, "", "get", "99")
	if r.code != exitError || !strings.Contains(r.stderr, "no record at index 99") {
		t.Errorf("get 99: exit %d, %q", r.code, r.stderr)
	}
}

func TestAppendIsAtomicAndNamesTheBadLine(t *testing.T) {
	long := `{"type":"change","time":"2026-01-02T03:04:05Z","generated":[{"id":"x"}],"reason":"` + strings.Repeat("x", 2000) + `"}`
	cases := []struct {
		name, bad, want string
		args            []string
	}{
		{"malformed JSON", `{"type":"change",`, "malformed JSON", nil},
		{"unknown field", `{"type":"change","time":"2026-01-02T03:04:05Z","generated":[{"id":"x"}],"colour":"red"}`, `unknown field "colour"`, nil},
		{"unknown field in activity", `{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","colour":"red"}}`, `unknown field "activity.colour"`, nil},
		{"wrong type", `{"type":"change","time":"2026-01-02T03:04:05Z","generated":"x"}`, `field "generated": want an array`, nil},
		{"time without zone", `{"type":"change","time":"2026-01-02T03:04:05","generated":[{"id":"x"}]}`, "RFC 3339", nil},
		{"not an object", `[1,2]`, "must be a JSON object", nil},
		{"oversize", long, "over the limit of 1000 bytes", []string{"--max-record-bytes", "1000"}},
	}
	forEachBackend(t, func(t *testing.T, newLog func(*testing.T) *testLog) {
		db := newLog(t)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := record(1) + "\n" + record(2) + "\n" + c.bad + "\n" + record(4) + "\n"
				r := db.run(t, in, append(c.args, "append")...)
				if r.code != exitError {
					t.Fatalf("exit %d, want %d; stderr %q", r.code, exitError, r.stderr)
				}
				if !strings.Contains(r.stderr, "line 3:") || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "nothing was appended") {
					t.Errorf("stderr %q; want line 3, %q and that nothing was appended", r.stderr, c.want)
				}
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
				if r := db.run(t, "", "--json", "log"); r.stdout != "" {
					t.Errorf("log after a refused append: %q", r.stdout)
				}
			})
		}
	})
}

func TestProofsAcceptedByIndependentVerifier(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(*testing.T) *testLog) {
		testProofsAcceptedByIndependentVerifier(t, newLog)
	})
}

func testProofsAcceptedByIndependentVerifier(t *testing.T, newLog func(*testing.T) *testLog) {
	db := newLog(t)
	var in strings.Builder
	for i := range 21 {
		in.WriteString(record(i) + "\n")
	}
	if r := db.run(t, in.String(), "append"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := db.run(t, "", "checkpoint")
	vkey := strings.TrimSpace(db.run(t, "", "key").stdout)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(r.stdout), note.VerifierList(v))
	if err != nil {
		t.Fatalf("x/mod note.Open refuses prov's checkpoint: %v\n%s", err, r.stdout)
	}
	lines := strings.Split(n.Text, "\n")
	if lines[0] != "test.example/log" || lines[1] != "21" {
		t.Errorf("checkpoint text %q", n.Text)
	}
	root, err := sumdb.ParseHash(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []int{0, 7, 20} {
		r := db.run(t, "", "--json", "proof", "inclusion", fmt.Sprint(idx))
		var p struct {
			Index    int64    `json:"index"`
			TreeSize int64    `json:"tree_size"`
			LeafHash []byte   `json:"leaf_hash"`
			RootHash []byte   `json:"root_hash"`
			Proof    [][]byte `json:"proof"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
			t.Fatalf("proof inclusion --json: %v: %q", err, r.stdout)
		}
		rp := make(sumdb.RecordProof, len(p.Proof))
		for i := range p.Proof {
			copy(rp[i][:], p.Proof[i])
		}
		data := db.run(t, "", "get", fmt.Sprint(idx)).stdout
		leaf := sumdb.RecordHash([]byte(strings.TrimSuffix(data, "\n")))
		if !bytes.Equal(leaf[:], p.LeafHash) || p.TreeSize != 21 || !bytes.Equal(p.RootHash, root[:]) {
			t.Errorf("proof %d: leaf/size/root do not match the record and the checkpoint", idx)
		}
		if err := sumdb.CheckRecord(rp, 21, root, int64(idx), leaf); err != nil {
			t.Errorf("x/mod tlog refuses inclusion proof %d: %v", idx, err)
		}
	}
	r = db.run(t, "", "--json", "proof", "consistency", "5", "21")
	var cp struct {
		OldSize int64    `json:"old_size"`
		NewSize int64    `json:"new_size"`
		OldRoot []byte   `json:"old_root"`
		Proof   [][]byte `json:"proof"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cp); err != nil || cp.OldSize != 5 || cp.NewSize != 21 {
		t.Fatalf("proof consistency --json: %v: %q", err, r.stdout)
	}
	tp := make(sumdb.TreeProof, len(cp.Proof))
	for i := range cp.Proof {
		copy(tp[i][:], cp.Proof[i])
	}
	var old sumdb.Hash
	copy(old[:], cp.OldRoot)
	if err := sumdb.CheckTree(tp, 21, root, 5, old); err != nil {
		t.Errorf("x/mod tlog refuses the consistency proof: %v", err)
	}
	for _, args := range [][]string{{"proof", "inclusion", "21"}, {"proof", "inclusion", "3", "--size", "3"}, {"proof", "consistency", "9", "5"}, {"proof", "inclusion", "-1"}} {
		if r := db.run(t, "", args...); r.code == 0 {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestVerifyNamesTamperingAndSavedCheckpoint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(*testing.T) *testLog) {
		testVerifyNamesTamperingAndSavedCheckpoint(t, newLog)
	})
}

func testVerifyNamesTamperingAndSavedCheckpoint(t *testing.T, newLog func(*testing.T) *testLog) {
	db := newLog(t)
	var in strings.Builder
	for i := range 10 {
		in.WriteString(record(i) + "\n")
	}
	db.run(t, in.String(), "append")
	saved := filepath.Join(t.TempDir(), "cp")
	os.WriteFile(saved, []byte(db.run(t, "", "checkpoint").stdout), 0o644)
	if r := db.run(t, "", "verify", "--checkpoint", saved); r.code != 0 || !strings.HasPrefix(r.stdout, "ok:") {
		t.Fatalf("verify of an intact log: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	// An auditor with only the verifier key and no key file.
	vkey := strings.TrimSpace(db.run(t, "", "key").stdout)
	if r := db.run(t, "", "--key", "/nonexistent", "verify", "--verifier", vkey); r.code != 0 {
		t.Fatalf("verify --verifier: exit %d: %s", r.code, r.stderr)
	}
	// A forged checkpoint from another key is refused.
	other := newLog(t)
	forged := filepath.Join(t.TempDir(), "forged")
	os.WriteFile(forged, []byte(other.run(t, "", "checkpoint").stdout), 0o644)
	if r := db.run(t, "", "verify", "--checkpoint", forged); r.code != exitTampered {
		t.Errorf("verify with another log's checkpoint: exit %d: %s", r.code, r.stderr)
	}

	db.tamper(t, "DELETE FROM records WHERE idx >= 8")
	r := db.run(t, "", "--json", "verify", "--checkpoint", saved)
	var out struct {
		OK     bool `json:"ok"`
		Report struct {
			Problem struct {
				Index int64  `json:"index"`
				What  string `json:"what"`
			} `json:"problem"`
		} `json:"report"`
	}
	json.Unmarshal([]byte(r.stdout), &out)
	if r.code != exitTampered || out.OK || out.Report.Problem.What != "truncated" || out.Report.Problem.Index != 8 {
		t.Errorf("truncated log: exit %d, %s", r.code, r.stdout)
	}
}
