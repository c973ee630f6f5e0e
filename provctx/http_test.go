package provctx_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/provctx"
)

// serve runs one request through Middleware and returns the attribution the
// handler saw.
func serve(t *testing.T, opts provctx.MiddlewareOptions, r *http.Request) prov.Attribution {
	t.Helper()
	var got prov.Attribution
	var ok bool
	h := provctx.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = provctx.From(r.Context())
	}), opts)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !ok {
		t.Fatal("the handler's context carries no attribution")
	}
	return got
}

func request(headers ...string) *http.Request {
	r := httptest.NewRequest("POST", "/orders", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

func TestMiddleware(t *testing.T) {
	fixedID := func() string { return "fresh" }
	withID := provctx.DefaultMiddlewareOptions()
	withID.NewID = fixedID
	users := withID
	users.Agent = provctx.HeaderAgent("X-Forwarded-User")

	for _, tc := range []struct {
		name string
		opts provctx.MiddlewareOptions
		r    *http.Request
		want prov.Attribution
	}{
		{"request id from the header", withID, request("X-Request-Id", "abc-123"), prov.Attribution{Activity: "request:abc-123", Agent: "anonymous"}},
		{"no request id", withID, request(), prov.Attribution{Activity: "request:fresh", Agent: "anonymous"}},
		{"implausible request id", withID, request("X-Request-Id", "a b"), prov.Attribution{Activity: "request:fresh", Agent: "anonymous"}},
		{"request id too long", withID, request("X-Request-Id", strings.Repeat("a", 129)), prov.Attribution{Activity: "request:fresh", Agent: "anonymous"}},
		{"header ignored without RequestIDHeader", provctx.MiddlewareOptions{NewID: fixedID}, request("X-Request-Id", "abc"), prov.Attribution{Activity: "request:fresh", Agent: "anonymous"}},
		{"agent from a header", users, request("X-Forwarded-User", "alice@example.com"), prov.Attribution{Activity: "request:fresh", Agent: "alice@example.com"}},
		{"agent header absent", users, request(), prov.Attribution{Activity: "request:fresh", Agent: "anonymous"}},
		{"agent header implausible", users, request("X-Forwarded-User", "alice\x7f"), prov.Attribution{Activity: "request:fresh", Agent: "anonymous"}},
		{"agent func", provctx.MiddlewareOptions{NewID: fixedID, Agent: func(r *http.Request) string { return "user:" + r.URL.Path }}, request(), prov.Attribution{Activity: "request:fresh", Agent: "user:/orders"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := serve(t, tc.opts, tc.r); got != tc.want {
				t.Errorf("attribution = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMiddlewareReplaces(t *testing.T) {
	r := request().WithContext(provctx.With(t.Context(), attr))
	got := serve(t, provctx.MiddlewareOptions{NewID: func() string { return "x" }}, r)
	if want := (prov.Attribution{Activity: "request:x", Agent: "anonymous"}); got != want {
		t.Errorf("attribution = %+v, want %+v", got, want)
	}
}

func TestMiddlewareRandomIDs(t *testing.T) {
	a := serve(t, provctx.MiddlewareOptions{}, request())
	b := serve(t, provctx.MiddlewareOptions{}, request())
	if a.Activity == b.Activity || !strings.HasPrefix(a.Activity, "request:") || len(a.Activity) < len("request:")+16 {
		t.Errorf("activities %q and %q: want distinct request:<random id>", a.Activity, b.Activity)
	}
}
