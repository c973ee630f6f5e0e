package openlineage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/tlog"
)

// mix returns n distinct events made from the corpus events Decode accepts,
// in corpus order, over and over: copy k of a run event has its run ids
// replaced by fresh ones (same length), of other events its eventTime moved
// by k seconds, so that each is new to the log and the mix of sizes and
// shapes is the corpus's.
func mix(b *testing.B, n int) [][]byte {
	base := accepted(b)
	seen := map[string]bool{}
	var uniq [][]byte
	for _, c := range base {
		raw := bytes.Trim(c.raw, " \t\r\n")
		if !seen[string(raw)] {
			seen[string(raw)] = true
			uniq = append(uniq, raw)
		}
	}
	out := make([][]byte, 0, n)
	for k := 0; len(out) < n; k++ {
		for _, raw := range uniq {
			if len(out) == n {
				break
			}
			e, err := openlineage.Decode(raw)
			if err != nil {
				b.Fatal(err)
			}
			var ev []byte
			switch {
			case e.Run != nil:
				ev = raw
				for _, id := range []string{e.Run.ID, e.Run.ParentRun} {
					if id == "" {
						continue
					}
					q, _ := json.Marshal(id)
					fresh := fmt.Sprintf("%08x-0000-7000-8000-%012x", k, len(out))
					if len(e.Run.ID) < len(fresh) {
						fresh = fresh[len(fresh)-len(id):]
					}
					ev = bytes.ReplaceAll(ev, q, []byte(`"`+fresh+`"`))
				}
			default:
				ts := e.Time.Add(time.Duration(k) * time.Second).Format(time.RFC3339Nano)
				var m map[string]json.RawMessage
				json.Unmarshal(raw, &m)
				ev = bytes.Replace(raw, m["eventTime"], []byte(`"`+ts+`"`), 1)
			}
			out = append(out, ev)
		}
	}
	return out
}

// cpuTime is the CPU time this process has used (user and system): on a
// shared machine, events per CPU second says what the code costs, events
// per second what this machine gave it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPUTime is the CPU time of the calling thread (lock the goroutine to
// its thread first): in BenchmarkIngest the append transaction's, which
// runs on the caller's goroutine, and which no other core can share.
func threadCPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngest ingests the corpus mix into an embedded (SQLite) log, in
// transactions of batch events, beside the baseline: appending the very
// records the ingest makes with tlog's AppendIdempotent, without decoding
// events or indexing them. Sub-benchmarks alternate, so -count N
// interleaves them.
// benchN is the number of events per run of BenchmarkIngest.
var benchN = 20000

func BenchmarkIngest(b *testing.B) {
	n := benchN
	events := mix(b, n)
	var bytesIn int
	for _, e := range events {
		bytesIn += len(e)
	}
	for _, batch := range []int{1000, 1} {
		b.Run(fmt.Sprintf("openlineage/batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				_, l := newSQLite(b)
				m := n
				if batch == 1 {
					m = 2000 // a transaction each: the disk's fsyncs bound it
				}
				runtime.LockOSThread()
				b.StartTimer()
				start, cpu, tcpu := time.Now(), cpuTime(), threadCPUTime()
				for j := 0; j < m; j += batch {
					if _, err := openlineage.Ingest(ctx, l, events[j:min(j+batch, m)]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(m)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(float64(m)/(cpuTime()-cpu).Seconds(), "events/cpu-s")
				b.ReportMetric(float64((threadCPUTime()-tcpu).Microseconds())/float64(m), "writer-cpu-µs/event")
				runtime.UnlockOSThread()
			}
			b.SetBytes(int64(bytesIn / n))
		})
		b.Run(fmt.Sprintf("records/batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			records := make([][]byte, n)
			for i, e := range events {
				ev, err := openlineage.Decode(e)
				if err != nil {
					b.Fatal(err)
				}
				if records[i], err = openlineage.Record(ev); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s, _ := newSQLite(b)
				l, err := tlog.Open(ctx, s, tlog.Options{}) // no lineage indexer
				if err != nil {
					b.Fatal(err)
				}
				m := n
				if batch == 1 {
					m = 2000
				}
				runtime.LockOSThread()
				b.StartTimer()
				start, cpu, tcpu := time.Now(), cpuTime(), threadCPUTime()
				for j := 0; j < m; j += batch {
					if _, err := l.AppendIdempotent(ctx, records[j:min(j+batch, m)]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(m)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(float64(m)/(cpuTime()-cpu).Seconds(), "events/cpu-s")
				b.ReportMetric(float64((threadCPUTime()-tcpu).Microseconds())/float64(m), "writer-cpu-µs/event")
				runtime.UnlockOSThread()
			}
		})
	}
}
