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
package capture

import (
	"sort"
	"strings"
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
		d := distance(strings.ToLower(name), strings.ToLower(c))
		if short := c[strings.LastIndexByte(c, '.')+1:]; short != c {
			d = min(d, distance(strings.ToLower(name), strings.ToLower(short)))
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

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
