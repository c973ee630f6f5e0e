package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/storetest"
)

// testDSN returns the DSN of the test database from PROV_TEST_POSTGRES. The
// tests are skipped when it is unset, unless PROV_REQUIRE_SERVICES=1 (as in
// CI), which makes them mandatory.
func testDSN(t *testing.T) string {
	t.Helper()
	return storetest.PostgresDSN(t)
}

// newSchema returns a schema name no other test uses, and drops the schema
// when the test ends.
func newSchema(t *testing.T, dsn string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "provtest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openStore opens a store in a fresh schema, closed and dropped when the
// test ends.
func openStore(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	schema := newSchema(t, dsn) // registered first, so it runs after Close
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var (
	placeholder = regexp.MustCompile(`\?`)
	tableName   = regexp.MustCompile(`\b(records|checkpoints)\b`)
)

// TestConformance runs the prov.Store conformance suite, each store in a
// schema of its own.
func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Test(t, storetest.Harness{
		Open: func(t *testing.T) prov.Store { return openStore(t, dsn) },
		// The suite writes SQLite's dialect: ? placeholders and bare table
		// names, which become $n and the store's schema's tables.
		Tamper: func(ctx context.Context, s prov.Store, query string, args ...any) (int64, error) {
			ps := s.(*postgres.Store)
			n := 0
			query = placeholder.ReplaceAllStringFunc(query, func(string) string { n++; return fmt.Sprintf("$%d", n) })
			query = tableName.ReplaceAllString(query, pgx.Identifier{ps.Schema()}.Sanitize()+".$1")
			tag, err := ps.Pool().Exec(ctx, query, args...)
			return tag.RowsAffected(), err
		},
	})
}

// TestOpenErrors checks that Open says what is wrong, with the right kind.
func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	t.Run("UnreachableServerIsUnavailable", func(t *testing.T) {
		_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable", postgres.Options{})
		if !prov.IsKind(err, prov.Unavailable) {
			t.Fatalf("Open: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Unavailable)
		}
		const want = "cannot reach PostgreSQL at 127.0.0.1:1: connection refused"
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Open: got message %q, want it to start with %q", err, want)
		}
	})
	t.Run("CancelledContextPassesThrough", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable", postgres.Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Open with a cancelled context: got error %v, want context.Canceled", err)
		}
	})
	t.Run("BadDSNIsInvalid", func(t *testing.T) {
		_, err := postgres.Open(ctx, "postgres://user:secret@host:notaport/db", postgres.Options{})
		if !prov.IsKind(err, prov.Invalid) {
			t.Fatalf("Open: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Invalid)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open: the message %q shows the password", err)
		}
	})
	t.Run("BadSchemaIsInvalid", func(t *testing.T) {
		_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test", postgres.Options{Schema: `Prov"; DROP`})
		if !prov.IsKind(err, prov.Invalid) {
			t.Fatalf("Open: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Invalid)
		}
	})
	t.Run("MissingDatabaseIsNotFound", func(t *testing.T) {
		u, err := url.Parse(testDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/provtest_no_such_database"
		_, err = postgres.Open(ctx, u.String(), postgres.Options{})
		if !prov.IsKind(err, prov.NotFound) || !strings.Contains(err.Error(), `no database "provtest_no_such_database"`) {
			t.Fatalf("Open: got error %v (kind %q), want kind %q naming the database", err, prov.KindOf(err), prov.NotFound)
		}
	})
	t.Run("MissingPrivilegeIsUnauthorized", func(t *testing.T) {
		dsn := testDSN(t)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		role := newSchema(t, dsn) // a unique name
		_, err = conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN")
		t.Cleanup(func() {
			conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			conn.Close(context.Background())
		})
		if err != nil {
			t.Skipf("cannot create a role to test with: %v", err)
		}
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(role)
		_, err = postgres.Open(ctx, u.String(), postgres.Options{Schema: role})
		if prov.IsKind(err, prov.Unavailable) && strings.Contains(err.Error(), "password") {
			t.Skipf("the server wants a password for the new role: %v", err)
		}
		if !prov.IsKind(err, prov.Unauthorized) {
			t.Fatalf("Open as a role that may not create a schema: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Unauthorized)
		}
	})
}

// TestConcurrentOpensMigrateOnce opens one new schema from several
// goroutines at once: all succeed, and each migration is applied once.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	const opens = 6
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, opens)
	errs := make([]error, opens)
	for i := range opens {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(t.Context(), dsn, postgres.Options{Schema: schema})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	var n, versions int
	err := stores[0].Pool().QueryRow(t.Context(),
		"SELECT count(*), count(DISTINCT version) FROM "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&n, &versions)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != versions {
		t.Errorf("schema_migrations has %d rows for %d versions; want each version once", n, versions)
	}
	// Reopening finds nothing to do; a schema from a newer prov is refused.
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s.Close()
	if _, err := stores[0].Pool().Exec(t.Context(),
		"INSERT INTO "+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+" (version, name) VALUES (9999, 'future')"); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(t.Context(), dsn, postgres.Options{Schema: schema}); !prov.IsKind(err, prov.Conflict) {
		t.Errorf("Open of a schema at version 9999: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Conflict)
	}
}
