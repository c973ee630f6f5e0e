package provctx

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prov-dev/prov"
)

// Beginner begins pgx transactions: *pgx.Conn, *pgxpool.Pool and
// *pgxpool.Conn are Beginners.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// BeginTx begins a transaction on db, as db.BeginTx(ctx, opts) does, that
// carries the attribution of ctx in the setting prov.context. BEGIN and the
// setting travel in one message, so the transaction costs no extra round
// trip. The transaction is pgx's own: commit or roll it back as usual (a pool
// releases its connection then).
//
// Without an attribution on ctx it is exactly db.BeginTx(ctx, opts): the
// transaction's changes are captured as unattributed.
//
// opts are honoured. opts.BeginQuery, when set, is sent in place of BEGIN and
// must begin the transaction. Option values other than pgx's constants, and
// an attribution without an activity or with an id over 4096 bytes, give an
// *prov.Error of kind Invalid before anything is sent. Other errors are
// db.BeginTx's, wrapped; a failed BeginTx never leaves a connection inside a
// transaction.
//
// BeginTx may be called concurrently if db may.
func BeginTx(ctx context.Context, db Beginner, opts pgx.TxOptions) (pgx.Tx, error) {
	a, ok, err := attribution(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return db.BeginTx(ctx, opts)
	}
	q, err := beginQuery(a, opts)
	if err != nil {
		return nil, err
	}
	opts.BeginQuery = q
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		// pgx keeps a connection that reported a server error. BEGIN may have
		// succeeded before set_config failed: do not leave it in a transaction.
		switch c := db.(type) {
		case interface{ PgConn() *pgconn.PgConn }: // *pgx.Conn
			leaveTx(ctx, c.PgConn())
		case interface{ Conn() *pgx.Conn }: // *pgxpool.Conn
			leaveTx(ctx, c.Conn().PgConn())
		}
		return nil, fmt.Errorf("provctx: begin transaction for activity %q: %w", a.Activity, err)
	}
	return tx, nil
}

// beginQuery returns the one message that begins a transaction with opts and
// sets prov.context to a, transaction-locally. pgx sends queries without
// arguments with the simple protocol, which runs every statement of a message.
func beginQuery(a prov.Attribution, opts pgx.TxOptions) (string, error) {
	var b strings.Builder
	if opts.BeginQuery != "" {
		b.WriteString(opts.BeginQuery)
		b.WriteString("\n") // ends a trailing -- comment
	} else {
		b.WriteString("begin")
		switch opts.IsoLevel {
		case "":
		case pgx.Serializable, pgx.RepeatableRead, pgx.ReadCommitted, pgx.ReadUncommitted:
			b.WriteString(" isolation level " + string(opts.IsoLevel))
		default:
			return "", prov.Errorf(prov.Invalid, "provctx: isolation level %q is not one of pgx's: use pgx.Serializable, pgx.RepeatableRead, pgx.ReadCommitted or pgx.ReadUncommitted", opts.IsoLevel)
		}
		switch opts.AccessMode {
		case "":
		case pgx.ReadWrite, pgx.ReadOnly:
			b.WriteString(" " + string(opts.AccessMode))
		default:
			return "", prov.Errorf(prov.Invalid, "provctx: access mode %q is not one of pgx's: use pgx.ReadWrite or pgx.ReadOnly", opts.AccessMode)
		}
		switch opts.DeferrableMode {
		case "":
		case pgx.Deferrable, pgx.NotDeferrable:
			b.WriteString(" " + string(opts.DeferrableMode))
		default:
			return "", prov.Errorf(prov.Invalid, "provctx: deferrable mode %q is not one of pgx's: use pgx.Deferrable or pgx.NotDeferrable", opts.DeferrableMode)
		}
	}
	b.WriteString("; select set_config('" + prov.ContextSetting + "', ")
	b.WriteString(quoteLiteral(a.Encode()))
	b.WriteString(", true)")
	return b.String(), nil
}

// quoteLiteral quotes s as an escape string constant, which reads the same
// whatever standard_conforming_strings says. s must not contain NUL, which
// PostgreSQL text cannot hold; Attribution.Encode never writes one.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `''`)
	return "E'" + s + "'"
}

// leaveTx rolls back the transaction that c is in, if any, or closes c.
func leaveTx(ctx context.Context, c *pgconn.PgConn) {
	if c.IsClosed() || (!c.IsBusy() && c.TxStatus() == 'I') {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if c.IsBusy() || c.Exec(ctx, "rollback").Close() != nil || c.TxStatus() != 'I' {
		_ = c.Close(ctx)
	}
}
