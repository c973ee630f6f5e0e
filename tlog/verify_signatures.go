package tlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sync"

	"github.com/prov-dev/prov"
)

// verifyKeys reads every key record of the first size records into a
// keyring. A key record that does not apply is returned as a problem, and
// the keyring holds the records before it.
func verifyKeys(ctx context.Context, tx prov.ReadTx, size int64) (*keyring, *Problem, error) {
	ring := newKeyring()
	var p *Problem
	err := entriesOfType(ctx, tx, prov.TypeKey, 0, size, func(e prov.Entry) error {
		ev, err := keyRecord(e.Data)
		if err == nil {
			err = ring.apply(e.Index, ev)
		}
		if err != nil {
			p = &Problem{Index: e.Index, What: ProblemSignature, Detail: fmt.Sprintf("record %d is a key record that does not apply: %v", e.Index, err), Agent: e.AgentID}
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		return nil, nil, err
	}
	ring.through = size
	return ring, p, nil
}

// sigCheck checks the producer signatures of records read in index order:
// the rules at each index in the caller's goroutine, the Ed25519
// verifications on all CPUs. It keeps the problem of the lowest index.
type sigCheck struct {
	ring     *keyring
	signed   int64
	quoted   [][]byte // the policy agents' ids as JSON strings
	parseAll bool     // a policy agent's id has characters JSON escapes
	jobs     chan sigJob
	wg       sync.WaitGroup
	once     sync.Once

	mu  sync.Mutex
	bad *Problem
}

type sigJob struct {
	index int64
	agent string
	pae   []byte
	sigs  []prov.EnvelopeSignature
}

func newSigCheck(ring *keyring) *sigCheck {
	c := &sigCheck{ring: ring, jobs: make(chan sigJob, 1024)}
	for range runtime.GOMAXPROCS(0) {
		c.wg.Go(func() {
			for j := range c.jobs {
				for _, s := range j.sigs {
					k := c.ring.keys[s.KeyID]
					if !ed25519.Verify(k.Pub, j.pae, s.Sig) {
						c.report(Problem{Index: j.index, What: ProblemSignature, Agent: j.agent, KeyID: k.ID,
							Detail: fmt.Sprintf("record %d (agent %q): signature does not verify with key %s: the record is not what the key signed (forged or altered)", j.index, j.agent, short(k.ID))})
						break
					}
				}
			}
		})
	}
	return c
}

// report keeps p if it is the lowest problem so far.
func (c *sigCheck) report(p Problem) {
	c.mu.Lock()
	if c.bad == nil || p.Index < c.bad.Index {
		c.bad = &p
	}
	c.mu.Unlock()
}

// first returns the problem of the lowest index found, or nil. Call stop
// first for a final answer.
func (c *sigCheck) first() *Problem {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bad
}

// stop waits for the verifications queued; it may be called twice.
func (c *sigCheck) stop() {
	c.once.Do(func() {
		close(c.jobs)
		c.wg.Wait()
	})
}

// check checks the stored bytes of record n (valid during the call only).
func (c *sigCheck) check(n int64, data []byte) {
	if p := c.first(); p != nil && p.Index <= n {
		return // a problem at or before this record was found: it is the one to name
	}
	fail := func(agent, key, format string, args ...any) {
		c.report(Problem{Index: n, What: ProblemSignature, Agent: agent, KeyID: key, Detail: fmt.Sprintf("record %d", n) + agentPart(agent) + ": " + fmt.Sprintf(format, args...)})
	}
	if !prov.IsEnvelope(data) {
		if c.ring.policies == 0 || !c.mentionsPolicyAgent(data) {
			return
		}
		r, err := prov.ParseRecord(data)
		if err != nil || r.Agent == nil || r.Type == prov.TypeKey {
			return // not a record of an agent, or a key record (the admin's): no policy applies
		}
		if req, at := c.ring.requires(r.Agent.ID, n); req {
			fail(r.Agent.ID, "", "unsigned but agent requires signatures (policy at index %d)", at)
		}
		return
	}
	env, err := prov.ParseEnvelope(data)
	if err != nil {
		fail("", "", "%v", err)
		return
	}
	r, err := prov.ParseRecord(env.Payload)
	if err != nil {
		fail("", "", "the envelope's payload: %v", err)
		return
	}
	if r.Agent == nil {
		fail("", "", "a signed record that names no agent")
		return
	}
	agent := r.Agent.ID
	for _, s := range env.Signatures {
		k := c.ring.keys[s.KeyID]
		if k == nil {
			fail(agent, s.KeyID, "signed with key %s, which no key record of the log added", short(s.KeyID))
			return
		}
		if why := k.invalidAt(n, agent); why != "" {
			fail(agent, k.ID, "%s", why)
			return
		}
	}
	c.signed++
	c.jobs <- sigJob{index: n, agent: agent, pae: env.PAE(), sigs: env.Signatures}
}

// mentionsPolicyAgent reports whether data may name an agent that has a
// policy: only those records need parsing. A record with escapes, or a
// policy agent whose id JSON would escape, is always parsed.
func (c *sigCheck) mentionsPolicyAgent(data []byte) bool {
	if bytes.IndexByte(data, '\\') >= 0 {
		return true
	}
	if c.quoted == nil {
		c.quoted = [][]byte{}
		for a := range c.ring.policy {
			for _, r := range a {
				if r < 0x20 || r == '"' || r == '\\' {
					c.parseAll = true
				}
			}
			c.quoted = append(c.quoted, []byte(`"`+a+`"`))
		}
	}
	if c.parseAll {
		return true
	}
	for _, q := range c.quoted {
		if bytes.Contains(data, q) {
			return true
		}
	}
	return false
}

func agentPart(agent string) string {
	if agent == "" {
		return ""
	}
	return fmt.Sprintf(" (agent %q)", agent)
}
