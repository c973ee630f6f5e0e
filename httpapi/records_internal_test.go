package httpapi

import (
	"strings"
	"testing"
)

func TestReadRecordsLines(t *testing.T) {
	for _, c := range []struct {
		body string
		max  int
		want []string
		err  bool
	}{
		{"{\"a\":1}", 10, []string{`{"a":1}`}, false},
		{"{\"a\":1}\n\n  {\"b\":2}\r\n{\"c\":3}\n", 10, []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, false},
		{"{\"a\":1}\n{\"b\":2}\n{\"c\":3}", 2, nil, true},
		{" \n\t\n", 10, nil, true},
	} {
		got, err := readRecords([]byte(c.body), c.max)
		if (err != nil) != c.err {
			t.Errorf("%q: error %v, want error %v", c.body, err, c.err)
			continue
		}
		var s []string
		for _, r := range got {
			s = append(s, string(r))
			if cap(r) != len(r) {
				t.Errorf("%q: record %q can grow into the body (cap %d)", c.body, r, cap(r))
			}
		}
		if strings.Join(s, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q: got %q, want %q", c.body, s, c.want)
		}
	}
}
