package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prov-dev/prov"
)

// TestServeSignatures runs a real prov serve on each store and posts DSSE
// envelopes to it: as a JSON array and as JSON Lines; a rotation over HTTP
// (admin token) after which the old key's records still verify and new
// ones signed with it are refused; a revocation and a signature policy made
// with the CLI while the server runs; forged and unsigned records refused
// with the line at fault; and a stored envelope forged in the database
// afterwards, which prov verify names.
func TestServeSignatures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		l := newLog(t)
		admin, ingest, reader := token(t, l, "admin"), token(t, l, "ingest"), token(t, l, "read")
		dir := t.TempDir()
		k1, k2, kapi := filepath.Join(dir, "k1.pem"), filepath.Join(dir, "k2.pem"), filepath.Join(dir, "api.pem")
		for _, c := range [][]string{{"svc:ci", k1}, {"svc:api", kapi}} {
			if r := l.run(t, "", "agent", "key", "add", "--agent", c[0], "--generate", "--out", c[1]); r.code != 0 {
				t.Fatal(r.stderr)
			}
		}
		s := startServer(t, l.args...)
		post := func(tok, body string, status int, want string) {
			t.Helper()
			code, b, _ := s.do(t, "POST", "/api/v1/records", tok, []byte(body))
			if code != status || !strings.Contains(string(b), want) {
				t.Errorf("POST: %d %s\nwant %d with %q", code, b, status, want)
			}
		}
		size := func() int64 {
			t.Helper()
			_, b, _ := s.do(t, "GET", "/healthz", "", nil)
			var h struct{ Size int64 }
			json.Unmarshal(b, &h)
			return h.Size
		}
		lines := func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

		// A JSON array of envelopes, then JSON Lines (indexes 2..5).
		envs := lines(sign(t, k1, agentRecord("svc:ci", 1), agentRecord("svc:ci", 2)))
		post(ingest, "["+strings.Join(envs, ",")+"]", 200, `{"records":[{"index":2},{"index":3}]}`)
		post(ingest, sign(t, k1, agentRecord("svc:ci", 3), agentRecord("svc:ci", 4)), 200, `{"records":[{"index":4},{"index":5}]}`)
		// The API returns the stored envelope exactly, and lists the payload beside it.
		if code, b, _ := s.do(t, "GET", "/api/v1/records/2", reader, nil); code != 200 || string(b) != envs[0] {
			t.Errorf("get: %d %s", code, b)
		}
		if code, b, _ := s.do(t, "GET", "/api/v1/records?from=3&to=4", reader, nil); code != 200 ||
			string(b) != `{"index":3,"record":`+agentRecord("svc:ci", 2)+`,"envelope":`+envs[1]+"}\n" {
			t.Errorf("list: %d %s", code, b)
		}

		// Rotation over HTTP: key records need the admin scope.
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(priv)
		os.WriteFile(k2, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		old := keyList(t, l, "svc:ci")[0]
		rot, _ := json.Marshal(prov.Record{Type: prov.TypeKey, Time: time.Now().UTC(), Agent: &prov.Agent{ID: "svc:ci"},
			Attributes: (&prov.KeyEvent{Action: prov.KeyRotate, KeyID: prov.KeyID(pub), PublicKey: prov.PublicKeyAttribute(pub), Replaces: old}).Attributes()})
		post(ingest, string(rot), 401, "need a token with the admin scope")
		post(admin, string(rot), 200, `{"index":6}`)
		post(ingest, sign(t, k1, agentRecord("svc:ci", 5)), 400, "not valid at index 7 (rotated out at index 6)")
		post(ingest, sign(t, k2, agentRecord("svc:ci", 5)), 200, `{"index":7}`)

		// Forged: another record under a valid signature; signed with the
		// key of another agent; an in-toto envelope. The line is named.
		good, _ := prov.ParseEnvelope([]byte(lines(sign(t, k2, agentRecord("svc:ci", 6)))[0]))
		forgedB, _ := prov.SignEnvelope([]byte(agentRecord("svc:ci", 666)), good.Signatures[0].KeyID, func([]byte) ([]byte, error) { return good.Signatures[0].Sig, nil })
		forged := string(forgedB)
		for _, c := range []struct{ body, want string }{
			{agentRecord("svc:x", 1) + "\n" + forged, "signature does not verify with key"},
			{agentRecord("svc:x", 1) + "\n" + sign(t, kapi, agentRecord("svc:ci", 6)), `belongs to agent "svc:api", but the record names agent "svc:ci"`},
			{agentRecord("svc:x", 1) + "\n" + strings.Replace(sign(t, k2, agentRecord("svc:ci", 6)), prov.PayloadType, "application/vnd.in-toto+json", 1), "is not a Prov record"},
			{agentRecord("svc:x", 1) + "\n" + `{"payloadType":"` + prov.PayloadType + `","payload":"e30=","signatures":[]}`, "no signature"},
		} {
			code, b, _ := s.do(t, "POST", "/api/v1/records", ingest, []byte(c.body))
			var p struct {
				Detail string
				Line   int
			}
			if json.Unmarshal(b, &p); code != 400 || p.Line != 2 || !strings.Contains(p.Detail, c.want) {
				t.Errorf("bad envelope: %d %s\nwant 400, line 2, %q", code, b, c.want)
			}
		}
		if n := size(); n != 8 {
			t.Fatalf("refused records changed the log: %d records, want 8", n)
		}

		// A policy and a revocation made with the CLI while the server runs
		// apply to the server's next append.
		if r := l.run(t, "", "agent", "policy", "--agent", "svc:ci", "--require-signatures"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		post(ingest, agentRecord("svc:x", 7)+"\n"+agentRecord("svc:ci", 7), 400, `unsigned, but agent \"svc:ci\" requires signatures (policy at index 8)`)
		post(ingest, sign(t, kapi, agentRecord("svc:api", 7)), 200, `{"index":9}`)
		if r := l.run(t, "", "agent", "key", "revoke", "--agent", "svc:api", "--key-id", keyList(t, l, "svc:api")[0]); r.code != 0 {
			t.Fatal(r.stderr)
		}
		post(ingest, sign(t, kapi, agentRecord("svc:api", 8)), 400, "not valid at index 11 (revoked at index 10)")
		post(ingest, agentRecord("svc:x", 8)+"\n"+sign(t, k2, agentRecord("svc:ci", 8)), 200, `{"records":[{"index":11},{"index":12}]}`)

		s.cmd.Process.Signal(syscall.SIGTERM)
		if err := s.cmd.Wait(); err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, s.errb)
		}
		if r := l.run(t, "", "verify"); r.code != 0 || !strings.Contains(r.stdout, "7 signed records verified with 3 agent keys") {
			t.Errorf("verify: %d %s %s", r.code, r.stdout, r.stderr)
		}
		// Forge the last record in the database, hashes and all.
		forge(t, l, 12, true)
		r := l.run(t, "", "verify")
		want := fmt.Sprintf(`log damaged at record 12 (signature): record 12 (agent "svc:ci"): signature does not verify with key %s`, prov.KeyID(pub)[:16])
		if r.code != exitTampered || !strings.Contains(r.stderr, want) {
			t.Errorf("verify after forging: %d %s\nwant %q", r.code, r.stderr, want)
		}
	})
}
