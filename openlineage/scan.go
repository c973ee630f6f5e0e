package openlineage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// maxDepth bounds the nesting of an event (encoding/json refuses more than
// 10000 levels; no real event comes near).
const maxDepth = 1000

// checkJSON refuses malformed JSON, with encoding/json's message, and a key
// that appears twice in one object, naming its path: two parsers could read
// two different events from the same bytes, and the log keeps the bytes.
func checkJSON(data []byte) error {
	s := &scan{data: data}
	err := s.value(0)
	if err == nil && s.peek() != 0 {
		err = errJSON
	}
	if err != errJSON {
		return err
	}
	var v json.RawMessage
	if jerr := json.Unmarshal(data, &v); jerr != nil {
		var se *json.SyntaxError
		if ok := asSyntax(jerr, &se); ok {
			return fieldErr("", "malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
		}
		return fieldErr("", "malformed JSON: %s", strings.TrimPrefix(jerr.Error(), "json: "))
	}
	if s.depthExceeded {
		return fieldErr(s.field(), "nested more than %d levels deep", maxDepth)
	}
	return fieldErr("", "malformed JSON")
}

func asSyntax(err error, target **json.SyntaxError) bool {
	se, ok := err.(*json.SyntaxError)
	if ok {
		*target = se
	}
	return ok
}

type scan struct {
	data          []byte
	pos           int
	path          []pathElem
	depthExceeded bool
}

type pathElem struct {
	key   string
	index int // -1 for a member
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
		b.WriteString(e.key)
	}
	return b.String()
}

func (s *scan) peek() byte {
	for ; s.pos < len(s.data); s.pos++ {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\r', '\n':
		default:
			return c
		}
	}
	return 0
}

// str scans a string and returns it quoted, and whether it has escapes.
func (s *scan) str() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, errJSON
	}
	escaped := false
	for i := s.pos + 1; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '\\':
			escaped = true
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
		s.pos++
		if s.peek() == '}' {
			s.pos++
			return nil
		}
		var keys [][]byte // quoted keys as sent; unescaped when escaped
		for {
			q, esc, err := s.str()
			if err != nil {
				return err
			}
			key := q
			if esc {
				var k string
				if json.Unmarshal(q, &k) != nil {
					return errJSON
				}
				key, _ = json.Marshal(k) // a canonical quoting, to compare
			}
			name := string(key[1 : len(key)-1])
			s.path = append(s.path, pathElem{key: name, index: -1})
			for _, k := range keys {
				if bytes.Equal(k, key) {
					if esc {
						var k string
						json.Unmarshal(q, &k)
						s.path[len(s.path)-1].key = k
					}
					return fieldErr(s.field(), "appears twice in one object: an event must say one thing")
				}
			}
			keys = append(keys, key)
			if s.peek() != ':' {
				return errJSON
			}
			s.pos++
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
			switch s.peek() {
			case ',':
				s.pos++
			case '}':
				s.pos++
				return nil
			default:
				return errJSON
			}
		}
	case '[':
		s.pos++
		if s.peek() == ']' {
			s.pos++
			return nil
		}
		for i := 0; ; i++ {
			s.path = append(s.path, pathElem{index: i})
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
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
