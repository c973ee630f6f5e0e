package openlineage

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unsafe"
)

// maxDepth bounds the nesting of an event (encoding/json refuses more than
// 10000 levels; no real event comes near).
const maxDepth = 1000

// checkJSON refuses malformed JSON, with encoding/json's message, and a key
// that appears twice in one object, naming its path: two parsers could read
// two different events from the same bytes, and the log keeps the bytes.
//
// It returns the tape of data's containers, for the decoder to skip them.
func checkJSON(data []byte) (*tape, error) {
	s := &scan{data: data, tape: &tape{base: data, spans: make([]span, 0, len(data)/64+4)}}
	if s.all() == nil {
		return s.tape, nil
	}
	// Refused: scan again noting the path, to name the field at fault.
	s = &scan{data: data, tape: &tape{base: data}, track: true}
	err := s.all()
	if err != errJSON {
		return nil, err
	}
	var v json.RawMessage
	if jerr := json.Unmarshal(data, &v); jerr != nil {
		var se *json.SyntaxError
		if ok := asSyntax(jerr, &se); ok {
			return nil, fieldErr("", "malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
		}
		return nil, fieldErr("", "malformed JSON: %s", strings.TrimPrefix(jerr.Error(), "json: "))
	}
	if s.depthExceeded {
		return nil, fieldErr(s.field(), "nested more than %d levels deep", maxDepth)
	}
	return nil, fieldErr("", "malformed JSON")
}

// tape holds where each object and array of a validated JSON text ends, so
// that the decoder skips a nested value in one search instead of reading
// it again at every level it walks through.
type tape struct {
	base  []byte
	spans []span // in order of start
}

type span struct{ start, end int32 } // [start, end) in base

// skip returns the length of the valid JSON value at the start of b.
func (t *tape) skip(b []byte) int {
	if t != nil && (b[0] == '{' || b[0] == '[') {
		off := uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(t.base)))
		if off < uintptr(len(t.base)) {
			start := int32(off)
			sp := t.spans
			k, _ := slices.BinarySearchFunc(sp, start, func(x span, s int32) int { return cmp.Compare(x.start, s) })
			if k < len(sp) && sp[k].start == start && int(sp[k].end-start) <= len(b) {
				return int(sp[k].end - start)
			}
		}
	}
	return skipValue(b)
}

// all scans the value that data must be, and nothing after it.
func (s *scan) all() error {
	err := s.value(0)
	if err == nil && (s.peek() != 0 || s.pos < len(s.data)) { // data after the value (peek is 0 at a NUL byte too)
		err = errJSON
	}
	return err
}

func asSyntax(err error, target **json.SyntaxError) bool {
	se, ok := err.(*json.SyntaxError)
	if ok {
		*target = se
	}
	return ok
}

type scan struct {
	tape          *tape
	data          []byte
	pos           int
	track         bool       // note the path (to name a field in an error)
	path          []pathElem // if track
	keys          [][]byte   // the keys of the objects being scanned, innermost last
	depthExceeded bool
}

type pathElem struct {
	key   []byte // quoted, as sent
	index int    // -1 for a member
}

func (s *scan) field() string {
	var b strings.Builder
	for i, e := range s.path {
		if e.index >= 0 {
			fmt.Fprintf(&b, "[%d]", e.index)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(unquoteRaw(e.key))
	}
	return b.String()
}

func (s *scan) peek() byte {
	i := s.pos
	for ; i < len(s.data); i++ {
		c := s.data[i]
		if c > ' ' || c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			s.pos = i
			return c
		}
	}
	s.pos = i
	return 0
}

// plain marks the bytes a JSON string holds as they are: not a quote, a
// backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a string and returns it quoted, and whether it has escapes.
func (s *scan) str() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, errJSON
	}
	escaped := false
	for i := s.pos + 1; i < len(s.data); i++ {
		for i < len(s.data) && plain[s.data[i]] {
			i++
		}
		if i == len(s.data) {
			break
		}
		switch c := s.data[i]; {
		case c == '\\':
			escaped = true
			if i+1 >= len(s.data) {
				return nil, false, errJSON
			}
			switch s.data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+5 >= len(s.data) || !isHex4(s.data[i+2:i+6]) {
					return nil, false, errJSON
				}
			default:
				return nil, false, errJSON
			}
			i++
		case c == '"':
			q := s.data[s.pos : i+1]
			s.pos = i + 1
			return q, escaped, nil
		case c < 0x20:
			return nil, false, errJSON
		}
	}
	return nil, false, errJSON
}

func (s *scan) value(depth int) error {
	if depth > maxDepth {
		s.depthExceeded = true
		return errJSON
	}
	switch s.peek() {
	case '{':
		k := s.open()
		s.pos++
		if s.peek() == '}' {
			s.pos++
			s.close(k)
			return nil
		}
		// The keys of this object are s.keys[base:], unescaped, so that
		// "a<b" and "a\u003cb" are the same key, as every parser reads them.
		// (An error ends the scan: only a complete object pops its keys.)
		base := len(s.keys)
		for {
			q, esc, err := s.str()
			if err != nil {
				return err
			}
			key := q[1 : len(q)-1] // the key's characters, unescaped
			if esc {
				var k string
				if json.Unmarshal(q, &k) != nil {
					return errJSON
				}
				key = []byte(k)
			}
			if s.track {
				s.path = append(s.path, pathElem{key: q, index: -1})
			}
			for _, k := range s.keys[base:] {
				if bytes.Equal(k, key) {
					if !s.track {
						return errDupKey
					}
					return fieldErr(s.field(), "appears twice in one object: an event must say one thing")
				}
			}
			s.keys = append(s.keys, key)
			if s.peek() != ':' {
				return errJSON
			}
			s.pos++
			if err := s.value(depth + 1); err != nil {
				return err
			}
			if s.track {
				s.path = s.path[:len(s.path)-1]
			}
			switch s.peek() {
			case ',':
				s.pos++
			case '}':
				s.pos++
				s.close(k)
				s.keys = s.keys[:base]
				return nil
			default:
				return errJSON
			}
		}
	case '[':
		k := s.open()
		s.pos++
		if s.peek() == ']' {
			s.pos++
			s.close(k)
			return nil
		}
		for i := 0; ; i++ {
			if s.track {
				s.path = append(s.path, pathElem{index: i})
			}
			if err := s.value(depth + 1); err != nil {
				return err
			}
			if s.track {
				s.path = s.path[:len(s.path)-1]
			}
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				s.close(k)
				return nil
			default:
				return errJSON
			}
		}
	case '"':
		_, _, err := s.str()
		return err
	case 0:
		return errJSON
	}
	start := s.pos // a number, true, false or null
	for ; s.pos < len(s.data); s.pos++ {
		switch s.data[s.pos] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return s.literal(s.data[start:s.pos])
		}
	}
	return s.literal(s.data[start:])
}

// open notes a container that starts at s.pos; close(k) notes that the
// k-th ends before s.pos.
func (s *scan) open() int {
	s.tape.spans = append(s.tape.spans, span{start: int32(s.pos), end: -1})
	return len(s.tape.spans) - 1
}

func (s *scan) close(k int) { s.tape.spans[k].end = int32(s.pos) }

func (s *scan) literal(b []byte) error {
	switch string(b) {
	case "true", "false", "null":
		return nil
	}
	if len(b) == 0 || !json.Valid(b) {
		return errJSON
	}
	return nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// The decoder reads JSON that checkJSON has validated, so it walks it with
// these helpers instead of decoding it again and again: each returns spans
// of the input (no copy), skipping nested values byte by byte.

// skipValue returns the length of the (valid) JSON value at the start of b.
func skipValue(b []byte) int {
	switch b[0] {
	case '"':
		return skipString(b)
	case '{', '[':
		depth := 0
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '"':
				i += skipString(b[i:]) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return len(b)
}

// skipString returns the length of the (valid) JSON string at the start of
// b: up to the first quote that no backslash escapes.
func skipString(b []byte) int {
	i := 1
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		bs := 0 // backslashes before the quote: an odd number escapes it
		for k := i - 1; k > 0 && b[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return i + 1
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// members returns the members of a valid JSON object, in order; the last
// of a repeated key wins (checkJSON refuses repeated keys anyway).
func (t *tape) members(obj []byte) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		n := skipValue(obj[i:])
		key := unquoteRaw(obj[i : i+n])
		i = skipSpace(obj, i+n) + 1 // the colon
		i = skipSpace(obj, i)
		n = t.skip(obj[i:])
		m[key] = obj[i : i+n : i+n]
		i = skipSpace(obj, i+n)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return m
}

// elements returns the elements of a valid JSON array.
func (t *tape) elements(arr []byte) []json.RawMessage {
	var out []json.RawMessage
	i := skipSpace(arr, 1)
	for i < len(arr) && arr[i] != ']' {
		n := t.skip(arr[i:])
		out = append(out, arr[i:i+n:i+n])
		i = skipSpace(arr, i+n)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return out
}

// unquoteRaw returns the string a valid JSON string literal stands for.
func unquoteRaw(q []byte) string {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1])
	}
	var s string
	json.Unmarshal(q, &s)
	return s
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// lookup returns the values of the given keys in a valid JSON object, in
// the order of keys (nil for a key it does not have), without building a
// map of all its members.
func (t *tape) lookup(obj []byte, keys ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(keys))
	t.find(obj, keys, out)
	return out
}

// find is lookup into out (len(out) == len(keys)), which the caller may
// keep on its stack.
func (t *tape) find(obj []byte, keys []string, out []json.RawMessage) {
	clear(out)
	it := t.iter(obj)
	for {
		k, v, ok := it.next()
		if !ok {
			return
		}
		k = k[1 : len(k)-1]
		escaped := bytes.IndexByte(k, '\\') >= 0
		for j, want := range keys {
			if string(k) == want || escaped && unquoteKey(k) == want {
				out[j] = v
			}
		}
	}
}

// iter walks the members of a valid JSON object, or the elements of a
// valid JSON array, in order, without building a map or a slice of them.
type iter struct {
	t   *tape
	b   []byte
	i   int
	obj bool
}

func (t *tape) iter(b []byte) iter {
	return iter{t: t, b: b, i: skipSpace(b, 1), obj: b[0] == '{'}
}

// next returns the next member's key (quoted, as sent) and value, or for
// an array the next element as val; ok is false at the end.
func (it *iter) next() (key, val []byte, ok bool) {
	b, i := it.b, it.i
	if i >= len(b) || b[i] == '}' || b[i] == ']' {
		return nil, nil, false
	}
	if it.obj {
		n := skipString(b[i:])
		key = b[i : i+n]
		i = skipSpace(b, i+n) + 1 // the colon
		i = skipSpace(b, i)
	}
	n := it.t.skip(b[i:])
	val = b[i : i+n : i+n]
	i = skipSpace(b, i+n)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	it.i = i
	return key, val, true
}

func unquoteKey(k []byte) string {
	q := make([]byte, 0, len(k)+2)
	q = append(append(append(q, '"'), k...), '"')
	return unquoteRaw(q)
}
