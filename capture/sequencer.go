package capture

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
)

// DefaultBatch is how many changes the sequencer moves per transaction.
const DefaultBatch = 2000

// Sequencer moves captured changes from the capture queue into the log. Each
// Step is one transaction that deletes a batch of committed changes from the
// queue, appends their records to the log, updates the row states and signs a
// checkpoint: a crash at any point neither loses nor duplicates a change.
// Changes are taken in the order of their ids among those committed; a
// transaction that commits late is taken by a later step, never skipped
// (there is no high-water mark). Application transactions never wait for it
// on PostgreSQL; on SQLite, where writers take turns, they wait for a step as
// for any other writer.
//
// Writers of one log are serialised by the store, so several sequencers (or
// servers) may run against one database; only one makes progress at a time.
// One Sequencer must not be used by several goroutines at once.
//
// The record format, bypass detection, row states and counters are kept here
// once; each backend (a queue) only reads and writes its tables.
type Sequencer struct {
	q     queue
	log   *tlog.Log
	Batch int
}

// queue is a capture queue kept in the same store as the log: what a backend
// provides to the sequencer. The methods other than update run in the
// transaction that update opened, whose prov.Tx they are given.
type queue interface {
	// update runs fn in a read-write transaction of the log's store.
	update(ctx context.Context, fn func(ctx context.Context, tx prov.Tx) error) error
	// take deletes up to about n committed changes from the queue and returns
	// them in id order, with their images in canonical form and digested,
	// and how many rows it deleted (some rows may make no change).
	take(ctx context.Context, tx prov.Tx, n int) (changes []*change, taken int, err error)
	// rowStates returns the digest of each of keys that has a row state
	// (nil: the row is deleted); keys without one are absent.
	rowStates(ctx context.Context, tx prov.Tx, keys []rowKey) (map[rowKey][]byte, error)
	// write stores what a batch derived besides its records (idx already
	// log indexes): the index rows of its changes, its activities' spans
	// (added to theirs), the row states after it (replacing those of the
	// same keys) and its counters (added to each table's totals).
	write(ctx context.Context, tx prov.Tx, b *batch) error
}

// indexRow is what the index of changes (row_changes) keeps of one change of
// one row.
type indexRow struct {
	rowKey
	idx      int64 // relative to the batch's first entry until appended
	op       string
	activity string // "": unattributed
	agent    string
	at       time.Time
	columns  []string // nil: none (a delete)
}

// activitySpan is what the index keeps of an activity that changes were
// attributed to.
type activitySpan struct {
	parent      string
	first, last time.Time
	changes     int64
}

// ColumnToken is how the index of changes writes one column name in its
// columns field, which is the concatenation of the tokens of the columns a
// change wrote followed by a comma: ,"a","b", — a column is in the field if
// and only if its token is a substring (a quote inside a JSON string is
// always escaped, so no token spans two names).
func ColumnToken(name string) string {
	return "," + string(jsonString(name))
}

// columnsField encodes columns for the index; nil for none.
func columnsField(cols []string) any {
	if cols == nil {
		return nil
	}
	var b strings.Builder
	for _, c := range cols {
		b.WriteString(ColumnToken(c))
	}
	b.WriteByte(',')
	return b.String()
}

func newSequencer(q queue, log *tlog.Log) *Sequencer {
	return &Sequencer{q: q, log: log, Batch: DefaultBatch}
}

// tableInfo is what records say of a captured table.
type tableInfo struct {
	id     int64
	name   string   // schema.table, as when capture was enabled
	pk     []string // in key order
	entity string   // prefix of its rows' entity ids: pg:<db>/<schema>.<table>
}

// change is one captured row change, as a backend read it from its queue.
type change struct {
	id     int64
	table  *tableInfo
	op     string // I insert, U update, D delete, T truncate
	new    []byte // the row after, JSON text in a canonical form
	old    []byte // the row before
	newSum []byte // digest of new (see digestSQL)
	oldSum []byte // digest of old
	ctx    *string
	xid    string // the application transaction, if known
	at     time.Time
	// What the database knows of the session, where it knows anything.
	dbUser string
	app    string
	client string
	// agent is whom an unattributed change is ascribed to; nil: nobody.
	agent *prov.Agent

	// What parse derives from the images, once.
	parsed       bool
	parseErr     error    // an image is not a JSON object
	keyErr       error    // an image has no key column
	oldM, newM   []member // the images' members
	oldPK, newPK string   // the images' keys, as keyOf writes them
}

// parse reads the images of c once, for its keys and changed columns. It
// fails if an image is not a JSON object, or lacks a key column.
func (c *change) parse() error {
	if c.parsed {
		if c.parseErr != nil {
			return c.parseErr
		}
		return c.keyErr
	}
	c.parsed = true
	var err error
	if c.old != nil {
		if c.oldM, err = parseObject(c.old); err != nil {
			c.parseErr = err
			return err
		}
		c.oldPK, c.keyErr = keyFrom(c.oldM, c.table.pk)
	}
	if c.new != nil {
		if c.newM, err = parseObject(c.new); err != nil {
			c.parseErr = err
			return err
		}
		var kerr error
		if c.newPK, kerr = keyFrom(c.newM, c.table.pk); c.keyErr == nil {
			c.keyErr = kerr
		}
	}
	return c.keyErr
}

// rowKey names a captured row: its table and its primary key as keyOf
// writes it.
type rowKey struct {
	relid int64
	pk    string
}

// rowState is the last captured state of a row: the digest of its image
// (nil: deleted) and the log index of the change that wrote it.
type rowState struct {
	rowKey
	digest []byte
	idx    int64
}

// tableStats are the counters of one table.
type tableStats struct{ changes, unattributed, bypassed int64 }

// Step integrates one batch and returns how many changes it moved.
func (s *Sequencer) Step(ctx context.Context) (n int, err error) {
	n, _, err = s.stepMore(ctx)
	return n, err
}

// stepMore is Step, and reports whether the batch was full: there may be
// more to do.
func (s *Sequencer) stepMore(ctx context.Context) (n int, more bool, err error) {
	err = s.q.update(ctx, func(ctx context.Context, tx prov.Tx) error {
		n, more, err = s.step(ctx, tx)
		return err
	})
	return n, more, err
}

// Run steps until the queue is empty; with follow, it keeps going until ctx
// is done, polling every idle when there is nothing to do. It returns the
// number of changes moved.
func (s *Sequencer) Run(ctx context.Context, follow bool, idle time.Duration) (total int, err error) {
	for {
		n, more, err := s.stepMore(ctx)
		total += n
		if err != nil {
			if follow && ctx.Err() != nil {
				return total, nil
			}
			return total, err
		}
		if more {
			continue
		}
		if !follow {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, nil
		case <-time.After(idle):
		}
	}
}

func (s *Sequencer) batch() int {
	if s.Batch > 0 {
		return s.Batch
	}
	return DefaultBatch
}

func (s *Sequencer) step(ctx context.Context, tx prov.Tx) (n int, more bool, err error) {
	changes, taken, err := s.q.take(ctx, tx, s.batch())
	more = taken >= s.batch()
	if err != nil || len(changes) == 0 {
		return 0, more, err
	}
	n, err = s.integrate(ctx, tx, changes)
	return n, more, err
}

// integrate appends the records of changes, and updates the row states and
// counters. The records are written while the store reads the row states
// of the rows the changes touch (on the transaction's connection, which
// nothing else uses meanwhile); only whether each change bypassed capture
// waits for them.
func (s *Sequencer) integrate(ctx context.Context, tx prov.Tx, changes []*change) (int, error) {
	keys, err := touchedKeys(changes)
	if err != nil {
		return 0, err
	}
	type read struct {
		states map[rowKey][]byte
		err    error
	}
	done := make(chan read, 1)
	go func() {
		states, err := s.q.rowStates(ctx, tx, keys)
		done <- read{states, err}
	}()
	b, err := prepareRecords(changes)
	r := <-done // always: tx must not be in use when integrate returns
	if err != nil {
		return 0, err
	}
	if r.err != nil {
		return 0, r.err
	}
	b.applyStates(changes, r.states)
	first, err := s.log.AppendTx(ctx, tx, b.entries)
	if err != nil {
		return 0, err
	}
	for i := range b.states {
		b.states[i].idx += first
	}
	for i := range b.index {
		b.index[i].idx += first
	}
	if err := s.q.write(ctx, tx, b); err != nil {
		return 0, err
	}
	if s.log.CanSign() {
		if _, _, err := s.log.CheckpointTx(ctx, tx); err != nil {
			return 0, err
		}
	}
	return len(changes), nil
}

// touchedKeys returns the rows that changes touch, each once.
func touchedKeys(changes []*change) ([]rowKey, error) {
	var keys []rowKey
	seen := map[rowKey]bool{}
	for _, c := range changes {
		if err := c.parse(); err != nil {
			return nil, fmt.Errorf("sequence: change %d of %s: %w", c.id, c.table.name, err)
		}
		for _, img := range [...]struct {
			has bool
			pk  string
		}{{c.old != nil, c.oldPK}, {c.new != nil, c.newPK}} {
			if !img.has {
				continue
			}
			if k := (rowKey{c.table.id, img.pk}); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// batch is what a batch of changes becomes: the entries to append, the row
// states after it (idx relative to the first entry) and the counters.
type batch struct {
	entries []prov.Entry
	states  []rowState
	stats   map[int64]*tableStats
	index   []indexRow
	acts    map[string]*activitySpan
}

// buildRecords makes one change record per change, in order, and flags the
// changes whose before-image is not the last state capture saw of the row
// (known holds the states before the batch): a write bypassed capture.
func buildRecords(changes []*change, known map[rowKey][]byte) (*batch, error) {
	b, err := prepareRecords(changes)
	if err != nil {
		return nil, err
	}
	b.applyStates(changes, known)
	return b, nil
}

// prepareRecords is the part of buildRecords that does not depend on the
// row states: each entry's data is its record without its end
// (appendJSONOpen), the bypassed counters are zero and there are no states
// yet; applyStates completes them.
func prepareRecords(changes []*change) (*batch, error) {
	b := &batch{entries: make([]prov.Entry, 0, len(changes)), stats: map[int64]*tableStats{},
		index: make([]indexRow, 0, len(changes)), acts: map[string]*activitySpan{}}
	for _, c := range changes {
		t := c.table
		st := b.stats[t.id]
		if st == nil {
			st = &tableStats{}
			b.stats[t.id] = st
		}
		attr, err := prov.ParseAttribution(deref(c.ctx))
		if err != nil {
			attr = prov.Attribution{} // a malformed context is no attribution; the raw value is kept
		}
		rec := changeRecord{Type: prov.TypeChange, Time: c.at.UTC().Format(time.RFC3339Nano)}
		attrs := changeAttributes{Table: t.name, Change: c.id, XID: c.xid, DBUser: c.dbUser, App: c.app, Client: c.client}
		if attr.Activity != "" {
			rec.Activity = &prov.Activity{ID: attr.Activity, Parent: attr.Parent}
			span := b.acts[attr.Activity]
			if span == nil {
				span = &activitySpan{parent: attr.Parent, first: c.at, last: c.at}
				b.acts[attr.Activity] = span
			}
			span.changes++
			span.first, span.last = minTime(span.first, c.at), maxTime(span.last, c.at)
			if span.parent == "" {
				span.parent = attr.Parent
			}
		} else {
			attrs.Unattributed = true
			attrs.RawContext = deref(c.ctx)
			st.unattributed++
		}
		if attr.Agent != "" {
			rec.Agent = &prov.Agent{ID: attr.Agent}
		} else {
			rec.Agent = c.agent
		}
		if c.parse(); c.parseErr != nil { // a missing key column leaves the key empty
			return nil, fmt.Errorf("sequence: encode change %d: %w", c.id, c.parseErr)
		}
		oldPK, newPK := c.oldPK, c.newPK
		if c.old != nil {
			attrs.Before = json.RawMessage(c.old)
		}
		if c.new != nil {
			attrs.After = json.RawMessage(c.new)
		}
		entity := func(pk string) string { return t.entity + "/" + pk }
		st.changes++
		digest := "sha256:" + hex.EncodeToString(c.newSum)
		var generatedPK [2]string // the key of each entity of rec.Generated
		switch {
		case c.op == "I" || (c.op == "U" && c.old == nil):
			rec.Generated = []prov.EntityRef{{ID: entity(newPK), Op: prov.OpInsert, Digest: digest, Columns: columnsOf(nil, c.newM)}}
			generatedPK[0] = newPK
		case c.op == "U" && c.new == nil:
			rec.Generated = []prov.EntityRef{{ID: entity(oldPK), Op: prov.OpDelete}}
			generatedPK[0] = oldPK
		case c.op == "U" && oldPK != newPK: // the key changed: a new entity, and the end of the old one
			rec.Generated = []prov.EntityRef{
				{ID: entity(newPK), Op: prov.OpInsert, Digest: digest, Columns: columnsOf(c.oldM, c.newM)},
				{ID: entity(oldPK), Op: prov.OpDelete},
			}
			generatedPK = [2]string{newPK, oldPK}
		case c.op == "U":
			rec.Generated = []prov.EntityRef{{ID: entity(newPK), Op: prov.OpUpdate, Digest: digest, Columns: columnsOf(c.oldM, c.newM)}}
			generatedPK[0] = newPK
		case c.op == "D":
			rec.Generated = []prov.EntityRef{{ID: entity(oldPK), Op: prov.OpDelete}}
			generatedPK[0] = oldPK
		case c.op == "T":
			rec.Generated = []prov.EntityRef{{ID: entity(oldPK), Op: prov.OpTruncate}}
			generatedPK[0] = oldPK
		default:
			return nil, prov.Errorf(prov.Internal, "sequence: change %d has unknown operation %q", c.id, c.op)
		}
		for i, g := range rec.Generated {
			row := indexRow{rowKey: rowKey{t.id, generatedPK[i]}, idx: int64(len(b.entries)), at: c.at}
			if rec.Activity != nil {
				row.activity = rec.Activity.ID
			}
			if rec.Agent != nil {
				row.agent = rec.Agent.ID
			}
			switch g.Op {
			case prov.OpInsert:
				row.op = "I"
			case prov.OpUpdate:
				row.op = "U"
			case prov.OpDelete:
				row.op = "D"
			case prov.OpTruncate:
				row.op = "T"
			}
			switch {
			case row.op == "I" && c.old != nil: // a key change: the new row is written whole
				row.columns = columnsOf(nil, c.newM)
			case g.Columns != nil:
				row.columns = g.Columns
			case row.op == "I" || row.op == "U":
				row.columns = []string{}
			}
			b.index = append(b.index, row)
		}
		rec.Attributes = attrs
		data, err := rec.appendJSONOpen(make([]byte, 0, 256+maxJSONClose+len(c.old)+len(c.new)))
		if err != nil {
			return nil, fmt.Errorf("sequence: encode change %d: %w", c.id, err)
		}
		e := prov.Entry{Data: data, Type: prov.TypeChange, Time: c.at}
		if rec.Activity != nil {
			e.ActivityID = rec.Activity.ID
		}
		if rec.Agent != nil {
			e.AgentID = rec.Agent.ID
		}
		b.entries = append(b.entries, e)
	}
	return b, nil
}

// applyStates completes a batch that prepareRecords made of changes, given
// the row states before it (known): it flags the changes whose
// before-image is not the last state capture saw of the row, or that
// insert a key that holds a row, ends each record, counts the bypasses and
// sets the row states after the batch.
func (b *batch) applyStates(changes []*change, known map[rowKey][]byte) {
	// One map for the state of every key, found once per image.
	type keyState struct {
		digest []byte // nil: deleted
		has    bool   // the state is known
		final  int    // position of its last change in the batch; -1: none
	}
	at := make(map[rowKey]int, len(known)+len(changes)/4) // key → its state in all
	all := make([]keyState, 0, len(known)+len(changes))
	get := func(k rowKey) *keyState { // valid until the next get
		j, ok := at[k]
		if !ok {
			j = len(all)
			all = append(all, keyState{final: -1})
			at[k] = j
		}
		return &all[j]
	}
	for k, d := range known {
		s := get(k)
		s.digest, s.has = d, true
	}
	for i, c := range changes {
		t := c.table
		bypass := false
		if c.old != nil { // the before-image must be the last state capture saw
			s := get(rowKey{t.id, c.oldPK})
			if !s.has || !bytes.Equal(s.digest, c.oldSum) {
				bypass = true
			}
			s.digest, s.has, s.final = nil, true, i
		} else if c.new != nil { // an insert: the key must not hold a row
			if s := get(rowKey{t.id, c.newPK}); s.has && s.digest != nil {
				bypass = true
			}
		}
		if c.new != nil {
			s := get(rowKey{t.id, c.newPK})
			s.digest, s.has, s.final = c.newSum, true, i
		}
		if bypass {
			b.stats[t.id].bypassed++
		}
		b.entries[i].Data = appendJSONClose(b.entries[i].Data, bypass)
	}
	b.states = make([]rowState, 0, len(at))
	for k, j := range at {
		if s := &all[j]; s.final >= 0 {
			b.states = append(b.states, rowState{rowKey: k, digest: s.digest, idx: int64(s.final)})
		}
	}
	sort.Slice(b.states, func(i, j int) bool { return b.states[i].idx < b.states[j].idx })
}

// changeRecord is the record of one row change. Its fields follow
// prov.Record's, with the capture details in attributes.
type changeRecord struct {
	Type       string           `json:"type"`
	Time       string           `json:"time"`
	Activity   *prov.Activity   `json:"activity,omitempty"`
	Agent      *prov.Agent      `json:"agent,omitempty"`
	Generated  []prov.EntityRef `json:"generated"`
	Attributes changeAttributes `json:"attributes"`
}

type changeAttributes struct {
	Table        string          `json:"table"`
	Change       int64           `json:"change"`        // id in the capture queue
	XID          string          `json:"xid,omitempty"` // the application transaction
	Before       json.RawMessage `json:"before,omitempty"`
	After        json.RawMessage `json:"after,omitempty"`
	DBUser       string          `json:"db_user,omitempty"`
	App          string          `json:"application_name,omitempty"`
	Client       string          `json:"client_addr,omitempty"`
	Unattributed bool            `json:"unattributed,omitempty"`
	RawContext   string          `json:"raw_context,omitempty"` // a prov.context that could not be read
	Bypass       bool            `json:"bypass,omitempty"`      // the before-image was not the last captured state
}

// keyOf returns the primary key of a row image as a JSON object in key
// order, such as {"id":42}.
func keyOf(img []byte, pk []string) (string, error) {
	members, err := parseObject(img)
	if err != nil {
		return "", err
	}
	return keyFrom(members, pk)
}

// keyFrom is keyOf of an image's members: each key column's name as
// encoding/json writes it, and its value as the image writes it. A column
// that appears twice counts with its last value, as in encoding/json.
func keyFrom(members []member, pk []string) (string, error) {
	b := make([]byte, 0, 32)
	b = append(b, '{')
	for i, k := range pk {
		j := lastMember(members, k)
		if j < 0 {
			return "", fmt.Errorf("row image has no key column %q", k)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, members[j].val...)
	}
	b = append(b, '}')
	return string(b), nil
}

// lastMember returns the position of the last member named key, or -1.
func lastMember(members []member, key string) int {
	for i := len(members) - 1; i >= 0; i-- {
		if members[i].key == key {
			return i
		}
	}
	return -1
}

// memberIndex finds members by key (the last of each name), by a map for
// wide rows.
type memberIndex struct {
	members []member
	byKey   map[string]int
}

func indexMembers(members []member) memberIndex {
	x := memberIndex{members: members}
	if len(members) > 16 {
		x.byKey = make(map[string]int, len(members))
		for i, m := range members {
			x.byKey[m.key] = i
		}
	}
	return x
}

func (x memberIndex) find(key string) int {
	if x.byKey == nil {
		return lastMember(x.members, key)
	}
	if i, ok := x.byKey[key]; ok {
		return i
	}
	return -1
}

// columnsOf returns the columns whose values differ between two row images
// (all of after's for an insert), sorted, each once.
func columnsOf(before, after []member) []string {
	a, b := indexMembers(after), indexMembers(before)
	var cols []string
	for i, m := range after {
		if a.find(m.key) != i {
			continue // named again later
		}
		if j := b.find(m.key); j < 0 || !bytes.Equal(before[j].val, m.val) {
			cols = append(cols, m.key)
		}
	}
	for i, m := range before {
		if b.find(m.key) == i && a.find(m.key) < 0 {
			cols = append(cols, m.key)
		}
	}
	sort.Strings(cols)
	return cols
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
