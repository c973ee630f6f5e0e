// Package capture records every row change of chosen application tables, in
// the application's own transaction, and moves the captured changes into the
// log as provenance records.
//
// On PostgreSQL, Enable installs statement-level triggers with transition
// tables that write the minimum into the capture queue (table, operation,
// row images, the prov.context attribution); the Sequencer derives the rest
// (entity ids, changed columns, digests, detection of writes that bypassed
// capture) and appends one change record per row to the log, in the same
// transaction that removes the changes from the queue.
//
// On SQLite, where the application's tables share the file with the log,
// Enable installs row-level triggers that do the same, with the attribution
// the SDK writes into the table prov_context (see SQLite). Both backends
// share the sequencer, and so the record format, bypass detection, row
// states and counters.
package capture

import (
	"context"
	suggestpkg "github.com/prov-dev/prov/internal/suggest"
	"sort"
	"strings"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
)

// Capturer is capture in one database, whatever its engine: *Postgres or
// *SQLite. Its methods may be called concurrently.
type Capturer interface {
	// Enable installs capture on tables, with the columns named in pii kept
	// as salted digests only. It is all or nothing.
	Enable(ctx context.Context, tables, pii []string) ([]Table, error)
	// Disable removes capture from a table.
	Disable(ctx context.Context, table string) error
	// Status reports the captured tables and their counts.
	Status(ctx context.Context) (Status, error)
	// Sequencer returns a sequencer that moves the captured changes into
	// log, which must be kept in the same database.
	Sequencer(log *tlog.Log) *Sequencer
}

var (
	_ Capturer = (*Postgres)(nil)
	_ Capturer = (*SQLite)(nil)
)

// Table is a captured table.
type Table struct {
	Name     string   `json:"table"` // schema.table
	PK       []string `json:"primary_key"`
	PII      []string `json:"pii,omitempty"`
	Enabled  string   `json:"enabled"`
	Disabled string   `json:"disabled,omitempty"`
}

// TableStatus is what Status says of one captured table.
type TableStatus struct {
	Table
	Changes      int64   `json:"changes"`      // captured, in the log or pending
	Pending      int64   `json:"pending"`      // captured, not yet in the log
	Unattributed int64   `json:"unattributed"` // captured with no prov.context
	Bypassed     int64   `json:"bypassed"`     // whose before-image showed a write that bypassed capture
	Share        float64 `json:"unattributed_share"`
	Missing      bool    `json:"missing,omitempty"` // the table was dropped
}

// Status is the state of capture in a database.
type Status struct {
	Tables       []TableStatus `json:"tables"`
	Changes      int64         `json:"changes"`
	Pending      int64         `json:"pending"`
	Unattributed int64         `json:"unattributed"`
	Share        float64       `json:"unattributed_share"`
}

// suggest returns the candidates closest to name, for "did you mean".
func suggest(name string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	var out []scored
	for _, c := range candidates {
		d := suggestpkg.Distance(strings.ToLower(name), strings.ToLower(c))
		if short := c[strings.LastIndexByte(c, '.')+1:]; short != c {
			d = min(d, suggestpkg.Distance(strings.ToLower(name), strings.ToLower(short)))
		}
		if d <= max(2, len(name)/3) {
			out = append(out, scored{c, d})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].d < out[j].d })
	var names []string
	for i := 0; i < len(out) && i < 3; i++ {
		names = append(names, out[i].s)
	}
	return names
}

// didYouMean formats suggestions as the end of a sentence.
func didYouMean(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(names, ", ") + "?)"
}

// piiTable is what assignPII needs to know of a table.
type piiTable struct {
	id      int64
	display string // schema.table
	columns []string
	pk      []string
}

// assignPII maps each --pii name to the tables it applies to: "column" (in
// every table that has it) or "table.column". Every table has an entry, an
// empty list if no column of it is named.
func assignPII(tables []piiTable, pii []string) (map[int64][]string, error) {
	out := map[int64][]string{}
	for _, t := range tables {
		out[t.id] = []string{}
	}
	for _, name := range pii {
		matched := false
		var all []string
		for _, r := range tables {
			col := name
			if i := strings.LastIndexByte(name, '.'); i >= 0 {
				tbl := name[:i]
				if tbl != r.display && tbl != r.display[strings.IndexByte(r.display, '.')+1:] {
					continue
				}
				col = name[i+1:]
			}
			all = append(all, r.columns...)
			for _, c := range r.columns {
				if c != col {
					continue
				}
				for _, k := range r.pk {
					if k == c {
						return nil, prov.Errorf(prov.Invalid, "--pii %s: %s is part of the primary key of %s; key values appear in entity ids, so they cannot be kept as digests only", name, c, r.display)
					}
				}
				matched = true
				out[r.id] = append(out[r.id], c)
			}
		}
		if !matched {
			return nil, prov.Errorf(prov.NotFound, "--pii %s: no table named here has that column%s", name, didYouMean(suggest(name, all)))
		}
	}
	return out, nil
}
