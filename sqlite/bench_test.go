package sqlite_test

// Performance benchmarks of the embedded store, through the real code paths:
// tlog.Log over a store opened by sqlite.Open (WAL, synchronous=FULL).
// docs/PERFORMANCE.md says what each measures, how to run them and what
// they gave. Run them with, for example:
//
//	go test -run '^$' -bench 'Batch' -benchtime 50x -count 6 ./sqlite/
//	go test -run '^$' -bench 'Single' -benchtime 2000x -count 6 ./sqlite/
//	go test -run '^$' -bench 'InclusionProof1M' -benchtime 5000x -count 6 ./sqlite/
//	go test -run '^$' -bench 'Verify' -benchtime 3x -count 6 ./sqlite/
//
// The heavy ones are skipped under -short.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
	_ "modernc.org/sqlite"
)

const (
	benchOrigin     = "bench.example/prov"
	benchRecordSize = 1024 // bytes of one record in the append and verify benchmarks
	benchBatch      = 1000 // records per Append in the batched benchmarks
	benchVerifySize = 200_000
	benchProofSize  = 1_000_000
	// benchCacheVersion names the cached fixture logs in os.TempDir(); bump
	// it when the way they are built changes. The schema migrations are part
	// of the key too (see benchFixtureKey).
	benchCacheVersion = "v1"
)

// benchRecordGen makes valid prov change records of an exact size, each with its
// own event id and entity id (a counter written into fixed-width digits of
// a template), padded to size with the "reason" field.
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
	for i := 0; i+len(digits) <= len(tmpl); {
		j := benchIndexFrom(tmpl, digits, i)
		if j < 0 {
			break
		}
		g.offs = append(g.offs, j)
		i = j + len(digits)
	}
	if len(g.offs) != 2 {
		panic("record template: counter digits not found")
	}
	return g
}

func benchIndexFrom(b []byte, s string, from int) int {
	for i := from; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
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

// benchCreateLog creates a store at path and a log in it, with a signer.
func benchCreateLog(tb testing.TB, ctx context.Context, path string) (*sqlite.Store, *tlog.Log) {
	tb.Helper()
	st, err := sqlite.Open(ctx, path, sqlite.Options{Create: true})
	if err != nil {
		tb.Fatal(err)
	}
	skey, vkey, err := tlog.GenerateKey(benchOrigin)
	if err != nil {
		tb.Fatal(err)
	}
	if err := tlog.Init(ctx, st, benchOrigin, vkey); err != nil {
		tb.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := tlog.Open(ctx, st, tlog.Options{Signer: signer})
	if err != nil {
		tb.Fatal(err)
	}
	return st, l
}

// benchOpenRaw opens the baseline: a plain SQLite file with the store's settings
// (WAL, synchronous=FULL, BEGIN IMMEDIATE, one writer connection) and one
// plain table, raw(idx INTEGER PRIMARY KEY, data BLOB).
func benchOpenRaw(tb testing.TB, ctx context.Context, path string) *sql.DB {
	tb.Helper()
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(30000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	if _, err := db.ExecContext(ctx, "CREATE TABLE raw (idx INTEGER PRIMARY KEY, data BLOB)"); err != nil {
		tb.Fatal(err)
	}
	return db
}

// benchRawInsert writes recs as rows first, first+1, … in one transaction, with a
// statement prepared once per transaction, as the store does.
func benchRawInsert(ctx context.Context, db *sql.DB, first int64, recs [][]byte) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO raw (idx, data) VALUES (?, ?)")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, r := range recs {
		if _, err := stmt.ExecContext(ctx, first+int64(i), r); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func benchReportRate(b *testing.B, records int64, d time.Duration) {
	b.ReportMetric(float64(records)/d.Seconds(), "records/s")
}

// BenchmarkAppendBatch: durable batched append of 1 KiB records, 1000 per
// Log.Append (one transaction, one fsync'd commit). Target ≥ 50,000 records/s.
func BenchmarkAppendBatch(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy benchmark: skipped under -short")
	}
	ctx := context.Background()
	_, l := benchCreateLog(b, ctx, filepath.Join(b.TempDir(), "prov.db"))
	defer l.Store().Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	b.SetBytes(benchBatch * benchRecordSize)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		if _, err := l.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	benchReportRate(b, int64(b.N)*benchBatch, b.Elapsed())
}

// BenchmarkAppendEntriesBatch: BenchmarkAppendBatch without validation: the
// records are prepared (Log.Prepare) with the timer stopped, and only
// Log.AppendEntries (tree hashes, index fields, insert, durable commit) is
// timed. AppendBatch minus this is the cost of validating the records.
func BenchmarkAppendEntriesBatch(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy benchmark: skipped under -short")
	}
	ctx := context.Background()
	_, l := benchCreateLog(b, ctx, filepath.Join(b.TempDir(), "prov.db"))
	defer l.Store().Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	entries := make([]prov.Entry, benchBatch)
	b.SetBytes(benchBatch * benchRecordSize)
	for i := 0; b.Loop(); i++ {
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

// BenchmarkRawInsertBatch: the same bytes, 1000 rows per transaction, into
// a plain table of a plain SQLite file with the same settings: no
// validation, no hashing, no index fields. The floor for BenchmarkAppendBatch.
func BenchmarkRawInsertBatch(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy benchmark: skipped under -short")
	}
	ctx := context.Background()
	db := benchOpenRaw(b, ctx, filepath.Join(b.TempDir(), "raw.db"))
	defer db.Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	b.SetBytes(benchBatch * benchRecordSize)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		if err := benchRawInsert(ctx, db, int64(i)*benchBatch, recs); err != nil {
			b.Fatal(err)
		}
	}
	benchReportRate(b, int64(b.N)*benchBatch, b.Elapsed())
}

// BenchmarkSchemaInsertBatch: the same bytes, 1000 rows per transaction,
// into the store's own records table (made by sqlite.Open: its columns and
// indexes), with the index fields and 64 bytes of placeholder tree hashes (a
// record stores two hashes on average) but no validation, no hashing and no
// tlog: what the schema costs on top of BenchmarkRawInsertBatch.
func BenchmarkSchemaInsertBatch(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy benchmark: skipped under -short")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "schema.db"), sqlite.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	hashes := make([]byte, 2*prov.HashSize)
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC).UnixMicro()
	b.SetBytes(benchBatch * benchRecordSize)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		err := func() error {
			tx, err := st.DB().BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			stmt, err := tx.PrepareContext(ctx, "INSERT INTO records (idx, data, hashes, type, event_id, activity_id, agent_id, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
			if err != nil {
				return err
			}
			defer stmt.Close()
			for k, r := range recs {
				n := int64(i)*benchBatch + int64(k)
				if _, err := stmt.ExecContext(ctx, n, r, hashes, "change", fmt.Sprintf("evt-%012d", n), "run:nightly-import/42", "svc:importer", at); err != nil {
					return err
				}
			}
			return tx.Commit()
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
// same machine load: on a shared, noisy machine this is the fair ratio. It
// reports both rates and ratio = prov/raw (target ≥ 0.6), and the process
// CPU time of each side's batches (prov-cpu-ms, raw-cpu-ms per batch: work
// that other goroutines do meanwhile, such as the garbage collector's, is
// counted on the side whose turn it is).
func BenchmarkAppendBatchVsRaw(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy benchmark: skipped under -short")
	}
	ctx := context.Background()
	dir := b.TempDir()
	_, l := benchCreateLog(b, ctx, filepath.Join(dir, "prov.db"))
	defer l.Store().Close()
	db := benchOpenRaw(b, ctx, filepath.Join(dir, "raw.db"))
	defer db.Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(benchBatch, benchRecordSize)
	var provTime, rawTime, provCPU, rawCPU time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		for k := range 2 {
			start := time.Now()
			cpu, _ := processCPU()
			if (i+k)%2 == 0 {
				if _, err := l.Append(ctx, recs); err != nil {
					b.Fatal(err)
				}
				provTime += time.Since(start)
				now, _ := processCPU()
				provCPU += now - cpu
			} else {
				if err := benchRawInsert(ctx, db, int64(i)*benchBatch, recs); err != nil {
					b.Fatal(err)
				}
				rawTime += time.Since(start)
				now, _ := processCPU()
				rawCPU += now - cpu
			}
		}
	}
	n := float64(b.N) * benchBatch
	b.ReportMetric(n/provTime.Seconds(), "prov-records/s")
	b.ReportMetric(n/rawTime.Seconds(), "raw-records/s")
	b.ReportMetric(rawTime.Seconds()/provTime.Seconds(), "ratio")
	if _, ok := processCPU(); ok {
		b.ReportMetric(provCPU.Seconds()*1e3/float64(b.N), "prov-cpu-ms")
		b.ReportMetric(rawCPU.Seconds()*1e3/float64(b.N), "raw-cpu-ms")
	}
}

// BenchmarkAppendBatchVsRawCheckpointed is BenchmarkAppendBatchVsRaw with
// prov's WAL checkpoint charged to prov: the Store checkpoints beside the
// writer, after its commits (see Store.checkpointer), so in the
// interleaved benchmark that work can run during the raw insert's turn,
// which checkpoints in its own commits. Here each prov batch is followed,
// in prov's time, by a PASSIVE checkpoint of prov's file on a connection
// of the benchmark, which leaves the Store's checkpointer nothing to copy.
// The conservative ratio: it gives prov no credit for checkpointing on
// the other core.
func BenchmarkAppendBatchVsRawCheckpointed(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy benchmark: skipped under -short")
	}
	ctx := context.Background()
	dir := b.TempDir()
	path := filepath.Join(dir, "prov.db")
	_, l := benchCreateLog(b, ctx, path)
	defer l.Store().Close()
	ck, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=synchronous(FULL)&_pragma=busy_timeout(30000)")
	if err != nil {
		b.Fatal(err)
	}
	defer ck.Close()
	ck.SetMaxOpenConns(1)
	db := benchOpenRaw(b, ctx, filepath.Join(dir, "raw.db"))
	defer db.Close()
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
				var busy, frames, copied int
				if err := ck.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
					b.Fatal(err)
				}
				provTime += time.Since(start)
			} else {
				if err := benchRawInsert(ctx, db, int64(i)*benchBatch, recs); err != nil {
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

// BenchmarkAppendSingle: one 1 KiB record per Log.Append, so one durable
// commit each. Target p50 ≤ 1 ms.
func BenchmarkAppendSingle(b *testing.B) {
	ctx := context.Background()
	_, l := benchCreateLog(b, ctx, filepath.Join(b.TempDir(), "prov.db"))
	defer l.Store().Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(1, benchRecordSize)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
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
// the same bytes per transaction into the plain table (the cost of one
// durable SQLite commit on this disk).
func BenchmarkRawInsertSingle(b *testing.B) {
	ctx := context.Background()
	db := benchOpenRaw(b, ctx, filepath.Join(b.TempDir(), "raw.db"))
	defer db.Close()
	g := newBenchRecordGen(benchRecordSize)
	recs, buf := newBenchBatch(1, benchRecordSize)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		g.batch(recs, buf)
		b.StartTimer()
		start := time.Now()
		if err := benchRawInsert(ctx, db, int64(i), recs); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	benchReportLatency(b, lat)
}

// benchFixtureKey names a cached fixture log: the cache version, what is in it,
// and a digest of the schema migrations, so that a schema change rebuilds it.
func benchFixtureKey(name string) string {
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
	return fmt.Sprintf("prov-bench-sqlite-%s-%s-%s.db", name, benchCacheVersion, hex.EncodeToString(h.Sum(nil))[:12])
}

// benchFixtureLog opens a log of size records of recSize bytes (0: small records),
// with a signed checkpoint at size. It is built once and kept in
// os.TempDir() across runs (PROV_BENCH_NOCACHE=1 rebuilds it in a temporary
// directory instead); building is not timed.
func benchFixtureLog(b *testing.B, ctx context.Context, name string, size int64, recSize int) *tlog.Log {
	b.Helper()
	dir := os.TempDir()
	if os.Getenv("PROV_BENCH_NOCACHE") != "" {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, benchFixtureKey(name))
	if l, err := benchOpenFixture(ctx, path, size); err == nil {
		return l
	} else if !errors.Is(err, fs.ErrNotExist) {
		b.Logf("rebuilding %s: %v", path, err)
	}
	start := time.Now()
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(tmp + suffix)
	}
	st, l := benchCreateLog(b, ctx, tmp)
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
	if _, err := st.DB().ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(tmp + suffix); err == nil && fi.Size() > 0 && suffix == "-wal" {
			b.Fatalf("%s still has a write-ahead log after a checkpoint", tmp)
		}
		os.Remove(tmp + suffix)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s (%d records) in %v", path, size, time.Since(start).Round(time.Millisecond))
	l, err := benchOpenFixture(ctx, path, size)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func benchOpenFixture(ctx context.Context, path string, size int64) (*tlog.Log, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
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

// newBenchSmallRecordGen makes the smallest records of the generator's shape
// (about 300 bytes), for the 1M-record proof fixture.
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

// BenchmarkInclusionProof1M: Log.ProveInclusion of random records of a log
// of 1,000,000 records, against its latest checkpoint (index, size 0), as
// 'prov prove' asks. Target p50 ≤ 100 µs.
func BenchmarkInclusionProof1M(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy benchmark: skipped under -short")
	}
	ctx := context.Background()
	l := benchFixtureLog(b, ctx, "proof-1M", benchProofSize, 0)
	defer l.Store().Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
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
	if err := tlog.VerifyInclusion(benchMustProve(b, ctx, l, benchProofSize/3)); err != nil {
		b.Fatal(err)
	}
}

func benchMustProve(b *testing.B, ctx context.Context, l *tlog.Log, idx int64) tlog.InclusionProof {
	p, err := l.ProveInclusion(ctx, idx, 0)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkVerify: Log.Verify (what 'prov verify' runs) over a log of
// 200,000 records of 1 KiB with a signed checkpoint. Target ≥ 300,000
// records/s.
func BenchmarkVerify(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy benchmark: skipped under -short")
	}
	ctx := context.Background()
	l := benchFixtureLog(b, ctx, "verify-200k-1KiB", benchVerifySize, benchRecordSize)
	defer l.Store().Close()
	b.SetBytes(benchVerifySize * benchRecordSize)
	for i := 0; b.Loop(); i++ {
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
