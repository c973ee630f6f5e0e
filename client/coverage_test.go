package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prov-dev/prov/client"
	"golang.org/x/mod/sumdb/note"
)

// TestEveryEndpointHasAMethod calls every method of the client against a
// server that records what it is asked, and checks that every operation of
// the API under /api/v1 (httpapi/openapi.json) was asked for: an endpoint
// added without a client method fails here.
func TestEveryEndpointHasAMethod(t *testing.T) {
	spec, err := os.ReadFile("../httpapi/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	type op struct {
		method string
		re     *regexp.Regexp
		path   string
	}
	var ops []op
	for p, methods := range doc.Paths {
		if !strings.HasPrefix(p, "/api/v1/") {
			continue
		}
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(regexp.QuoteMeta(p), "[^/]+") + "$")
		for m := range methods {
			ops = append(ops, op{strings.ToUpper(m), re, p})
		}
	}
	var mu sync.Mutex
	asked := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		for _, o := range ops {
			if o.method == r.Method && o.re.MatchString(r.URL.EscapedPath()) {
				asked[o.method+" "+o.path] = true
			}
		}
		w.WriteHeader(http.StatusTeapot) // every call fails after it is recorded
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "prov_a_b", nil)
	c.Retries = 0
	ctx := context.Background()
	_, vkey, _ := note.GenerateKey(nil, "x")
	v, _ := note.NewVerifier(vkey)
	var out any
	f := client.Filter{Table: "t"}
	c.Append(ctx, [][]byte{[]byte(`{}`)})
	c.Get(ctx, 0)
	c.Entries(ctx, 0, -1, func(int64, []byte) error { return nil })
	c.Checkpoint(ctx)
	c.Key(ctx)
	c.InclusionProof(ctx, 0, 1)
	c.ConsistencyProof(ctx, 0, 1)
	c.Verify(ctx, client.VerifyRequest{})
	c.IngestLineage(ctx, [][]byte{[]byte(`{}`)}, &out)
	c.LineageRun(ctx, "r", &out)
	c.CaptureStatus(ctx, &out)
	c.Blame(ctx, "t", "1", &out)
	c.History(ctx, "t", "1", &out)
	c.Activities(ctx, "", "", &out)
	c.Find(ctx, f, func(json.RawMessage) error { return nil })
	c.Fix(ctx, client.FixRequest{Filter: f}, &out)
	c.Revert(ctx, client.RevertRequest{Activity: "a"}, &out)
	c.VerifiedCheckpoint(ctx, v)
	c.Lineage(ctx, client.LineageQuery{Node: "n", Direction: "upstream"}, &out)
	c.Impact(ctx, "n", "", "", &out)
	c.QuarantineCheck(ctx, "n", &out)
	c.Quarantine(ctx, "mark", "n", "r", "", &out)
	c.Export(ctx, "", "", "", &out)
	var missing []string
	for _, o := range ops {
		if !asked[o.method+" "+o.path] {
			missing = append(missing, o.method+" "+o.path)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no client method asks for %s: add one (and call it here)", strings.Join(missing, ", "))
	}
}
