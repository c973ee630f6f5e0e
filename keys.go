package prov

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"strings"
)

// Key event actions, the "action" of a key record's attributes.
const (
	KeyAdd    = "add"    // a key of the agent becomes valid for records logged after this one
	KeyRotate = "rotate" // a new key replaces one: the old is valid for records logged before this one, the new after
	KeyRevoke = "revoke" // a key stops being valid for records logged after this one
	KeyPolicy = "policy" // the agent's signature policy changes for records logged after this one
)

// KeyEvent is what a key record (type "key") states, in its attributes:
//
//	{"action":"add","key_id":ID,"public_key":B64}
//	{"action":"rotate","key_id":ID,"public_key":B64,"replaces":OLD_ID}
//	{"action":"revoke","key_id":ID[,"compromised_since":INDEX]}
//	{"action":"policy","require_signatures":BOOL}
//
// ID is KeyID(public key); B64 the standard base64 of the key's PKIX (DER)
// encoding. The agent is the record's agent.
type KeyEvent struct {
	Action            string `json:"action"`
	KeyID             string `json:"key_id,omitempty"`
	PublicKey         string `json:"public_key,omitempty"`
	Replaces          string `json:"replaces,omitempty"`
	CompromisedSince  *int64 `json:"compromised_since,omitempty"`
	RequireSignatures *bool  `json:"require_signatures,omitempty"`

	Agent string            `json:"-"` // the record's agent.id
	Key   ed25519.PublicKey `json:"-"` // decoded PublicKey
}

// KeyID returns a public key's id: the lower-case hex SHA-256 of its PKIX
// (DER) encoding, as `openssl pkey -pubin -outform DER | sha256sum` prints.
func KeyID(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an ed25519.PublicKey always marshals
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func validKeyID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseKeyEvent reads the key event of a key record and checks it: an
// agent, a known action with exactly its members, a key id that is the
// public key's, a non-negative compromised_since. Errors are of kind Invalid.
func ParseKeyEvent(r *Record) (*KeyEvent, error) {
	if r.Type != TypeKey {
		return nil, Errorf(Invalid, "not a key record")
	}
	if r.Agent == nil {
		return nil, Errorf(Invalid, `key record: field "agent" is required: the agent whose key this is`)
	}
	const want = `want {"action": "add"|"rotate"|"revoke"|"policy", …} (see docs/RECORD.md)`
	if len(r.Attributes) == 0 {
		return nil, Errorf(Invalid, `key record: field "attributes" is required: %s`, want)
	}
	dec := json.NewDecoder(bytes.NewReader(r.Attributes))
	dec.DisallowUnknownFields()
	var ev KeyEvent
	if err := dec.Decode(&ev); err != nil {
		return nil, Errorf(Invalid, "key record: attributes: %s: %s", stripJSON(err), want)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(Invalid, "key record: attributes: data after the object")
	}
	ev.Agent = r.Agent.ID
	fail := func(format string, args ...any) (*KeyEvent, error) {
		return nil, Errorf(Invalid, "key record (%s): %s", ev.Action, fmt.Sprintf(format, args...))
	}
	has := map[string]bool{"key_id": ev.KeyID != "", "public_key": ev.PublicKey != "", "replaces": ev.Replaces != "",
		"compromised_since": ev.CompromisedSince != nil, "require_signatures": ev.RequireSignatures != nil}
	var need, allow []string
	switch ev.Action {
	case KeyAdd:
		need = []string{"key_id", "public_key"}
	case KeyRotate:
		need = []string{"key_id", "public_key", "replaces"}
	case KeyRevoke:
		need, allow = []string{"key_id"}, []string{"compromised_since"}
	case KeyPolicy:
		need = []string{"require_signatures"}
	case "":
		return nil, Errorf(Invalid, "key record: attributes.action is missing: %s", want)
	default:
		return nil, Errorf(Invalid, "key record: unknown action %q: %s", ev.Action, want)
	}
	for _, f := range need {
		if !has[f] {
			return fail("attributes.%s is required", f)
		}
	}
	for f, ok := range has {
		if ok && !contains(need, f) && !contains(allow, f) {
			return fail("attributes.%s does not belong to this action", f)
		}
	}
	if ev.KeyID != "" && !validKeyID(ev.KeyID) {
		return fail("attributes.key_id %q is not a key id: want 64 lower-case hex digits (SHA-256 of the PKIX public key)", ev.KeyID)
	}
	if ev.Replaces != "" && !validKeyID(ev.Replaces) {
		return fail("attributes.replaces %q is not a key id", ev.Replaces)
	}
	if ev.Replaces != "" && ev.Replaces == ev.KeyID {
		return fail("a key cannot replace itself")
	}
	if ev.CompromisedSince != nil && *ev.CompromisedSince < 0 {
		return fail("attributes.compromised_since must be a log index (0 or more)")
	}
	if ev.PublicKey != "" {
		der, err := base64.StdEncoding.DecodeString(ev.PublicKey)
		if err != nil {
			return fail("attributes.public_key is not standard base64")
		}
		pub, err := ParsePublicKey(der)
		if err != nil {
			return fail("attributes.public_key: %v", err)
		}
		if id := KeyID(pub); id != ev.KeyID {
			return fail("attributes.key_id %s is not the id of the public key (%s)", ev.KeyID, id)
		}
		ev.Key = pub
	}
	return &ev, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// ParsePublicKey reads an Ed25519 public key: PEM ("PUBLIC KEY", PKIX) or
// PKIX DER.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, Errorf(Invalid, "PEM block %q is not a public key: want \"PUBLIC KEY\" (PKIX)", blk.Type)
		}
		b = blk.Bytes
	} else if strings.HasPrefix(strings.TrimSpace(string(b)), "-----") {
		return nil, Errorf(Invalid, "not a PEM public key")
	}
	k, err := x509.ParsePKIXPublicKey(b)
	if err != nil {
		return nil, Errorf(Invalid, "not a PKIX public key: %v", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, Errorf(Invalid, "the public key is %T, not Ed25519: Prov's producer signatures are Ed25519", k)
	}
	return pub, nil
}

// Attributes returns the key event as a key record's attributes.
func (ev *KeyEvent) Attributes() json.RawMessage {
	b, _ := json.Marshal(ev)
	return b
}

// PublicKeyAttribute encodes pub as a key event's public_key.
func PublicKeyAttribute(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return base64.StdEncoding.EncodeToString(der)
}
