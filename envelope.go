package prov

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"unicode/utf8"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// PayloadType is the DSSE payloadType of a signed Prov record: the payload
// is the record's bytes.
const PayloadType = "application/vnd.prov.record+json"

// MaxSignatures bounds the signatures of one envelope.
const MaxSignatures = 8

// Envelope is a decoded DSSE envelope (https://github.com/secure-systems-lab/dsse)
// holding one record: a producer's signature over the record's bytes. The
// log stores the envelope's bytes exactly, so that the signature can be
// checked again at any time; the record is its payload.
type Envelope struct {
	PayloadType string
	Payload     []byte // the record's bytes, decoded from base64
	Signatures  []EnvelopeSignature
}

// EnvelopeSignature is one signature of an envelope.
type EnvelopeSignature struct {
	KeyID string // the signing key's id (see KeyID)
	Sig   []byte // Ed25519 signature of the envelope's PAE, 64 bytes
}

// PAE returns the bytes that were signed: DSSE's pre-authentication
// encoding of the payload type and payload.
func (e *Envelope) PAE() []byte { return dsse.PAE(e.PayloadType, e.Payload) }

// IsEnvelope reports whether data, a JSON object, is a DSSE envelope rather
// than a plain record: an object whose first member is payloadType, payload
// or signatures (no record has those fields, and unknown fields are refused
// in records). It looks only at the first key.
func IsEnvelope(data []byte) bool {
	data = bytes.TrimLeft(data, jsonSpace)
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	data = bytes.TrimLeft(data[1:], jsonSpace)
	for _, k := range []string{`"payloadType"`, `"payload"`, `"signatures"`} {
		if bytes.HasPrefix(data, []byte(k)) {
			return true
		}
	}
	return false
}

// ParseEnvelope decodes and checks a DSSE envelope of a Prov record: one
// JSON object with exactly the members payloadType (PayloadType), payload
// (the record's bytes in standard or URL-safe base64) and signatures (1 to
// MaxSignatures of {keyid, sig}; keyid a key id as KeyID returns, sig a
// base64 Ed25519 signature). No member may appear twice, in the envelope or
// in a signature, and nothing may follow the object. It does not check the
// signatures (that needs the keys: package tlog does it) nor parse the
// payload. Errors are of kind Invalid.
func ParseEnvelope(data []byte) (*Envelope, error) {
	data = bytes.Trim(data, jsonSpace)
	if e, ok := fastEnvelope(data); ok {
		return e, nil
	}
	return parseEnvelopeReference(data)
}

// parseEnvelopeReference is ParseEnvelope's reference path, whose verdicts
// and messages are the contract: a strict scan for repeated keys, then
// encoding/json, then checkEnvelope.
func parseEnvelopeReference(data []byte) (*Envelope, error) {
	if !utf8.Valid(data) {
		return nil, Errorf(Invalid, "envelope is not valid UTF-8")
	}
	if len(data) == 0 || data[0] != '{' {
		return nil, Errorf(Invalid, "a DSSE envelope must be a JSON object")
	}
	s := &strictScan{data: data}
	if err := s.free(0); err != nil {
		if err == errSyntax {
			return nil, Errorf(Invalid, "envelope is not well-formed JSON")
		}
		return nil, Errorf(Invalid, "envelope: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var raw dsse.Envelope
	if err := dec.Decode(&raw); err != nil {
		var loose struct{ PayloadType string }
		if json.Unmarshal(data, &loose) == nil && loose.PayloadType != "" && loose.PayloadType != PayloadType {
			return nil, Errorf(Invalid, "envelope: payloadType %q is not a Prov record: want %q", loose.PayloadType, PayloadType)
		}
		return nil, Errorf(Invalid, "envelope is not a DSSE envelope {payloadType, payload, signatures}: %v", stripJSON(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(Invalid, "unexpected data after the envelope's closing brace: one envelope per line")
	}
	return checkEnvelope(raw)
}

// checkEnvelope checks the members of a decoded envelope.
func checkEnvelope(raw dsse.Envelope) (*Envelope, error) {
	if raw.PayloadType != PayloadType {
		if raw.PayloadType == "" {
			return nil, Errorf(Invalid, "envelope: payloadType is missing: want %q", PayloadType)
		}
		return nil, Errorf(Invalid, "envelope: payloadType %q is not a Prov record: want %q", raw.PayloadType, PayloadType)
	}
	if raw.Payload == "" {
		return nil, Errorf(Invalid, "envelope: payload is missing: want the record's bytes in base64")
	}
	payload, err := raw.DecodeB64Payload()
	if err != nil {
		return nil, Errorf(Invalid, "envelope: payload is not base64 (standard or URL-safe, padded)")
	}
	switch n := len(raw.Signatures); {
	case n == 0:
		return nil, Errorf(Invalid, "envelope: no signature: a signed record needs at least one")
	case n > MaxSignatures:
		return nil, Errorf(Invalid, "envelope: %d signatures, at most %d", n, MaxSignatures)
	}
	e := &Envelope{PayloadType: raw.PayloadType, Payload: payload, Signatures: make([]EnvelopeSignature, len(raw.Signatures))}
	for i, sg := range raw.Signatures {
		if !validKeyID(sg.KeyID) {
			return nil, Errorf(Invalid, "envelope: signatures[%d].keyid %q is not a Prov key id: want the 64 hex digits 'prov agent key add' printed", i, sg.KeyID)
		}
		sig, err := base64.StdEncoding.DecodeString(sg.Sig)
		if err != nil {
			sig, err = base64.URLEncoding.DecodeString(sg.Sig)
		}
		if err != nil || len(sig) != 64 {
			return nil, Errorf(Invalid, "envelope: signatures[%d].sig is not a base64 Ed25519 signature (64 bytes)", i)
		}
		e.Signatures[i] = EnvelopeSignature{KeyID: sg.KeyID, Sig: sig}
	}
	return e, nil
}

// fastEnvelope decodes the common form of an envelope without reflection
// or copies: one object of exactly the three members, each once, strings of
// printable ASCII without escapes, standard base64, signatures objects of
// exactly keyid and sig, and everything checkEnvelope requires. Anything
// else goes to the reference path, so that verdicts and messages are the
// reference path's. data has no surrounding space.
func fastEnvelope(data []byte) (*Envelope, bool) {
	e, ok := fastEnvelopeMembers(data)
	if !ok || e.PayloadType != PayloadType || len(e.Payload) == 0 || len(e.Signatures) == 0 || len(e.Signatures) > MaxSignatures {
		return nil, false
	}
	for _, sg := range e.Signatures {
		if !validKeyID(sg.KeyID) || len(sg.Sig) != 64 {
			return nil, false
		}
	}
	return e, true
}

func fastEnvelopeMembers(data []byte) (e *Envelope, ok bool) {
	s := &strictScan{data: data}
	raw := &Envelope{}
	str := func() ([]byte, bool) {
		q, esc, err := s.str()
		if err != nil || esc {
			return nil, false
		}
		for _, c := range q {
			if c < 0x20 || c >= 0x80 { // JSON refuses the first, the reference path checks UTF-8
				return nil, false
			}
		}
		return q[1 : len(q)-1], true
	}
	b64 := func(v []byte) ([]byte, bool) {
		out := make([]byte, base64.StdEncoding.DecodedLen(len(v)))
		n, err := base64.StdEncoding.Decode(out, v)
		if err != nil { // (str refused \r and \n, which the decoder would skip)
			return nil, false
		}
		return out[:n], true
	}
	colon := func() bool {
		if s.peek() != ':' {
			return false
		}
		s.pos++
		return true
	}
	if s.peek() != '{' {
		return nil, false
	}
	s.pos++
	var seen [3]bool
	for more := true; more; {
		k, ok := str()
		if !ok || !colon() {
			return nil, false
		}
		switch string(k) {
		case "payloadType", "payload":
			i := 0
			if string(k) == "payload" {
				i = 1
			}
			v, ok := str()
			if !ok || seen[i] {
				return nil, false
			}
			seen[i] = true
			if i == 0 {
				raw.PayloadType = string(v)
			} else if raw.Payload, ok = b64(v); !ok {
				return nil, false
			}
		case "signatures":
			if seen[2] || s.peek() != '[' {
				return nil, false
			}
			seen[2] = true
			s.pos++
			if s.peek() == ']' {
				s.pos++
				break
			}
			for more := true; more; {
				if s.peek() != '{' {
					return nil, false
				}
				s.pos++
				var sg EnvelopeSignature
				var have [2]bool
				for more := true; more; {
					k, ok := str()
					if !ok || !colon() {
						return nil, false
					}
					v, ok := str()
					switch {
					case !ok:
						return nil, false
					case string(k) == "keyid" && !have[0]:
						sg.KeyID, have[0] = string(v), true
					case string(k) == "sig" && !have[1]:
						if sg.Sig, ok = b64(v); !ok {
							return nil, false
						}
						have[1] = true
					default:
						return nil, false
					}
					var err error
					if more, err = s.next('}'); err != nil {
						return nil, false
					}
				}
				if !have[0] || !have[1] {
					return nil, false
				}
				raw.Signatures = append(raw.Signatures, sg)
				var err error
				if more, err = s.next(']'); err != nil {
					return nil, false
				}
			}
		default:
			return nil, false
		}
		var err error
		if more, err = s.next('}'); err != nil {
			return nil, false
		}
	}
	if s.peek() != 0 || !seen[0] || !seen[1] || !seen[2] {
		return nil, false
	}
	return raw, true
}

// stripJSON drops encoding/json's "json: " prefix.
func stripJSON(err error) string {
	s := err.Error()
	if len(s) > 6 && s[:6] == "json: " {
		return s[6:]
	}
	return s
}

// RecordBytes returns the record held by a stored entry's bytes: the payload
// of a DSSE envelope (and the envelope), or data itself for a plain record.
func RecordBytes(data []byte) ([]byte, *Envelope, error) {
	if !IsEnvelope(data) {
		return data, nil, nil
	}
	env, err := ParseEnvelope(data)
	if err != nil {
		return nil, nil, err
	}
	return env.Payload, env, nil
}

// ParseEntry parses the record held by a stored entry's bytes, plain or
// enveloped (see RecordBytes). It does not check signatures.
func ParseEntry(data []byte) (*Record, error) {
	rec, _, err := RecordBytes(data)
	if err != nil {
		return nil, err
	}
	return ParseRecord(rec)
}

// SignEnvelope returns the bytes of a DSSE envelope of record (its exact
// bytes, which the log will check as the record) signed by
// sign, a signing function of the key keyID (for example an
// ed25519.PrivateKey's Sign with a nil rand and crypto.Hash(0)).
func SignEnvelope(record []byte, keyID string, sign func(pae []byte) ([]byte, error)) ([]byte, error) {
	sig, err := sign(dsse.PAE(PayloadType, record))
	if err != nil {
		return nil, err
	}
	return json.Marshal(dsse.Envelope{
		PayloadType: PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(record),
		Signatures:  []dsse.Signature{{KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)}},
	})
}

// OneLine returns data, a stored record or envelope, as it is shown in a
// listing of one record per line (prov log --json, GET /api/v1/records):
// unchanged unless it spans lines, in which case its insignificant
// whitespace is removed (a JSON text has line breaks only there). The bytes
// as stored, which the log's hashes cover, are what prov get and
// GET /api/v1/records/{index} return.
func OneLine(data []byte) []byte {
	if !bytes.ContainsAny(data, "\r\n") {
		return data
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r"), []byte(" ")), []byte("\n"), []byte(" ")) // not JSON: verify names it
	}
	return b.Bytes()
}
