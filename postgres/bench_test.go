package postgres_test

// Performance benchmarks of the PostgreSQL store, through the real code
// paths: tlog.Log over a store opened by postgres.Open. The same set as
// sqlite/bench_test.go; docs/PERFORMANCE.md says what each measures, how to
// run them and what they gave. They need PROV_TEST_POSTGRES, such as
//
//	export PROV_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go test -run '^$' -bench 'Batch' -benchtime 50x -count 6 ./postgres/
//	go test -run '^$' -bench 'Single' -benchtime 2000x -count 6 ./postgres/
//	go test -run '^$' -bench 'InclusionProof1M' -benchtime 5000x -count 6 ./postgres/
//	go test -run '^$' -bench 'Verify' -benchtime 3x -count 6 ./postgres/
//
// and are skipped without it (unless PROV_REQUIRE_SERVICES=1). Each
// benchmark that writes uses a schema of its own, dropped when it ends. The
// two read-only fixture logs (1M small records for proofs, 200k 1 KiB
// records for verify) are built once and kept, like the SQLite ones in
// os.TempDir(), in schemas named provbench_<fixture>_<key>; a new key (a
// new benchCacheVersion or migration) replaces them. PROV_BENCH_NOCACHE=1
// builds them in throwaway schemas instead. The heavy benchmarks are
// skipped under -short.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

const (
	benchOrigin     = "bench.example/prov"
	benchRecordSize = 1024 // bytes of one record in the append and verify benchmarks
	benchBatch      = 1000 // records per Append in the batched benchmarks
	benchVerifySize = 200_000
	benchProofSize  = 1_000_000
	// benchCacheVersion names the kept fixture schemas; bump it when the way
	// they are built changes. The schema migrations are part of the key too.
	benchCacheVersion = "v2"
)

// benchDSN returns PROV_TEST_POSTGRES, or skips the benchmark.
func benchDSN(b *testing.B) string {
	b.Helper()
	dsn := os.Getenv("PROV_TEST_POSTGRES")
	if dsn == "" {
		const hint = "set PROV_TEST_POSTGRES to a database's DSN, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		if os.Getenv("PROV_REQUIRE_SERVICES") == "1" {
			b.Fatal("PROV_REQUIRE_SERVICES=1 makes the PostgreSQL benchmarks mandatory, but PROV_TEST_POSTGRES is not set: " + hint)
		}
		b.Skip("PROV_TEST_POSTGRES is not set: skipping the PostgreSQL benchmarks (" + hint + ")")
	}
	return dsn
}

func benchSkipShort(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy benchmark: skipped under -short")
	}
}

func benchDropSchema(dsn, schema string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

// benchUniqueSchema returns a schema name no one else uses, dropped when the
// benchmark ends.
func benchUniqueSchema(b *testing.B, dsn string) string {
	b.Helper()
	schema := benchNewSchemaName("provbench_")
	b.Cleanup(func() {
		if err := benchDropSchema(dsn, schema); err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func benchNewSchemaName(prefix string) string {
	r := make([]byte, 6)
	rand.Read(r)
	return prefix + hex.EncodeToString(r)
}

// benchCreateLog opens a store in schema and creates a log in it, with a signer.
func benchCreateLog(b *testing.B, ctx context.Context, dsn, schema string) (*postgres.Store, *tlog.Log) {
	b.Helper()
	st, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	skey, vkey, err := tlog.GenerateKey(benchOrigin)
	if err != nil {
		b.Fatal(err)
	}
	if err := tlog.Init(ctx, st, benchOrigin, vkey); err != nil {
		b.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	l, err := tlog.Open(ctx, st, tlog.Options{Signer: signer})
	if err != nil {
		b.Fatal(err)
	}
	return st, l
}

// benchRecordGen makes valid prov change records of an exact size, each
// with its own event id and entity id (a counter written into fixed-width
// digits of a template), padded to size with the "reason" field. The same
// records as sqlite/bench_test.go appends.
type benchRecordGen struct {
	tmpl []byte
	offs []int // where the 12 counter digits go
	n    int64
}

func newBenchRecordGen(size int) *benchRecordGen {
	const digits = "000000000000"
	rec := map[string]any{
		"type":      "change",
		"id":        "evt-" + digits,
		"time":      "2026-01-02T03:04:05.123456Z",
		"activity":  map[string]any{"id": "run:nightly-import/42", "kind": "job", "name": "nightly-import", "code_version": "3f2c9a1"},
		"agent":     map[string]any{"id": "svc:importer", "kind": "service"},
		"generated": []map[string]any{{"id": "pg:app/public.orders/[" + digits + "]", "op": "update", "columns": []string{"status", "updated_at"}}},
		"reason":    "",
	}
	base, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	pad := size - len(base)
	if pad < 0 {
		panic(fmt.Sprintf("record template is %d bytes, over %d", len(base), size))
	}
	const words = "backfill of order status after the carrier webhook outage; approved in change request 1234. "
	reason := make([]byte, pad)
	for i := range reason {
		reason[i] = words[i%len(words)]
	}
	rec["reason"] = string(reason)
	tmpl, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	if len(tmpl) != size {
		panic(fmt.Sprintf("record template is %d bytes, want %d", len(tmpl), size))
	}
	g := &benchRecordGen{tmpl: tmpl}
	for i := 0; ; {
		j := strings.Index(string(tmpl[i:]), digits)
		if j < 0 {
			break
		}
		g.offs = append(g.offs, i+j)
		i += j + len(digits)
	}
	if len(g.offs) != 2 {
		panic("record template: counter digits not found")
	}
	return g
}

// newBenchSmallRecordGen makes the smallest records of the generator's
// shape (about 300 bytes), for the 1M-record proof fixture.
func newBenchSmallRecordGen() *benchRecordGen {
	g := newBenchRecordGen(1024)
	var r map[string]any
	if err := json.Unmarshal(g.tmpl, &r); err != nil {
		panic(err)
	}
	r["reason"] = "backfill"
	small, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return newBenchRecordGen(len(small))
}

// batch fills recs with the next len(recs) records, written into buf (which
// must hold len(recs)*size bytes), and returns recs.
func (g *benchRecordGen) batch(recs [][]byte, buf []byte) [][]byte {
	size := len(g.tmpl)
	for i := range recs {
		r := buf[i*size : (i+1)*size : (i+1)*size]
		copy(r, g.tmpl)
		var d [20]byte
		s := strconv.AppendInt(d[:0], g.n, 10)
		for _, off := range g.offs {
			dst := r[off : off+12]
			for k := range dst {
				dst[k] = '0'
			}
			copy(dst[12-len(s):], s)
		}
		g.n++
		recs[i] = r
	}
	return recs
}

func newBenchBatch(n, size int) ([][]byte, []byte) {
	return make([][]byte, n), make([]byte, n*size)
}

// benchOpenRaw creates the baseline: a plain table raw(idx bigint PRIMARY
// KEY, data bytea) in a schema of its own, on a pool of its own.
func benchOpenRaw(b *testing.B, ctx context.Context, dsn string) (*pgxpool.Pool, pgx.Identifier) {
	b.Helper()
	schema := benchUniqueSchema(b, dsn)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	table := pgx.Identifier{schema, "raw"}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()+"; CREATE TABLE "+table.Sanitize()+" (idx bigint PRIMARY KEY, data bytea NOT NULL)"); err != nil {
		pool.Close()
		b.Fatal(err)
	}
	return pool, table
}

// benchRawCopy writes recs as rows first, first+1, … with COPY, in one
// transaction (one durable commit).
func benchRawCopy(ctx context.Context, pool *pgxpool.Pool, table pgx.Identifier, first int64, recs [][]byte) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	_, err = tx.CopyFrom(ctx, table, []string{"idx", "data"}, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		return []any{first + int64(i), recs[i]}, nil
	}))
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func benchReportRate(b *testing.B, records int64, d time.Duration) {
	b.ReportMetric(float64(records)/d.Seconds(), "records/s")
}

func benchReportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	pct := func(p float64) float64 {
		i := int(p*float64(len(d))+0.5) - 1 // nearest rank
		i = max(0, min(i, len(d)-1))
		return float64(d[i]) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkAppendBatch: durable batched append of 1 KiB records, 1000 per
// Log.Append (one transaction, one commit). Target ≥ 50,000 records/s.
func BenchmarkAppendBatch(b *testing.B) {
	benchSkipShort(b)
	dsn := benchDSN(b)
	ctx := context.Background()
	st, l := benchCreateLog(b, ctx, dsn, benchUniqueSchema(b, dsn))
	defer st.Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	b.SetBytes(benchBatch * benchRecordSize)
	for b.Loop() {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		if _, err := l.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	benchReportRate(b, int64(b.N)*benchBatch, b.Elapsed())
}

// BenchmarkAppendEntriesBatch: BenchmarkAppendBatch with validation
// (Log.Prepare) done with the timer stopped: only Log.AppendEntries is
// timed.
func BenchmarkAppendEntriesBatch(b *testing.B) {
	benchSkipShort(b)
	dsn := benchDSN(b)
	ctx := context.Background()
	st, l := benchCreateLog(b, ctx, dsn, benchUniqueSchema(b, dsn))
	defer st.Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	entries := make([]prov.Entry, benchBatch)
	b.SetBytes(benchBatch * benchRecordSize)
	for b.Loop() {
		b.StopTimer()
		g.batch(recs, buf)
		for k, r := range recs {
			var err error
			if entries[k], err = l.Prepare(r); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if _, err := l.AppendEntries(ctx, entries); err != nil {
			b.Fatal(err)
		}
	}
	benchReportRate(b, int64(b.N)*benchBatch, b.Elapsed())
}

// BenchmarkRawInsertBatch: the same bytes, 1000 rows per transaction, with
// COPY into a plain bytea table: no validation, no hashing, no index fields.
// The floor for BenchmarkAppendBatch.
func BenchmarkRawInsertBatch(b *testing.B) {
	benchSkipShort(b)
	dsn := benchDSN(b)
	ctx := context.Background()
	pool, table := benchOpenRaw(b, ctx, dsn)
	defer pool.Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	b.SetBytes(benchBatch * benchRecordSize)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		if err := benchRawCopy(ctx, pool, table, int64(i)*benchBatch, recs); err != nil {
			b.Fatal(err)
		}
	}
	benchReportRate(b, int64(b.N)*benchBatch, b.Elapsed())
}

// BenchmarkSchemaInsertBatch: the same bytes, 1000 rows per transaction,
// with COPY into the store's own records table (made by postgres.Open: its
// columns and indexes), with the index fields and 64 bytes of placeholder
// tree hashes (a record stores two hashes on average) but no validation, no
// hashing and no tlog: what the schema costs on top of
// BenchmarkRawInsertBatch.
func BenchmarkSchemaInsertBatch(b *testing.B) {
	benchSkipShort(b)
	dsn := benchDSN(b)
	ctx := context.Background()
	schema := benchUniqueSchema(b, dsn)
	st, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	table := pgx.Identifier{schema, "records"}
	columns := []string{"idx", "data", "hashes", "type", "event_id", "activity_id", "agent_id", "time"}
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	hashes := make([]byte, 2*prov.HashSize)
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	b.SetBytes(benchBatch * benchRecordSize)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		err := func() error {
			tx, err := st.Pool().Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			_, err = tx.CopyFrom(ctx, table, columns, pgx.CopyFromSlice(len(recs), func(k int) ([]any, error) {
				n := int64(i)*benchBatch + int64(k)
				return []any{n, recs[k], hashes, "change", fmt.Sprintf("evt-%012d", n), "run:nightly-import/42", "svc:importer", at}, nil
			}))
			if err != nil {
				return err
			}
			return tx.Commit(ctx)
		}()
		if err != nil {
			b.Fatal(err)
		}
	}
	benchReportRate(b, int64(b.N)*benchBatch, b.Elapsed())
}

// BenchmarkAppendBatchVsRaw runs BenchmarkAppendBatch and
// BenchmarkRawInsertBatch interleaved, batch by batch
// (alternating which goes first), on the same bytes, so that both see the
// same machine load. It reports both rates and ratio = prov/raw.
func BenchmarkAppendBatchVsRaw(b *testing.B) {
	benchSkipShort(b)
	dsn := benchDSN(b)
	ctx := context.Background()
	st, l := benchCreateLog(b, ctx, dsn, benchUniqueSchema(b, dsn))
	defer st.Close()
	pool, table := benchOpenRaw(b, ctx, dsn)
	defer pool.Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	var provTime, rawTime time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		for k := range 2 {
			start := time.Now()
			if (i+k)%2 == 0 {
				if _, err := l.Append(ctx, recs); err != nil {
					b.Fatal(err)
				}
				provTime += time.Since(start)
			} else {
				if err := benchRawCopy(ctx, pool, table, int64(i)*benchBatch, recs); err != nil {
					b.Fatal(err)
				}
				rawTime += time.Since(start)
			}
		}
	}
	n := float64(b.N) * benchBatch
	b.ReportMetric(n/provTime.Seconds(), "prov-records/s")
	b.ReportMetric(n/rawTime.Seconds(), "raw-records/s")
	b.ReportMetric(rawTime.Seconds()/provTime.Seconds(), "ratio")
}

// BenchmarkAppendSingle: one 1 KiB record per Log.Append, so one durable
// commit each. Target p50 ≤ 1 ms.
func BenchmarkAppendSingle(b *testing.B) {
	dsn := benchDSN(b)
	ctx := context.Background()
	st, l := benchCreateLog(b, ctx, dsn, benchUniqueSchema(b, dsn))
	defer st.Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(1, benchRecordSize)
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		start := time.Now()
		if _, err := l.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	benchReportLatency(b, lat)
}

// BenchmarkRawInsertSingle: the floor for BenchmarkAppendSingle, one row of
// the same bytes per durable commit: a single INSERT in its own (implicit)
// transaction, one round trip.
func BenchmarkRawInsertSingle(b *testing.B) {
	dsn := benchDSN(b)
	ctx := context.Background()
	pool, table := benchOpenRaw(b, ctx, dsn)
	defer pool.Close()
	insert := "INSERT INTO " + table.Sanitize() + " (idx, data) VALUES ($1, $2)"
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(1, benchRecordSize)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		start := time.Now()
		if _, err := pool.Exec(ctx, insert, int64(i), recs[0]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	benchReportLatency(b, lat)
}

// benchFixtureSchema names a kept fixture: what is in it, the cache version
// and a digest of the migrations, so that a schema change rebuilds it.
func benchFixtureSchema(name string) string {
	h := sha256.New()
	h.Write([]byte(benchCacheVersion + "\n" + name + "\n"))
	err := fs.WalkDir(os.DirFS("migrations"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("migrations", p))
		h.Write([]byte(p + "\n"))
		h.Write(b)
		return err
	})
	if err != nil {
		panic(err)
	}
	return "provbench_" + name + "_" + hex.EncodeToString(h.Sum(nil))[:12]
}

// benchFixtureLog opens a log of size records of recSize bytes (0: small
// records, about 300 bytes) with a signed checkpoint at size. It is built
// once and kept in its own schema (see the top of the file); building is not
// timed.
func benchFixtureLog(b *testing.B, ctx context.Context, dsn, name string, size int64, recSize int) *tlog.Log {
	b.Helper()
	keep := os.Getenv("PROV_BENCH_NOCACHE") == ""
	schema := benchFixtureSchema(name)
	if keep {
		if l, err := benchOpenFixture(ctx, dsn, schema, size); err == nil {
			return l
		} else {
			b.Logf("building %s: %v", schema, err)
		}
	}
	start := time.Now()
	tmp := benchNewSchemaName("provbench_tmp_")
	b.Cleanup(func() { benchDropSchema(dsn, tmp) }) // if the build fails
	st, l := benchCreateLog(b, ctx, dsn, tmp)
	var g *benchRecordGen
	if recSize == 0 {
		g = newBenchSmallRecordGen()
	} else {
		g = newBenchRecordGen(recSize)
	}
	const chunk = 50_000
	recs, buf := newBenchBatch(chunk, len(g.tmpl))
	for n := int64(0); n < size; n += chunk {
		k := min(chunk, size-n)
		g.batch(recs[:k], buf)
		entries := make([]prov.Entry, k)
		for i, r := range recs[:k] {
			var err error
			if entries[i], err = l.Prepare(r); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := l.AppendEntries(ctx, entries); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := l.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	pool := st.Pool()
	// As autovacuum would have by the time a log is this big: hint bits and
	// the visibility map set, statistics gathered.
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{tmp, "records"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	if !keep {
		b.Logf("built %s (%d records) in %v", tmp, size, time.Since(start).Round(time.Millisecond))
		return l
	}
	if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{tmp}.Sanitize()+" RENAME TO "+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	st.Close()
	// Older versions of this fixture are of no more use.
	if rows, err := benchQueryStrings(ctx, dsn, "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 AND nspname <> $2", "provbench_"+name+"_%", schema); err == nil {
		for _, old := range rows {
			benchDropSchema(dsn, old)
		}
	}
	b.Logf("built %s (%d records) in %v", schema, size, time.Since(start).Round(time.Millisecond))
	l, err := benchOpenFixture(ctx, dsn, schema, size)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func benchQueryStrings(ctx context.Context, dsn, query string, args ...any) ([]string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, query, args...)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func benchOpenFixture(ctx context.Context, dsn, schema string, size int64) (*tlog.Log, error) {
	names, err := benchQueryStrings(ctx, dsn, "SELECT nspname FROM pg_namespace WHERE nspname = $1", schema)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no schema %s yet", schema)
	}
	st, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
	if err != nil {
		return nil, err
	}
	l, err := tlog.Open(ctx, st, tlog.Options{})
	if err == nil {
		var c prov.Checkpoint
		var n int64
		if n, err = l.Size(ctx); err == nil && n != size {
			err = fmt.Errorf("it has %d records, want %d", n, size)
		} else if c, err = l.LatestCheckpoint(ctx); err == nil && c.Size != size {
			err = fmt.Errorf("its checkpoint is for %d records, want %d", c.Size, size)
		}
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return l, nil
}

// BenchmarkInclusionProof1M: Log.ProveInclusion of random records of a log
// of 1,000,000 records, against its latest checkpoint (index, size 0), as
// 'prov prove' asks. Target p50 ≤ 100 µs.
func BenchmarkInclusionProof1M(b *testing.B) {
	benchSkipShort(b)
	dsn := benchDSN(b)
	ctx := context.Background()
	l := benchFixtureLog(b, ctx, dsn, "proof1m", benchProofSize, 0)
	defer l.Store().Close()
	rng := mrand.New(mrand.NewPCG(1, 2))
	var lat []time.Duration
	for b.Loop() {
		idx := rng.Int64N(benchProofSize)
		start := time.Now()
		p, err := l.ProveInclusion(ctx, idx, 0)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if p.TreeSize != benchProofSize || p.Index != idx {
			b.Fatalf("proof of %d in %d, want %d in %d", p.Index, p.TreeSize, idx, benchProofSize)
		}
	}
	benchReportLatency(b, lat)
	p, err := l.ProveInclusion(ctx, benchProofSize/3, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := tlog.VerifyInclusion(p); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerify: Log.Verify (what 'prov verify' runs) over a log of
// 200,000 records of 1 KiB with a signed checkpoint. Target ≥ 300,000
// records/s.
func BenchmarkVerify(b *testing.B) {
	benchSkipShort(b)
	dsn := benchDSN(b)
	ctx := context.Background()
	l := benchFixtureLog(b, ctx, dsn, "verify200k", benchVerifySize, benchRecordSize)
	defer l.Store().Close()
	b.SetBytes(benchVerifySize * benchRecordSize)
	for b.Loop() {
		rep, err := l.Verify(ctx, tlog.VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Size != benchVerifySize || rep.Checkpoints != 1 {
			b.Fatalf("verified %d records and %d checkpoints", rep.Size, rep.Checkpoints)
		}
	}
	benchReportRate(b, int64(b.N)*benchVerifySize, b.Elapsed())
}
