package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/auth"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/httpapi"
	"github.com/prov-dev/prov/investigate"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

type fixture struct {
	srv   *httptest.Server
	log   *tlog.Log
	admin string
	read  string
}

func newFixture(t testing.TB, c httpapi.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	skey, vkey, _ := tlog.GenerateKey("test.example/api")
	if err := tlog.Init(ctx, st, "test.example/api", vkey); err != nil {
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
	c.Log, c.Tokens, c.Capture, c.Investigator = l, toks, capt, iv
	srv := httptest.NewServer(httpapi.New(c))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, log: l, admin: admin, read: read}
}

func (f *fixture) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Skipf("not a request a client can send: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const rec = `{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"job:1"}}`

func TestLimitsAndHostileInput(t *testing.T) {
	f := newFixture(t, httpapi.Config{MaxRecords: 3})
	for _, c := range []struct {
		name, method, path, token, body string
		status                          int
		want                            string
	}{
		{"too many records", "POST", "/api/v1/records", "", strings.Repeat(rec+"\n", 4), 401, ""},
		{"too many records", "POST", "/api/v1/records", f.admin, strings.Repeat(rec+"\n", 4), 400, "over the limit of 3"},
		{"too many in an array", "POST", "/api/v1/records", f.admin, "[" + strings.Repeat(rec+",", 3) + rec + "]", 400, "over the limit of 3"},
		{"empty body", "POST", "/api/v1/records", f.admin, "  \n", 400, "holds no record"},
		{"nested too deep", "POST", "/api/v1/records", f.admin, strings.Repeat("[", 100000), 400, ""},
		{"a token in the wrong scheme", "GET", "/api/v1/records", "", "", 401, "no bearer token"},
		{"SQL in a table name", "GET", "/api/v1/find?table=users%27%3B%20DROP%20TABLE%20records%3B--", f.read, "", 404, "has no provenance"},
		{"SQL in a key", "GET", "/api/v1/blame/users/1%27%20OR%20%271%27%3D%271", f.read, "", 404, ""},
		{"unknown find parameter", "GET", "/api/v1/find?table=t&colum=x", f.read, "", 400, "unknown parameter"},
		{"bad time", "GET", "/api/v1/find?table=t&since=yesterday", f.read, "", 400, "not a time"},
		{"negative index", "GET", "/api/v1/records/-1", f.read, "", 400, "non-negative"},
		{"huge index", "GET", "/api/v1/records/99999999999999999999", f.read, "", 400, "non-negative"},
		{"unknown endpoint", "GET", "/api/v2/records", f.read, "", 404, "openapi.json"},
		{"verify with unknown fields", "POST", "/api/v1/verify", f.admin, `{"checkpointz":"x"}`, 400, "checkpointz"},
		{"revert with unknown fields", "POST", "/api/v1/revert", f.admin, `{"activity":"a","reason":"r","drop":true}`, 400, "drop"},
	} {
		code, body := f.do(t, c.method, c.path, c.token, c.body)
		if code != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s (want %d with %q)", c.name, code, body, c.status, c.want)
		}
		if code >= 400 && !strings.Contains(body, `"type":"https://prov.dev/problems/`) {
			t.Errorf("%s: not a problem document: %s", c.name, body)
		}
	}
	if n, _ := f.log.Size(context.Background()); n != 0 {
		t.Errorf("refused requests appended %d records", n)
	}
	// The records table is still there.
	if code, _ := f.do(t, "POST", "/api/v1/records", f.admin, rec); code != 200 {
		t.Errorf("append after the hostile requests: %d", code)
	}
}

func TestAuditReads(t *testing.T) {
	f := newFixture(t, httpapi.Config{AuditReads: true})
	if code, body := f.do(t, "POST", "/api/v1/records", f.admin, rec); code != 200 {
		t.Fatal(code, body)
	}
	if code, _ := f.do(t, "GET", "/api/v1/records/0", f.read, ""); code != 200 {
		t.Fatal(code)
	}
	e, err := f.log.Get(context.Background(), 1)
	if err != nil {
		t.Fatalf("no audit record: %v", err)
	}
	r, err := prov.ParseRecord(e.Data)
	if err != nil || r.Type != prov.TypeAudit || !strings.HasPrefix(r.Agent.ID, "token:") || !bytes.Contains(r.Attributes, []byte(`"path":"/api/v1/records/0"`)) {
		t.Errorf("audit record: %s %v", e.Data, err)
	}
}

// FuzzReadRecords: whatever the body, an append either appends every record
// it acknowledges, at the indexes it says, or answers with a problem and
// appends nothing; it never panics.
func FuzzAppendBody(f *testing.F) {
	f.Add(rec)
	f.Add("[" + rec + "," + rec + "]")
	f.Add(rec + "\n\n" + rec + "\n")
	f.Add(`[{"type":"change"}]`)
	f.Add(`[1,2,3]`)
	f.Add("\x00\xff")
	f.Add(`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"job:1"},"id":"e"}` + "\n" + `{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"job:2"},"id":"e"}`)
	fx := newFixture(f, httpapi.Config{MaxRecords: 50, MaxBodyBytes: 1 << 16})
	f.Fuzz(func(t *testing.T, body string) {
		before, _ := fx.log.Size(context.Background())
		code, out := fx.do(t, "POST", "/api/v1/records", fx.admin, body)
		after, _ := fx.log.Size(context.Background())
		switch code {
		case 200:
			var res struct{ Records []tlog.Appended }
			if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Records) == 0 {
				t.Fatalf("200 with %s", out)
			}
			fresh := int64(0)
			for _, a := range res.Records {
				if !a.Duplicate {
					fresh++
				}
			}
			if after-before != fresh {
				t.Fatalf("acknowledged %d new records, the log grew by %d", fresh, after-before)
			}
		case 400, 409, 413:
			if after != before {
				t.Fatalf("refused (%d) but the log grew from %d to %d", code, before, after)
			}
			if !strings.Contains(out, `"status":`) {
				t.Fatalf("not a problem: %s", out)
			}
		default:
			t.Fatalf("status %d: %s", code, out)
		}
	})
}

// FuzzFind: any query string gives a result or a problem, never a 500.
func FuzzFind(f *testing.F) {
	f.Add("table=t")
	f.Add("table=t&column=a&current=true&not_release=v1&since=7d")
	f.Add("table=%27&activity=%22")
	f.Add("count=true&format=ids&table=x")
	fx := newFixture(f, httpapi.Config{})
	f.Fuzz(func(t *testing.T, q string) {
		code, out := fx.do(t, "GET", "/api/v1/find?"+q, fx.read, "")
		if code >= 500 {
			t.Fatalf("find?%s: %d %s", q, code, out)
		}
	})
}
