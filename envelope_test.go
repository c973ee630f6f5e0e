package prov_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
)

// The vectors in testdata/envelopes are signed with the key of seed 0.
var vectorKey = ed25519.NewKeyFromSeed(make([]byte, 32))

func TestEnvelopeVectors(t *testing.T) {
	pub := vectorKey.Public().(ed25519.PublicKey)
	for _, c := range []struct{ file, err string }{
		{"valid.json", ""},
		{"two-signatures.json", ""},
		{"url-safe.json", ""},
		{"in-toto-type.json", `payloadType "application/vnd.in-toto+json" is not a Prov record`},
		{"repeated-key.json", "appears twice"},
		{"no-signatures.json", "no signature"},
		{"bad-keyid.json", "is not a Prov key id"},
		{"unknown-field.json", "unknown field"},
		{"short-signature.json", "not a base64 Ed25519 signature"},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "envelopes", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !prov.IsEnvelope(data) {
			t.Errorf("%s: not recognised as an envelope", c.file)
		}
		env, err := prov.ParseEnvelope(data)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !prov.IsKind(err, prov.Invalid) {
				t.Errorf("%s: error %v, want one with %q", c.file, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		for _, s := range env.Signatures {
			if s.KeyID != prov.KeyID(pub) || !ed25519.Verify(pub, env.PAE(), s.Sig) {
				t.Errorf("%s: signature does not verify", c.file)
			}
		}
		r, err := prov.ParseEntry(data)
		if err != nil || r.Agent.ID != "svc:ci" {
			t.Errorf("%s: ParseEntry: %v %+v", c.file, err, r)
		}
	}
	// A plain record is not an envelope, and ParseEntry reads it as is.
	rec := `{"type":"change","time":"2026-01-02T03:04:05Z","generated":[{"id":"x"}]}`
	if prov.IsEnvelope([]byte(rec)) {
		t.Error("a record taken for an envelope")
	}
	if b, env, err := prov.RecordBytes([]byte(rec)); err != nil || env != nil || string(b) != rec {
		t.Errorf("RecordBytes of a record: %q %v %v", b, env, err)
	}
}

// TestPAEIsTheSpecs checks Envelope.PAE against the DSSE specification's
// own test vector (in /work/shared/external, skipped when absent).
func TestPAEIsTheSpecs(t *testing.T) {
	b, err := os.ReadFile("../shared/external/attestation/dsse-spec/dsse-test-vector.json")
	if err != nil {
		t.Skip("no DSSE test vector:", err)
	}
	var v struct {
		PayloadType, PayloadUtf8, PaeUtf8 string
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	e := &prov.Envelope{PayloadType: v.PayloadType, Payload: []byte(v.PayloadUtf8)}
	if got := string(e.PAE()); got != v.PaeUtf8 {
		t.Errorf("PAE %q, want %q", got, v.PaeUtf8)
	}
}

// TestRealEnvelopesAreRefused: real in-toto DSSE envelopes (Sigstore-signed
// SLSA provenance) are envelopes, but not of Prov records: refused with a
// message that says so.
func TestRealEnvelopesAreRefused(t *testing.T) {
	files, _ := filepath.Glob("../shared/external/attestation/slsa-verifier/gha_generic/*/*.intoto.jsonl")
	if len(files) == 0 {
		t.Skip("no external attestations")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			line := sc.Bytes()
			if !prov.IsEnvelope(line) {
				continue // a Sigstore bundle line
			}
			_, err := prov.ParseEnvelope(line)
			if err == nil || !strings.Contains(err.Error(), "is not a Prov record") {
				t.Errorf("%s: %v", filepath.Base(f), err)
			}
		}
	}
}

func TestParseKeyEvent(t *testing.T) {
	pub := vectorKey.Public().(ed25519.PublicKey)
	id, pk := prov.KeyID(pub), prov.PublicKeyAttribute(pub)
	rec := func(attrs string) *prov.Record {
		return &prov.Record{Type: prov.TypeKey, Agent: &prov.Agent{ID: "svc:ci"}, Attributes: json.RawMessage(attrs)}
	}
	ok := []string{
		`{"action":"add","key_id":"` + id + `","public_key":"` + pk + `"}`,
		`{"action":"rotate","key_id":"` + id + `","public_key":"` + pk + `","replaces":"` + strings.Repeat("a", 64) + `"}`,
		`{"action":"revoke","key_id":"` + id + `"}`,
		`{"action":"revoke","key_id":"` + id + `","compromised_since":3}`,
		`{"action":"policy","require_signatures":true}`,
	}
	for _, a := range ok {
		if _, err := prov.ParseKeyEvent(rec(a)); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, c := range []struct{ attrs, err string }{
		{`{"action":"add","key_id":"` + strings.Repeat("b", 64) + `","public_key":"` + pk + `"}`, "is not the id of the public key"},
		{`{"action":"add","key_id":"` + id + `"}`, "public_key is required"},
		{`{"action":"revoke","key_id":"` + id + `","public_key":"` + pk + `"}`, "does not belong"},
		{`{"action":"delete","key_id":"` + id + `"}`, "unknown action"},
		{`{"action":"policy"}`, "require_signatures is required"},
		{`{"action":"policy","require_signatures":true,"x":1}`, "unknown field"},
		{`{"action":"revoke","key_id":"` + id + `","compromised_since":-1}`, "log index"},
		{`{"action":"add","key_id":"` + id + `","public_key":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZ805D3eqNZywjCI19lInBJOp7YMrCrzAH3CVTAOQ0jgMeCvVTiaRJaRPRDOv8UMs6U4SvKc6pnrIDOoSYI3fdA=="}`, "not Ed25519"},
	} {
		if _, err := prov.ParseKeyEvent(rec(c.attrs)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.attrs, err, c.err)
		}
	}
	// The record vector of a rotation is a valid key event.
	b, _ := os.ReadFile(filepath.Join("testdata", "records", "valid", "key-rotation.json"))
	if r, err := prov.ParseRecord(b); err != nil {
		t.Error(err)
	} else if ev, err := prov.ParseKeyEvent(r); err != nil || ev.Action != prov.KeyRotate || ev.KeyID != id {
		t.Errorf("key-rotation.json: %+v %v", ev, err)
	}
	if _, err := prov.ParseKeyEvent(&prov.Record{Type: prov.TypeKey, Attributes: json.RawMessage(ok[0])}); err == nil {
		t.Error("a key record with no agent was accepted")
	}
}

// FuzzEnvelope: ParseEnvelope never panics and refuses only with kind
// Invalid; what it accepts has Prov's payload type and 1 to MaxSignatures
// signatures of 64 bytes under well-formed key ids, and re-encoding it
// (SignEnvelope's form) parses back to the same envelope. Seeds:
// testdata/envelopes.
func FuzzEnvelope(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "envelopes", "*.json"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := prov.ParseEnvelope(data)
		if err != nil {
			if !prov.IsKind(err, prov.Invalid) {
				t.Fatalf("error of kind %s: %v", prov.KindOf(err), err)
			}
			return
		}
		if env.PayloadType != prov.PayloadType || len(env.Signatures) == 0 || len(env.Signatures) > prov.MaxSignatures {
			t.Fatalf("accepted %+v", env)
		}
		for _, s := range env.Signatures {
			if len(s.Sig) != 64 || len(s.KeyID) != 64 {
				t.Fatalf("accepted a signature %+v", s)
			}
		}
		again, err := prov.SignEnvelope(env.Payload, env.Signatures[0].KeyID, func([]byte) ([]byte, error) { return env.Signatures[0].Sig, nil })
		if err != nil {
			t.Fatal(err)
		}
		env2, err := prov.ParseEnvelope(again)
		if err != nil || !bytes.Equal(env2.Payload, env.Payload) || !bytes.Equal(env2.Signatures[0].Sig, env.Signatures[0].Sig) {
			t.Fatalf("re-encoded envelope %s: %v", again, err)
		}
	})
}
