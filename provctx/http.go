package provctx

import (
	"crypto/rand"
	"net/http"
	"strings"

	"github.com/prov-dev/prov"
)

// Anonymous is the agent of a request whose agent is not known.
const Anonymous = "anonymous"

// MiddlewareOptions configures Middleware. The zero value is usable: every
// request is a fresh activity of the agent Anonymous.
type MiddlewareOptions struct {
	// Agent returns the agent id of a request; "" means Anonymous. It must
	// read an identity the application has verified, such as a user that an
	// authentication middleware running before this one put on the request's
	// context, or a header that a trusted proxy sets (see HeaderAgent). Nil:
	// every request's agent is Anonymous. The default does not fall back to
	// the client's address: the log keeps what it is given for good, and an
	// address is personal data.
	Agent func(r *http.Request) string

	// RequestIDHeader names the header whose value, if it is a plausible id
	// (1 to 128 printable ASCII characters, no spaces), names the request's
	// activity, so that it can be found under the id the edge logged. Only a
	// proxy that sets or checks the header makes that id trustworthy.
	// "": ids are always made by NewID.
	RequestIDHeader string

	// NewID returns a fresh request id. Nil: 26 random base32 characters
	// from crypto/rand.
	NewID func() string

	// Parent is the id of the activity the server runs as, such as
	// "release:v1.0" or a deployment: every request's activity names it as
	// its parent, so that `prov find --release` finds what the release's
	// requests wrote without one activity record per request. "": none.
	Parent string
}

// DefaultMiddlewareOptions returns options that take the request id from
// X-Request-Id and make every agent Anonymous; set Agent to name users.
func DefaultMiddlewareOptions() MiddlewareOptions {
	return MiddlewareOptions{RequestIDHeader: "X-Request-Id"}
}

// Middleware returns a handler that attributes each request, then calls next
// with the attribution on the request's context, replacing any it carried:
// the activity "request:" followed by the request id (see
// MiddlewareOptions.RequestIDHeader and NewID), and the agent that opts.Agent
// derives. Transactions that next begins with that context (BeginTx, a
// *sql.DB from OpenDB, BeginSQLiteTx) carry the attribution.
//
// The handler may be called concurrently if opts.Agent, opts.NewID and next
// may.
func Middleware(next http.Handler, opts MiddlewareOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ""
		if opts.RequestIDHeader != "" {
			if v := r.Header.Get(opts.RequestIDHeader); plausibleID(v, 128) {
				id = v
			}
		}
		if id == "" {
			if opts.NewID != nil {
				id = opts.NewID()
			} else {
				id = rand.Text()
			}
		}
		agent := ""
		if opts.Agent != nil {
			agent = opts.Agent(r)
		}
		if agent == "" {
			agent = Anonymous
		}
		ctx := With(r.Context(), prov.Attribution{Activity: "request:" + id, Agent: agent, Parent: opts.Parent})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// HeaderAgent returns a MiddlewareOptions.Agent that takes the agent id from
// the header name, which a trusted proxy in front of the application must set
// after authenticating the user (and strip from clients' requests). Values
// that are not plausible ids (1 to 256 printable ASCII characters, no spaces)
// and absent headers give "", so Anonymous.
func HeaderAgent(name string) func(r *http.Request) string {
	return func(r *http.Request) string {
		if v := r.Header.Get(name); plausibleID(v, 256) {
			return v
		}
		return ""
	}
}

// plausibleID reports whether s is 1 to n printable ASCII characters with no
// spaces: ids from headers go into the log, so nothing else is taken.
func plausibleID(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' })
}
