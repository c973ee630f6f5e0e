package tiles_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tiles"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

func TestParsePath(t *testing.T) {
	full := tiles.FullWidth
	good := []struct {
		path string
		want tiles.Tile
	}{
		{"tile/0/000", tiles.Tile{L: 0, N: 0, W: full}},
		{"tile/0/001", tiles.Tile{L: 0, N: 1, W: full}},
		{"tile/0/999", tiles.Tile{L: 0, N: 999, W: full}},
		{"tile/0/x001/000", tiles.Tile{L: 0, N: 1000, W: full}},
		{"tile/1/x001/x234/067", tiles.Tile{L: 1, N: 1234067, W: full}},
		{"tile/1/x001/x234/067.p/8", tiles.Tile{L: 1, N: 1234067, W: 8}},
		{"tile/63/000.p/1", tiles.Tile{L: 63, N: 0, W: 1}},
		{"tile/0/000.p/255", tiles.Tile{L: 0, N: 0, W: 255}},
		{"tile/10/x100/000", tiles.Tile{L: 10, N: 100000, W: full}},
		{"tile/entries/000", tiles.Tile{Entries: true, N: 0, W: full}},
		{"tile/entries/x001/x234/067.p/17", tiles.Tile{Entries: true, N: 1234067, W: 17}},
		{"tile/0/x009/x223/x372/x036/x854/x775/807", tiles.Tile{N: math.MaxInt64, W: full}},
	}
	for _, c := range good {
		got, err := tiles.ParsePath(c.path)
		if err != nil || got != c.want {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", c.path, got, err, c.want)
			continue
		}
		if p := got.Path(); p != c.path {
			t.Errorf("%+v.Path() = %q, want %q", got, p, c.path)
		}
	}

	bad := []struct {
		path string
		kind prov.Kind
		says string
	}{
		{"", prov.Invalid, "does not start with tile/"},
		{"tile", prov.Invalid, "does not start"},
		{"tile/", prov.Invalid, "names no tile index"},
		{"tile/0", prov.Invalid, "names no tile index"},
		{"tile/0/", prov.Invalid, "index element"},
		{"tile/0/1", prov.Invalid, "three digits"},
		{"tile/0/01", prov.Invalid, "three digits"},
		{"tile/0/0001", prov.Invalid, "three digits"},
		{"tile/0/00a", prov.Invalid, "three digits"},
		{"tile/0/-01", prov.Invalid, "three digits"},
		{"tile/0/+01", prov.Invalid, "three digits"},
		{"tile/0/ 01", prov.Invalid, "three digits"},
		{"tile/0/x001", prov.Invalid, "three digits"},
		{"tile/0/001/000", prov.Invalid, "x followed by three digits"},
		{"tile/0/x000/001", prov.Invalid, "leading group of zeros"},
		{"tile/0/x000/x001/000", prov.Invalid, "leading group of zeros"},
		{"tile/0/x01/000", prov.Invalid, "x followed by three digits"},
		{"tile/0/X001/000", prov.Invalid, "not x followed"},
		{"tile/0/x001/x234/067/", prov.Invalid, "three digits"},
		{"tile/0/000/", prov.Invalid, "not x followed"},
		{"tile/0//000", prov.Invalid, "not x followed"},
		{"tile//000", prov.Invalid, "level"},
		{"tile/00/000", prov.Invalid, "level"},
		{"tile/01/000", prov.Invalid, "level"},
		{"tile/64/000", prov.Invalid, "level"},
		{"tile/100/000", prov.Invalid, "level"},
		{"tile/-1/000", prov.Invalid, "level"},
		{"tile/+1/000", prov.Invalid, "level"},
		{"tile/1a/000", prov.Invalid, "level"},
		{"tile/data/000", prov.Invalid, "level"},
		{"tile/8/0/000", prov.Invalid, "not x followed"}, // x/mod's layout, with the height
		{"tile/Entries/000", prov.Invalid, "level"},
		{"tile/entries/001/000", prov.Invalid, "x followed"},
		{"tile/0/000.p/0", prov.Invalid, "width"},
		{"tile/0/000.p/256", prov.Invalid, "width"},
		{"tile/0/000.p/1000", prov.Invalid, "width"},
		{"tile/0/000.p/05", prov.Invalid, "width"},
		{"tile/0/000.p/", prov.Invalid, "width"},
		{"tile/0/000.p/-1", prov.Invalid, "width"},
		{"tile/0/000.p/1/", prov.Invalid, "index element"},
		{"tile/0/000.p", prov.Invalid, "three digits"},
		{"tile/0/000.p/5/000", prov.Invalid, "not x followed"},
		{"tile/0/x001.p/5", prov.Invalid, "three digits"},
		{"tile/0/000.q/5", prov.Invalid, "not x followed"},
		{"tile/0/..", prov.Invalid, "three digits"},
		{"tile/0/../000", prov.Invalid, "not x followed"},
		{"tile/../checkpoint", prov.Invalid, "level"},
		{"tile/0/%30%30%30", prov.Invalid, "three digits"},
		{"tile/0/000\x00", prov.Invalid, "three digits"},
		{"tile/0/" + strings.Repeat("x001/", 20) + "000", prov.Invalid, "too long"},
		{"/tile/0/000", prov.Invalid, "does not start"},
		{"tiles/0/000", prov.Invalid, "does not start"},
		{"tile/0/x009/x223/x372/x036/x854/x775/808", prov.NotFound, "beyond any log"},
		{"tile/0/x001/x000/x000/x000/x000/x000/x000/000", prov.NotFound, "beyond any log"},
	}
	for _, c := range bad {
		got, err := tiles.ParsePath(c.path)
		if err == nil {
			t.Errorf("ParsePath(%q) = %+v, want an error", c.path, got)
			continue
		}
		if prov.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.says) {
			t.Errorf("ParsePath(%q): %v (%s), want kind %s saying %q", c.path, err, prov.KindOf(err), c.kind, c.says)
		}
	}
}

// TestPathMatchesXMod: for tiles of height 8, C2SP's path is x/mod's
// without the height element, and entry bundles are x/mod's data tiles.
func TestPathMatchesXMod(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		xt := sumdb.Tile{H: tiles.Height, L: rng.IntN(tiles.MaxLevel + 1), W: 1 + rng.IntN(tiles.FullWidth)}
		switch i % 4 {
		case 0:
			xt.N = rng.Int64N(1000)
		case 1:
			xt.N = rng.Int64N(1 << 30)
		default:
			xt.N = rng.Int64()
		}
		entries := i%5 == 0
		if entries {
			xt.L = -1
		}
		want := strings.Replace(strings.Replace(xt.Path(), "tile/8/", "tile/", 1), "tile/data/", "tile/entries/", 1)
		tt := tiles.Tile{Entries: entries, L: max(xt.L, 0), N: xt.N, W: xt.W}
		if got := tt.Path(); got != want {
			t.Fatalf("%+v.Path() = %q, want %q (x/mod %q)", tt, got, want, xt.Path())
		}
		back, err := tiles.ParsePath(want)
		if err != nil || back != tt {
			t.Fatalf("ParsePath(%q) = %+v, %v; want %+v", want, back, err, tt)
		}
	}
}

func TestEnd(t *testing.T) {
	for _, c := range []struct {
		t   tiles.Tile
		end int64
		ok  bool
	}{
		{tiles.Tile{N: 0, W: 1}, 1, true},
		{tiles.Tile{N: 0, W: 256}, 256, true},
		{tiles.Tile{N: 1, W: 3}, 259, true},
		{tiles.Tile{L: 1, N: 0, W: 1}, 256, true},
		{tiles.Tile{L: 1, N: 0, W: 256}, 65536, true},
		{tiles.Tile{L: 2, N: 0, W: 1}, 65536, true},
		{tiles.Tile{L: 7, N: 0, W: 127}, 127 << 56, true},
		{tiles.Tile{L: 7, N: 0, W: 128}, 0, false},
		{tiles.Tile{L: 8, N: 0, W: 1}, 0, false},
		{tiles.Tile{L: 63, N: 0, W: 1}, 0, false},
		{tiles.Tile{N: math.MaxInt64 / 256, W: 255}, math.MaxInt64/256*256 + 255, true},
		{tiles.Tile{N: math.MaxInt64 / 256, W: 256}, 0, false},
		{tiles.Tile{N: math.MaxInt64, W: 1}, 0, false},
	} {
		end, ok := c.t.End()
		if end != c.end || ok != c.ok {
			t.Errorf("%+v.End() = %d, %v; want %d, %v", c.t, end, ok, c.end, c.ok)
		}
	}
}
