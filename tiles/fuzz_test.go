package tiles_test

import (
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tiles"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// FuzzTilePath: the parser never panics, accepts only canonical paths
// (what it accepts prints back to the same string) within the
// specification's ranges, and agrees with x/mod's tile path parser on the
// same path with the height element added (x/mod allows levels above 63
// and wraps indexes past 2^63, which C2SP and ParsePath do not).
// Seeds: testdata/fuzz/FuzzTilePath.
func FuzzTilePath(f *testing.F) {
	f.Fuzz(func(t *testing.T, p string) {
		tt, err := tiles.ParsePath(p)
		if err != nil {
			if k := prov.KindOf(err); k != prov.Invalid && k != prov.NotFound {
				t.Fatalf("ParsePath(%q): error of kind %s: %v", p, k, err)
			}
		} else {
			if got := tt.Path(); got != p {
				t.Fatalf("ParsePath(%q) = %+v, which prints as %q", p, tt, got)
			}
			if tt.L < 0 || tt.L > tiles.MaxLevel || tt.N < 0 || tt.W < 1 || tt.W > tiles.FullWidth || (tt.Entries && tt.L != 0) {
				t.Fatalf("ParsePath(%q) = %+v: out of range", p, tt)
			}
			if end, ok := tt.End(); ok && (end <= 0 || end>>(8*tt.L) != tt.N*tiles.FullWidth+int64(tt.W)) {
				t.Fatalf("%+v.End() = %d", tt, end)
			}
		}
		rest, ok := strings.CutPrefix(p, "tile/")
		if !ok {
			return
		}
		xp := "tile/8/" + rest
		if strings.HasPrefix(rest, "entries/") {
			xp = "tile/8/data/" + strings.TrimPrefix(rest, "entries/")
		} else if strings.HasPrefix(rest, "data/") {
			return // x/mod's name for data tiles, not C2SP's
		}
		xt, xerr := sumdb.ParseTilePath(xp)
		switch {
		case err == nil && xerr != nil:
			t.Fatalf("ParsePath(%q) = %+v, but x/mod refuses %q: %v", p, tt, xp, xerr)
		case err == nil:
			want := tiles.Tile{Entries: xt.L == -1, L: max(xt.L, 0), N: xt.N, W: xt.W}
			if tt != want {
				t.Fatalf("ParsePath(%q) = %+v, x/mod says %+v", p, tt, xt)
			}
		case xerr == nil && prov.KindOf(err) == prov.Invalid && xt.L <= tiles.MaxLevel && len(p) <= 52:
			t.Fatalf("ParsePath(%q): %v, but x/mod accepts %q as %+v", p, err, xp, xt)
		}
	})
}
