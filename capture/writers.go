package capture

import "sort"

// The current writers of each column (column_writers; prov_column_writers
// on SQLite): for every column of every row that a sequenced change wrote,
// the last change that wrote it, unless a delete or a truncate of the row
// came after that change. The sequencer keeps it beside row_changes, in the
// same transaction; find --current --column reads from it the rows whose
// current value of a column a set of activities wrote, without probing each
// candidate's later changes (migrations 0017_column_writers.sql; decision
// 0019).

// columnWriter is one entry of column_writers: column col of the row was
// last written by the change w.
type columnWriter struct {
	w   *indexRow
	col string
}

// columnWriters returns what a batch's index rows (in log order) change in
// column_writers: the rows whose entries go (deleted or truncated in the
// batch: applied first), then the entries to write (the last write of each
// column of each row after the row's last delete in the batch), each
// (row, column) once, in key order.
func columnWriters(rows []indexRow) (resets []rowKey, puts []columnWriter) {
	gone := map[rowKey]int{} // the position of the row's last delete
	for i := range rows {
		if r := &rows[i]; r.op == "D" || r.op == "T" {
			if _, ok := gone[r.rowKey]; !ok {
				resets = append(resets, r.rowKey)
			}
			gone[r.rowKey] = i
		}
	}
	type colKey struct {
		rowKey
		col string
	}
	last := map[colKey]int{} // the position in puts
	for i := range rows {
		r := &rows[i]
		if j, ok := gone[r.rowKey]; ok && j >= i {
			continue // deleted later in the batch (or this is the delete)
		}
		for _, col := range r.columns {
			k := colKey{r.rowKey, col}
			if j, ok := last[k]; ok {
				puts[j].w = r
				continue
			}
			last[k] = len(puts)
			puts = append(puts, columnWriter{w: r, col: col})
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
	return resets, puts
}
