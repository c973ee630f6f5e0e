package provctx

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prov-dev/prov"
)

// OpenDB is stdlib.OpenDB with attribution: it opens a *sql.DB on
// PostgreSQL, through the pgx driver, whose BeginTx carries the attribution
// of its context (see NewConnector).
func OpenDB(config pgx.ConnConfig, opts ...stdlib.OptionOpenDB) *sql.DB {
	return sql.OpenDB(NewConnector(stdlib.GetConnector(config, opts...)))
}

// NewConnector wraps a connector of the pgx driver, such as
// stdlib.GetConnector(config) or stdlib.GetPoolConnector(pool), so that
// db.BeginTx(ctx, opts) on sql.OpenDB(NewConnector(…)) begins a transaction
// that carries the attribution of ctx, as BeginTx does for pgx: BEGIN and
// prov.context travel in one message, with no extra round trip. The
// transaction is an ordinary *sql.Tx. A context without an attribution begins
// a plain transaction, exactly as the pgx driver does.
//
// Attributing at the driver, not with a function that takes a *sql.DB, keeps
// every database/sql guarantee (rollback when the context ends, Rows closed
// at commit, pooled connections reset) and attributes the transactions that
// libraries and ORMs begin, since they call db.BeginTx with the request's
// context. The price: sql.Conn.Raw hands over the wrapper, not a
// *stdlib.Conn; reach pgx with driverConn.(interface{ Conn() *pgx.Conn }).
//
// Connections that are not the pgx driver's fail to connect with an error of
// kind prov.Invalid. The connector may be used concurrently; closing it
// closes base if base is an io.Closer.
func NewConnector(base driver.Connector) driver.Connector {
	return &connector{base: base}
}

type connector struct{ base driver.Connector }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(*stdlib.Conn)
	if !ok {
		_ = dc.Close()
		return nil, prov.Errorf(prov.Invalid, "provctx: the connector opens %T connections, not the pgx driver's: attribution through database/sql needs github.com/jackc/pgx/v5/stdlib (for SQLite, use BeginSQLiteTx)", dc)
	}
	return &sqlConn{sc}, nil
}

func (c *connector) Driver() driver.Driver { return c.base.Driver() }

func (c *connector) Close() error {
	if cl, ok := c.base.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// stdConn is an alias so that the embedded field is not named Conn, which
// would hide the method Conn() *pgx.Conn.
type stdConn = stdlib.Conn

// sqlConn is a connection of the pgx driver whose BeginTx attributes; it
// keeps every other method, and so every optional driver interface, of
// *stdlib.Conn.
type sqlConn struct{ *stdConn }

// BeginTx implements driver.ConnBeginTx.
func (c *sqlConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if _, ok := From(ctx); !ok {
		return c.stdConn.BeginTx(ctx, opts)
	}
	conn := c.Conn()
	if conn.IsClosed() {
		return nil, driver.ErrBadConn
	}
	var po pgx.TxOptions
	switch sql.IsolationLevel(opts.Isolation) { // as the pgx driver maps them
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		po.IsoLevel = pgx.ReadUncommitted
	case sql.LevelReadCommitted:
		po.IsoLevel = pgx.ReadCommitted
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		po.IsoLevel = pgx.RepeatableRead
	case sql.LevelSerializable:
		po.IsoLevel = pgx.Serializable
	default:
		return nil, prov.Errorf(prov.Invalid, "provctx: PostgreSQL has no isolation level %v: use read committed, repeatable read or serializable", sql.IsolationLevel(opts.Isolation))
	}
	if opts.ReadOnly {
		po.AccessMode = pgx.ReadOnly
	}
	tx, err := BeginTx(ctx, conn, po)
	if err != nil {
		return nil, err
	}
	return sqlTx{ctx: ctx, tx: tx}, nil
}

// sqlTx is a pgx.Tx as a driver.Tx, as the pgx driver makes it.
type sqlTx struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t sqlTx) Commit() error   { return t.tx.Commit(t.ctx) }
func (t sqlTx) Rollback() error { return t.tx.Rollback(t.ctx) }

// SQLiteTx is a transaction on SQLite begun by BeginSQLiteTx. Its methods are
// those of *sql.Tx, and it may be used as concurrently; after Commit or
// Rollback they return sql.ErrTxDone.
type SQLiteTx struct {
	tx         *sql.Tx
	attributed bool
}

// BeginSQLiteTx begins a transaction on db, a SQLite database (any
// database/sql driver), that carries the attribution of ctx to SQLite's
// capture triggers: its first statement inserts the encoded attribution into
// the table prov_context, and Commit deletes it just before COMMIT. Both run
// inside the transaction, so the row is never seen outside it, and a rolled
// back transaction leaves nothing. Prov's SQLite capture creates the table
// (with an id, so that triggers read the newest row); any table with a text
// column ctx will do.
//
// Without an attribution on ctx, or with opts.ReadOnly, no row is written and
// the transaction is plain. An attributed transaction writes at once, so it
// takes SQLite's write lock at BEGIN rather than at its first change (as
// BEGIN IMMEDIATE would); drivers that do not enforce ReadOnly let a read-only
// transaction write, unattributed.
//
// Errors: an attribution without an activity gives kind prov.Invalid; a
// database without prov_context gives kind prov.Conflict; others are the
// driver's, wrapped. The transaction is rolled back on any of them.
func BeginSQLiteTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions) (*SQLiteTx, error) {
	a, ok, err := attribution(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("provctx: begin transaction: %w", err)
	}
	t := &SQLiteTx{tx: tx, attributed: ok && (opts == nil || !opts.ReadOnly)}
	if !t.attributed {
		return t, nil
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO prov_context (ctx) VALUES (?)", a.Encode()); err != nil {
		_ = tx.Rollback()
		if strings.Contains(err.Error(), "no such table") {
			e := prov.Errorf(prov.Conflict, "provctx: the database has no table prov_context, where capture reads the attribution: enable capture first")
			e.Err = err
			return nil, e
		}
		return nil, fmt.Errorf("provctx: begin transaction: write prov_context: %w", err)
	}
	return t, nil
}

// Commit deletes the transaction's prov_context row, then commits. If the
// delete fails, it rolls back and returns the error.
func (t *SQLiteTx) Commit() error {
	if t.attributed {
		// Not the begin context: if it has ended, the driver has rolled
		// back and the delete fails with sql.ErrTxDone.
		if _, err := t.tx.ExecContext(context.Background(), "DELETE FROM prov_context"); err != nil {
			if errors.Is(err, sql.ErrTxDone) {
				return err
			}
			_ = t.tx.Rollback()
			return fmt.Errorf("provctx: commit: clear prov_context: %w", err)
		}
	}
	return t.tx.Commit()
}

// Rollback aborts the transaction, as sql.Tx.Rollback does.
func (t *SQLiteTx) Rollback() error { return t.tx.Rollback() }

// ExecContext is sql.Tx.ExecContext.
func (t *SQLiteTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, query, args...)
}

// QueryContext is sql.Tx.QueryContext.
func (t *SQLiteTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext is sql.Tx.QueryRowContext.
func (t *SQLiteTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, query, args...)
}

// PrepareContext is sql.Tx.PrepareContext.
func (t *SQLiteTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, query)
}

// StmtContext is sql.Tx.StmtContext.
func (t *SQLiteTx) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	return t.tx.StmtContext(ctx, stmt)
}
