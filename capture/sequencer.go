package capture

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
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
// (there is no high-water mark). Application transactions never wait for it.
//
// Writers of one log are serialised by the store, so several sequencers (or
// servers) may run against one database; only one makes progress at a time.
type Sequencer struct {
	p     *Postgres
	log   *tlog.Log
	Batch int

	db     string
	tables map[uint32]*tableInfo
}

type tableInfo struct {
	name string // schema.table
	pk   []string
}

// Sequencer returns a sequencer that appends to log, which must be kept in
// the same store.
func (p *Postgres) Sequencer(log *tlog.Log) *Sequencer {
	return &Sequencer{p: p, log: log, Batch: DefaultBatch, tables: map[uint32]*tableInfo{}}
}

// change is one row of the capture queue.
type change struct {
	id     int64
	xid    string
	relid  uint32
	op     string
	new    []byte // jsonb text, canonical
	old    []byte
	ctx    *string
	dbUser string
	app    *string
	client *string
	at     time.Time
	newSum []byte // Digest of new
	oldSum []byte // Digest of old
}

// Step integrates one batch and returns how many changes it moved.
func (s *Sequencer) Step(ctx context.Context) (n int, err error) {
	err = s.p.update(ctx, func(ctx context.Context, q postgres.Querier, tx prov.Tx) error {
		n, err = s.step(ctx, q, tx)
		return err
	})
	return n, err
}

// Run steps until the queue is empty; with follow, it keeps going until ctx
// is done, polling every idle when there is nothing to do. It returns the
// number of changes moved.
func (s *Sequencer) Run(ctx context.Context, follow bool, idle time.Duration) (total int, err error) {
	for {
		n, err := s.Step(ctx)
		total += n
		if err != nil {
			if follow && ctx.Err() != nil {
				return total, nil
			}
			return total, err
		}
		if n >= s.batch() {
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

func (s *Sequencer) step(ctx context.Context, q postgres.Querier, tx prov.Tx) (int, error) {
	schema := s.p.schema
	if s.db == "" {
		if err := q.QueryRow(ctx, "SELECT current_database()").Scan(&s.db); err != nil {
			return 0, wrapPG("sequence", err)
		}
	}
	rows, err := q.Query(ctx, `DELETE FROM `+schema+`.changes WHERE id IN (
			SELECT id FROM `+schema+`.changes ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, xid::text, relid, op::text, new::text, old::text, ctx, db_user, app, host(client), at,
			`+digestSQL("new")+`, `+digestSQL("old"), s.batch())
	if err != nil {
		return 0, wrapPG("sequence: take changes", err)
	}
	var changes []*change
	for rows.Next() {
		c := &change{}
		var newText, oldText *string
		if err := rows.Scan(&c.id, &c.xid, &c.relid, &c.op, &newText, &oldText, &c.ctx, &c.dbUser, &c.app, &c.client, &c.at, &c.newSum, &c.oldSum); err != nil {
			rows.Close()
			return 0, wrapPG("sequence: read changes", err)
		}
		if newText != nil {
			c.new = []byte(*newText)
		}
		if oldText != nil {
			c.old = []byte(*oldText)
		}
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, wrapPG("sequence: read changes", err)
	}
	if len(changes) == 0 {
		return 0, nil
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].id < changes[j].id })
	if err := s.loadTables(ctx, q, changes); err != nil {
		return 0, err
	}

	// The keys each change touches, and their states before this batch.
	type key struct {
		relid uint32
		pk    string
	}
	var lookRel []uint32
	var lookPK []string
	seen := map[key]bool{}
	for _, c := range changes {
		t := s.tables[c.relid]
		for _, img := range [][]byte{c.old, c.new} {
			if img == nil {
				continue
			}
			pk, err := keyOf(img, t.pk)
			if err != nil {
				return 0, fmt.Errorf("sequence: change %d of %s: %w", c.id, t.name, err)
			}
			if k := (key{c.relid, pk}); !seen[k] {
				seen[k] = true
				lookRel, lookPK = append(lookRel, c.relid), append(lookPK, pk)
			}
		}
	}
	state := map[key][]byte{} // digest; nil: deleted
	known := map[key]bool{}
	srows, err := q.Query(ctx, `SELECT u.ord, s.digest FROM unnest($1::oid[], $2::jsonb[]) WITH ORDINALITY AS u(relid, pk, ord)
		JOIN `+schema+`.row_state s ON s.relid = u.relid AND s.pk = u.pk`, lookRel, lookPK)
	if err != nil {
		return 0, wrapPG("sequence: read row states", err)
	}
	for srows.Next() {
		var ord int64
		var digest []byte
		if err := srows.Scan(&ord, &digest); err != nil {
			srows.Close()
			return 0, wrapPG("sequence: read row states", err)
		}
		k := key{lookRel[ord-1], lookPK[ord-1]}
		state[k], known[k] = digest, true
	}
	srows.Close()
	if err := srows.Err(); err != nil {
		return 0, wrapPG("sequence: read row states", err)
	}

	type stat struct{ changes, unattributed, bypassed int64 }
	stats := map[uint32]*stat{}
	entries := make([]prov.Entry, 0, len(changes))
	final := map[key]int{} // key → position in entries of its last change
	finalDigest := map[key][]byte{}
	for _, c := range changes {
		t := s.tables[c.relid]
		st := stats[c.relid]
		if st == nil {
			st = &stat{}
			stats[c.relid] = st
		}
		attr, err := prov.ParseAttribution(deref(c.ctx))
		if err != nil {
			attr = prov.Attribution{} // a malformed context is no attribution; the raw value is kept
		}
		rec := changeRecord{Type: prov.TypeChange, Time: c.at.UTC().Format(time.RFC3339Nano)}
		attrs := changeAttributes{Table: t.name, Change: c.id, XID: c.xid, DBUser: c.dbUser, App: deref(c.app), Client: deref(c.client)}
		if attr.Activity != "" {
			rec.Activity = &prov.Activity{ID: attr.Activity}
		} else {
			attrs.Unattributed = true
			attrs.RawContext = deref(c.ctx)
			st.unattributed++
		}
		if attr.Agent != "" {
			rec.Agent = &prov.Agent{ID: attr.Agent}
		} else {
			rec.Agent = &prov.Agent{ID: "pg-role:" + c.dbUser, Kind: "database-role"}
		}
		var oldPK, newPK string
		if c.old != nil {
			oldPK, _ = keyOf(c.old, t.pk)
			attrs.Before = json.RawMessage(c.old)
		}
		if c.new != nil {
			newPK, _ = keyOf(c.new, t.pk)
			attrs.After = json.RawMessage(c.new)
		}
		entity := func(pk string) string { return fmt.Sprintf("pg:%s/%s/%s", s.db, t.name, pk) }
		bypass := false
		if c.old != nil { // the before-image must be the last state capture saw
			k := key{c.relid, oldPK}
			if !known[k] || !bytes.Equal(state[k], c.oldSum) {
				bypass = true
			}
			state[k], known[k] = nil, true
			finalDigest[k] = nil
			final[k] = len(entries)
		} else if c.new != nil { // an insert: the key must not hold a row
			k := key{c.relid, newPK}
			if known[k] && state[k] != nil {
				bypass = true
			}
		}
		if c.new != nil {
			k := key{c.relid, newPK}
			state[k], known[k] = c.newSum, true
			finalDigest[k] = c.newSum
			final[k] = len(entries)
		}
		if bypass {
			attrs.Bypass = true
			st.bypassed++
		}
		st.changes++
		digest := "sha256:" + hex.EncodeToString(c.newSum)
		switch {
		case c.op == "I" || (c.op == "U" && c.old == nil):
			rec.Generated = []prov.EntityRef{{ID: entity(newPK), Op: prov.OpInsert, Digest: digest, Columns: columnsOf(nil, c.new)}}
		case c.op == "U" && c.new == nil:
			rec.Generated = []prov.EntityRef{{ID: entity(oldPK), Op: prov.OpDelete}}
		case c.op == "U" && oldPK != newPK: // the key changed: a new entity, and the end of the old one
			rec.Generated = []prov.EntityRef{
				{ID: entity(newPK), Op: prov.OpInsert, Digest: digest, Columns: columnsOf(c.old, c.new)},
				{ID: entity(oldPK), Op: prov.OpDelete},
			}
		case c.op == "U":
			rec.Generated = []prov.EntityRef{{ID: entity(newPK), Op: prov.OpUpdate, Digest: digest, Columns: columnsOf(c.old, c.new)}}
		case c.op == "D":
			rec.Generated = []prov.EntityRef{{ID: entity(oldPK), Op: prov.OpDelete}}
		case c.op == "T":
			rec.Generated = []prov.EntityRef{{ID: entity(oldPK), Op: prov.OpTruncate}}
		default:
			return 0, prov.Errorf(prov.Internal, "sequence: change %d has unknown operation %q", c.id, c.op)
		}
		rec.Attributes = attrs
		data, err := json.Marshal(rec)
		if err != nil {
			return 0, fmt.Errorf("sequence: encode change %d: %w", c.id, err)
		}
		e := prov.Entry{Data: data, Type: prov.TypeChange, Time: c.at, AgentID: rec.Agent.ID}
		if rec.Activity != nil {
			e.ActivityID = rec.Activity.ID
		}
		entries = append(entries, e)
	}
	first, err := s.log.AppendTx(ctx, tx, entries)
	if err != nil {
		return 0, err
	}

	// Row states after the batch, one write per key.
	var upRel []uint32
	var upPK []string
	var upDigest [][]byte
	var upIdx []int64
	for k, pos := range final {
		upRel, upPK = append(upRel, k.relid), append(upPK, k.pk)
		upDigest, upIdx = append(upDigest, finalDigest[k]), append(upIdx, first+int64(pos))
	}
	_, err = q.Exec(ctx, `INSERT INTO `+schema+`.row_state (relid, pk, digest, idx)
		SELECT * FROM unnest($1::oid[], $2::jsonb[], $3::bytea[], $4::bigint[])
		ON CONFLICT (relid, pk) DO UPDATE SET digest = excluded.digest, idx = excluded.idx`, upRel, upPK, upDigest, upIdx)
	if err != nil {
		return 0, wrapPG("sequence: write row states", err)
	}
	var stRel []uint32
	var stC, stU, stB []int64
	for rel, st := range stats {
		stRel = append(stRel, rel)
		stC, stU, stB = append(stC, st.changes), append(stU, st.unattributed), append(stB, st.bypassed)
	}
	_, err = q.Exec(ctx, `INSERT INTO `+schema+`.capture_stats AS s (relid, changes, unattributed, bypassed)
		SELECT * FROM unnest($1::oid[], $2::bigint[], $3::bigint[], $4::bigint[])
		ON CONFLICT (relid) DO UPDATE SET changes = s.changes + excluded.changes,
			unattributed = s.unattributed + excluded.unattributed, bypassed = s.bypassed + excluded.bypassed`, stRel, stC, stU, stB)
	if err != nil {
		return 0, wrapPG("sequence: count changes", err)
	}
	if s.log.CanSign() {
		if _, _, err := s.log.CheckpointTx(ctx, tx); err != nil {
			return 0, err
		}
	}
	return len(changes), nil
}

// loadTables caches the name and key of every table the changes belong to.
func (s *Sequencer) loadTables(ctx context.Context, q postgres.Querier, changes []*change) error {
	var missing []uint32
	for _, c := range changes {
		if _, ok := s.tables[c.relid]; !ok && !slices.Contains(missing, c.relid) {
			missing = append(missing, c.relid)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, "SELECT relid, name, pk FROM "+s.p.schema+".captured WHERE relid = ANY($1)", missing)
	if err != nil {
		return wrapPG("sequence: read captured tables", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rel uint32
		t := &tableInfo{}
		if err := rows.Scan(&rel, &t.name, &t.pk); err != nil {
			return wrapPG("sequence: read captured tables", err)
		}
		s.tables[rel] = t
	}
	if err := rows.Err(); err != nil {
		return wrapPG("sequence: read captured tables", err)
	}
	for _, rel := range missing {
		if _, ok := s.tables[rel]; !ok {
			return prov.Errorf(prov.Internal, "sequence: changes of table oid %d, which capture does not know", rel)
		}
	}
	return nil
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
	Change       int64           `json:"change"` // id in the capture queue
	XID          string          `json:"xid"`    // the application transaction
	Before       json.RawMessage `json:"before,omitempty"`
	After        json.RawMessage `json:"after,omitempty"`
	DBUser       string          `json:"db_user"`
	App          string          `json:"application_name,omitempty"`
	Client       string          `json:"client_addr,omitempty"`
	Unattributed bool            `json:"unattributed,omitempty"`
	RawContext   string          `json:"raw_context,omitempty"` // a prov.context that could not be read
	Bypass       bool            `json:"bypass,omitempty"`      // the before-image was not the last captured state
}

// digestSQL is the SQL expression of the digest of a row image: SHA-256 of
// PostgreSQL's text of the jsonb image without its null fields (so that a
// column added without a default does not change the digests of existing
// rows). Baselines, the sequencer and verify --live all use it.
func digestSQL(img string) string {
	return "sha256(convert_to(jsonb_strip_nulls(" + img + ")::text, 'UTF8'))"
}

// keyOf returns the primary key of a row image as a JSON object in key
// order, such as {"id":42}.
func keyOf(img []byte, pk []string) (string, error) {
	var row map[string]json.RawMessage
	if err := json.Unmarshal(img, &row); err != nil {
		return "", fmt.Errorf("row image is not a JSON object: %w", err)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range pk {
		v, ok := row[k]
		if !ok {
			return "", fmt.Errorf("row image has no key column %q", k)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(k)
		b.Write(name)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// columnsOf returns the columns whose values differ between two row images
// (all of after's for an insert), sorted.
func columnsOf(before, after []byte) []string {
	var a, b map[string]json.RawMessage
	json.Unmarshal(after, &a)
	if before != nil {
		json.Unmarshal(before, &b)
	}
	var cols []string
	for k, v := range a {
		if old, ok := b[k]; !ok || !bytes.Equal(old, v) {
			cols = append(cols, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			cols = append(cols, k)
		}
	}
	sort.Strings(cols)
	return cols
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
