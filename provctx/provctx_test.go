package provctx_test

import (
	"context"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/provctx"
)

func TestContext(t *testing.T) {
	bg := context.Background()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		want   prov.Attribution
		wantOK bool
	}{
		{"none", bg, prov.Attribution{}, false},
		{"activity", provctx.WithActivity(bg, "job:1"), prov.Attribution{Activity: "job:1"}, true},
		{"agent", provctx.WithAgent(bg, "alice"), prov.Attribution{Agent: "alice"}, true},
		{"activity then agent", provctx.WithAgent(provctx.WithActivity(bg, "job:1"), "alice"), prov.Attribution{Activity: "job:1", Agent: "alice"}, true},
		{"agent then activity", provctx.WithActivity(provctx.WithAgent(bg, "alice"), "job:1"), prov.Attribution{Activity: "job:1", Agent: "alice"}, true},
		{"with replaces", provctx.With(provctx.With(bg, attr), prov.Attribution{Activity: "job:2"}), prov.Attribution{Activity: "job:2"}, true},
		{"activity replaced", provctx.WithActivity(provctx.With(bg, attr), "job:3"), prov.Attribution{Activity: "job:3", Agent: attr.Agent}, true},
		{"zero removes", provctx.With(provctx.With(bg, attr), prov.Attribution{}), prov.Attribution{}, false},
		{"empty ids remove", provctx.WithAgent(provctx.WithActivity(provctx.With(bg, attr), ""), ""), prov.Attribution{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := provctx.From(tc.ctx)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("From = %+v, %v; want %+v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
