package capture

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"
)

// What the sequencer needs of a row image — its members, its key, the
// columns a change wrote, PostgreSQL's digest — read by one pass over the
// image's text, without encoding/json (which the sequencer used to run six
// times per change: see docs/PERFORMANCE-capture.md).

// member is one member of a JSON object: its key, decoded, and the exact
// text of its value.
type member struct {
	key string
	val []byte
}

var errNotObject = errors.New("row image is not a JSON object")

// parseObject splits the text of a JSON object into its members, in order.
// Values are slices of b, as encoding/json's RawMessage would hold them. It
// fails unless b is exactly one well-formed JSON object (white space around
// it allowed).
func parseObject(b []byte) ([]member, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errNotObject
	}
	members := make([]member, 0, 8)
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return nil, syntaxError(b, i)
			}
			end, escaped, err := scanString(b, i)
			if err != nil {
				return nil, err
			}
			var key string
			if escaped || !utf8.Valid(b[i+1:end-1]) { // decoded as encoding/json does, U+FFFD for bad UTF-8
				if err := json.Unmarshal(b[i:end], &key); err != nil {
					return nil, fmt.Errorf("row image is not JSON: %w", err)
				}
			} else {
				key = string(b[i+1 : end-1])
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return nil, syntaxError(b, i)
			}
			start := skipSpace(b, i+1)
			if end, err = scanValue(b, start, 0); err != nil {
				return nil, err
			}
			members = append(members, member{key: key, val: b[start:end]})
			i = skipSpace(b, end)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return nil, syntaxError(b, i)
		}
	}
	if i = skipSpace(b, i); i != len(b) {
		return nil, syntaxError(b, i)
	}
	return members, nil
}

func syntaxError(b []byte, i int) error {
	if i >= len(b) {
		return errors.New("row image is not JSON: unexpected end of the text")
	}
	return fmt.Errorf("row image is not JSON: unexpected %q at offset %d", b[i], i)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// maxDepth bounds the nesting of values, as encoding/json does.
const maxDepth = 10000

// scanValue returns the end of the JSON value that starts at b[i].
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, syntaxError(b, i)
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return i, errors.New("row image is not JSON: nested too deeply")
		}
		return scanContainer(b, i, depth+1)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	}
	return i, syntaxError(b, i)
}

// scanContainer returns the end of the object or array that starts at b[i].
func scanContainer(b []byte, i, depth int) (int, error) {
	obj := b[i] == '{'
	close := byte(']')
	if obj {
		close = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == close {
		return i + 1, nil
	}
	for {
		var err error
		if obj {
			if i >= len(b) || b[i] != '"' {
				return i, syntaxError(b, i)
			}
			if i, _, err = scanString(b, i); err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, syntaxError(b, i)
			}
			i = skipSpace(b, i+1)
		}
		if i, err = scanValue(b, i, depth); err != nil {
			return i, err
		}
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == close {
			return i + 1, nil
		}
		return i, syntaxError(b, i)
	}
}

// scanString returns the end of the string that starts at b[i] (after its
// closing quote), and whether it holds escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			if j+1 >= len(b) {
				return j, escaped, syntaxError(b, len(b))
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+5 >= len(b) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) || !isHex(b[j+5]) {
					return j, escaped, fmt.Errorf("row image is not JSON: bad \\u escape at offset %d", j)
				}
				j += 5
			default:
				return j, escaped, fmt.Errorf("row image is not JSON: bad escape at offset %d", j)
			}
		case c < 0x20:
			return j, escaped, fmt.Errorf("row image is not JSON: control character in a string at offset %d", j)
		}
	}
	return len(b), escaped, syntaxError(b, len(b))
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return i, syntaxError(b, i)
	}
	return i + len(lit), nil
}

// scanNumber returns the end of the number that starts at b[i], following
// JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, error) {
	j := i
	if b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	default:
		return j, syntaxError(b, j)
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || !isDigit(b[j]) {
			return j, syntaxError(b, j)
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || !isDigit(b[j]) {
			return j, syntaxError(b, j)
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	return j, nil
}

// pgDigest returns the digest of a row image that PostgreSQL printed
// (jsonb's text output), equal to what digestSQL computes in the database:
// SHA-256 of the text of jsonb_strip_nulls of the image. nil for a nil
// image.
func pgDigest(text []byte) ([]byte, error) {
	if text == nil {
		return nil, nil
	}
	stripped, err := pgStripNulls(text)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(stripped)
	return sum[:], nil
}

// pgStripNulls returns the text PostgreSQL prints for jsonb_strip_nulls of
// the jsonb value whose text output is text: every object member whose value
// is null is left out, at any depth (elements of arrays are kept, null or
// not). jsonb's text output writes ", " between members and elements and
// ": " after keys, keeps keys in its own order (which leaving members out
// does not change) and prints every scalar the same whatever surrounds it,
// so the result is text without those members, written the same way.
func pgStripNulls(text []byte) ([]byte, error) {
	if !bytes.Contains(text, []byte("null")) {
		return text, nil // nothing to strip: the text is jsonb's own
	}
	out, i, err := appendStripped(make([]byte, 0, len(text)), text, skipSpace(text, 0), 0)
	if err != nil {
		return nil, err
	}
	if i = skipSpace(text, i); i != len(text) {
		return nil, syntaxError(text, i)
	}
	return out, nil
}

// appendStripped appends the value at b[i] without its null members, in
// jsonb's text format, and returns where the value ends.
func appendStripped(dst, b []byte, i, depth int) ([]byte, int, error) {
	if i >= len(b) {
		return dst, i, syntaxError(b, i)
	}
	if c := b[i]; c != '{' && c != '[' {
		end, err := scanValue(b, i, depth)
		return append(dst, b[i:end]...), end, err
	}
	if depth >= maxDepth {
		return dst, i, errors.New("row image is not JSON: nested too deeply")
	}
	obj := b[i] == '{'
	close := byte(']')
	if obj {
		close = '}'
	}
	dst = append(dst, b[i])
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == close {
		return append(dst, close), i + 1, nil
	}
	n := 0
	for {
		var err error
		var key []byte
		if obj {
			if i >= len(b) || b[i] != '"' {
				return dst, i, syntaxError(b, i)
			}
			end, _, err := scanString(b, i)
			if err != nil {
				return dst, i, err
			}
			key = b[i:end]
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return dst, i, syntaxError(b, i)
			}
			i = skipSpace(b, i+1)
		}
		if obj && bytes.HasPrefix(b[i:], []byte("null")) {
			i += 4 // a null member: left out
		} else {
			if n > 0 {
				dst = append(dst, ", "...)
			}
			n++
			if obj {
				dst = append(dst, key...)
				dst = append(dst, ": "...)
			}
			if dst, i, err = appendStripped(dst, b, i, depth+1); err != nil {
				return dst, i, err
			}
		}
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == close {
			return append(dst, close), i + 1, nil
		}
		return dst, i, syntaxError(b, i)
	}
}

// pgKeyText returns the text PostgreSQL prints for a row's key as a jsonb
// object (jsonb_build_object(…)::text, how row_state keys rows), from the key
// as keyFrom writes it of a PostgreSQL image: its values are already in
// jsonb's text form (they are copied from the image's text), so only the
// members' order (jsonb's: shorter keys first, then byte order), their
// separators and the escaping of the names differ.
func pgKeyText(key string) (string, error) {
	members, err := parseObject([]byte(key))
	if err != nil {
		return "", err
	}
	if len(members) > 1 {
		sort.SliceStable(members, func(i, j int) bool {
			a, b := members[i].key, members[j].key
			if len(a) != len(b) {
				return len(a) < len(b)
			}
			return a < b
		})
	}
	b := make([]byte, 0, len(key)+2*len(members)+8)
	b = append(b, '{')
	for i, m := range members {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendPGString(b, m.key)
		b = append(b, ": "...)
		b = append(b, m.val...)
	}
	return string(append(b, '}')), nil
}

// appendPGString appends s as PostgreSQL's JSON output writes a string
// (escape_json): quote, backslash and control characters escaped, nothing
// else.
func appendPGString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		default:
			if c < 0x20 {
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			} else {
				dst = append(dst, c)
			}
		}
	}
	return append(dst, '"')
}
