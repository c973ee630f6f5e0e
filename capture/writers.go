package capture

import "sort"

// The current writers of each column (column_writers; prov_column_writers
// on SQLite), which the sequencer keeps beside row_changes in the same
// transaction (migrations 0017_column_writers.sql; decision 0019). Of each
// row, since its last insert, delete or truncate:
//
//   - col "*": the insert, if that was an insert, with the columns it wrote;
//   - col "." + c: the last update that wrote column c.
//
// So the change that wrote a row's current value of c is its entry for c,
// or else its "*" entry if that insert wrote c; a deleted row has neither.
// An insert writes one entry, not one per column: most rows are inserted
// whole and then updated a column at a time.

// columnWriter is one entry of column_writers: col ("*", or "." and a
// column's name) of the row was last written by the change w.
type columnWriter struct {
	w   *indexRow
	col string
}

// columnWriters returns what a batch's index rows (in log order) change in
// column_writers: the rows whose entries go (inserted, deleted or truncated
// in the batch: applied first), then the entries to write, each (row, col)
// once, in key order. fresh tells which rows are among resets (their
// entries are new).
func columnWriters(rows []indexRow) (resets []rowKey, puts []columnWriter, fresh map[rowKey]bool) {
	fresh = map[rowKey]bool{}
	reset := map[rowKey]int{} // the position of the row's last insert, delete or truncate
	for i := range rows {
		if r := &rows[i]; r.op == "I" || r.op == "D" || r.op == "T" {
			if !fresh[r.rowKey] {
				fresh[r.rowKey] = true
				resets = append(resets, r.rowKey)
			}
			reset[r.rowKey] = i
		}
	}
	type colKey struct {
		rowKey
		col string
	}
	last := map[colKey]int{} // the position in puts
	put := func(r *indexRow, col string) {
		k := colKey{r.rowKey, col}
		if j, ok := last[k]; ok {
			puts[j].w = r
			return
		}
		last[k] = len(puts)
		puts = append(puts, columnWriter{w: r, col: col})
	}
	for i := range rows {
		r := &rows[i]
		if j, ok := reset[r.rowKey]; ok && j > i {
			continue // inserted, deleted or truncated again later in the batch
		}
		switch r.op {
		case "I":
			put(r, "*")
		case "U":
			for _, col := range r.columns {
				put(r, "."+col)
			}
		}
	}
	// In key order: neighbours in the table's b-tree, written together.
	sort.Slice(puts, func(i, j int) bool {
		a, b := puts[i], puts[j]
		if a.w.relid != b.w.relid {
			return a.w.relid < b.w.relid
		}
		if a.w.pk != b.w.pk {
			return a.w.pk < b.w.pk
		}
		return a.col < b.col
	})
	return resets, puts, fresh
}

// columnsOfEntry is the columns field of an entry: the insert's columns
// for "*", none (NULL) for a column's.
func columnsOfEntry(c columnWriter) any {
	if c.col != "*" {
		return nil
	}
	return columnsField(c.w.columns)
}
