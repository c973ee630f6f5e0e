package capture

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestCanonicalImage(t *testing.T) {
	salt := []byte("salt")
	cases := []struct {
		name      string
		raw       string
		pii       []string
		img       string
		sameSumAs string // another raw image with the same content
	}{
		{"numbers as SQLite versions print them", `{"id":1,"f":1.0e+300,"g":0.30000000000000004,"h":9.0e+999,"i":-2.50}`, nil,
			`{"id":1,"f":1e+300,"g":0.30000000000000004,"h":9e999,"i":-2.5}`, `{"i":-2.5,"h":9e999,"g":3.0000000000000004e-1,"f":1e300,"id":1}`},
		{"whole reals stay reals", `{"id":1,"f":1.0,"g":100.0}`, nil, `{"id":1,"f":1.0,"g":100.0}`, `{"id":1,"f":1.00,"g":1e2}`},
		{"strings in one escaping", `{"id":"\u00e9<\u0001\/"}`, nil, `{"id":"é<\u0001/"}`, `{"id":"é\u003c\u0001/"}`},
		{"null fields do not count", `{"id":1,"nick":null}`, nil, `{"id":1,"nick":null}`, `{"id":1}`},
		{"wide tables come in parts", `[{"id":1,"a":2},{"b":3}]`, nil, `{"id":1,"a":2,"b":3}`, `{"b":3,"a":2,"id":1}`},
		{"PII is digested, nulls stay", `{"id":1,"email":"ann@example.com","phone":null}`, []string{"email", "phone"},
			"", ""},
	}
	for _, c := range cases {
		img, sum, err := canonicalImage([]byte(c.raw), c.pii, salt)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.pii != nil {
			var m map[string]*string
			json.Unmarshal(img, &m)
			if m["email"] == nil || len(*m["email"]) != len("sha256:")+64 || m["phone"] != nil || bytes.Contains(img, []byte("ann@")) {
				t.Errorf("%s: %s", c.name, img)
			}
			again, _, _ := canonicalImage([]byte(c.raw), c.pii, salt)
			other, _, _ := canonicalImage([]byte(c.raw), c.pii, []byte("pepper"))
			if !bytes.Equal(img, again) || bytes.Equal(img, other) {
				t.Errorf("%s: digests are not deterministic and salted: %s %s %s", c.name, img, again, other)
			}
			continue
		}
		if string(img) != c.img {
			t.Errorf("%s: image %s, want %s", c.name, img, c.img)
		}
		if c.sameSumAs != "" {
			_, other, err := canonicalImage([]byte(c.sameSumAs), c.pii, salt)
			if err != nil || !bytes.Equal(sum, other) {
				t.Errorf("%s: %s and %s have different digests (%v)", c.name, c.raw, c.sameSumAs, err)
			}
		}
	}
	if _, _, err := canonicalImage([]byte(`"x"`), nil, nil); err == nil {
		t.Error("a string was taken for a row image")
	}
}
