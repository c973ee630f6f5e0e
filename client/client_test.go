package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/auth"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/client"
	"github.com/prov-dev/prov/httpapi"
	"github.com/prov-dev/prov/investigate"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

// fixture is a real API (package httpapi) over a SQLite log, in process.
type fixture struct {
	url         string
	log         *tlog.Log
	verifier    note.Verifier
	admin, read string
	// tamper, if set, may rewrite an answer's body before it is sent.
	tamper func(r *http.Request, body []byte) []byte
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	skey, vkey, _ := tlog.GenerateKey("test.example/client")
	if err := tlog.Init(ctx, st, "test.example/client", vkey); err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	l, err := tlog.Open(ctx, st, tlog.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := auth.New(st)
	admin, _, _ := toks.Create(ctx, "admin", []string{auth.Admin})
	read, _, _ := toks.Create(ctx, "read", []string{auth.Read})
	capt := capture.NewSQLite(st)
	iv, _ := investigate.New(capt)
	api := httpapi.New(httpapi.Config{Log: l, Tokens: toks, Capture: capt, Investigator: iv})
	v, _ := note.NewVerifier(vkey)
	f := &fixture{log: l, verifier: v, admin: admin, read: read}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.tamper == nil {
			api.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		body := f.tamper(r, rec.Body.Bytes())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fixture) client(t testing.TB, token string) *client.Client {
	t.Helper()
	c, err := client.New(f.url, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Backoff = time.Millisecond
	return c
}

func record(i int, id string) []byte {
	idField := ""
	if id != "" {
		idField = fmt.Sprintf(`"id":%q,`, id)
	}
	return fmt.Appendf(nil, `{%s"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d","kind":"job"},"agent":{"id":"svc:test"},"generated":[{"id":"file:/data/%d","op":"write"}],"reason":"record %d"}`, idField, i, i, i)
}

// fill appends n records and signs a checkpoint.
func (f *fixture) fill(t testing.TB, n int) {
	t.Helper()
	var recs [][]byte
	for i := range n {
		recs = append(recs, record(i, ""))
	}
	if _, err := f.log.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.log.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesUnsafeURLs(t *testing.T) {
	for _, c := range []struct {
		url  string
		opts []client.Option
		want string // "" : accepted
	}{
		{"https://prov.example.com:7470", nil, ""},
		{"http://127.0.0.1:7470", nil, ""},
		{"http://localhost:7470/", nil, ""},
		{"http://[::1]:7470", nil, ""},
		{"http://prov.example.com:7470", nil, "unencrypted"},
		{"http://10.0.0.1:7470", nil, "unencrypted"},
		{"http://prov.example.com:7470", []client.Option{client.Insecure()}, ""},
		{"https://user:hunter2@prov.example.com", nil, "credentials"},
		{"ftp://prov.example.com", nil, "not an http"},
		{"prov.example.com:7470", nil, "not an http"},
		{"https://prov.example.com/?token=x", nil, "query"},
	} {
		_, err := client.New(c.url, "prov_a_b", nil, c.opts...)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !prov.IsKind(err, prov.Invalid)):
			t.Errorf("%s: got %v, want an Invalid error with %q", c.url, err, c.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%s: the error shows the password: %v", c.url, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.client(t, f.admin)
	res, err := admin.Append(ctx, [][]byte{record(0, "ev-0"), record(1, "")})
	if err != nil || len(res) != 2 || res[0].Index != 0 || res[1].Index != 1 {
		t.Fatalf("append: %v %v", res, err)
	}
	res, err = admin.Append(ctx, [][]byte{record(0, "ev-0"), record(2, "")})
	if err != nil || !res[0].Duplicate || res[0].Index != 0 || res[1].Index != 2 {
		t.Fatalf("append with a retried event: %v %v", res, err)
	}
	// A record that spans lines is stored with its bytes exactly.
	pretty := bytes.Replace(record(9, "ev-9"), []byte(`,"agent"`), []byte(",\n  \"agent\""), 1)
	if res, err := admin.Append(ctx, [][]byte{record(8, ""), pretty}); err != nil || res[1].Index != 4 {
		t.Fatalf("append of a record over two lines: %v %v", res, err)
	} else if e, err := f.log.Get(ctx, 4); err != nil || !bytes.Equal(e.Data, pretty) {
		t.Errorf("stored %q, want %q (%v)", e.Data, pretty, err)
	}
	// A record is refused with its position; nothing is appended.
	_, err = admin.Append(ctx, [][]byte{record(3, ""), []byte(`{"type":"change"}`)})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Status != 400 || !prov.IsKind(err, prov.Invalid) {
		t.Errorf("bad record: %#v", err)
	}
	if _, _, err := f.log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	read := f.client(t, f.read)
	if b, err := read.Get(ctx, 1); err != nil || !bytes.Equal(b, record(1, "")) {
		t.Errorf("get: %s %v", b, err)
	}
	var got []int64
	err = read.Entries(ctx, 1, -1, func(i int64, rec []byte) error {
		got = append(got, i)
		// Listings put each record on one line: the record over two lines
		// (4) is listed compacted; get returns its stored bytes.
		if want, _ := f.log.Get(ctx, i); !bytes.Equal(rec, prov.OneLine(want.Data)) || bytes.ContainsAny(rec, "\r\n") {
			t.Errorf("entry %d: %s, want %s", i, rec, prov.OneLine(want.Data))
		}
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[1 2 3 4]" {
		t.Errorf("entries: %v %v", got, err)
	}
	v, k, err := read.ServerKey(ctx)
	if err != nil || k.Origin != "test.example/client" || v.KeyHash() != f.verifier.KeyHash() {
		t.Fatalf("key: %v %v", k, err)
	}
	cp, err := read.VerifiedCheckpoint(ctx, v)
	if err != nil || cp.Size != 5 {
		t.Fatalf("checkpoint: %v %v", cp, err)
	}
	for size := int64(0); size <= 5; size++ {
		for i := range max(size, 1) {
			if size > 0 && i >= size {
				continue
			}
			if _, _, err := read.ProveInclusion(ctx, v, i, size); err != nil {
				t.Errorf("inclusion of %d in %d: %v", i, size, err)
			}
		}
		if _, _, err := read.ProveConsistency(ctx, v, size, 5); err != nil {
			t.Errorf("consistency %d→5: %v", size, err)
		}
	}
	vr, err := admin.Verify(ctx, client.VerifyRequest{Checkpoint: cp.Note})
	if err != nil || !vr.OK || vr.Report.Size != 5 || vr.Report.Saved == nil {
		t.Errorf("verify: %+v %v", vr, err)
	}
	var st capture.Status
	if err := read.CaptureStatus(ctx, &st); err != nil {
		t.Errorf("capture status: %+v %v", st, err)
	}
	// find: an unknown table is NotFound, a bad filter Invalid.
	if _, err := read.FindCount(ctx, client.Filter{Table: "users"}); !prov.IsKind(err, prov.NotFound) {
		t.Errorf("find on an uncaptured table: %v", err)
	}
	if _, err := read.FindCount(ctx, client.Filter{Table: "users", Since: "last tuesday"}); !prov.IsKind(err, prov.Invalid) {
		t.Errorf("find with a bad time: %v", err)
	}
	var rep investigate.Repair
	if err := read.Fix(ctx, client.FixRequest{Filter: client.Filter{Table: "users"}, Set: []string{"a = 1"}, Reason: "x"}, &rep); !prov.IsKind(err, prov.Unauthorized) || !strings.Contains(err.Error(), "admin") {
		t.Errorf("fix with a read token: %v", err)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.fill(t, 2)
	const secret = "prov_abcdefgh_SECRETSECRETSECRET"
	for _, c := range []struct {
		name   string
		token  string
		call   func(*client.Client) error
		status int
		kind   prov.Kind
		detail string
	}{
		{"no token", "", func(c *client.Client) error { _, err := c.Get(ctx, 0); return err }, 401, prov.Unauthorized, "no bearer token"},
		{"bad token", secret, func(c *client.Client) error { _, err := c.Get(ctx, 0); return err }, 401, prov.Unauthorized, "not valid"},
		{"wrong scope", f.read, func(c *client.Client) error { _, err := c.Verify(ctx, client.VerifyRequest{}); return err }, 403, prov.Unauthorized, "needs the scope audit"},
		{"unknown index", f.read, func(c *client.Client) error { _, err := c.Get(ctx, 99); return err }, 404, prov.NotFound, "99"},
		{"bad proof size", f.read, func(c *client.Client) error { _, err := c.InclusionProof(ctx, 1, 5); return err }, 400, prov.Invalid, ""},
	} {
		err := c.call(f.client(t, c.token))
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != c.status || ce.Kind != c.kind || !prov.IsKind(err, c.kind) || !strings.Contains(ce.Detail, c.detail) || ce.Title == "" {
			t.Errorf("%s: %#v", c.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error shows the token: %v", c.name, err)
		}
	}
	// A server that is not there: Unavailable, and the token is not shown.
	c, _ := client.New("http://127.0.0.1:1", secret, nil)
	c.Retries = 1
	_, err := c.Get(ctx, 0)
	if !prov.IsKind(err, prov.Unavailable) || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("no server: %v", err)
	}
}

// flaky answers 503 to the first n requests, then passes them on.
func flaky(n int32, h http.Handler) (http.Handler, *atomic.Int32) {
	var hits atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= n {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(503)
			io.WriteString(w, `{"type":"https://prov.dev/problems/unavailable","title":"Service Unavailable","status":503,"detail":"the store does not answer"}`)
			return
		}
		h.ServeHTTP(w, r)
	}), &hits
}

func TestRetriesOnlyIdempotentRequests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.fill(t, 1)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// forward to the fixture
		req, _ := http.NewRequest(r.Method, f.url+r.URL.RequestURI(), r.Body)
		req.Header = r.Header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	for _, c := range []struct {
		name     string
		call     func(*client.Client) error
		wantHits int32
		ok       bool
	}{
		{"get", func(c *client.Client) error { _, err := c.Get(ctx, 0); return err }, 3, true},
		{"append with event ids", func(c *client.Client) error {
			_, err := c.Append(ctx, [][]byte{record(5, "ev-5"), record(6, "ev-6")})
			return err
		}, 3, true},
		{"append without event ids", func(c *client.Client) error {
			_, err := c.Append(ctx, [][]byte{record(7, "ev-7"), record(8, "")})
			return err
		}, 1, false},
		{"fix applied", func(c *client.Client) error {
			return c.Fix(ctx, client.FixRequest{Filter: client.Filter{Table: "t"}, Set: []string{"a = 1"}, Reason: "r", Apply: true}, nil)
		}, 1, false},
	} {
		h, hits := flaky(2, api)
		srv := httptest.NewServer(h)
		cl, _ := client.New(srv.URL, f.admin, nil)
		cl.Backoff = time.Millisecond
		err := c.call(cl)
		srv.Close()
		if (err == nil) != c.ok || hits.Load() != c.wantHits {
			t.Errorf("%s: %d requests, error %v; want %d requests, success %v", c.name, hits.Load(), err, c.wantHits, c.ok)
		}
		if err != nil && !prov.IsKind(err, prov.Unavailable) {
			t.Errorf("%s: kind %s, want unavailable", c.name, prov.KindOf(err))
		}
	}
	// Retries give up.
	h, hits := flaky(100, api)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, _ := client.New(srv.URL, f.admin, nil)
	c.Backoff, c.Retries = time.Millisecond, 2
	if _, err := c.Get(ctx, 0); err == nil || hits.Load() != 3 {
		t.Errorf("retries: %d requests, %v", hits.Load(), err)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, _ := client.New(srv.URL, "prov_a_b", nil)
	c.Timeout, c.Retries = 100*time.Millisecond, 0
	start := time.Now()
	_, err := c.Get(context.Background(), 0)
	if !prov.IsKind(err, prov.Unavailable) || !strings.Contains(err.Error(), "did not answer") || time.Since(start) > 5*time.Second {
		t.Errorf("timeout: %v after %v", err, time.Since(start))
	}
	c.Timeout = 0
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Get(ctx, 0); !prov.IsKind(err, prov.Unavailable) || time.Since(start) > 10*time.Second {
		t.Errorf("cancelled: %v", err)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "prov_a_secret", nil)
	_, err := c.Get(context.Background(), 0)
	if err == nil || !strings.Contains(err.Error(), "redirected") || leaked.Load() {
		t.Errorf("redirect: %v (token sent on: %v)", err, leaked.Load())
	}
}

func TestStreamsEndVisibly(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"{\"index\":0,\"record\":{}}\n{\"error\":\"the store went away\"}\n", "the store went away"},
		{"{\"index\":0,\"record\":{}}\n{\"index\":2,\"record\":{}}\n", "record 2 where 1 was due"},
		{"<html>", "not a stream of {\"index\""},
		{"[1,2]", "not a stream of {\"index\""},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, c.body) }))
		cl, _ := client.New(srv.URL, "", nil)
		err := cl.Entries(context.Background(), 0, -1, func(int64, []byte) error { return nil })
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "1\n2\n\n{\"error\":\"canceling statement due to statement timeout\"}\n")
	}))
	defer srv.Close()
	cl, _ := client.New(srv.URL, "", nil)
	var ids []string
	err := cl.FindIDs(context.Background(), client.Filter{Table: "t"}, func(pk string) error { ids = append(ids, pk); return nil })
	if err == nil || !strings.Contains(err.Error(), "statement timeout") || len(ids) != 2 {
		t.Errorf("find stopped midway: %v %v", ids, err)
	}
}

func TestNonProblemErrorsAreDescribed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		io.WriteString(w, "<html><body>Bad Gateway</body></html>")
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "", nil)
	c.Retries = 0
	_, err := c.Get(context.Background(), 0)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 502 || !prov.IsKind(err, prov.Unavailable) || strings.Contains(err.Error(), "<html>") {
		t.Errorf("502 from a proxy: %v", err)
	}
}

// TestTamperedAnswersAreRejected: a server that lies about a proof, a root
// or a checkpoint is caught by the client's own checks.
func TestTamperedAnswersAreRejected(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.fill(t, 5)
	c := f.client(t, f.read)
	flip := func(b []byte, field string) []byte {
		var m map[string]any
		json.Unmarshal(b, &m)
		switch v := m[field].(type) {
		case string:
			m[field] = "A" + v[1:]
			if v[0] == 'A' {
				m[field] = "B" + v[1:]
			}
		case []any:
			s := v[0].(string)
			v[0] = "A" + s[1:]
			if s[0] == 'A' {
				v[0] = "B" + s[1:]
			}
		}
		out, _ := json.Marshal(m)
		return out
	}
	for _, tc := range []struct {
		name   string
		tamper func(r *http.Request, b []byte) []byte
		call   func() error
	}{
		{"inclusion proof hash", func(r *http.Request, b []byte) []byte {
			if r.URL.Path == "/api/v1/proofs/inclusion" {
				return flip(b, "proof")
			}
			return b
		}, func() error { _, _, err := c.ProveInclusion(ctx, f.verifier, 2, 0); return err }},
		{"inclusion root and proof of another tree", func(r *http.Request, b []byte) []byte {
			if r.URL.Path == "/api/v1/proofs/inclusion" {
				return bytes.Replace(b, []byte(`"tree_size":5`), []byte(`"tree_size":4`), 1)
			}
			return b
		}, func() error { _, _, err := c.ProveInclusion(ctx, f.verifier, 2, 0); return err }},
		{"consistency proof root", func(r *http.Request, b []byte) []byte {
			if r.URL.Path == "/api/v1/proofs/consistency" {
				return flip(b, "old_root")
			}
			return b
		}, func() error { _, _, err := c.ProveConsistency(ctx, f.verifier, 2, 5); return err }},
		{"checkpoint signature", func(r *http.Request, b []byte) []byte {
			if r.URL.Path == "/api/v1/checkpoint" {
				return bytes.Replace(b, []byte("\n5\n"), []byte("\n6\n"), 1)
			}
			return b
		}, func() error { _, err := c.VerifiedCheckpoint(ctx, f.verifier); return err }},
	} {
		f.tamper = tc.tamper
		err := tc.call()
		if !prov.IsKind(err, prov.Tampered) {
			t.Errorf("%s: %v, want a Tampered error", tc.name, err)
		}
	}
	// A checkpoint signed by another key (a server that chose its own key)
	// does not verify with the log's.
	f.tamper = nil
	_, otherKey, _ := tlog.GenerateKey("test.example/client")
	other, _ := note.NewVerifier(otherKey)
	if _, err := c.VerifiedCheckpoint(ctx, other); !prov.IsKind(err, prov.Tampered) {
		t.Errorf("checkpoint with another key: %v", err)
	}
	if _, _, err := c.ProveInclusion(ctx, f.verifier, 2, 0); err != nil {
		t.Errorf("untampered: %v", err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
