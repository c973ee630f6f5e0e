package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
)

// seedCapture captures a users table in l's database and changes it: an
// attributed migration, an attributed request, an unattributed insert,
// all sequenced into the log, then one change left pending. It returns the
// table's name.
func seedCapture(t *testing.T, l *testLog) string {
	t.Helper()
	ctx := context.Background()
	var exec func(attr *prov.Attribution, qs ...string)
	table := "users"
	switch l.backend {
	case "sqlite":
		db, err := sql.Open("sqlite", "file:"+l.args[1]+"?_pragma=busy_timeout(10000)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		exec = func(attr *prov.Attribution, qs ...string) {
			t.Helper()
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if attr != nil {
				qs = append([]string{"INSERT INTO prov_context (ctx) VALUES ('" + attr.Encode() + "')"}, append(qs, "DELETE FROM prov_context")...)
			}
			for _, q := range qs {
				if _, err := tx.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	default:
		dsn := l.args[1]
		app := strings.Replace(l.args[3], "provcli_", "app_", 1)
		table = app + ".users"
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+app+" CASCADE")
			conn.Close(context.Background())
		})
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+app); err != nil {
			t.Fatal(err)
		}
		exec = func(attr *prov.Attribution, qs ...string) {
			t.Helper()
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if attr != nil {
				if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", prov.ContextSetting, attr.Encode()); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range qs {
				if _, err := tx.Exec(ctx, strings.ReplaceAll(q, "users", table)); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	exec(nil, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, photo_url TEXT)",
		"INSERT INTO users VALUES (1, 'ann', 'a.png'), (2, 'bob', 'b.png'), (3, 'cy', 'c.png')")
	if r := l.run(t, "", "capture", "enable", table); r.code != 0 {
		t.Fatalf("capture enable: %s", r.stderr)
	}
	if r := l.run(t, "", "run", "--activity", "migration:0042", "--kind", "migration", "--release", "v1.0", "--reason", "photos to jpg", "--", "true"); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	exec(&prov.Attribution{Activity: "migration:0042", Agent: "svc:migrate"}, "UPDATE users SET photo_url = replace(photo_url, '.png', '.jpg')")
	exec(&prov.Attribution{Activity: "request:7", Agent: "user:bob"}, "UPDATE users SET name = 'Bob <b&b>' WHERE id = 2")
	exec(nil, "INSERT INTO users VALUES (4, 'dee', 'd.png')")
	if r := l.run(t, "", "sequence"); r.code != 0 {
		t.Fatalf("sequence: %s", r.stderr)
	}
	exec(&prov.Attribution{Activity: "request:8", Agent: "user:cy"}, "UPDATE users SET photo_url = 'cy.gif' WHERE id = 3")
	if r := l.run(t, "", "checkpoint"); r.code != 0 {
		t.Fatalf("checkpoint: %s", r.stderr)
	}
	return table
}

// startServerWith is startServer with flags of serve's own.
func startServerWith(t *testing.T, global []string, serveFlags ...string) *server {
	t.Helper()
	args := append(append(append([]string{}, global...), "serve", "--listen", "127.0.0.1:0", "--checkpoint-every", "50ms"), serveFlags...)
	cmd := provCmd(args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, out: bufio.NewReader(stdout), errb: &bytes.Buffer{}}
	cmd.Stderr = s.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := s.out.ReadString('\n')
	if err != nil {
		t.Fatalf("serve did not start: %v\n%s", err, s.errb)
	}
	_, addr, ok := strings.Cut(strings.TrimSpace(line), " on ")
	if !ok {
		t.Fatalf("serve said %q", line)
	}
	s.url = addr
	return s
}

// tokenFile writes a token to a private file and returns its path.
func tokenFile(t *testing.T, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClientModeSameOutput runs every command that has an endpoint in
// direct mode and through a real prov serve over the same store, and
// compares their outputs and exit codes, on both backends.
func TestClientModeSameOutput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		l := newLog(t)
		table := seedCapture(t, l)
		// A signed record (a DSSE envelope) beside the plain ones.
		agentKey := filepath.Join(t.TempDir(), "agent.pem")
		if r := l.run(t, "", "agent", "key", "add", "--agent", "svc:test", "--generate", "--out", agentKey); r.code != 0 {
			t.Fatalf("agent key add: %s", r.stderr)
		}
		if r := l.run(t, sign(t, agentKey, record(7)), "append"); r.code != 0 {
			t.Fatalf("append a signed record: %s", r.stderr)
		}
		// Two OpenLineage runs, to diff.
		const runA, runB = "0195a000-0000-7000-8000-0000000000a1", "0195a000-0000-7000-8000-0000000000b1"
		ol := olEvent(runA, "daily", "START", "2026-03-01T10:00:00Z") + "\n" + olEvent(runA, "daily", "COMPLETE", "2026-03-01T10:05:00Z") + "\n" +
			olEvent(runB, "daily", "START", "2026-03-02T10:00:00Z") + "\n" + olEvent(runB, "daily", "FAIL", "2026-03-02T10:09:00Z") + "\n"
		if r := l.run(t, ol, "ingest", "openlineage"); r.code != 0 {
			t.Fatalf("ingest: %s", r.stderr)
		}
		if r := l.run(t, "", "checkpoint"); r.code != 0 {
			t.Fatalf("checkpoint: %s", r.stderr)
		}
		admin, reader := token(t, l, "admin"), token(t, l, "read")
		vkey := strings.TrimSpace(l.run(t, "", "key").stdout)
		s := startServerWith(t, l.args, "--no-sequencer")
		remote := []string{"--server", s.url, "--token-file", tokenFile(t, admin), "--log-key", vkey}

		same := func(stdin string, args ...string) (direct, client result) {
			t.Helper()
			direct = l.run(t, stdin, args...)
			client = run(t, stdin, append(append([]string{}, remote...), args...)...)
			return direct, client
		}
		check := func(args ...string) {
			t.Helper()
			d, c := same("", args...)
			if d.code != c.code || d.stdout != c.stdout {
				t.Errorf("prov %s:\ndirect: exit %d\n%s%s\nclient: exit %d\n%s%s", strings.Join(args, " "), d.code, d.stdout, d.stderr, c.code, c.stdout, c.stderr)
			}
			if d.code != 0 && d.stderr != c.stderr {
				t.Errorf("prov %s: errors differ:\ndirect: %sclient: %s", strings.Join(args, " "), d.stderr, c.stderr)
			}
		}
		m42 := []string{"find", "--table", table, "--activity", "migration:0042"}
		fix := []string{"fix", "--table", table, "--activity", "migration:0042", "--set", "photo_url = upper(photo_url)", "--reason", "test", "--id", "fix:test"}
		revert := []string{"revert", "--activity", "migration:0042", "--reason", "test", "--id", "revert:test"}
		for _, args := range [][]string{
			{"log"}, {"--json", "log"}, {"log", "--from", "2", "--to", "4"}, {"--json", "log", "--from", "1", "--to", "99"},
			{"log", "--from", "99"}, {"log", "--from", "3", "--to", "1"},
			{"get", "1"}, {"--json", "get", "3"},
			{"key"}, {"--json", "key"},
			{"checkpoint"},
			{"proof", "inclusion", "1"}, {"--json", "proof", "inclusion", "2", "--size", "3"},
			{"--json", "proof", "consistency", "1", "3"}, {"proof", "consistency", "0", "4"},
			{"capture", "status"}, {"--json", "capture", "status"},
			{"blame", table, "2"}, {"--json", "blame", table, "3"},
			{"history", table, "2"}, {"--json", "history", table, "3"},
			{"activities"}, {"--json", "activities"}, {"--json", "activities", "--kind", "migration"},
			m42, append(m42, "--json"), append(m42, "--format", "csv"), append(m42, "--format", "ids"),
			append(m42, "--count"), append(m42, "--count", "--json"),
			{"find", "--table", table, "--column", "photo_url", "--current", "--release", "v1.0"},
			{"find", "--table", table, "--since", "2000-01-01", "--not-activity", "request:7", "--format", "ids"},
			{"find", "--table", table, "--activity", "nobody"},
			fix, append([]string{"--json"}, fix...), revert, append([]string{"--json"}, revert...),
			{"diff-runs", runA, runB}, {"diff-runs", "--all", runA, runB}, {"--json", "diff-runs", runA, runB},
			// Errors: the same message and exit code.
			{"diff-runs", runA, "0195a000-0000-7000-8000-0000000000ff"},
			{"get", "99"}, {"--json", "get", "99"}, {"get", "x"},
			{"blame", table, "99"}, {"history", "nosuch", "1"},
			{"find", "--table", "nosuch"}, {"find", "--table", table, "--since", "bogus"}, {"find", "--table", table, "--format", "xml"},
			{"proof", "inclusion", "99"}, {"activities", "--since", "soon"},
			{"revert", "--activity", "nosuch", "--reason", "x"},
			{"fix", "--table", table, "--set", "name = nope(name)", "--reason", "x", "--apply"},
		} {
			check(args...)
		}
		// --explain prints the SQL to stderr in both modes.
		if d, c := same("", append(m42, "--explain", "--count")...); d.stderr != c.stderr || !strings.Contains(c.stderr, "SELECT") || d.stdout != c.stdout {
			t.Errorf("find --explain:\ndirect: %s %s\nclient: %s %s", d.stdout, d.stderr, c.stdout, c.stderr)
		}
		// checkpoint --json: the same signed note (created and new are
		// the direct mode's, which signs itself).
		var dcp, ccp map[string]any
		d, c := same("", "--json", "checkpoint")
		json.Unmarshal([]byte(d.stdout), &dcp)
		json.Unmarshal([]byte(c.stdout), &ccp)
		for _, k := range []string{"origin", "size", "root", "note"} {
			if ccp[k] == nil || !reflect.DeepEqual(dcp[k], ccp[k]) {
				t.Errorf("checkpoint --json %s: direct %v, client %v", k, dcp[k], ccp[k])
			}
		}
		// verify --json: the same verdict and report.
		saved := filepath.Join(t.TempDir(), "cp")
		os.WriteFile(saved, []byte(dcp["note"].(string)), 0o600)
		for _, args := range [][]string{{"--json", "verify"}, {"--json", "verify", "--checkpoint", saved}, {"--json", "verify", "--live"}} {
			d, c := same("", args...)
			var dv, cv struct {
				OK     bool            `json:"ok"`
				Report json.RawMessage `json:"report"`
				Live   json.RawMessage `json:"live"`
			}
			json.Unmarshal([]byte(d.stdout), &dv)
			json.Unmarshal([]byte(c.stdout), &cv)
			if d.code != 0 || c.code != 0 || !dv.OK || !cv.OK || !bytes.Equal(dv.Report, cv.Report) || !bytes.Equal(dv.Live, cv.Live) {
				t.Errorf("%v:\ndirect: exit %d %s %s\nclient: exit %d %s %s", args, d.code, d.stdout, d.stderr, c.code, c.stdout, c.stderr)
			}
		}
		if r := run(t, "", append(remote, "verify", "--checkpoint", saved)...); r.code != 0 || !strings.Contains(r.stdout, "extends the saved checkpoint") {
			t.Errorf("verify: exit %d %s %s", r.code, r.stdout, r.stderr)
		}

		// Append through the server: event ids make retries harmless.
		in := strings.Replace(record(1), `"type"`, `"id":"ev-1","type"`, 1) + "\n\n" + record(2) + "\n"
		n := int64(dcp["size"].(float64))
		r := run(t, in, append(remote, "--json", "append")...)
		if r.code != 0 || r.stdout != fmt.Sprintf("{\"line\":1,\"index\":%d}\n{\"line\":3,\"index\":%d}\n", n, n+1) {
			t.Fatalf("append: exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		r = run(t, strings.Split(in, "\n")[0]+"\n", append(remote, "--json", "append")...)
		if r.code != 0 || r.stdout != fmt.Sprintf("{\"line\":1,\"index\":%d,\"duplicate\":true}\n", n) {
			t.Errorf("append again: exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		r = run(t, record(3)+"\n{\"type\":\"change\"}\n", append(remote, "append")...)
		rd := l.run(t, record(3)+"\n{\"type\":\"change\"}\n", "append")
		if r.code != exitError || r.stderr != rd.stderr {
			t.Errorf("bad append: exit %d %q, direct %q", r.code, r.stderr, rd.stderr)
		}
		r = run(t, strings.Replace(record(4), `"type"`, `"id":"ev-1","type"`, 1)+"\n", append(remote, "append")...)
		if r.code != exitError || !strings.Contains(r.stderr, "line 1: event id \"ev-1\" is in the log already") {
			t.Errorf("reused event id: exit %d %q", r.code, r.stderr)
		}
		// A signed record through the server; a forged one is refused.
		signed := sign(t, agentKey, record(8))
		if r := run(t, signed, append(remote, "--json", "append")...); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf(`"index":%d`, n+2)) {
			t.Errorf("append a signed record: exit %d %s %s", r.code, r.stdout, r.stderr)
		}
		forged := strings.Replace(sign(t, agentKey, record(9)), `"payload":"`, `"payload":"e`, 1)
		rc, rd := run(t, forged, append(remote, "append")...), l.run(t, forged, "append")
		if rc.code != exitError || rc.code != rd.code || rc.stderr != rd.stderr {
			t.Errorf("a forged envelope: client exit %d %s; direct exit %d %s", rc.code, rc.stderr, rd.code, rd.stderr)
		}
		// OpenLineage events through the server: the same report as directly.
		e1 := olEvent("0195a000-0000-7000-8000-0000000000c1", "x", "START", "2026-03-03T10:00:00Z") + "\n"
		e2 := olEvent("0195a000-0000-7000-8000-0000000000c2", "x", "START", "2026-03-03T11:00:00Z") + "\n"
		for _, c := range []struct{ client, direct string }{{e1, e2}, {e2, e1}, {e1 + strings.Replace(e2, `"name":"x"`, `"name":7`, 1), e2 + strings.Replace(e1, `"name":"x"`, `"name":7`, 1)}} {
			rc, rd := run(t, c.client, append(remote, "ingest", "openlineage")...), l.run(t, c.direct, "ingest", "openlineage")
			if rc.code != rd.code || rc.stdout != rd.stdout || rc.stderr != rd.stderr {
				t.Errorf("ingest openlineage:\nclient: exit %d %s %s\ndirect: exit %d %s %s", rc.code, rc.stdout, rc.stderr, rd.code, rd.stdout, rd.stderr)
			}
		}
		time.Sleep(200 * time.Millisecond) // the server signs a checkpoint
		check("--json", "log", "--from", fmt.Sprint(n-1))

		// Tokens and scopes.
		noToken := []string{"--server", s.url}
		for _, c := range []struct {
			args []string
			code int
			want string
		}{
			{append(noToken, "get", "0"), exitError, "needs a token: give --token-file"},
			{append(noToken, "--json", "get", "0"), exitError, `"kind":"unauthorized"`},
			{[]string{"--server", s.url, "--token", "prov_abc_def", "get", "0"}, exitError, "refused the token"},
			{[]string{"--server", s.url, "--token-file", tokenFile(t, reader), "verify"}, exitError, "needs the scope audit"},
			{[]string{"--server", s.url, "--token-file", tokenFile(t, reader), "revert", "--activity", "a", "--reason", "r"}, exitError, "needs the scope admin"},
			{append(remote, "--db", "x.db", "log"), exitUsage, "drop --db"},
			{append(remote, "init"), exitUsage, "'prov init' works on the database itself: it needs --db"},
			{append(remote, "token", "create", "--name", "x", "--scope", "read"), exitUsage, "needs --db"},
			{append(remote, "sequence"), exitUsage, "needs --db"},
			{append(remote, "serve"), exitUsage, "needs --db"},
			{append(remote, "capture", "enable", "users"), exitUsage, "needs --db"},
			{append(remote, "fix", "--table", table, "--set", "a = 1", "--reason", "r", "--by", "me"), exitUsage, "attributed to your token"},
			{append(remote, "--token", "x", "log"), exitUsage, "--token and --token-file both given"},
			{[]string{"--server", "http://prov.example.com:7470", "log"}, exitUsage, "unencrypted"},
			{append(l.args, "--token", "x", "log"), exitUsage, "--token is for --server"},
			{[]string{"--server", s.url, "--token-file", tokenFile(t, reader), "--log-key", strings.Replace(vkey, "test.example", "other.example", 1), "checkpoint"}, exitUsage, "neither a verifier key"},
		} {
			r := run(t, "", c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, "def") && strings.Contains(c.want, "refused") {
				t.Errorf("%v: exit %d %q; want %d with %q", c.args, r.code, r.stderr, c.code, c.want)
			}
		}
		if r := run(t, record(5)+"\n", "--server", s.url, "--token-file", tokenFile(t, reader), "append"); r.code != exitError || !strings.Contains(r.stderr, "needs the scope ingest") {
			t.Errorf("append with a read token: exit %d %s", r.code, r.stderr)
		}
		// Without --log-key the server's key is trusted on first use, with a
		// warning; with another log's key the checkpoint is refused.
		tofu := []string{"--server", s.url, "--token-file", tokenFile(t, reader)}
		if r := run(t, "", append(tofu, "proof", "inclusion", "1")...); r.code != 0 || !strings.Contains(r.stderr, "trusted on first use") {
			t.Errorf("proof without a log key: exit %d %s", r.code, r.stderr)
		}
		// --key: the log's key file gives the verifier key.
		if l.keyFile != "" {
			if r := run(t, "", "--server", s.url, "--token-file", tokenFile(t, reader), "--key", l.keyFile, "proof", "inclusion", "1"); r.code != 0 || strings.Contains(r.stderr, "trusted on first use") || !strings.Contains(r.stderr, "the log key you gave") {
				t.Errorf("--key in client mode: exit %d %s", r.code, r.stderr)
			}
		}
		// With a place to keep it, the key is remembered, and a server that
		// later states another one is refused.
		known := filepath.Join(t.TempDir(), "prov", "known_logs")
		kenv := map[string]string{"PROV_KNOWN_LOGS": known}
		if r := runEnv(t, kenv, "", append(tofu, "checkpoint")...); r.code != 0 || !strings.Contains(r.stderr, "remembered in "+known) {
			t.Errorf("first use: exit %d %s", r.code, r.stderr)
		}
		if r := runEnv(t, kenv, "", append(tofu, "checkpoint")...); r.code != 0 || r.stderr != "" {
			t.Errorf("second use: exit %d %q", r.code, r.stderr)
		}
		_, otherKey := mustKey(t, "test.example/log")
		os.WriteFile(known, []byte("test.example/log "+otherKey+"\n"), 0o600)
		if r := runEnv(t, kenv, "", append(tofu, "proof", "inclusion", "1")...); r.code != exitTampered || !strings.Contains(r.stderr, "the key trusted on first use is "+otherKey) {
			t.Errorf("a server with another key than the remembered one: exit %d %s", r.code, r.stderr)
		}
		if r := run(t, "", append(tofu, "--log-key", otherKey, "checkpoint")...); r.code != exitTampered || !strings.Contains(r.stderr, "does not verify") {
			t.Errorf("checkpoint with another key: exit %d %s", r.code, r.stderr)
		}
		if r := run(t, "", append(tofu, "--log-key", otherKey, "key")...); r.code != exitTampered || !strings.Contains(r.stderr, "not the log key you gave") {
			t.Errorf("key with another key: exit %d %s", r.code, r.stderr)
		}
		// The environment: PROV_SERVER and PROV_TOKEN; a flag beats it.
		env := map[string]string{"PROV_SERVER": s.url, "PROV_TOKEN": reader, "PROV_LOG_KEY": vkey}
		if r := runEnv(t, env, "", "--json", "key"); r.code != 0 || !strings.Contains(r.stdout, vkey) {
			t.Errorf("client mode from the environment: exit %d %s %s", r.code, r.stdout, r.stderr)
		}
		if r := runEnv(t, env, "", append(l.args, "--json", "key")...); r.code != 0 || !strings.Contains(r.stdout, vkey) {
			t.Errorf("--db beats PROV_SERVER: exit %d %s %s", r.code, r.stdout, r.stderr)
		}
		env["PROV_DB"] = "x.db"
		if r := runEnv(t, env, "", "key"); r.code != exitUsage || !strings.Contains(r.stderr, "PROV_SERVER and PROV_DB are both set") {
			t.Errorf("PROV_SERVER with PROV_DB: exit %d %s", r.code, r.stderr)
		}
	})
}

// runEnv runs prov in-process with an environment.
func runEnv(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code := m.Run(context.Background(), args)
	return result{code, out.String(), errb.String()}
}

// TestClientRejectsTamperedProofs puts a lying proxy in front of a real
// server: the client's own checks catch every lie, exit 3.
func TestClientRejectsTamperedProofs(t *testing.T) {
	l := newSQLiteLog(t)
	for i := range 5 {
		if r := l.run(t, record(i)+"\n", "append"); r.code != 0 {
			t.Fatal(r.stderr)
		}
	}
	tok := token(t, l, "audit")
	vkey := strings.TrimSpace(l.run(t, "", "key").stdout)
	s := startServer(t, l.args...)
	target, _ := url.Parse(s.url)
	var lie func(path string, body []byte) []byte
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest(r.Method, target.String()+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		w.Write(lie(r.URL.Path, body))
	}))
	defer proxy.Close()
	remote := []string{"--server", proxy.URL, "--token-file", tokenFile(t, tok), "--log-key", vkey}
	flipFirstHash := func(field string) func(string, []byte) []byte {
		return func(path string, b []byte) []byte {
			var m map[string]json.RawMessage
			if json.Unmarshal(b, &m) != nil || m[field] == nil {
				return b
			}
			s := string(m[field])
			i := strings.IndexAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
			c := "A"
			if s[i] == 'A' {
				c = "B"
			}
			m[field] = json.RawMessage(s[:i] + c + s[i+1:])
			out, _ := json.Marshal(m)
			return out
		}
	}
	for _, c := range []struct {
		name string
		lie  func(string, []byte) []byte
		args []string
		want string
	}{
		{"inclusion proof hash", flipFirstHash("proof"), []string{"proof", "inclusion", "2"}, "does not verify"},
		{"inclusion root", flipFirstHash("root_hash"), []string{"proof", "inclusion", "2"}, "does not verify"},
		{"consistency proof hash", flipFirstHash("proof"), []string{"proof", "consistency", "2", "5"}, "does not verify"},
		{"consistency old root", flipFirstHash("old_root"), []string{"proof", "consistency", "2", "4"}, ""},
		{"checkpoint size", func(p string, b []byte) []byte { return bytes.Replace(b, []byte("\n5\n"), []byte("\n6\n"), 1) }, []string{"checkpoint"}, "signature does not verify"},
		{"verify report root", func(p string, b []byte) []byte {
			if p != "/api/v1/verify" {
				return b
			}
			var m struct {
				OK     bool           `json:"ok"`
				Report map[string]any `json:"report"`
			}
			json.Unmarshal(b, &m)
			m.Report["root"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
			out, _ := json.Marshal(m)
			return out
		}, []string{"verify"}, "is not the root its signed checkpoint states"},
	} {
		lie = c.lie
		r := run(t, "", append(remote, c.args...)...)
		if r.code != exitTampered || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d %q; want exit %d with %q", c.name, r.code, r.stderr, exitTampered, c.want)
		}
	}
	lie = func(_ string, b []byte) []byte { return b }
	for _, args := range [][]string{{"proof", "inclusion", "2"}, {"proof", "consistency", "2", "5"}, {"checkpoint"}, {"verify"}} {
		if r := run(t, "", append(remote, args...)...); r.code != 0 {
			t.Errorf("%v through an honest proxy: exit %d %s", args, r.code, r.stderr)
		}
	}
}

// TestClientVerifyNamesDamage: a log edited in the database fails verify
// through the server as it does directly: exit 3, the same report.
func TestClientVerifyNamesDamage(t *testing.T) {
	l := newSQLiteLog(t)
	for i := range 5 {
		if r := l.run(t, record(i)+"\n", "append"); r.code != 0 {
			t.Fatal(r.stderr)
		}
	}
	tok := token(t, l, "audit")
	vkey := strings.TrimSpace(l.run(t, "", "key").stdout)
	s := startServer(t, l.args...)
	remote := []string{"--server", s.url, "--token-file", tokenFile(t, tok), "--log-key", vkey}
	l.tamper(t, "UPDATE records SET data = X'"+hex.EncodeToString([]byte(strings.Replace(record(2), "record 2", "record X", 1)))+"' WHERE idx = 2")
	d, c := l.run(t, "", "--json", "verify"), run(t, "", append(remote, "--json", "verify")...)
	var dv, cv struct {
		OK     bool            `json:"ok"`
		Report json.RawMessage `json:"report"`
	}
	json.Unmarshal([]byte(d.stdout), &dv)
	json.Unmarshal([]byte(c.stdout), &cv)
	if d.code != exitTampered || c.code != exitTampered || dv.OK || cv.OK || !bytes.Equal(dv.Report, cv.Report) || !strings.Contains(string(cv.Report), `"edited"`) {
		t.Errorf("verify --json of a damaged log:\ndirect: exit %d %s\nclient: exit %d %s %s", d.code, d.stdout, c.code, c.stdout, c.stderr)
	}
	d, c = l.run(t, "", "verify"), run(t, "", append(remote, "verify")...)
	if c.code != exitTampered || d.stderr != c.stderr {
		t.Errorf("verify of a damaged log:\ndirect: exit %d %s\nclient: exit %d %s", d.code, d.stderr, c.code, c.stderr)
	}
}

func mustKey(t *testing.T, origin string) (skey, vkey string) {
	t.Helper()
	r := run(t, "", "--db", filepath.Join(t.TempDir(), "k.db"), "--json", "init", "--origin", origin)
	var out struct {
		VerifierKey string `json:"verifier_key"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.VerifierKey == "" {
		t.Fatalf("init: %s %s", r.stdout, r.stderr)
	}
	return "", out.VerifierKey
}

// TestClientCommandsExist: every command listed as working through a server
// is a command (a misspelt entry would leave one local without notice).
func TestClientCommandsExist(t *testing.T) {
	m := &Main{Getenv: func(string) string { return "" }}
	root := m.command()
	for path := range clientCommands {
		cmd, rest, err := root.Find(strings.Fields(path)[1:])
		if err != nil || len(rest) > 0 || cmd.CommandPath() != path || cmd.RunE == nil {
			t.Errorf("%q is not a runnable command (%v)", path, err)
		}
	}
}
