package investigate

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
)

// Change is one captured change of one row, with what its activity is.
type Change struct {
	Index        int64                      `json:"index"`            // log index of its record; -1: not yet in the log
	Change       int64                      `json:"change,omitempty"` // its id in the capture queue, while pending
	Time         time.Time                  `json:"time"`
	Op           string                     `json:"op"`                // insert, update, delete, truncate
	Columns      []string                   `json:"columns,omitempty"` // the columns it wrote
	Activity     *ActivityRef               `json:"activity,omitempty"`
	Agent        string                     `json:"agent,omitempty"`
	Unattributed bool                       `json:"unattributed,omitempty"`
	DBUser       string                     `json:"db_user,omitempty"`
	App          string                     `json:"application_name,omitempty"`
	Before       map[string]json.RawMessage `json:"before,omitempty"` // values before, of the columns it wrote (whole row for a delete)
	After        map[string]json.RawMessage `json:"after,omitempty"`  // values after
}

// ActivityRef is what a change says of its activity.
type ActivityRef struct {
	ID          string `json:"id"`
	Kind        string `json:"kind,omitempty"`
	Name        string `json:"name,omitempty"`
	Release     string `json:"release,omitempty"`
	CodeVersion string `json:"code_version,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Ticket      string `json:"ticket,omitempty"`
	Parent      string `json:"parent,omitempty"`
}

// Cell is the blame of one column: its current value and the change that
// wrote it (nil: it has not changed since capture was enabled).
type Cell struct {
	Column string          `json:"column"`
	Value  json.RawMessage `json:"value,omitempty"`
	Change *Change         `json:"change,omitempty"`
}

// Blame is the blame of one row.
type Blame struct {
	Table   string  `json:"table"`
	PK      string  `json:"pk"`
	Deleted *Change `json:"deleted,omitempty"` // the row does not exist now: this change removed it
	Cells   []Cell  `json:"columns,omitempty"`
}

// changeRecord is what investigation reads of a change record.
type changeRecord struct {
	Attributes struct {
		Before       json.RawMessage `json:"before"`
		After        json.RawMessage `json:"after"`
		DBUser       string          `json:"db_user"`
		App          string          `json:"application_name"`
		Unattributed bool            `json:"unattributed"`
	} `json:"attributes"`
}

// row resolves a table and a typed key and returns the row's changes,
// oldest first, indexed and pending.
func (s *snapshot) row(ctx context.Context, table, key string) (*capture.CapturedTable, string, []capture.RowChange, error) {
	t, err := s.table(table)
	if err != nil {
		return nil, "", nil, err
	}
	forms, err := ParseKey(t, key)
	if err != nil {
		return nil, "", nil, err
	}
	byRow, err := s.rowChanges(ctx, t.Relid, forms)
	if err != nil {
		return nil, "", nil, err
	}
	for _, c := range s.pending {
		if c.Relid == t.Relid && contains(forms, c.PK) {
			byRow[c.PK] = append(byRow[c.PK], c)
		}
	}
	for _, pk := range forms {
		if len(byRow[pk]) > 0 {
			return t, pk, byRow[pk], nil
		}
	}
	return t, forms[0], nil, prov.Errorf(prov.NotFound, "no change of %s with key %s is captured: the row was never written while capture was on (check the key, and prov capture status)", t.Name, forms[0])
}

// describe turns index changes into Changes, with their activities, and
// with their images from the records (or the queue) if images is set.
func (s *snapshot) describe(ctx context.Context, changes []capture.RowChange, images bool) ([]*Change, error) {
	recs := map[int64]*changeRecord{}
	if images {
		var idxs []int64
		for _, c := range changes {
			if c.Idx >= 0 {
				idxs = append(idxs, c.Idx)
			}
		}
		var err error
		if recs, err = s.records(ctx, idxs); err != nil {
			return nil, err
		}
	}
	var acts []string
	for _, c := range changes {
		acts = append(acts, c.Activity)
	}
	if err := s.prefetch(ctx, acts); err != nil {
		return nil, err
	}
	out := make([]*Change, len(changes))
	for i, c := range changes {
		ch := &Change{Index: c.Idx, Change: c.Change, Time: c.At, Op: opWord(c.Op), Columns: c.Columns, Agent: c.Agent}
		if c.Idx >= 0 {
			ch.Change = 0
		}
		if c.Activity == "" {
			ch.Unattributed = true
		} else {
			ref := &ActivityRef{ID: c.Activity, Parent: c.Parent}
			a, err := s.activity(ctx, c.Activity)
			if err != nil {
				return nil, err
			}
			if a != nil {
				ref.Kind, ref.Name, ref.CodeVersion, ref.Reason, ref.Ticket = a.kindOf(), a.Name, a.CodeVersion, a.Reason, a.Ticket
				if ref.Parent == "" {
					ref.Parent = a.Parent
				}
				if ref.Release, err = s.releaseOf(ctx, a); err != nil {
					return nil, err
				}
			}
			ch.Activity = ref
		}
		before, after := c.Before, c.After
		if r := recs[c.Idx]; r != nil {
			before, after = r.Attributes.Before, r.Attributes.After
			ch.DBUser, ch.App = r.Attributes.DBUser, r.Attributes.App
		}
		if images {
			ch.Before, ch.After = values(before, after, c)
		}
		out[i] = ch
	}
	return out, nil
}

// values returns the before and after values that a change's history shows:
// of the columns it wrote, or the whole row it inserted or deleted.
func values(before, after json.RawMessage, c capture.RowChange) (b, a map[string]json.RawMessage) {
	json.Unmarshal(before, &b)
	json.Unmarshal(after, &a)
	switch c.Op {
	case "I":
		return nil, a
	case "D", "T":
		return b, nil
	}
	keep := func(m map[string]json.RawMessage) map[string]json.RawMessage {
		if m == nil {
			return nil
		}
		out := map[string]json.RawMessage{}
		for _, col := range c.Columns {
			if v, ok := m[col]; ok {
				out[col] = v
			}
		}
		return out
	}
	return keep(b), keep(a)
}

// records reads and decodes change records by log index.
func (s *snapshot) records(ctx context.Context, idxs []int64) (map[int64]*changeRecord, error) {
	out := map[int64]*changeRecord{}
	if len(idxs) == 0 {
		return out, nil
	}
	a := &args{d: s.d}
	list := make([]string, len(idxs))
	for i, x := range idxs {
		list[i] = jsonInt(x)
	}
	cond := "idx IN (SELECT value FROM json_each(" + a.add("["+joinComma(list)+"]") + "))"
	if s.d.pg {
		a = &args{d: s.d}
		cond = "idx = ANY(" + a.add(idxs) + "::bigint[])"
	}
	rows, err := s.q.query(ctx, "SELECT idx, data FROM "+s.d.records()+" WHERE "+cond, a.vals...)
	if err != nil {
		return nil, wrap("read change records", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var data []byte
		if err := rows.Scan(&idx, &data); err != nil {
			return nil, wrap("read change records", err)
		}
		r := &changeRecord{}
		if rec, _, err := prov.RecordBytes(data); err == nil {
			data = rec // a signed record: its payload
		}
		if err := json.Unmarshal(data, r); err != nil {
			return nil, prov.Errorf(prov.Tampered, "record %d is not a change record (%v): run prov verify", idx, err)
		}
		out[idx] = r
	}
	return out, wrap("read change records", rows.Err())
}

func jsonInt(x int64) string {
	b, _ := json.Marshal(x)
	return string(b)
}

func joinComma(list []string) string {
	var b bytes.Buffer
	for i, s := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
	}
	return b.String()
}

// History returns every captured change of one row, oldest first, with the
// values before and after of the columns each wrote (PII columns as their
// salted digests). key is the key value, or a JSON object for a composite
// key.
func (iv *Investigator) History(ctx context.Context, table, key string) (string, []*Change, error) {
	var pk string
	var out []*Change
	err := iv.viewRow(ctx, func(s *snapshot) error {
		_, k, changes, err := s.row(ctx, table, key)
		if err != nil {
			return err
		}
		pk = k
		out, err = s.describe(ctx, changes, true)
		return err
	})
	return pk, out, err
}

// Blame returns, for each column of one row, its current value and the
// change that last wrote it.
func (iv *Investigator) Blame(ctx context.Context, table, key string) (*Blame, error) {
	var b *Blame
	err := iv.viewRow(ctx, func(s *snapshot) error {
		t, pk, changes, err := s.row(ctx, table, key)
		if err != nil {
			return err
		}
		b = &Blame{Table: t.Name, PK: pk}
		last := changes[len(changes)-1]
		if last.Op == "D" || last.Op == "T" {
			d, err := s.describe(ctx, []capture.RowChange{last}, false)
			if err != nil {
				return err
			}
			b.Deleted = d[0]
			return nil
		}
		// Walk back from the latest change until every column has its writer.
		writer := map[string]int{}
		var cols []string
		for i := len(changes) - 1; i >= 0; i-- {
			c := changes[i]
			if c.Op == "D" || c.Op == "T" {
				break
			}
			for _, col := range c.Columns {
				if _, ok := writer[col]; !ok {
					writer[col] = i
					cols = append(cols, col)
				}
			}
		}
		var acts []string
		for _, i := range writer {
			acts = append(acts, changes[i].Activity)
		}
		if err := s.prefetch(ctx, acts); err != nil {
			return err
		}
		// The current image: the after of the latest change.
		var after json.RawMessage
		if last.Idx >= 0 {
			recs, err := s.records(ctx, []int64{last.Idx})
			if err != nil {
				return err
			}
			if r := recs[last.Idx]; r != nil {
				after = r.Attributes.After
			}
		} else {
			after = last.After
		}
		var img map[string]json.RawMessage
		json.Unmarshal(after, &img)
		order := t.Columns
		for col := range img {
			if !contains(order, col) {
				order = append(order, col)
			}
		}
		if len(t.Columns) == 0 {
			sort.Strings(order)
		}
		used := map[int]*Change{}
		for _, col := range order {
			v, inImage := img[col]
			i, written := writer[col]
			if !inImage && !written {
				continue // a column added since, never written
			}
			cell := Cell{Column: col, Value: v}
			if written {
				if used[i] == nil {
					d, err := s.describe(ctx, []capture.RowChange{changes[i]}, false)
					if err != nil {
						return err
					}
					used[i] = d[0]
				}
				cell.Change = used[i]
			}
			b.Cells = append(b.Cells, cell)
		}
		return nil
	})
	return b, err
}
