package openlineage_test

import (
	"testing"

	"github.com/prov-dev/prov/openlineage"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// BenchmarkStages measures the CPU stages of ingest one by one, per event
// of the corpus mix (ns/op is per event): decoding and validating, building
// the record, the log's Prepare of the record, and its leaf hash.
func BenchmarkStages(b *testing.B) {
	events := mix(b, 2000)
	_, l := newSQLite(b)
	decoded := make([]*openlineage.Event, len(events))
	records := make([][]byte, len(events))
	for i, e := range events {
		var err error
		if decoded[i], err = openlineage.Decode(e); err != nil {
			b.Fatal(err)
		}
		if records[i], err = openlineage.Record(decoded[i]); err != nil {
			b.Fatal(err)
		}
	}
	run := func(name string, f func(i int)) {
		b.Run(name, func(b *testing.B) {
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				f(i % len(events))
			}
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/event")
		})
	}
	var size int
	for _, r := range records {
		size += len(r)
	}
	b.Logf("%d events, %d bytes per record on average", len(events), size/len(events))
	run("decode", func(i int) {
		if _, err := openlineage.Decode(events[i]); err != nil {
			b.Fatal(err)
		}
	})
	run("record", func(i int) {
		if _, err := openlineage.Record(decoded[i]); err != nil {
			b.Fatal(err)
		}
	})
	run("logprepare", func(i int) {
		if _, err := l.Prepare(records[i]); err != nil {
			b.Fatal(err)
		}
	})
	run("leafhash", func(i int) {
		sumdb.RecordHash(records[i])
	})
	run("prepare", func(i int) {
		if _, _, err := openlineage.Prepare(l, events[i]); err != nil {
			b.Fatal(err)
		}
	})
}
