package tiles

import (
	"math"
	"strconv"
	"strings"

	"github.com/prov-dev/prov"
)

// Height is the height of a tile: a full tile holds 2^Height = 256 hashes
// (or entries), as C2SP tlog-tiles fixes it.
const Height = 8

// FullWidth is the number of hashes in a full tile.
const FullWidth = 1 << Height

// MaxLevel is the highest level a tile path may name.
const MaxLevel = 63

// maxPathLen bounds a tile path: the longest canonical one,
// "tile/entries/x009/x223/x372/x036/x854/x775/807.p/255", is 52 bytes.
const maxPathLen = 64

// Tile names a resource of the tile API: a hash tile tile/<L>/<N>[.p/<W>]
// or an entry bundle tile/entries/<N>[.p/<W>].
type Tile struct {
	Entries bool  // an entry bundle, not a hash tile
	L       int   // the level of a hash tile, 0 to MaxLevel (0 for entry bundles)
	N       int64 // the tile's index within its level
	W       int   // its width: 1 to 255 for a partial tile, FullWidth for a full one
}

// Full reports whether t is a full tile (or bundle) of FullWidth hashes.
func (t Tile) Full() bool { return t.W == FullWidth }

// Path returns t's path relative to the log's prefix, in the canonical
// encoding of C2SP tlog-tiles: "tile/1/x001/x234/067.p/5" is the partial
// level-1 tile 1234067 of width 5.
func (t Tile) Path() string {
	b := make([]byte, 0, maxPathLen)
	b = append(b, "tile/"...)
	if t.Entries {
		b = append(b, "entries"...)
	} else {
		b = strconv.AppendInt(b, int64(t.L), 10)
	}
	b = append(b, '/')
	var groups []int64
	for n := t.N; ; n /= 1000 {
		groups = append(groups, n%1000)
		if n < 1000 {
			break
		}
	}
	for i := len(groups) - 1; i >= 0; i-- {
		if i > 0 {
			b = append(b, 'x')
		}
		g := groups[i]
		b = append(b, byte('0'+g/100), byte('0'+g/10%10), byte('0'+g%10))
		if i > 0 {
			b = append(b, '/')
		}
	}
	if !t.Full() {
		b = append(b, ".p/"...)
		b = strconv.AppendInt(b, int64(t.W), 10)
	}
	return string(b)
}

// End returns the number of log entries a tree needs for t to exist in it:
// t's hashes (or entries) cover the entries below End. ok is false if that
// is beyond any possible log (more than 2^63-1 entries).
func (t Tile) End() (end int64, ok bool) {
	if t.L >= 8 || t.N < 0 || t.W < 1 || t.W > FullWidth { // 256^8 = 2^64
		return 0, false
	}
	shift := uint(Height * t.L)
	limit := int64(math.MaxInt64) >> shift // the most level-L hashes any tree has
	if int64(t.W) > limit || t.N > (limit-int64(t.W))/FullWidth {
		return 0, false
	}
	return (t.N*FullWidth + int64(t.W)) << shift, true
}

// ParsePath parses a tile path relative to the log's prefix, such as
// "tile/0/x001/234" or "tile/entries/000.p/17". Only the canonical encoding
// is accepted: a level of 0 to 63 and a width of 1 to 255 in decimal with
// no leading zeros; N in groups of exactly three digits, all but the last
// prefixed with 'x', with no leading group of zeros; nothing else. A
// malformed path is an error of kind Invalid that says what is wrong; a
// well-formed N too large for any log is an error of kind NotFound.
func ParsePath(p string) (Tile, error) {
	var t Tile
	if len(p) > maxPathLen {
		return t, badPath(p, "it is too long")
	}
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return t, badPath(p, "it does not start with tile/")
	}
	f := strings.Split(rest, "/")
	if len(f) < 2 {
		return t, badPath(p, "it names no tile index: want tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")
	}
	if f[0] == "entries" {
		t.Entries = true
	} else {
		l, ok := decimal(f[0], MaxLevel)
		if !ok {
			return t, badPath(p, "the level "+strconv.Quote(f[0])+" is not a decimal number from 0 to 63 without leading zeros")
		}
		t.L = int(l)
	}
	g := f[1:]
	t.W = FullWidth
	if k := len(g) - 2; k >= 0 && strings.HasSuffix(g[k], ".p") {
		w, ok := decimal(g[k+1], FullWidth-1)
		if !ok || w == 0 {
			return t, badPath(p, "the width "+strconv.Quote(g[k+1])+" is not a decimal number from 1 to 255 without leading zeros")
		}
		t.W = int(w)
		g = append(g[:k:k], strings.TrimSuffix(g[k], ".p"))
	}
	overflow := false
	for i, s := range g {
		last := i == len(g)-1
		digits := s
		if !last {
			var ok bool
			if digits, ok = strings.CutPrefix(s, "x"); !ok {
				return t, badPath(p, "the index element "+strconv.Quote(s)+" is not x followed by three digits (only the last element has no x)")
			}
		}
		if len(digits) != 3 || !isDigits(digits) {
			what := "three digits"
			if !last {
				what = "x followed by three digits"
			}
			return t, badPath(p, "the index element "+strconv.Quote(s)+" is not "+what)
		}
		if i == 0 && !last && digits == "000" {
			return t, badPath(p, "the index has a leading group of zeros ("+strconv.Quote(s)+")")
		}
		v, _ := strconv.ParseInt(digits, 10, 64)
		if t.N > (math.MaxInt64-v)/1000 {
			overflow = true
		} else {
			t.N = t.N*1000 + v
		}
	}
	if overflow {
		return Tile{}, prov.Errorf(prov.NotFound, "no tile %s: its index is beyond any log", p)
	}
	return t, nil
}

// decimal parses a canonical decimal number (no sign, no leading zeros) of
// at most max.
func decimal(s string, max int64) (int64, bool) {
	if s == "" || len(s) > 3 || !isDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	v, _ := strconv.ParseInt(s, 10, 64)
	return v, v <= max
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func badPath(p, why string) error {
	return prov.Errorf(prov.Invalid, "%q is not a tile path: %s (see https://c2sp.org/tlog-tiles)", p, why)
}
