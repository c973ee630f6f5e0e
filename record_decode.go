package prov

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeRecord decodes and strict-checks a record in one pass, without
// reflection: it walks the record exactly as checkStrict does, refusing the
// same things with the same messages, and fills the Record as it goes.
//
// It is stricter than checkStrict about JSON syntax and about the types of
// values: where encoding/json would be the one to speak (malformed JSON, a
// value of the wrong type, a number that is not an int, a time with
// escapes, data after the record), it gives up with errFallback and
// ParseRecord takes the reference path (checkStrict, then encoding/json),
// so that every verdict and message stays that path's. data must be valid
// UTF-8 that starts with '{' and has no trailing white space.
func decodeRecord(data []byte) (*Record, error) {
	d := &fastScan{strictScan: strictScan{data: data, path: make([]pathElem, 0, 8)}}
	var r Record
	if err := d.record(&r); err != nil {
		if err == errSyntax {
			err = errFallback
		}
		return nil, err
	}
	if d.peek() != 0 || d.pos != len(data) {
		return nil, errFallback
	}
	return &r, nil
}

// errFallback stops decodeRecord where encoding/json's verdict is needed.
var errFallback = errors.New("fallback to encoding/json")

// fastDepth bounds the nesting that decodeRecord follows; deeper records
// take the reference path (encoding/json refuses more than 10000 levels).
const fastDepth = 1000

// fastScan is a strictScan that also decodes.
type fastScan struct {
	strictScan
	text string // data as one string: unescaped strings are slices of it
	keys [][]byte
}

// fieldDesc is a field of a struct a record is made of.
type fieldDesc struct {
	index int  // bit in the set of seen fields
	str   bool // the field is a string: "" is refused
}

var (
	recordKeys     = keysOf[Record]()
	activityKeys   = keysOf[Activity]()
	agentKeys      = keysOf[Agent]()
	entityKeys     = keysOf[EntityRef]()
	derivationKeys = keysOf[Derivation]()
)

func keysOf[T any]() map[string]fieldDesc {
	m := map[string]fieldDesc{}
	for name, f := range recordFields[reflect.TypeFor[T]()] {
		m[name] = fieldDesc{index: f.index, str: f.typ.Kind() == reflect.String}
	}
	return m
}

// members decodes the object at s.pos, a T with the given fields, calling
// member for the value of each field.
func (s *fastScan) members(fields map[string]fieldDesc, member func(i int) error) error {
	s.pos++ // {
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	var seen uint64
	for more := true; more; {
		q, esc, err := s.fstr()
		if err != nil {
			return err
		}
		s.path = append(s.path, pathElem{key: q, escaped: esc})
		var f fieldDesc
		var ok bool
		if esc {
			f, ok = fields[string(unescape(q))]
		} else {
			f, ok = fields[string(q[1:len(q)-1])]
		}
		switch {
		case !ok:
			return Errorf(Invalid, "unknown field %q: not part of a record (field names are lower case; free-form data belongs in \"attributes\" or \"activity.parameters\")", s.field())
		case seen&(1<<f.index) != 0:
			return Errorf(Invalid, "field %q appears twice: a record must say one thing", s.field())
		}
		seen |= 1 << f.index
		if s.peek() != ':' {
			return errFallback
		}
		s.pos++
		switch c := s.peek(); {
		case c == 'n' && bytes.HasPrefix(s.data[s.pos:], []byte("null")):
			return s.fail("null: a field that is present must have a value")
		case c == '"' && f.str && s.pos+1 < len(s.data) && s.data[s.pos+1] == '"':
			return s.fail("empty string: a field that is present must have a value")
		}
		if err := member(f.index); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		if more, err = s.next('}'); err != nil {
			return err
		}
	}
	return nil
}

// list decodes the array at s.pos, calling elem for each element.
func (s *fastScan) list(elem func() error) error {
	if s.peek() != '[' {
		return errFallback // encoding/json: want an array
	}
	s.pos++
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for i, more := 0, true; more; i++ {
		s.path = append(s.path, pathElem{index: i})
		if s.peek() == 'n' && bytes.HasPrefix(s.data[s.pos:], []byte("null")) {
			return s.fail("null is not allowed in a list")
		}
		if err := elem(); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		var err error
		if more, err = s.next(']'); err != nil {
			return err
		}
	}
	return nil
}

func (s *fastScan) record(r *Record) error {
	if s.text == "" {
		s.text = string(s.data)
	}
	return s.members(recordKeys, func(i int) (err error) {
		switch i {
		case 0:
			r.Type, err = s.string()
		case 1:
			r.ID, err = s.string()
		case 2:
			r.Time, err = s.time()
		case 3:
			if s.peek() != '{' {
				return errFallback
			}
			r.Activity = &Activity{}
			err = s.activity(r.Activity)
		case 4:
			if s.peek() != '{' {
				return errFallback
			}
			r.Agent = &Agent{}
			err = s.members(agentKeys, func(i int) (err error) {
				switch i {
				case 0:
					r.Agent.ID, err = s.string()
				case 1:
					r.Agent.Kind, err = s.string()
				case 2:
					r.Agent.Name, err = s.string()
				}
				return err
			})
		case 5:
			r.Reason, err = s.string()
		case 6:
			r.Ticket, err = s.string()
		case 7:
			r.Used, err = s.entities()
		case 8:
			r.Generated, err = s.entities()
		case 9:
			r.Derivations = []Derivation{}
			err = s.list(func() error {
				if s.peek() != '{' {
					return errFallback
				}
				r.Derivations = append(r.Derivations, Derivation{})
				d := &r.Derivations[len(r.Derivations)-1]
				return s.members(derivationKeys, func(i int) (err error) {
					switch i {
					case 0:
						d.Generated, err = s.string()
					case 1:
						d.Used, err = s.string()
					case 2:
						d.Columns, err = s.strings()
					case 3:
						d.UsedColumns, err = s.strings()
					}
					return err
				})
			})
		case 10:
			r.InformedBy, err = s.strings()
		case 11:
			r.Attributes, err = s.raw()
		}
		return err
	})
}

func (s *fastScan) activity(a *Activity) error {
	return s.members(activityKeys, func(i int) (err error) {
		switch i {
		case 0:
			a.ID, err = s.string()
		case 1:
			a.Kind, err = s.string()
		case 2:
			a.Name, err = s.string()
		case 3:
			a.Release, err = s.string()
		case 4:
			a.CodeVersion, err = s.string()
		case 5:
			a.Parent, err = s.string()
		case 6:
			a.Host, err = s.string()
		case 7:
			a.Service, err = s.string()
		case 8:
			var t time.Time
			if t, err = s.time(); err == nil {
				a.Started = &t
			}
		case 9:
			var t time.Time
			if t, err = s.time(); err == nil {
				a.Ended = &t
			}
		case 10:
			a.Status, err = s.string()
		case 11:
			var n int
			if n, err = s.int(); err == nil {
				a.ExitCode = &n
			}
		case 12:
			a.Command, err = s.strings()
		case 13:
			a.Parameters, err = s.raw()
		}
		return err
	})
}

func (s *fastScan) entities() ([]EntityRef, error) {
	list := []EntityRef{}
	err := s.list(func() error {
		if s.peek() != '{' {
			return errFallback
		}
		list = append(list, EntityRef{})
		e := &list[len(list)-1]
		return s.members(entityKeys, func(i int) (err error) {
			switch i {
			case 0:
				e.ID, err = s.string()
			case 1:
				e.Op, err = s.string()
			case 2:
				e.Digest, err = s.string()
			case 3:
				e.Version, err = s.string()
			case 4:
				e.Role, err = s.string()
			case 5:
				e.Columns, err = s.strings()
			}
			return err
		})
	})
	return list, err
}

func (s *fastScan) strings() ([]string, error) {
	list := []string{}
	err := s.list(func() error {
		v, err := s.string()
		list = append(list, v)
		return err
	})
	return list, err
}

// string decodes the string at s.pos.
func (s *fastScan) string() (string, error) {
	start := s.pos
	q, esc, err := s.fstr()
	if err != nil {
		return "", err
	}
	if esc {
		return string(unescape(q)), nil
	}
	return s.text[start+1 : s.pos-1], nil
}

// time decodes the time at s.pos, refusing as checkStrict does what is not
// in the schema's RFC 3339 form.
func (s *fastScan) time() (time.Time, error) {
	if s.peek() != '"' {
		return time.Time{}, s.fail(`want a time string, RFC 3339 with a zone (e.g. "2026-01-02T03:04:05Z")`)
	}
	start := s.pos
	q, esc, err := s.fstr()
	if err != nil {
		return time.Time{}, err
	}
	var str string
	if esc {
		str = string(unescape(q))
	} else {
		str = s.text[start+1 : s.pos-1]
	}
	if !isStrictTime(str) {
		return time.Time{}, s.fail(`%q is not a time in RFC 3339 form with a zone (e.g. "2026-01-02T03:04:05Z")`, str)
	}
	t, err := time.Parse(time.RFC3339, str)
	if err != nil {
		return time.Time{}, s.fail(`%q is not a time in RFC 3339 form with a zone (e.g. "2026-01-02T03:04:05Z")`, str)
	}
	if esc {
		return time.Time{}, errFallback // time.Time's UnmarshalJSON sees the escapes
	}
	return t, nil
}

// isStrictTime reports whether timeRE matches s.
func isStrictTime(s string) bool {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	hour := func(s string) bool { return digits(s) && (s[0] <= '1' || s[0] == '2' && s[1] <= '3') }
	sixty := func(s string) bool { return digits(s) && s[0] <= '5' }
	const n = len("2006-01-02T15:04:05")
	if len(s) < n+1 || !digits(s[0:4]) || s[4] != '-' || !digits(s[5:7]) || s[7] != '-' || !digits(s[8:10]) ||
		s[10] != 'T' || !hour(s[11:13]) || s[13] != ':' || !sixty(s[14:16]) || s[16] != ':' || !sixty(s[17:19]) {
		return false
	}
	s = s[n:]
	if s[0] == '.' {
		i := 1
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		s = s[i:]
	}
	if s == "Z" {
		return true
	}
	return len(s) == 6 && (s[0] == '+' || s[0] == '-') && hour(s[1:3]) && s[3] == ':' && sixty(s[4:6])
}

// int decodes the number at s.pos as encoding/json does into an int.
func (s *fastScan) int() (int, error) {
	num, err := s.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s.text[num:s.pos], 10, strconv.IntSize)
	if err != nil {
		return 0, errFallback // encoding/json: want an integer
	}
	return int(n), nil
}

// raw decodes a free-form value: a copy of its bytes.
func (s *fastScan) raw() (json.RawMessage, error) {
	s.peek()
	start := s.pos
	if err := s.free(len(s.path)); err != nil {
		return nil, err
	}
	return append(json.RawMessage(nil), s.data[start:s.pos]...), nil
}

// free checks a free-form value: only repeated keys are refused.
func (s *fastScan) free(depth int) error {
	if depth > fastDepth {
		return errFallback
	}
	switch s.peek() {
	case '{':
		s.pos++
		if s.peek() == '}' {
			s.pos++
			return nil
		}
		mark := len(s.keys)
		defer func() { s.keys = s.keys[:mark] }()
		var seen map[string]bool // when there are many keys
		for more := true; more; {
			q, esc, err := s.fstr()
			if err != nil {
				return err
			}
			k := q[1 : len(q)-1]
			if esc {
				k = unescape(q)
			}
			s.path = append(s.path, pathElem{key: q, escaped: esc})
			twice := false
			if seen != nil {
				twice = seen[string(k)]
				seen[string(k)] = true
			} else {
				for _, o := range s.keys[mark:] {
					if bytes.Equal(o, k) {
						twice = true
						break
					}
				}
				s.keys = append(s.keys, k)
				if len(s.keys)-mark > 32 {
					seen = map[string]bool{}
					for _, o := range s.keys[mark:] {
						seen[string(o)] = true
					}
				}
			}
			if twice {
				return Errorf(Invalid, "field %q appears twice: a record must say one thing", s.field())
			}
			if s.peek() != ':' {
				return errFallback
			}
			s.pos++
			if err := s.free(depth + 1); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
			if more, err = s.next('}'); err != nil {
				return err
			}
		}
		return nil
	case '[':
		s.pos++
		if s.peek() == ']' {
			s.pos++
			return nil
		}
		for i, more := 0, true; more; i++ {
			s.path = append(s.path, pathElem{index: i})
			if err := s.free(depth + 1); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
			var err error
			if more, err = s.next(']'); err != nil {
				return err
			}
		}
		return nil
	case '"':
		_, _, err := s.fstr()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	_, err := s.number()
	return err
}

func (s *fastScan) literal(word string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return errFallback
	}
	s.pos += len(word)
	return nil
}

// number passes over a number in JSON's grammar and returns where it began.
func (s *fastScan) number() (int, error) {
	d := s.data
	start := s.peekPos()
	i := start
	digits := func() bool {
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		digits()
	default:
		return 0, errFallback
	}
	if i < len(d) && d[i] == '.' {
		i++
		if !digits() {
			return 0, errFallback
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !digits() {
			return 0, errFallback
		}
	}
	s.pos = i
	return start, nil
}

func (s *fastScan) peekPos() int {
	s.peek()
	return s.pos
}

// fstr passes over the string at s.pos, checking it as JSON's grammar
// does, and returns it quoted, and whether it has escapes.
func (s *fastScan) fstr() (quoted []byte, escaped bool, err error) {
	if s.peek() != '"' {
		return nil, false, errFallback
	}
	d := s.data
	for i := s.pos + 1; i < len(d); i++ {
		for i < len(d) && plain[d[i]] {
			i++
		}
		if i == len(d) {
			break
		}
		switch c := d[i]; {
		case c == '"':
			quoted, s.pos = d[s.pos:i+1], i+1
			return quoted, escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(d) {
				return nil, false, errFallback
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d) || !isHex(d[i+1]) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) {
					return nil, false, errFallback
				}
				i += 4
			default:
				return nil, false, errFallback
			}
		case c < 0x20:
			return nil, false, errFallback
		}
	}
	return nil, false, errFallback
}

// plain marks the bytes that stand for themselves inside a JSON string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unescape returns the contents of a quoted string that fstr accepted, as
// encoding/json decodes them (a lone surrogate becomes U+FFFD).
func unescape(q []byte) []byte {
	q = q[1 : len(q)-1]
	b := make([]byte, 0, len(q))
	for i := 0; i < len(q); {
		c := q[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch q[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(q[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(q) && q[i] == '\\' && q[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(q[i+2:])); dec != unicode.ReplacementChar {
						i += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // " \ /
			b = append(b, q[i+1])
		}
		i += 2
	}
	return b
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
