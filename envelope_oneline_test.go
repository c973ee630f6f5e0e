package prov_test

import (
	"testing"

	"github.com/prov-dev/prov"
)

func TestOneLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"{ \"a\": 1 }", "{ \"a\": 1 }"}, // one line already: unchanged
		{"{\n  \"a\": \"x\\ny\",\r\n  \"b\": [1, 2]\n}", `{"a":"x\ny","b":[1,2]}`},
		{"{\"a\":\n", "{\"a\": "}, // not JSON: line breaks blanked, verify names it
	} {
		if got := string(prov.OneLine([]byte(c.in))); got != c.want {
			t.Errorf("OneLine(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
