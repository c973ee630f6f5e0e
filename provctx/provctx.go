// Package provctx is the SDK that applications import to attribute their
// database changes: it puts an activity and an agent on a context.Context and
// begins transactions that carry them to Prov's capture triggers. It talks to
// the application's own database only; it needs no Prov server.
//
// On PostgreSQL the attribution travels as the transaction-local setting
// prov.context (see prov.ContextSetting). Setting it costs no extra round
// trip: the SDK sends it in the same simple-protocol Query message as BEGIN,
//
//	begin isolation level …; select set_config('prov.context', E'{"activity":…}', true)
//
// so a transaction begun here costs the network exactly what a plain one
// does (an extra statement per transaction costs about a third of pgbench
// throughput). The value is a quoted literal, not a parameter, because the
// simple protocol has no parameters; pg_stat_statements still folds every
// value into one entry. Three ways in:
//
//   - pgx: BeginTx, on a *pgx.Conn, *pgxpool.Pool or *pgxpool.Conn. It
//     returns pgx's own pgx.Tx, so commit, rollback, savepoints, large objects
//     and pool release behave exactly as in pgx.
//   - database/sql with the pgx driver: OpenDB or NewConnector. The *sql.DB
//     they return begins an attributed transaction whenever db.BeginTx is
//     given a context that carries an attribution, so the transactions are
//     ordinary *sql.Tx values, including those begun by libraries and ORMs.
//   - SQLite: BeginSQLiteTx writes the attribution into the one-row table
//     prov_context as the transaction's first statement and removes it just
//     before COMMIT, where SQLite's capture triggers read it.
//
// A context without an attribution begins a plain transaction, whose changes
// are captured as unattributed. Middleware attributes HTTP requests.
package provctx

import (
	"context"
	"strings"

	"github.com/prov-dev/prov"
)

// maxIDLen is the longest activity or agent id: the limit of prov records.
const maxIDLen = 4096

type ctxKey struct{}

// With returns a copy of ctx that carries a, replacing any attribution ctx
// carried. The zero Attribution removes it.
func With(ctx context.Context, a prov.Attribution) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

// WithActivity returns a copy of ctx whose attribution names the activity id,
// keeping its agent. An empty id removes the activity.
func WithActivity(ctx context.Context, id string) context.Context {
	a, _ := From(ctx)
	a.Activity = id
	return With(ctx, a)
}

// WithAgent returns a copy of ctx whose attribution names the agent id,
// keeping its activity. An empty id removes the agent.
func WithAgent(ctx context.Context, id string) context.Context {
	a, _ := From(ctx)
	a.Agent = id
	return With(ctx, a)
}

// From returns the attribution that ctx carries, and whether it carries one
// (an activity, an agent or both). Transactions need an activity: an agent
// alone makes them fail with an error of kind prov.Invalid.
func From(ctx context.Context) (prov.Attribution, bool) {
	a, _ := ctx.Value(ctxKey{}).(prov.Attribution)
	return a, a != prov.Attribution{}
}

// attribution returns the attribution ctx carries, if any, checked so that
// capture can read it back: an *prov.Error of kind Invalid says what to fix.
func attribution(ctx context.Context) (prov.Attribution, bool, error) {
	a, ok := From(ctx)
	if !ok {
		return a, false, nil
	}
	switch {
	case strings.TrimSpace(a.Activity) == "":
		return a, false, prov.Errorf(prov.Invalid, "provctx: the context names agent %q but no activity: set one with provctx.WithActivity", a.Agent)
	case len(a.Activity) > maxIDLen:
		return a, false, prov.Errorf(prov.Invalid, "provctx: the activity id is %d bytes long: the limit is %d", len(a.Activity), maxIDLen)
	case len(a.Agent) > maxIDLen:
		return a, false, prov.Errorf(prov.Invalid, "provctx: the agent id is %d bytes long: the limit is %d", len(a.Agent), maxIDLen)
	}
	return a, true, nil
}
