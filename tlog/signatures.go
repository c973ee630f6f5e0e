package tlog

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/prov-dev/prov"
)

// Producer signatures (docs/decisions/0009-producer-signatures.md).
//
// A record may arrive as a DSSE envelope signed with Ed25519 keys of the
// agent it names. The agents' keys and signature policies are themselves
// records of the log (type "key"), and their validity is counted in log
// indexes: a key added (or rotated in) by the record at index A is valid
// for the records at indexes after A and before the record that rotates it
// out or revokes it. The append path checks every record against the keys
// valid at the index it is given; Verify checks them all again.

// Key is an agent's signing key as the log's key records define it.
type Key struct {
	ID    string            `json:"id"`
	Agent string            `json:"agent"`
	Pub   ed25519.PublicKey `json:"-"`
	Added int64             `json:"added"`           // index of the record that added or rotated it in
	Until int64             `json:"until,omitempty"` // index of the record that rotated it out or revoked it; 0 while valid
	Ended string            `json:"ended,omitempty"` // "rotated" or "revoked"
	// CompromisedSince is, for a key revoked as compromised, the index from
	// which the records it signed are not trusted.
	CompromisedSince *int64 `json:"compromised_since,omitempty"`
}

// invalidAt reports why the key does not sign the record at index n for
// agent, or "" if it does.
func (k *Key) invalidAt(n int64, agent string) string {
	switch {
	case k.Agent != agent:
		return fmt.Sprintf("key %s belongs to agent %q, but the record names agent %q", short(k.ID), k.Agent, agent)
	case n <= k.Added:
		return fmt.Sprintf("key %s not valid at index %d (added at index %d)", short(k.ID), n, k.Added)
	case k.Ended != "" && n >= k.Until:
		what := "revoked"
		if k.Ended == "rotated" {
			what = "rotated out"
		}
		return fmt.Sprintf("key %s not valid at index %d (%s at index %d)", short(k.ID), n, what, k.Until)
	case k.CompromisedSince != nil && n >= *k.CompromisedSince:
		return fmt.Sprintf("key %s was revoked as compromised from index %d (revoked at index %d): the record at index %d may be forged", short(k.ID), *k.CompromisedSince, k.Until, n)
	}
	return ""
}

// short abbreviates a key id for messages (the first 16 hex digits, as
// git abbreviates).
func short(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

type policyChange struct {
	index   int64
	require bool
}

// keyring is the keys and policies of the key records below through. It is
// immutable once published; apply works on a clone.
type keyring struct {
	through  int64
	keys     map[string]*Key
	policy   map[string][]policyChange // agent → changes, in index order
	policies int                       // number of policy records
}

func newKeyring() *keyring {
	return &keyring{keys: map[string]*Key{}, policy: map[string][]policyChange{}}
}

func (r *keyring) clone() *keyring {
	c := &keyring{through: r.through, keys: make(map[string]*Key, len(r.keys)), policy: make(map[string][]policyChange, len(r.policy)), policies: r.policies}
	for id, k := range r.keys {
		kk := *k
		c.keys[id] = &kk
	}
	for a, p := range r.policy {
		c.policy[a] = append([]policyChange(nil), p...)
	}
	return c
}

// requires reports whether agent must sign the record at index n, and the
// index of the policy record that says so.
func (r *keyring) requires(agent string, n int64) (bool, int64) {
	p := r.policy[agent]
	i := sort.Search(len(p), func(i int) bool { return p[i].index >= n }) - 1
	if i < 0 {
		return false, -1
	}
	return p[i].require, p[i].index
}

// apply applies the key event of the record at index n. Errors say what is
// wrong with the record; nothing is changed then.
func (r *keyring) apply(n int64, ev *prov.KeyEvent) error {
	add := func() error {
		if k, ok := r.keys[ev.KeyID]; ok {
			return prov.Errorf(prov.Conflict, "key %s is in the log already (added at index %d for agent %q): a key is added once; rotate to a new key", short(ev.KeyID), k.Added, k.Agent)
		}
		return nil
	}
	own := func(id, verb string) (*Key, error) {
		k, ok := r.keys[id]
		if !ok {
			return nil, prov.Errorf(prov.NotFound, "no key %s in the log to %s ('prov agent key list --agent %s' lists the agent's keys)", short(id), verb, ev.Agent)
		}
		if k.Agent != ev.Agent {
			return nil, prov.Errorf(prov.Invalid, "key %s belongs to agent %q, not %q", short(id), k.Agent, ev.Agent)
		}
		return k, nil
	}
	switch ev.Action {
	case prov.KeyAdd:
		if err := add(); err != nil {
			return err
		}
	case prov.KeyRotate:
		old, err := own(ev.Replaces, "rotate")
		if err != nil {
			return err
		}
		if old.Ended != "" {
			return prov.Errorf(prov.Conflict, "key %s was %s at index %d already: add a new key instead", short(old.ID), old.Ended, old.Until)
		}
		if err := add(); err != nil {
			return err
		}
		old.Until, old.Ended = n, "rotated"
	case prov.KeyRevoke:
		k, err := own(ev.KeyID, "revoke")
		if err != nil {
			return err
		}
		if since := ev.CompromisedSince; since != nil && *since > n {
			return prov.Errorf(prov.Invalid, "compromised_since %d is after the revocation itself (index %d)", *since, n)
		}
		switch {
		case k.Ended == "revoked" && (ev.CompromisedSince == nil || k.CompromisedSince != nil):
			return prov.Errorf(prov.Conflict, "key %s was revoked at index %d already", short(k.ID), k.Until)
		case k.Ended == "rotated" && ev.CompromisedSince == nil:
			return prov.Errorf(prov.Conflict, "key %s was rotated out at index %d already: nothing to revoke (to distrust records it signed, revoke it as compromised)", short(k.ID), k.Until)
		case k.Ended == "":
			k.Until = n
		}
		k.Ended = "revoked"
		if ev.CompromisedSince != nil {
			since := *ev.CompromisedSince
			k.CompromisedSince = &since
		}
		r.keys[k.ID] = k
		return nil
	case prov.KeyPolicy:
		r.policy[ev.Agent] = append(r.policy[ev.Agent], policyChange{index: n, require: *ev.RequireSignatures})
		r.policies++
		return nil
	}
	r.keys[ev.KeyID] = &Key{ID: ev.KeyID, Agent: ev.Agent, Pub: ev.Key, Added: n}
	return nil
}

// keyRecord parses the key event of a stored key record.
func keyRecord(data []byte) (*prov.KeyEvent, error) {
	r, err := prov.ParseEntry(data)
	if err != nil {
		return nil, err
	}
	return prov.ParseKeyEvent(r)
}

// refreshKeys returns the keyring of the key records of the first size
// records, read in tx, and publishes it for Prepare.
func (l *Log) refreshKeys(ctx context.Context, tx prov.ReadTx, size int64) (*keyring, error) {
	cur := l.keys.Load()
	if cur != nil && cur.through == size {
		return cur, nil
	}
	next, from := newKeyring(), int64(0)
	if cur != nil && cur.through < size {
		next, from = cur.clone(), cur.through
	}
	err := entriesOfType(ctx, tx, prov.TypeKey, from, size, func(e prov.Entry) error {
		ev, err := keyRecord(e.Data)
		if err == nil {
			err = next.apply(e.Index, ev)
		}
		if err != nil {
			return prov.Errorf(prov.Tampered, "the key record at index %d does not apply (%v): run 'prov verify'", e.Index, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	next.through = size
	if cur == nil || size >= cur.through { // a read snapshot older than the published keys does not replace them
		l.keys.CompareAndSwap(cur, next)
	}
	return next, nil
}

// keysAppended moves the published keys past entries, which the log's
// writer has just committed (Index set), if they hold no key record: the
// next append then reads no key records from the store.
func (l *Log) keysAppended(entries []prov.Entry) {
	for i := range entries {
		if entries[i].Key != nil {
			return
		}
	}
	cur := l.keys.Load()
	if cur == nil || cur.through != entries[0].Index {
		return
	}
	next := *cur // the maps are shared: a published keyring is never changed
	next.through = entries[len(entries)-1].Index + 1
	l.keys.CompareAndSwap(cur, &next)
}

// entriesOfType reads the records of one type, through the store's index
// when it has one.
func entriesOfType(ctx context.Context, tx prov.ReadTx, typ string, from, to int64, fn func(prov.Entry) error) error {
	if tr, ok := tx.(prov.TypeReader); ok {
		return tr.EntriesOfType(ctx, typ, from, to, fn)
	}
	return tx.Entries(ctx, from, to, func(e prov.Entry) error {
		if e.Type != typ {
			return nil
		}
		e.Data = append([]byte(nil), e.Data...)
		return fn(e)
	})
}

// Keys returns the keys the log's key records define, of agent (all agents
// if ""), in the order they were added.
func (l *Log) Keys(ctx context.Context, agent string) (keys []Key, err error) {
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		_, ring, err := l.currentKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, k := range ring.keys {
			if agent == "" || k.Agent == agent {
				keys = append(keys, *k)
			}
		}
		return nil
	})
	sort.Slice(keys, func(i, j int) bool { return keys[i].Added < keys[j].Added })
	return keys, err
}

// currentKeys returns the size of the log as tx sees it and the keys valid
// at that size, refreshed from tx.
func (l *Log) currentKeys(ctx context.Context, tx prov.ReadTx) (int64, *keyring, error) {
	size, err := tx.Size(ctx)
	if err != nil {
		return 0, nil, err
	}
	ring, err := l.refreshKeys(ctx, tx, size)
	return size, ring, err
}

// RequiresSignatures reports whether agent's records must be signed from
// now on.
func (l *Log) RequiresSignatures(ctx context.Context, agent string) (req bool, err error) {
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		size, ring, err := l.currentKeys(ctx, tx)
		if err != nil {
			return err
		}
		req, _ = ring.requires(agent, size)
		return nil
	})
	return req, err
}

// verifyEnvelope checks every signature of an envelope with the public keys
// known to ring: ok if all verify; with an unknown key, not ok and no problem.
func verifyEnvelope(ring *keyring, env *prov.Envelope) (ok bool, problem string) {
	pae := env.PAE()
	for _, s := range env.Signatures {
		k := ring.keys[s.KeyID]
		if k == nil {
			return false, ""
		}
		if !ed25519.Verify(k.Pub, pae, s.Sig) {
			return false, fmt.Sprintf("signature does not verify with key %s of agent %q", short(k.ID), k.Agent)
		}
	}
	return true, ""
}

// checkSignatures applies the signature rules to entries about to be
// appended at size, size+1, … in tx: every signature is by a key of the
// record's agent valid at the record's index and verifies; a record of an
// agent whose policy requires signatures is signed; key records apply to
// the current keys. It refreshes the log's keys from tx first.
func (l *Log) checkSignatures(ctx context.Context, tx prov.ReadTx, size int64, entries []prov.Entry) error {
	ring, err := l.refreshKeys(ctx, tx, size)
	if err != nil {
		return err
	}
	return checkSignaturesWith(ring, size, entries)
}

// checkSignaturesWith is checkSignatures with the keys of the records
// below size, read already.
func checkSignaturesWith(ring *keyring, size int64, entries []prov.Entry) error {
	signed, keyRecs := false, false
	for i := range entries {
		signed = signed || entries[i].Envelope != nil
		keyRecs = keyRecs || entries[i].Key != nil
	}
	if !signed && !keyRecs && ring.policies == 0 {
		return nil
	}
	if keyRecs {
		ring = ring.clone()
	}
	var later []int // entries whose signatures were not verified in Prepare
	for i := range entries {
		e, n := &entries[i], size+int64(i)
		if e.Envelope != nil {
			for _, s := range e.Envelope.Signatures {
				k := ring.keys[s.KeyID]
				if k == nil {
					return &RecordError{N: i, Err: prov.Errorf(prov.Invalid, "signed with an unknown key %s: add the agent's key first ('prov agent key add --agent %s')", short(s.KeyID), e.AgentID)}
				}
				if why := k.invalidAt(n, e.AgentID); why != "" {
					return &RecordError{N: i, Err: prov.Errorf(prov.Invalid, "%s", why)}
				}
			}
			if !e.Verified {
				later = append(later, i)
			}
		} else if e.AgentID != "" && e.Key == nil { // key records are the admin's, about the agent
			if req, at := ring.requires(e.AgentID, n); req {
				return &RecordError{N: i, Err: prov.Errorf(prov.Invalid, "unsigned, but agent %q requires signatures (policy at index %d): send the record in a DSSE envelope signed with one of the agent's keys ('prov sign')", e.AgentID, at)}
			}
		}
		if e.Key != nil {
			if err := ring.apply(n, e.Key); err != nil {
				return &RecordError{N: i, Err: err}
			}
		}
	}
	if len(later) == 0 {
		return nil
	}
	bad := parallel(len(later), func(j int) string {
		ok, why := verifyEnvelope(ring, entries[later[j]].Envelope)
		if !ok && why == "" {
			why = "a signature's key is unknown"
		}
		return why
	})
	if bad >= 0 {
		_, why := verifyEnvelope(ring, entries[later[bad]].Envelope)
		return &RecordError{N: later[bad], Err: prov.Errorf(prov.Invalid, "%s: the record is not what the key signed (forged or altered)", why)}
	}
	for _, i := range later {
		entries[i].Verified = true
	}
	return nil
}

// parallel runs check(0..n-1) on all CPUs and returns the lowest i whose
// check returned a problem, or -1.
func parallel(n int, check func(i int) string) int {
	workers := min(runtime.GOMAXPROCS(0), (n+31)/32)
	if workers <= 1 {
		for i := range n {
			if check(i) != "" {
				return i
			}
		}
		return -1
	}
	first := make([]int, workers)
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := range workers {
		first[w] = -1
		lo, hi := w*chunk, min((w+1)*chunk, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				if check(i) != "" {
					first[w] = i
					return
				}
			}
		})
	}
	wg.Wait()
	for _, f := range first {
		if f >= 0 {
			return f
		}
	}
	return -1
}

// keyRecordsRefused marks a context whose appends may not hold key records.
type keyRecordsRefused struct{}

// RefuseKeyRecords returns a context in which appends refuse key records
// (keys and signature policies) with an error of kind Unauthorized: the
// HTTP API passes it for tokens without the admin scope.
func RefuseKeyRecords(ctx context.Context) context.Context {
	return context.WithValue(ctx, keyRecordsRefused{}, true)
}

func checkKeyAuthority(ctx context.Context, entries []prov.Entry) error {
	if ctx.Value(keyRecordsRefused{}) == nil {
		return nil
	}
	for i, e := range entries {
		if e.Type == prov.TypeKey {
			return &RecordError{N: i, Err: prov.Errorf(prov.Unauthorized, "key records (agent keys and signature policies) need a token with the admin scope")}
		}
	}
	return nil
}
