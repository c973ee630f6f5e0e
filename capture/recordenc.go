package capture

import (
	"encoding/json"
	"strconv"

	"github.com/prov-dev/prov"
)

// The encoding of change records, written without encoding/json's
// reflection and without its validating and compacting every row image a
// second time (the images were read by parseObject). appendJSON writes
// exactly the bytes json.Marshal writes for the same record: a record's
// bytes are what its tree hash covers, and records written before and after
// this encoder must not differ in form (TestChangeRecordEncoding compares
// the two on random records).

// appendJSON appends the record as json.Marshal(r) would write it.
func (r *changeRecord) appendJSON(dst []byte) ([]byte, error) {
	dst, err := r.appendJSONOpen(dst)
	if err != nil {
		return nil, err
	}
	return appendJSONClose(dst, r.Attributes.Bypass), nil
}

// appendJSONOpen appends what appendJSON does but the end: the bypass
// attribute, the last field that can follow, and the closing braces, which
// appendJSONClose appends. The sequencer writes a record before it knows
// whether its change bypassed capture (which needs the row states read from
// the store meanwhile).
func (r *changeRecord) appendJSONOpen(dst []byte) ([]byte, error) {
	dst = append(dst, `{"type":`...)
	dst = appendJSONString(dst, r.Type)
	dst = append(dst, `,"time":`...)
	dst = appendJSONString(dst, r.Time)
	if r.Activity != nil {
		dst = append(dst, `,"activity":`...)
		a := r.Activity
		if !activityOnlyIDParent(a) {
			b, err := json.Marshal(a)
			if err != nil {
				return nil, err
			}
			dst = append(dst, b...)
		} else {
			dst = append(dst, `{"id":`...)
			dst = appendJSONString(dst, a.ID)
			if a.Parent != "" {
				dst = append(dst, `,"parent":`...)
				dst = appendJSONString(dst, a.Parent)
			}
			dst = append(dst, '}')
		}
	}
	if r.Agent != nil {
		dst = append(dst, `,"agent":{"id":`...)
		dst = appendJSONString(dst, r.Agent.ID)
		if r.Agent.Kind != "" {
			dst = append(dst, `,"kind":`...)
			dst = appendJSONString(dst, r.Agent.Kind)
		}
		if r.Agent.Name != "" {
			dst = append(dst, `,"name":`...)
			dst = appendJSONString(dst, r.Agent.Name)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"generated":`...)
	if r.Generated == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range r.Generated {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendEntityRef(dst, &r.Generated[i])
		}
		dst = append(dst, ']')
	}
	a := &r.Attributes
	dst = append(dst, `,"attributes":{"table":`...)
	dst = appendJSONString(dst, a.Table)
	dst = append(dst, `,"change":`...)
	dst = strconv.AppendInt(dst, a.Change, 10)
	if a.XID != "" {
		dst = append(dst, `,"xid":`...)
		dst = appendJSONString(dst, a.XID)
	}
	if len(a.Before) > 0 {
		dst = append(dst, `,"before":`...)
		dst = appendCompactJSON(dst, a.Before)
	}
	if len(a.After) > 0 {
		dst = append(dst, `,"after":`...)
		dst = appendCompactJSON(dst, a.After)
	}
	for _, f := range [...]struct{ name, v string }{{`,"db_user":`, a.DBUser}, {`,"application_name":`, a.App}, {`,"client_addr":`, a.Client}} {
		if f.v != "" {
			dst = append(dst, f.name...)
			dst = appendJSONString(dst, f.v)
		}
	}
	if a.Unattributed {
		dst = append(dst, `,"unattributed":true`...)
	}
	if a.RawContext != "" {
		dst = append(dst, `,"raw_context":`...)
		dst = appendJSONString(dst, a.RawContext)
	}
	return dst, nil
}

// maxJSONClose is the most appendJSONClose appends.
const maxJSONClose = len(`,"bypass":true}}`)

// appendJSONClose ends a record that appendJSONOpen began.
func appendJSONClose(dst []byte, bypass bool) []byte {
	if bypass {
		dst = append(dst, `,"bypass":true`...)
	}
	return append(dst, "}}"...)
}

// activityOnlyIDParent reports whether a has no field set but its id and
// parent, the only ones the sequencer sets.
func activityOnlyIDParent(a *prov.Activity) bool {
	return a.Kind == "" && a.Name == "" && a.Release == "" && a.CodeVersion == "" && a.Host == "" && a.Service == "" &&
		a.Started == nil && a.Ended == nil && a.Status == "" && a.ExitCode == nil && a.Command == nil && len(a.Parameters) == 0
}

func appendEntityRef(dst []byte, g *prov.EntityRef) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, g.ID)
	for _, f := range [...]struct{ name, v string }{{`,"op":`, g.Op}, {`,"digest":`, g.Digest}, {`,"version":`, g.Version}, {`,"role":`, g.Role}} {
		if f.v != "" {
			dst = append(dst, f.name...)
			dst = appendJSONString(dst, f.v)
		}
	}
	if len(g.Columns) > 0 {
		dst = append(dst, `,"columns":[`...)
		for i, c := range g.Columns {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, c)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendJSONString appends s as encoding/json writes a string (HTML
// characters escaped).
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendCompactJSON appends a well-formed JSON text as encoding/json writes
// a json.RawMessage: white space outside strings removed, '<', '>', '&',
// U+2028 and U+2029 escaped.
func appendCompactJSON(dst, src []byte) []byte {
	const hex = "0123456789abcdef"
	start := 0
	inString, escaped := false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			start = i + 1
			escaped = false
			continue
		case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[src[i+2]&0xF])
			start = i + 3
			i += 2
			escaped = false
			continue
		}
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}
