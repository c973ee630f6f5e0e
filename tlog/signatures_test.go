package tlog_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// agentKey is a test key of an agent.
type agentKey struct {
	agent string
	id    string
	pub   ed25519.PublicKey
	priv  ed25519.PrivateKey
}

func newAgentKey(t testing.TB, agent string) agentKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return agentKey{agent: agent, id: prov.KeyID(pub), pub: pub, priv: priv}
}

func keyRecord(t testing.TB, agent string, ev prov.KeyEvent) []byte {
	t.Helper()
	b, err := json.Marshal(prov.Record{Type: prov.TypeKey, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Agent: &prov.Agent{ID: agent}, Attributes: ev.Attributes()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (k agentKey) add(t testing.TB) []byte {
	return keyRecord(t, k.agent, prov.KeyEvent{Action: prov.KeyAdd, KeyID: k.id, PublicKey: prov.PublicKeyAttribute(k.pub)})
}

func (k agentKey) rotateTo(t testing.TB, n agentKey) []byte {
	return keyRecord(t, k.agent, prov.KeyEvent{Action: prov.KeyRotate, KeyID: n.id, PublicKey: prov.PublicKeyAttribute(n.pub), Replaces: k.id})
}

func (k agentKey) revoke(t testing.TB, since *int64) []byte {
	return keyRecord(t, k.agent, prov.KeyEvent{Action: prov.KeyRevoke, KeyID: k.id, CompromisedSince: since})
}

func policy(t testing.TB, agent string, require bool) []byte {
	return keyRecord(t, agent, prov.KeyEvent{Action: prov.KeyPolicy, RequireSignatures: &require})
}

// sign wraps record in an envelope signed by k.
func (k agentKey) sign(t testing.TB, record []byte) []byte {
	t.Helper()
	env, err := prov.SignEnvelope(record, k.id, func(pae []byte) ([]byte, error) { return ed25519.Sign(k.priv, pae), nil })
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func agentRecord(agent string, i int) []byte {
	return fmt.Appendf(nil, `{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d","kind":"job"},"agent":{"id":%q},"generated":[{"id":"file:/data/%d","op":"write"}],"reason":"record %d"}`, i, agent, i, i)
}

// mustAppend appends records and checks the first index.
func mustAppend(t *testing.T, l vecLog, want int64, records ...[]byte) {
	t.Helper()
	first, err := l.Append(context.Background(), records)
	if err != nil || first != want {
		t.Fatalf("append at %d: first %d, %v", want, first, err)
	}
}

// refused appends records, wants an error holding msg, and checks that
// nothing was appended.
func refused(t *testing.T, l vecLog, msg string, records ...[]byte) {
	t.Helper()
	ctx := context.Background()
	before, _ := l.Size(ctx)
	_, err := l.Append(ctx, records)
	if err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("append: %v, want an error with %q", err, msg)
	}
	if after, _ := l.Size(ctx); after != before {
		t.Errorf("a refused append changed the log from %d to %d records", before, after)
	}
}

func mustVerify(t *testing.T, l vecLog) tlog.Report {
	t.Helper()
	rep, err := l.Verify(context.Background(), tlog.VerifyOptions{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func TestSignedRecords(t *testing.T) {
	ctx := context.Background()
	l := vecNewLog(t, "test.example/sigs", "", "")
	ci, api := newAgentKey(t, "svc:ci"), newAgentKey(t, "svc:api")
	// A key record and a record signed with it in one batch, in index order.
	env := ci.sign(t, agentRecord("svc:ci", 1))
	mustAppend(t, l, 0, ci.add(t), env)
	// The log stores the envelope's bytes exactly; the index fields are the payload's.
	e, err := l.Get(ctx, 1)
	if err != nil || !bytes.Equal(e.Data, env) || e.AgentID != "svc:ci" || e.ActivityID != "job:1" || e.Type != "change" {
		t.Fatalf("stored %q %+v %v", e.Data, e, err)
	}
	// The other order is refused: the key is not valid before it is added.
	other := newAgentKey(t, "svc:ci")
	refused(t, l, "signed with an unknown key "+other.id[:16], other.sign(t, agentRecord("svc:ci", 2)), other.add(t))
	mustAppend(t, l, 2, api.add(t), agentRecord("svc:api", 3)) // unsigned records of an agent with keys are fine without a policy

	// Bad input: a clear error, nothing appended.
	// forged: another record under env's signature.
	p, _ := prov.ParseEnvelope(env)
	p.Payload = agentRecord("svc:ci", 99)
	forged, _ := prov.SignEnvelope(p.Payload, ci.id, func([]byte) ([]byte, error) { return p.Signatures[0].Sig, nil })
	stranger := newAgentKey(t, "svc:ci")
	for _, c := range []struct {
		name, msg string
		recs      [][]byte
	}{
		{"malformed envelope", "not well-formed JSON", [][]byte{[]byte(`{"payloadType":"application/vnd.prov.record+json","payload":`)}},
		{"wrong payload type", `payloadType "text/plain" is not a Prov record`, [][]byte{bytes.Replace(env, []byte(prov.PayloadType), []byte("text/plain"), 1)}},
		{"unknown key", "unknown key " + stranger.id[:16], [][]byte{stranger.sign(t, agentRecord("svc:ci", 4))}},
		{"another agent's key", `key ` + api.id[:16] + ` belongs to agent "svc:api", but the record names agent "svc:ci"`, [][]byte{api.sign(t, agentRecord("svc:ci", 4))}},
		{"forged payload", "signature does not verify with key " + ci.id[:16], [][]byte{forged}},
		{"signed record of no agent", "must name its agent", [][]byte{ci.sign(t, []byte(`{"type":"change","time":"2026-01-02T03:04:05Z","generated":[{"id":"x"}]}`))}},
		{"bad payload", `the envelope's payload: field "time"`, [][]byte{ci.sign(t, []byte(`{"type":"change","generated":[{"id":"x"}]}`))}},
		{"key added twice", "is in the log already (added at index 0", [][]byte{ci.add(t)}},
		{"revoke of an unknown key", "no key " + stranger.id[:16] + " in the log to revoke", [][]byte{stranger.revoke(t, nil)}},
		{"rotate another agent's key", `belongs to agent "svc:api", not "svc:ci"`, [][]byte{keyRecord(t, "svc:ci", prov.KeyEvent{Action: prov.KeyRotate, KeyID: stranger.id, PublicKey: prov.PublicKeyAttribute(stranger.pub), Replaces: api.id})}},
		{"key record without attributes", `field "attributes" is required`, [][]byte{[]byte(`{"type":"key","time":"2026-01-02T03:04:05Z","agent":{"id":"svc:ci"}}`)}},
	} {
		t.Run(c.name, func(t *testing.T) { refused(t, l, c.msg, append([][]byte{agentRecord("svc:x", 0)}, c.recs...)...) })
	}
	rep := mustVerify(t, l)
	if rep.Signed != 1 || rep.Keys != 2 {
		t.Errorf("verify: %d signed records, %d keys; want 1 and 2", rep.Signed, rep.Keys)
	}
	// A log opened afresh (another process) reads the keys from the store.
	l2, err := tlog.Open(ctx, l.store, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := l2.Append(ctx, [][]byte{ci.sign(t, agentRecord("svc:ci", 5))}); err != nil || first != 4 {
		t.Fatalf("append through a fresh log: %d %v", first, err)
	}
	if _, err := l2.Append(ctx, [][]byte{forged}); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
		t.Errorf("forged through a fresh log: %v", err)
	}
}

func TestKeyRotationAndRevocation(t *testing.T) {
	l := vecNewLog(t, "test.example/rotate", "", "")
	k1, k2 := newAgentKey(t, "svc:ci"), newAgentKey(t, "svc:ci")
	mustAppend(t, l, 0, k1.add(t), k1.sign(t, agentRecord("svc:ci", 1)))
	mustAppend(t, l, 2, k1.rotateTo(t, k2), k2.sign(t, agentRecord("svc:ci", 3)))
	refused(t, l, "key "+k1.id[:16]+" not valid at index 4 (rotated out at index 2)", k1.sign(t, agentRecord("svc:ci", 4)))
	refused(t, l, "was rotated at index 2 already", k1.rotateTo(t, newAgentKey(t, "svc:ci")))
	// Records signed with the rotated-out key before the rotation still verify.
	mustVerify(t, l)

	mustAppend(t, l, 4, k2.sign(t, agentRecord("svc:ci", 5)), k2.revoke(t, nil))
	refused(t, l, "not valid at index 6 (revoked at index 5)", k2.sign(t, agentRecord("svc:ci", 6)))
	refused(t, l, "revoked at index 5 already", k2.revoke(t, nil))
	if rep := mustVerify(t, l); rep.Signed != 3 {
		t.Errorf("verify checked %d signed records, want 3", rep.Signed)
	}
	keys, err := l.Keys(context.Background(), "svc:ci")
	if err != nil || len(keys) != 2 || keys[0].Ended != "rotated" || keys[0].Until != 2 || keys[1].Ended != "revoked" || keys[1].Until != 5 {
		t.Errorf("keys: %+v %v", keys, err)
	}

	// Revoked as compromised since index 3 (after it was retired): the
	// records it signed from there on no longer verify, those before do.
	refused(t, l, "is after the revocation itself", k1.revoke(t, new(int64(99))))
	mustAppend(t, l, 6, k2.revoke(t, new(int64(3))))
	rep, err := l.Verify(context.Background(), tlog.VerifyOptions{})
	if p := rep.Problem; err == nil || p == nil || p.Index != 3 || p.What != tlog.ProblemSignature || p.KeyID != k2.id || p.Agent != "svc:ci" ||
		!strings.Contains(p.Detail, "revoked as compromised from index 3") {
		t.Errorf("verify after a compromise: %v %+v", err, rep.Problem)
	}
	if !prov.IsKind(err, prov.Tampered) {
		t.Errorf("verify after a compromise: kind %s", prov.KindOf(err))
	}
}

func TestSignaturePolicy(t *testing.T) {
	ctx := context.Background()
	l := vecNewLog(t, "test.example/policy", "", "")
	k := newAgentKey(t, "svc:ci")
	mustAppend(t, l, 0, k.add(t), agentRecord("svc:ci", 1), policy(t, "svc:ci", true))
	refused(t, l, `unsigned, but agent "svc:ci" requires signatures (policy at index 2)`, agentRecord("svc:other", 3), agentRecord("svc:ci", 3))
	mustAppend(t, l, 3, agentRecord("svc:other", 3), k.sign(t, agentRecord("svc:ci", 4)))
	if req, err := l.RequiresSignatures(ctx, "svc:ci"); err != nil || !req {
		t.Errorf("RequiresSignatures: %v %v", req, err)
	}
	// The policy is lifted for records after the record that lifts it.
	mustAppend(t, l, 5, policy(t, "svc:ci", false), agentRecord("svc:ci", 6))
	mustVerify(t, l)

	// Key records are refused in a context that refuses them (the HTTP API
	// for tokens without the admin scope), through the Batcher too.
	rctx := tlog.RefuseKeyRecords(ctx)
	if _, err := l.AppendIdempotent(rctx, [][]byte{agentRecord("svc:x", 1), policy(t, "svc:ci", true)}); !prov.IsKind(err, prov.Unauthorized) {
		t.Errorf("policy record in a refusing context: %v", err)
	}
	b := l.NewBatcher(100)
	defer b.Close()
	if _, err := b.Append(rctx, [][]byte{k.revoke(t, nil)}); !prov.IsKind(err, prov.Unauthorized) {
		t.Errorf("key record through the Batcher in a refusing context: %v", err)
	}
	var re *tlog.RecordError
	if _, err := l.AppendIdempotent(ctx, [][]byte{agentRecord("svc:x", 7), agentRecord("svc:x", 8), k.sign(t, agentRecord("svc:ci", 9))[:20]}); !errors.As(err, &re) || re.N != 2 {
		t.Errorf("a bad third record: %v", err)
	}
}

// TestSignedBatches appends many signed records in batches large enough to
// be verified on all CPUs, through a log that knows the keys (verified in
// Prepare) and through a fresh one that does not (verified in the
// transaction), and through the Batcher; a forged record among them is named.
func TestSignedBatches(t *testing.T) {
	ctx := context.Background()
	l := vecNewLog(t, "test.example/batches", "", "")
	keys := []agentKey{newAgentKey(t, "svc:a"), newAgentKey(t, "svc:b")}
	mustAppend(t, l, 0, keys[0].add(t), keys[1].add(t), policy(t, "svc:a", true))
	batch := func(n, base int) [][]byte {
		var out [][]byte
		for i := range n {
			k := keys[i%2]
			out = append(out, k.sign(t, agentRecord(k.agent, base+i)))
		}
		return out
	}
	fresh := func() *tlog.Log {
		l2, err := tlog.Open(ctx, l.store, tlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return l2
	}
	for _, lg := range []*tlog.Log{l.Log, fresh()} {
		recs := batch(500, 0)
		p, _ := prov.ParseEnvelope(recs[317])
		recs[317], _ = prov.SignEnvelope(agentRecord("svc:b", 1e6), p.Signatures[0].KeyID, func([]byte) ([]byte, error) { return p.Signatures[0].Sig, nil })
		var re *tlog.RecordError
		if _, err := lg.Append(ctx, recs); !errors.As(err, &re) || re.N != 317 || !strings.Contains(err.Error(), "signature does not verify") {
			t.Errorf("a forged record 318 of 500: %v", err)
		}
		if _, err := lg.Append(ctx, batch(500, 0)); err != nil {
			t.Fatal(err)
		}
	}
	b := fresh().NewBatcher(1000)
	errs := make(chan error, 4)
	for c := range 4 {
		go func() {
			_, err := b.Append(ctx, batch(200, 1000*(c+1)))
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	if rep := mustVerify(t, l); rep.Signed != 1800 || rep.Size != 1803 {
		t.Errorf("verify: %d signed of %d", rep.Signed, rep.Size)
	}
}

// TestVerifyNamesForgery tampers a signed record in the database: with its
// bytes alone changed, verify says it was edited and that its signature
// does not verify; with its stored hashes recomputed too (and no checkpoint
// after it), only the signature shows the forgery, and verify names it.
func TestVerifyNamesForgery(t *testing.T) {
	ctx := context.Background()
	l := vecNewLog(t, "test.example/forgery", "", "")
	k := newAgentKey(t, "svc:ci")
	var recs [][]byte
	for i := range 6 {
		recs = append(recs, k.sign(t, agentRecord("svc:ci", i)))
	}
	mustAppend(t, l, 0, append([][]byte{k.add(t)}, recs...)...)
	n := int64(6)
	p, _ := prov.ParseEnvelope(recs[5])
	forged, _ := prov.SignEnvelope(bytes.Replace(p.Payload, []byte(`"reason":"record 5"`), []byte(`"reason":"record 5!"`), 1), k.id, func([]byte) ([]byte, error) { return p.Signatures[0].Sig, nil })

	db := l.store.DB()
	if _, err := db.Exec("UPDATE records SET data = ? WHERE idx = ?", forged, n); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx, tlog.VerifyOptions{})
	if p := rep.Problem; err == nil || p == nil || p.Index != n || p.What != tlog.ProblemEdited || !strings.Contains(p.Detail, "signature does not verify") || p.KeyID != k.id {
		t.Errorf("edited envelope: %v %+v", err, rep.Problem)
	}

	// Recompute the forged record's stored hashes, as an attacker who knows
	// the layout would.
	hashes, err := sumdb.StoredHashesForRecordHash(n, sumdb.RecordHash(forged), sumdb.HashReaderFunc(func(idx []int64) ([]sumdb.Hash, error) {
		out := make([]sumdb.Hash, len(idx))
		for j, i := range idx {
			level, x := sumdb.SplitStoredHashIndex(i)
			rec := (x+1)<<uint(level) - 1
			var blob []byte
			if err := db.QueryRow("SELECT hashes FROM records WHERE idx = ?", rec).Scan(&blob); err != nil {
				return nil, err
			}
			copy(out[j][:], blob[level*prov.HashSize:])
		}
		return out, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for _, h := range hashes {
		blob = append(blob, h[:]...)
	}
	if _, err := db.Exec("UPDATE records SET hashes = ? WHERE idx = ?", blob, n); err != nil {
		t.Fatal(err)
	}
	rep, err = l.Verify(ctx, tlog.VerifyOptions{})
	if p := rep.Problem; err == nil || p == nil || p.Index != n || p.What != tlog.ProblemSignature || p.Agent != "svc:ci" || p.KeyID != k.id ||
		!strings.Contains(p.Detail, "signature does not verify with key "+k.id[:16]) {
		t.Errorf("forged envelope with its hashes: %v %+v", err, rep.Problem)
	}
}
