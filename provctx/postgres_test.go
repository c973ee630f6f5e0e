package provctx_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/storetest"
)

// testDSN returns the DSN of the test database from PROV_TEST_POSTGRES. The
// tests are skipped when it is unset, unless PROV_REQUIRE_SERVICES=1 (as in
// CI), which makes them mandatory.
func testDSN(tb testing.TB) string {
	tb.Helper()
	return storetest.PostgresDSN(tb)
}

// scratch is a schema of its own with a table, items, whose row changes a
// trigger copies into audit with the prov.context they were made under, as
// capture does.
type scratch struct {
	dsn    string
	schema string
	items  string // schema-qualified table names
	audit  string
}

// newScratch creates a scratch schema, dropped when the test ends.
func newScratch(tb testing.TB) scratch {
	tb.Helper()
	dsn := testDSN(tb)
	b := make([]byte, 6)
	rand.Read(b)
	s := scratch{dsn: dsn, schema: "provctxtest_" + hex.EncodeToString(b)}
	s.items = s.schema + ".items"
	s.audit = s.schema + ".audit"
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to PROV_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", s.schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+s.schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", s.schema, err)
		}
	})
	_, err = conn.Exec(ctx, `
		CREATE SCHEMA `+s.schema+`;
		CREATE TABLE `+s.items+` (id int PRIMARY KEY, v text NOT NULL DEFAULT '');
		CREATE TABLE `+s.audit+` (n bigserial PRIMARY KEY, item int NOT NULL, ctx text);
		CREATE FUNCTION `+s.schema+`.capture() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO `+s.audit+` (item, ctx) VALUES (NEW.id, NULLIF(current_setting('prov.context', true), ''));
			RETURN NEW;
		END $$;
		CREATE TRIGGER capture AFTER INSERT OR UPDATE ON `+s.items+`
			FOR EACH ROW EXECUTE FUNCTION `+s.schema+`.capture();`)
	if err != nil {
		tb.Fatalf("create scratch schema: %v", err)
	}
	return s
}

// querier is what pgx connections, pools and transactions share.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// setting returns prov.context as the session sees it ("" when unset).
func setting(tb testing.TB, q querier) string {
	tb.Helper()
	var s string
	if err := q.QueryRow(context.Background(), "SELECT coalesce(current_setting('prov.context', true), '')").Scan(&s); err != nil {
		tb.Fatalf("read prov.context: %v", err)
	}
	return s
}

// audited returns the ctx the trigger recorded for item ("" for NULL) and
// whether it recorded the item at all.
func audited(tb testing.TB, s scratch, q querier, item int) (string, bool) {
	tb.Helper()
	var ctx *string
	err := q.QueryRow(context.Background(), "SELECT ctx FROM "+s.audit+" WHERE item = $1", item).Scan(&ctx)
	if err == pgx.ErrNoRows {
		return "", false
	}
	if err != nil {
		tb.Fatalf("read audit: %v", err)
	}
	if ctx == nil {
		return "", true
	}
	return *ctx, true
}

// countingConfig returns a pgx config for dsn whose connections count their
// network writes (flushes) in n: one per round trip.
func countingConfig(tb testing.TB, dsn string, n *atomic.Int64) *pgx.ConnConfig {
	tb.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		tb.Fatalf("parse PROV_TEST_POSTGRES: %v", err)
	}
	var d net.Dialer
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, n}, nil
	}
	return cfg
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// txStatus returns the transaction status of a pgx connection: 'I' idle,
// 'T' in a transaction, 'E' in a failed one.
func txStatus(c *pgx.Conn) byte { return c.PgConn().TxStatus() }
