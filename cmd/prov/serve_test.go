package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// server is a real prov serve process.
type server struct {
	cmd  *exec.Cmd
	url  string
	out  *bufio.Reader
	errb *bytes.Buffer
}

// startServer runs prov serve with args and waits until it listens.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := provCmd(append(args, "serve", "--listen", "127.0.0.1:0", "--checkpoint-every", "50ms")...)
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

func (s *server) do(t *testing.T, method, path, token string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func token(t *testing.T, l *testLog, scopes ...string) string {
	t.Helper()
	args := []string{"token", "create", "--name", "test " + strings.Join(scopes, "+")}
	for _, s := range scopes {
		args = append(args, "--scope", s)
	}
	r := l.run(t, "", args...)
	if r.code != 0 {
		t.Fatalf("token create: %s", r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func TestServe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		l := newLog(t)
		admin, reader, ingest := token(t, l, "admin"), token(t, l, "read"), token(t, l, "ingest")
		s := startServer(t, append(l.args, "--max-body-bytes", "8000")...)

		if code, body, _ := s.do(t, "GET", "/healthz", "", nil); code != 200 || !strings.Contains(string(body), `"status":"ok"`) {
			t.Errorf("healthz: %d %s", code, body)
		}
		if code, body, _ := s.do(t, "GET", "/openapi.json", "", nil); code != 200 || !json.Valid(body) || !strings.Contains(string(body), `"openapi": "3.1`) {
			t.Errorf("openapi: %d %.100s", code, body)
		}
		// Append: a JSON array, then JSON Lines with a retry of an event.
		batch := fmt.Sprintf("[%s,%s]", record(1), strings.Replace(record(2), `"type":"change"`, `"type":"change","id":"ev-2"`, 1))
		code, body, _ := s.do(t, "POST", "/api/v1/records", ingest, []byte(batch))
		if code != 200 || string(body) != `{"records":[{"index":0},{"index":1}]}`+"\n" {
			t.Fatalf("append: %d %s", code, body)
		}
		retry := strings.Replace(record(2), `"type":"change"`, `"type":"change","id":"ev-2"`, 1) + "\n" + record(3) + "\n"
		code, body, _ = s.do(t, "POST", "/api/v1/records", ingest, []byte(retry))
		if code != 200 || string(body) != `{"records":[{"index":1,"duplicate":true},{"index":2}]}`+"\n" {
			t.Errorf("retry: %d %s", code, body)
		}
		// Bad input: a problem document, nothing appended.
		for _, c := range []struct {
			name, token, body string
			status            int
			detail            string
		}{
			{"no token", "", record(4), 401, "no bearer token"},
			{"bad token", "prov_abc_def", record(4), 401, "not valid"},
			{"wrong scope", reader, record(4), 403, "needs the scope ingest"},
			{"bad record on line 2", ingest, record(4) + "\n{\"type\":\"change\"}\n", 400, ""},
			{"unknown field", ingest, strings.Replace(record(4), `"reason"`, `"reasons"`, 1), 400, "reasons"},
			{"oversize body", ingest, strings.Repeat(record(4)+"\n", 100), 413, "over the limit"},
			{"not JSON", ingest, "hello", 400, ""},
			{"reused event id", ingest, strings.Replace(record(9), `"type":"change"`, `"type":"change","id":"ev-2"`, 1), 409, "ev-2"},
		} {
			code, body, hdr := s.do(t, "POST", "/api/v1/records", c.token, []byte(c.body))
			var p struct {
				Status int
				Detail string
				Line   int
			}
			if code != c.status || hdr.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Status != c.status || !strings.Contains(p.Detail, c.detail) {
				t.Errorf("%s: %d %s %s", c.name, code, hdr.Get("Content-Type"), body)
			}
			if c.name == "bad record on line 2" && p.Line != 2 {
				t.Errorf("bad record: line %d, want 2", p.Line)
			}
		}
		// Reads: exact bytes, the log, a signed checkpoint, a proof.
		if code, body, _ := s.do(t, "GET", "/api/v1/records/2", reader, nil); code != 200 || string(body) != record(3) {
			t.Errorf("get: %d %s", code, body)
		}
		if code, body, _ := s.do(t, "GET", "/api/v1/records?from=1", reader, nil); code != 200 || strings.Count(string(body), "\n") != 2 {
			t.Errorf("log: %d %s", code, body)
		}
		if code, _, _ := s.do(t, "GET", "/api/v1/records/99", reader, nil); code != 404 {
			t.Errorf("get beyond the log: %d", code)
		}
		time.Sleep(200 * time.Millisecond) // a checkpoint is signed
		code, body, _ = s.do(t, "GET", "/api/v1/checkpoint", reader, nil)
		vkey := strings.TrimSpace(l.run(t, "", "key").stdout)
		v, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := note.Open(body, note.VerifierList(v)); code != 200 || err != nil || !strings.Contains(n.Text, "\n3\n") {
			t.Errorf("checkpoint: %d %v %s", code, err, body)
		}
		if code, body, _ := s.do(t, "GET", "/api/v1/proofs/inclusion?index=1&size=3", reader, nil); code != 200 || !strings.Contains(string(body), `"tree_size":3`) {
			t.Errorf("inclusion: %d %s", code, body)
		}
		if code, _, _ := s.do(t, "GET", "/api/v1/proofs/inclusion?index=x", reader, nil); code != 400 {
			t.Errorf("inclusion with a bad index: %d", code)
		}
		if code, body, _ := s.do(t, "POST", "/api/v1/verify", admin, nil); code != 200 || !strings.Contains(string(body), `"ok":true`) {
			t.Errorf("verify: %d %s", code, body)
		}
		if code, _, _ := s.do(t, "POST", "/api/v1/verify", reader, nil); code != 403 {
			t.Errorf("verify with a read token: %d", code)
		}
		if code, body, _ := s.do(t, "GET", "/metrics", "", nil); code != 200 || !strings.Contains(string(body), "prov_ingested_records_total 3") || !strings.Contains(string(body), `prov_auth_failures_total{endpoint="append"} 3`) {
			t.Errorf("metrics: %d %s", code, body)
		}
		// A revoked token stops working (after the cache's 2 s at most).
		id := strings.Split(ingest, "_")[1]
		if r := l.run(t, "", "token", "revoke", id); r.code != 0 {
			t.Fatal(r.stderr)
		}
		time.Sleep(2100 * time.Millisecond)
		if code, body, _ := s.do(t, "POST", "/api/v1/records", ingest, []byte(record(5))); code != 401 || !strings.Contains(string(body), "revoked") {
			t.Errorf("revoked token: %d %s", code, body)
		}
		// Graceful stop.
		s.cmd.Process.Signal(syscall.SIGTERM)
		if err := s.cmd.Wait(); err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, s.errb)
		}
		if r := l.run(t, "", "verify"); r.code != 0 {
			t.Errorf("verify after the server: %s", r.stderr)
		}
	})
}

func TestServeRefusesAnOpenAddressWithoutTLS(t *testing.T) {
	l := newSQLiteLog(t)
	r := l.run(t, "", "serve", "--listen", "0.0.0.0:0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "not a loopback address") {
		t.Errorf("serve on 0.0.0.0: %d %s", r.code, r.stderr)
	}
}

func TestServeInvestigation(t *testing.T) {
	dir := t.TempDir()
	if r := run(t, "", "demo", "--dir", dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	l := &testLog{args: []string{"--db", filepath.Join(dir, "app.db")}}
	admin, reader := token(t, l, "admin"), token(t, l, "read")
	s := startServer(t, l.args...)
	for _, c := range []struct {
		method, path, token, body string
		status                    int
		want                      string
	}{
		{"GET", "/api/v1/find?table=users&activity=migration:0042&format=ids", reader, "", 200, "1\n2\n3\n4\n5\n"},
		{"GET", "/api/v1/find?table=users&activity=migration:0042&count=true", reader, "", 200, `{"count":5}`},
		{"GET", "/api/v1/find?table=users&column=photo_url&release=v1.0&current=true", reader, "", 200, ""},
		{"GET", "/api/v1/find?table=userz", reader, "", 404, "did you mean"},
		{"GET", "/api/v1/find?table=users&releases=v1.0", reader, "", 400, "unknown parameter"},
		{"GET", "/api/v1/blame/users/6", reader, "", 200, `"id":"fix:APP-1250"`},
		{"GET", "/api/v1/history/users/2", reader, "", 200, `"request:upload-91"`},
		{"GET", "/api/v1/activities?kind=migration", reader, "", 200, `"migration:0043"`},
		{"GET", "/api/v1/capture/status", reader, "", 200, `"tables"`},
		{"POST", "/api/v1/revert", reader, `{"activity":"migration:0042","reason":"x"}`, 403, "admin"},
		{"POST", "/api/v1/revert", admin, `{"activity":"migration:0042","reason":"x"}`, 200, `"conflicts"`},
		{"POST", "/api/v1/fix", admin, `{"filter":{"table":"users","activity":"migration:0043"},"set":["name = upper(name)"],"reason":"test"}`, 200, `"changed":4`},
		{"POST", "/api/v1/fix", admin, `{"filter":{"table":"users"},"set":["name = nope(name)"],"reason":"test","apply":true}`, 400, "nothing was changed"},
		{"POST", "/api/v1/fix", admin, `{"filters":{}}`, 400, "filters"},
	} {
		code, body, _ := s.do(t, c.method, c.path, c.token, []byte(c.body))
		if code != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %s: %d %s (want %d with %q)", c.method, c.path, code, body, c.status, c.want)
		}
	}
}

// TestServeCrash kills the server with SIGKILL while clients append, many
// times, and checks that every acknowledged record is in the log at the index
// it was acknowledged with, and that the log verifies.
func TestServeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash trials are slow")
	}
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		l := newLog(t)
		tok := token(t, l, "ingest")
		acked := map[string]int64{}
		for trial := range 6 {
			s := startServer(t, l.args...)
			var mu sync.Mutex
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for c := range 4 {
				wg.Go(func() {
					client := &http.Client{Timeout: 5 * time.Second}
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						id := fmt.Sprintf("t%d-c%d-%d", trial, c, i)
						var lines []string
						n := 1 + rand.IntN(20)
						for j := range n {
							lines = append(lines, strings.Replace(record(i), `"type":"change"`, fmt.Sprintf(`"type":"change","id":"%s-%d"`, id, j), 1))
						}
						req, _ := http.NewRequest("POST", s.url+"/api/v1/records", strings.NewReader(strings.Join(lines, "\n")))
						req.Header.Set("Authorization", "Bearer "+tok)
						resp, err := client.Do(req)
						if err != nil {
							return // the server is gone
						}
						var out struct{ Records []struct{ Index int64 } }
						err = json.NewDecoder(resp.Body).Decode(&out)
						resp.Body.Close()
						if err != nil || resp.StatusCode != 200 {
							return
						}
						mu.Lock()
						for j, r := range out.Records {
							acked[fmt.Sprintf("%s-%d", id, j)] = r.Index
						}
						mu.Unlock()
					}
				})
			}
			time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond)
			s.cmd.Process.Kill()
			close(stop)
			wg.Wait()
			s.cmd.Wait()
		}
		if len(acked) == 0 {
			t.Fatal("no append was acknowledged")
		}
		// Every acknowledged record is where it was acknowledged.
		r := l.run(t, "", "log", "--json")
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		found := map[string]int64{}
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		for dec.More() {
			var e struct {
				Index  int64
				Record struct{ ID string }
			}
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("log --json: %v", err)
			}
			found[e.Record.ID] = e.Index
		}
		for id, idx := range acked {
			if got, ok := found[id]; !ok || got != idx {
				t.Fatalf("acknowledged record %s at %d: found at %d (%v)", id, idx, got, ok)
			}
		}
		if r := l.run(t, "", "verify"); r.code != 0 {
			t.Errorf("verify after the crashes: %s", r.stderr)
		}
		t.Logf("%d acknowledged records survived 6 SIGKILLs", len(acked))
	})
}

// TestServeCutsOffSlowClients: a client that sends its headers slowly
// (slowloris) is disconnected after the header timeout, and the server
// keeps serving others.
func TestServeCutsOffSlowClients(t *testing.T) {
	l := newSQLiteLog(t)
	s := startServer(t, append(l.args, "--header-timeout", "300ms")...)
	addr := strings.TrimPrefix(s.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 1024)
		for {
			if _, err := conn.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	for i := 0; i < 20; i++ { // a header byte every 100 ms
		select {
		case d := <-closed:
			if d > 2*time.Second {
				t.Errorf("the slow client was cut off only after %v", d)
			}
			if code, _, _ := s.do(t, "GET", "/healthz", "", nil); code != 200 {
				t.Errorf("healthz after a slow client: %d", code)
			}
			return
		case <-time.After(100 * time.Millisecond):
			conn.Write([]byte("X"))
		}
	}
	t.Error("a client sending one header byte every 100 ms was never cut off")
}

// TestServeTLS serves over TLS with a certificate the test makes.
func TestServeTLS(t *testing.T) {
	l := newSQLiteLog(t)
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	s := startServer(t, append(l.args, "--tls-cert", certFile, "--tls-key", keyFile)...)
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("served on %s", s.url)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz over TLS: %d", resp.StatusCode)
	}
	if r := l.run(t, "", "serve", "--tls-cert", certFile); r.code != exitUsage || !strings.Contains(r.stderr, "go together") {
		t.Errorf("--tls-cert alone: %d %s", r.code, r.stderr)
	}
}
