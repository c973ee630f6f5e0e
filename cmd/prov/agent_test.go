package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

func agentRecord(agent string, i int) string {
	return fmt.Sprintf(`{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d","kind":"job"},"agent":{"id":%q},"generated":[{"id":"file:/data/%d","op":"write"}],"reason":"record %d"}`, i, agent, i, i)
}

// keyList returns the agent's key ids, oldest first.
func keyList(t *testing.T, l *testLog, agent string) []string {
	t.Helper()
	r := l.run(t, "", "--json", "agent", "key", "list", "--agent", agent)
	var keys []struct{ ID string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &keys) != nil {
		t.Fatalf("key list: %d %s %s", r.code, r.stdout, r.stderr)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

// sign runs prov sign with a key file over records.
func sign(t *testing.T, keyFile string, records ...string) string {
	t.Helper()
	r := run(t, strings.Join(records, "\n")+"\n", "sign", "--key", keyFile)
	if r.code != 0 {
		t.Fatalf("sign: %s", r.stderr)
	}
	return r.stdout
}

func TestAgentKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		l := newLog(t)
		dir := t.TempDir()
		k1, k2 := filepath.Join(dir, "k1.pem"), filepath.Join(dir, "k2.pem")
		want := func(r result, code int, stdout, stderr string) {
			t.Helper()
			if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(r.stderr, stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q and %q", r.code, code, r.stdout, r.stderr, stdout, stderr)
			}
		}
		want(l.run(t, "", "agent", "key", "add", "--agent", "svc:ci", "--generate", "--out", k1), 0, "Added key", "")
		if fi, err := os.Stat(k1); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("private key file: %v %v", fi, err)
		}
		// A key made by other tools: PEM PKIX public key.
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(pub)
		pubFile := filepath.Join(dir, "api.pub")
		os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
		want(l.run(t, "", "agent", "key", "add", "--agent", "svc:api", "--public-key", pubFile), 0, prov.KeyID(pub), "")
		// Signed records are appended, in a file of envelopes (index 2, 3).
		want(l.run(t, sign(t, k1, agentRecord("svc:ci", 1), agentRecord("svc:ci", 2)), "append"), 0, "2\n3\n", "")
		// Bad input: a clear error, nothing appended.
		ec, _ := x509.MarshalPKIXPublicKey(&ecdsaKey(t).PublicKey)
		ecFile := filepath.Join(dir, "ec.pub")
		os.WriteFile(ecFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ec}), 0o644)
		os.WriteFile(filepath.Join(dir, "open.pem"), []byte("x"), 0o644)
		for _, c := range []struct {
			args  []string
			stdin string
			code  int
			err   string
		}{
			{[]string{"agent", "key", "add", "--agent", "svc:api", "--public-key", pubFile}, "", 1, "is in the log already (added at index 1"},
			{[]string{"agent", "key", "add", "--agent", "svc:ec", "--public-key", ecFile}, "", 1, "not Ed25519"},
			{[]string{"agent", "key", "add", "--agent", "svc:x"}, "", 2, "--public-key FILE"},
			{[]string{"agent", "key", "revoke", "--agent", "svc:ci", "--key-id", "00ff"}, "", 1, `agent "svc:ci" has no key 00ff`},
			{[]string{"agent", "key", "revoke", "--agent", "svc:api", "--key-id", keyList(t, l, "svc:ci")[0]}, "", 1, "has no key"},
			{[]string{"append"}, sign(t, k1, agentRecord("svc:api", 9)), 1, `belongs to agent "svc:ci", but the record names agent "svc:api"`},
			{[]string{"append"}, strings.Replace(sign(t, k1, agentRecord("svc:ci", 9)), "application/vnd.prov.record+json", "application/vnd.in-toto+json", 1), 1, "is not a Prov record"},
			{[]string{"sign", "--key", filepath.Join(dir, "open.pem")}, agentRecord("svc:ci", 9), 1, "readable by others"},
			{[]string{"agent", "policy", "--agent", "svc:ci"}, "", 2, "--require-signatures"},
		} {
			r := l.run(t, c.stdin, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.err) {
				t.Errorf("%v: exit %d, %s; want %d and %q", c.args, r.code, r.stderr, c.code, c.err)
			}
		}
		// Policy: unsigned records of svc:ci are refused from index 5 on.
		want(l.run(t, "", "agent", "policy", "--agent", "svc:ci", "--require-signatures"), 0, "must be signed", "")
		want(l.run(t, record(1)+"\n"+agentRecord("svc:ci", 3)+"\n", "append"), 1, "", `line 2: unsigned, but agent "svc:ci" requires signatures (policy at index 4)`)
		// Rotation: the old key's records still verify, new ones are refused.
		want(l.run(t, "", "agent", "key", "rotate", "--agent", "svc:ci", "--generate", "--out", k2), 0, "Rotated", "")
		want(l.run(t, sign(t, k1, agentRecord("svc:ci", 4)), "append"), 1, "", "not valid at index 6 (rotated out at index 5)")
		want(l.run(t, sign(t, k2, agentRecord("svc:ci", 4)), "append"), 0, "6\n", "")
		want(l.run(t, "", "verify"), 0, "3 signed records verified with 3 agent keys", "")
		// The log shows the records, stored as envelopes.
		want(l.run(t, "", "log"), 0, "[signed] record 4", "")
		want(l.run(t, "", "log"), 0, "[key rotate "+keyList(t, l, "svc:ci")[0][:12]+"… → ", "")
		want(l.run(t, "", "log"), 0, "[policy require_signatures=true]", "")
		if r := l.run(t, "", "get", "6"); !strings.HasPrefix(r.stdout, `{"payloadType":"application/vnd.prov.record+json"`) {
			t.Errorf("get: %s", r.stdout)
		}
		// Revocation: refused after; as compromised since 6, verify names 6.
		ids := keyList(t, l, "svc:ci")
		want(l.run(t, "", "agent", "key", "revoke", "--agent", "svc:ci", "--key-id", ids[1][:12]), 0, "Revoked key "+ids[1], "")
		want(l.run(t, sign(t, k2, agentRecord("svc:ci", 5)), "append"), 1, "", "not valid at index 8 (revoked at index 7)")
		want(l.run(t, "", "verify"), 0, "ok", "")
		want(l.run(t, "", "agent", "key", "revoke", "--agent", "svc:ci", "--key-id", ids[1], "--compromised-since", "6"), 0, "from index 6 on no longer verify", "")
		want(l.run(t, "", "verify"), exitTampered, "", "log damaged at record 6 (signature): record 6 (agent \"svc:ci\"): key "+ids[1][:16]+" was revoked as compromised from index 6")
		r := l.run(t, "", "--json", "verify")
		var out struct {
			Report struct {
				Problem struct {
					Index int64
					Agent string
					KeyID string `json:"key_id"`
				}
			}
		}
		if r.code != exitTampered || json.Unmarshal([]byte(r.stdout), &out) != nil || out.Report.Problem.Index != 6 || out.Report.Problem.KeyID != ids[1] || out.Report.Problem.Agent != "svc:ci" {
			t.Errorf("verify --json: %d %s", r.code, r.stdout)
		}
	})
}

// forge replaces the stored envelope of record n with another record under
// the same signature, and (withHashes) recomputes the record's stored tree
// hashes and drops the checkpoints that cover it, as an attacker with write
// access to the database who knows the layout would: then only the
// signature shows it. n must be the last record.
func forge(t *testing.T, l *testLog, n int64, withHashes bool) {
	t.Helper()
	ctx := context.Background()
	m := &Main{Getenv: func(string) string { return "" }}
	for i := 0; i+1 < len(l.args); i += 2 {
		switch l.args[i] {
		case "--db":
			m.DB = l.args[i+1]
		case "--schema":
			m.Schema = l.args[i+1]
		}
	}
	store, err := m.openStore(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var data []byte
	var hashes []byte
	err = store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		e, err := tx.Entry(ctx, n)
		if err != nil {
			return err
		}
		env, err := prov.ParseEnvelope(e.Data)
		if err != nil {
			return err
		}
		payload := strings.Replace(string(env.Payload), `"reason":"`, `"reason":"FORGED `, 1)
		data, err = prov.SignEnvelope([]byte(payload), env.Signatures[0].KeyID, func([]byte) ([]byte, error) { return env.Signatures[0].Sig, nil })
		if err != nil {
			return err
		}
		hs, err := sumdb.StoredHashesForRecordHash(n, sumdb.RecordHash(data), sumdb.HashReaderFunc(func(idx []int64) ([]sumdb.Hash, error) {
			out := make([]sumdb.Hash, len(idx))
			for j, i := range idx {
				level, x := sumdb.SplitStoredHashIndex(i)
				blobs, err := tx.Hashes(ctx, []int64{(x+1)<<uint(level) - 1})
				if err != nil {
					return nil, err
				}
				copy(out[j][:], blobs[0][level*prov.HashSize:])
			}
			return out, nil
		}))
		for _, h := range hs {
			hashes = append(hashes, h[:]...)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lit := func(b []byte) string {
		if l.backend == "postgres" {
			return `'\x` + hex.EncodeToString(b) + `'::bytea`
		}
		return `X'` + hex.EncodeToString(b) + `'`
	}
	q := fmt.Sprintf("UPDATE records SET data = %s WHERE idx = %d", lit(data), n)
	if withHashes {
		q = fmt.Sprintf("UPDATE records SET data = %s, hashes = %s WHERE idx = %d; DELETE FROM checkpoints WHERE size > %d", lit(data), lit(hashes), n, n)
	}
	l.tamper(t, q)
}

// TestVerifyNamesForgedEnvelope tampers a stored envelope in the database.
func TestVerifyNamesForgedEnvelope(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		for _, withHashes := range []bool{false, true} {
			l := newLog(t)
			key := filepath.Join(t.TempDir(), "k.pem")
			if r := l.run(t, "", "agent", "key", "add", "--agent", "svc:ci", "--generate", "--out", key); r.code != 0 {
				t.Fatal(r.stderr)
			}
			if r := l.run(t, sign(t, key, agentRecord("svc:ci", 1), agentRecord("svc:ci", 2), agentRecord("svc:ci", 3)), "append"); r.code != 0 {
				t.Fatal(r.stderr)
			}
			forge(t, l, 3, withHashes)
			r := l.run(t, "", "verify")
			id := keyList(t, l, "svc:ci")[0]
			want := "log damaged at record 3 (edited): the stored bytes of record 3 are not the bytes that were logged"
			if withHashes {
				want = `log damaged at record 3 (signature): record 3 (agent "svc:ci"): signature does not verify with key ` + id[:16]
			}
			if r.code != exitTampered || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "signature does not verify") {
				t.Errorf("verify (hashes rewritten too: %v): exit %d, %s\nwant %q", withHashes, r.code, r.stderr, want)
			}
		}
	})
}

func ecdsaKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSignedRecordsReadBack: the readers of the log take a signed record's
// payload as the record: log, get --json, activities, export.
func TestSignedRecordsReadBack(t *testing.T) {
	l := newSQLiteLog(t)
	key := filepath.Join(t.TempDir(), "k.pem")
	if r := l.run(t, "", "agent", "key", "add", "--agent", "svc:ci", "--generate", "--out", key); r.code != 0 {
		t.Fatal(r.stderr)
	}
	act := `{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"release:v9","kind":"release","name":"signed release"},"agent":{"id":"svc:ci"},"reason":"ship it"}`
	env := strings.TrimSpace(sign(t, key, act))
	if r := l.run(t, env+"\n", "append"); r.code != 0 || r.stdout != "1\n" {
		t.Fatalf("append: %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"log"}, "release:v9  svc:ci  [signed] ship it"},
		{[]string{"--json", "log", "--from", "1"}, `{"index":1,"record":` + act + `,"envelope":` + env + "}\n"},
		{[]string{"get", "1"}, env + "\n"},
		{[]string{"activities"}, "release:v9  release  v9"},
		{[]string{"export", "--format", "prov-json"}, "release:v9"},
	} {
		if r := l.run(t, "", c.args...); r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("%v: %d %s %s\nwant %q", c.args, r.code, r.stdout, r.stderr, c.want)
		}
	}
}
