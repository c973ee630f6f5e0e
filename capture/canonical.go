package capture

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// field is one column of a row image.
type field struct {
	key string
	val []byte // canonical JSON
}

// canonicalImage returns a row image as SQLite capture records it, and its
// digest. raw is what the triggers wrote: a JSON object, or an array of
// objects for wide tables. The image is one object, in column order, with
// every value in one canonical form (so that images written by different
// SQLite versions, which print numbers differently, are equal) and the
// values of the pii columns replaced by "sha256:" and the hex SHA-256 of
// salt and the value's text, as PostgreSQL's pii_digest does. The digest is
// SHA-256 of the image with its keys sorted and its null fields left out (a
// column added without a default does not change the digests of existing
// rows).
func canonicalImage(raw []byte, pii []string, salt []byte) (img, sum []byte, err error) {
	fields, err := parseImage(raw)
	if err != nil {
		return nil, nil, err
	}
	for i, f := range fields {
		if !slices.Contains(pii, f.key) || string(f.val) == "null" {
			continue
		}
		text := f.val
		if f.val[0] == '"' {
			var s string
			json.Unmarshal(f.val, &s)
			text = []byte(s)
		}
		h := sha256.New()
		h.Write(salt)
		h.Write(text)
		fields[i].val = []byte(`"sha256:` + hex.EncodeToString(h.Sum(nil)) + `"`)
	}
	img = writeObject(fields, false)
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
	d := sha256.Sum256(writeObject(fields, true))
	return img, d[:], nil
}

func writeObject(fields []field, skipNull bool) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, f := range fields {
		if skipNull && string(f.val) == "null" {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.Write(jsonString(f.key))
		b.WriteByte(':')
		b.Write(f.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// parseImage reads the fields of an object, or of an array of objects, with
// canonical values.
func parseImage(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("row image is not JSON: %w", err)
	}
	var fields []field
	switch tok {
	case json.Delim('{'):
		if fields, err = readObject(dec, fields); err != nil {
			return nil, err
		}
	case json.Delim('['):
		for dec.More() {
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				return nil, errors.New("row image is not a JSON object or a list of them")
			}
			if fields, err = readObject(dec, fields); err != nil {
				return nil, err
			}
		}
	default:
		return nil, errors.New("row image is not a JSON object")
	}
	return fields, nil
}

// readObject reads the fields of an object whose '{' was read, and its '}'.
func readObject(dec *json.Decoder, fields []field) ([]field, error) {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("row image is not JSON: %w", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("row image is not JSON: %w", err)
		}
		fields = append(fields, field{key: key, val: canonicalValue(v)})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("row image is not JSON: %w", err)
	}
	return fields, nil
}

// canonicalValue returns one form of a JSON value: strings escaped as
// encoding/json does (without HTML escapes), integers as they are, other
// numbers as the shortest text that reads back as the same float64 (with
// ".0" if it would look like an integer), and ±9e999 for infinities, as
// SQLite writes them.
func canonicalValue(v json.RawMessage) []byte {
	switch v[0] {
	case 'n', 't', 'f':
		return v
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return v
		}
		return jsonString(s)
	case '{', '[':
		var b bytes.Buffer
		if json.Compact(&b, v) != nil {
			return v
		}
		return b.Bytes()
	}
	s := string(v)
	if !strings.ContainsAny(s, ".eE") {
		return v
	}
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case math.IsInf(f, 1):
		return []byte("9e999")
	case math.IsInf(f, -1):
		return []byte("-9e999")
	case err != nil:
		return v
	}
	out, _ := json.Marshal(f) // shortest round trip, exponent only far from 1
	if !bytes.ContainsAny(out, ".e") {
		out = append(out, ".0"...)
	}
	return out
}

// jsonString returns s as a JSON string, without encoding/json's HTML
// escapes.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
