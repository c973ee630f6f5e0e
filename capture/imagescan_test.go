package capture

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/storetest"
)

// The sequencer reads row images and writes change records without
// encoding/json; these tests hold its readers and writer to what
// encoding/json (and PostgreSQL, for digests) do on the same input.

// keyOfJSON and columnsOfJSON are keyOf and columnsOf as they were written
// with encoding/json: the oracle.
func keyOfJSON(img []byte, pk []string) (string, error) {
	var row map[string]json.RawMessage
	if err := json.Unmarshal(img, &row); err != nil {
		return "", err
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range pk {
		v, ok := row[k]
		if !ok {
			return "", fmt.Errorf("no key column %q", k)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(k)
		b.Write(name)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String(), nil
}

func columnsOfJSON(before, after []byte) []string {
	var a, b map[string]json.RawMessage
	json.Unmarshal(after, &a)
	if before != nil {
		json.Unmarshal(before, &b)
	}
	var cols []string
	for k, v := range a {
		if old, ok := b[k]; !ok || !bytes.Equal(old, v) {
			cols = append(cols, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			cols = append(cols, k)
		}
	}
	sort.Strings(cols)
	return cols
}

// randString returns strings that exercise escaping: HTML characters,
// quotes, control characters, U+2028, non-ASCII, invalid UTF-8, "null".
func randString(r *rand.Rand) string {
	parts := []string{"a", "id", "null", " ", "<", ">", "&", `"`, `\`, "\n", "\t", "\x01", "\x7f", "é", "日本", "\u2028", "\u2029", "\xff", "💡", "/", "x y"}
	var b strings.Builder
	for range r.IntN(5) {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return b.String()
}

// randValue returns a JSON value as PostgreSQL's jsonb text output writes
// it (", " and ": " separators) when pg, else compact.
func randValue(r *rand.Rand, depth int, pg bool) string {
	sep, colon := ",", ":"
	if pg {
		sep, colon = ", ", ": "
	}
	k := r.IntN(10)
	if depth > 2 && k >= 8 {
		k = r.IntN(8)
	}
	switch k {
	case 0:
		return "null"
	case 1:
		return []string{"true", "false"}[r.IntN(2)]
	case 2:
		return []string{"0", "-1", "42", "1.50", "1e10", "-0.0001", "123456789012345678901234567890", "3.14159"}[r.IntN(8)]
	case 3, 4, 5:
		b, _ := json.Marshal(randString(r))
		if pg { // PostgreSQL escapes no HTML characters
			var s string
			json.Unmarshal(b, &s)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.Encode(s)
			b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		}
		return string(b)
	case 6, 7:
		var els []string
		for range r.IntN(4) {
			els = append(els, randValue(r, depth+1, pg))
		}
		return "[" + strings.Join(els, sep) + "]"
	default:
		var ms []string
		seen := map[string]bool{}
		for range r.IntN(5) {
			k := randString(r)
			if seen[k] {
				continue
			}
			seen[k] = true
			kb, _ := json.Marshal(k)
			ms = append(ms, string(kb)+colon+randValue(r, depth+1, pg))
		}
		return "{" + strings.Join(ms, sep) + "}"
	}
}

// randImage returns a row image with key columns id and k.
func randImage(r *rand.Rand, pg bool) []byte {
	v := randValue(r, 1, pg)
	for v[0] != '{' {
		v = randValue(r, 1, pg)
	}
	sep, colon := ",", ":"
	if pg {
		sep, colon = ", ", ": "
	}
	pre := `{"id"` + colon + randValue(r, 3, pg) + sep + `"k"` + colon + randValue(r, 3, pg)
	if v == "{}" {
		return []byte(pre + "}")
	}
	return []byte(pre + sep + v[1:])
}

func TestImageReadersMatchEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pks := [][]string{{"id"}, {"k", "id"}, {"missing"}}
	for i := range 20000 {
		img := randImage(r, i%2 == 0)
		if i%7 == 0 { // white space anywhere between tokens
			img = bytes.ReplaceAll(img, []byte(","), []byte(" ,\n\t"))
		}
		pk := pks[i%len(pks)]
		want, werr := keyOfJSON(img, pk)
		got, gerr := keyOf(img, pk)
		if (werr != nil) != (gerr != nil) || got != want {
			t.Fatalf("keyOf(%s, %q) = %q, %v; encoding/json: %q, %v", img, pk, got, gerr, want, werr)
		}
		before := randImage(r, i%2 == 0)
		if i%3 == 0 {
			before = img
		}
		bm, err := parseObject(before)
		if err != nil {
			t.Fatalf("parseObject(%s): %v", before, err)
		}
		am, _ := parseObject(img)
		if got, want := columnsOf(bm, am), columnsOfJSON(before, img); !reflect.DeepEqual(got, want) {
			t.Fatalf("columnsOf(%s, %s) = %q, want %q", before, img, got, want)
		}
		if got, want := columnsOf(nil, am), columnsOfJSON(nil, img); !reflect.DeepEqual(got, want) {
			t.Fatalf("columnsOf(nil, %s) = %q, want %q", img, got, want)
		}
	}
	// Wide rows (looked up by a map), and a column named twice.
	var wide, wide2 []string
	for i := range 40 {
		wide = append(wide, fmt.Sprintf(`"c%d": %d`, i, i))
		wide2 = append(wide2, fmt.Sprintf(`"c%d": %d`, i, i%7))
	}
	for _, pair := range [][2]string{
		{"{" + strings.Join(wide, ", ") + "}", "{" + strings.Join(wide2, ", ") + `, "c3": 9}`},
		{`{"a": 1, "a": 2}`, `{"a": 2}`},
		{`{"a": 1}`, `{"a": 2, "a": 1}`},
	} {
		bm, _ := parseObject([]byte(pair[0]))
		am, _ := parseObject([]byte(pair[1]))
		if got, want := columnsOf(bm, am), columnsOfJSON([]byte(pair[0]), []byte(pair[1])); !reflect.DeepEqual(got, want) {
			t.Errorf("columnsOf(%s, %s) = %q, want %q", pair[0], pair[1], got, want)
		}
	}
}

func TestParseObjectRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for _, s := range []string{``, ` `, `[]`, `1`, `"a"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1}x`, `{"a":01}`,
		`{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":[1,]}`,
		`{"a":{"b"}}`, `{a:1}`, `{"a":1}{}`, `{"a":[}`, `{"a":nul}`} {
		_, err := parseObject([]byte(s))
		var m map[string]json.RawMessage
		jerr := json.Unmarshal([]byte(s), &m)
		if err == nil || jerr == nil {
			t.Errorf("parseObject(%q): err %v, encoding/json: %v", s, err, jerr)
		}
	}
}

func FuzzParseObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a": 1, "b": [1, {"c": null}], "d": "x\"y"}`, `{"a":"\u00e9"}`, ` {"a" : true } `, `[]`, `{"a":1e5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		members, err := parseObject(b)
		var m map[string]json.RawMessage
		jerr := json.Unmarshal(b, &m)
		if (err == nil) != (jerr == nil && m != nil && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))) {
			t.Fatalf("parseObject(%q): %v; encoding/json: %v", b, err, jerr)
		}
		if err != nil {
			return
		}
		got := map[string]json.RawMessage{}
		for _, x := range members {
			got[x.key] = x.val
		}
		if !reflect.DeepEqual(got, m) && !(len(got) == 0 && len(m) == 0) {
			t.Fatalf("parseObject(%q) = %q; encoding/json: %q", b, got, m)
		}
		var out []byte
		out = appendCompactJSON(out, b)
		want, err := json.Marshal(json.RawMessage(b))
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("appendCompactJSON(%q) = %q; encoding/json: %q, %v", b, out, want, err)
		}
	})
}

func TestChangeRecordEncodingMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	opt := func(s string) string {
		if r.IntN(2) == 0 {
			return ""
		}
		return s
	}
	for i := range 20000 {
		rec := changeRecord{Type: prov.TypeChange, Time: time.Unix(r.Int64N(1e10), r.Int64N(1e9)).UTC().Format(time.RFC3339Nano)}
		if r.IntN(2) == 0 {
			rec.Activity = &prov.Activity{ID: randString(r), Parent: opt(randString(r))}
			if i%50 == 0 {
				rec.Activity.Kind = "release" // not one the sequencer sets: encoded by encoding/json
			}
		}
		if r.IntN(3) > 0 {
			rec.Agent = &prov.Agent{ID: randString(r), Kind: opt(randString(r)), Name: opt(randString(r))}
		}
		for range 1 + r.IntN(2) {
			g := prov.EntityRef{ID: "pg:db/s.t/" + randString(r), Op: opt("update"), Digest: opt("sha256:" + randString(r)), Role: opt(randString(r))}
			for range r.IntN(3) {
				g.Columns = append(g.Columns, randString(r))
			}
			if r.IntN(5) == 0 {
				g.Columns = []string{}
			}
			rec.Generated = append(rec.Generated, g)
		}
		if i%100 == 0 {
			rec.Generated = nil
		}
		a := changeAttributes{Table: randString(r), Change: r.Int64N(1 << 40), XID: opt(randString(r)), DBUser: opt(randString(r)),
			App: opt(randString(r)), Client: opt(randString(r)), Unattributed: r.IntN(2) == 0, RawContext: opt(randString(r)), Bypass: r.IntN(2) == 0}
		if r.IntN(3) > 0 {
			a.Before = randImage(r, i%2 == 0)
		}
		if r.IntN(3) > 0 {
			a.After = randImage(r, i%2 == 1)
			if i%5 == 0 {
				a.After = bytes.ReplaceAll(a.After, []byte(","), []byte(" ,\n\t"))
			}
		}
		rec.Attributes = a
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rec.appendJSON(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("appendJSON = %s, %v\nencoding/json: %s", got, err, want)
		}
	}
}

func TestPGStripNulls(t *testing.T) {
	for in, want := range map[string]string{
		`{"a": 1}`:            `{"a": 1}`,
		`{"a": null}`:         `{}`,
		`{"a": null, "b": 2}`: `{"b": 2}`,
		`{"b": 2, "a": null}`: `{"b": 2}`,
		`{"a": [null, {"b": null, "c": "null"}]}`:   `{"a": [null, {"c": "null"}]}`,
		`{"n": "null", "x": {"y": null}}`:           `{"n": "null", "x": {}}`,
		`{"a": {"b": {"c": null, "d": [1, null]}}}`: `{"a": {"b": {"d": [1, null]}}}`,
	} {
		got, err := pgStripNulls([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("pgStripNulls(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

// TestPGDigestMatchesTheServer compares pgDigest with digestSQL, which
// baselines and verify --live compute in the database, on random images
// printed by PostgreSQL.
func TestPGDigestMatchesTheServer(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	r := rand.New(rand.NewPCG(5, 6))
	var imgs []string
	for range 5000 {
		img := string(randImage(r, false))
		if strings.Contains(img, `\u0000`) { // jsonb refuses NUL
			continue
		}
		imgs = append(imgs, img)
	}
	imgs = append(imgs, `{"a": null}`, `{"a": [null]}`, `{"a": {"b": null}}`, `{"a": 1.50, "b": 1e3, "c": -0.0}`, `{}`)
	rows, err := conn.Query(ctx, `SELECT v::text, `+digestSQL("v")+` FROM unnest($1::text[]) AS u(s), LATERAL (SELECT u.s::jsonb AS v) j`, imgs)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var text []byte
		var want []byte
		if err := rows.Scan(&text, &want); err != nil {
			t.Fatal(err)
		}
		got, err := pgDigest(text)
		if err != nil || !bytes.Equal(got, want) {
			stripped, _ := pgStripNulls(text)
			t.Fatalf("pgDigest(%s) = %s, %v; PostgreSQL: %s (stripped here: %s)", text, hex.EncodeToString(got), err, hex.EncodeToString(want), stripped)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(imgs) {
		t.Fatalf("compared %d digests, want %d", n, len(imgs))
	}
}

// TestPGKeyTextMatchesTheServer holds pgKeyText to PostgreSQL: the key that
// the sequencer writes for row_state must be the text that baselines and
// verify --live build in SQL (jsonb_build_object(…)::text), byte for byte.
func TestPGKeyTextMatchesTheServer(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	r := rand.New(rand.NewPCG(7, 8))
	var imgs, pks []string
	for range 5000 {
		v := randValue(r, 1, true)
		if v[0] != '{' || v == "{}" || strings.Contains(v, `\u0000`) { // jsonb refuses NUL
			continue
		}
		members, err := parseObject([]byte(v))
		if err != nil {
			t.Fatalf("parseObject(%s): %v", v, err)
		}
		var pk []string
		for _, i := range r.Perm(len(members))[:1+r.IntN(len(members))] { // some key columns, in any order
			pk = append(pk, members[i].key)
		}
		pkj, _ := json.Marshal(pk)
		imgs, pks = append(imgs, v), append(pks, string(pkj))
	}
	imgs = append(imgs, `{"id": 42}`, `{"b": 1, "aa": 2, "a": 3}`, `{"a\"b": "x\ty", "é": 1.50}`)
	pks = append(pks, `["id"]`, `["aa", "a", "b"]`, `["é", "a\"b"]`)
	rows, err := conn.Query(ctx, `SELECT j.v::text, p.pk, (SELECT jsonb_object_agg(k, j.v->k) FROM jsonb_array_elements_text(p.pk::jsonb) AS k)::text
		FROM unnest($1::text[], $2::text[]) AS u(s, pk), LATERAL (SELECT u.s::jsonb AS v) j, LATERAL (SELECT u.pk) p`, imgs, pks)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var text []byte
		var pkj, want string
		if err := rows.Scan(&text, &pkj, &want); err != nil {
			t.Fatal(err)
		}
		var pk []string
		json.Unmarshal([]byte(pkj), &pk)
		key, err := keyOf(text, pk)
		if err != nil {
			t.Fatalf("keyOf(%s, %q): %v", text, pk, err)
		}
		if got, err := pgKeyText(key); err != nil || got != want {
			t.Fatalf("pgKeyText(%s) (image %s) = %s, %v; PostgreSQL: %s", key, text, got, err, want)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(imgs) {
		t.Fatalf("compared %d keys, want %d", n, len(imgs))
	}
}
