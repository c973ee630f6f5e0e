package storetest

import (
	"os"
	"testing"
)

// PostgresDSN returns the DSN of the PostgreSQL test database, from
// PROV_TEST_POSTGRES. Without it the test is skipped — unless
// PROV_REQUIRE_SERVICES=1 (as .ci/run sets), which makes it fail instead, so
// that CI never passes by skipping.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("PROV_TEST_POSTGRES")
	if dsn == "" {
		const hint = "set PROV_TEST_POSTGRES to a database's DSN, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		if os.Getenv("PROV_REQUIRE_SERVICES") == "1" {
			tb.Fatal("PROV_REQUIRE_SERVICES=1 makes the PostgreSQL tests mandatory, but PROV_TEST_POSTGRES is not set: " + hint)
		}
		tb.Skip("PROV_TEST_POSTGRES is not set: skipping the PostgreSQL tests (" + hint + ")")
	}
	return dsn
}
