package provjson

import (
	"context"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/lineage"
)

// Closure returns the ids of what is in the lineage of the node typed:
// its upstream and downstream closure in the job view, the runs of every
// job in it, and the closure in the run view; run nodes also by their bare
// activity id (captured activities are runs).
func Closure(g *lineage.Graph, typed string) (map[string]bool, error) {
	node, err := g.Resolve(typed)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	addRun := func(id string) {
		set["run:"+id] = true
		set[id] = true
	}
	for _, runs := range []bool{false, true} {
		for _, dir := range []lineage.Direction{lineage.Upstream, lineage.Downstream} {
			res, err := g.Lineage(node, lineage.Options{Direction: dir, Runs: runs})
			if err != nil {
				return nil, err
			}
			for _, n := range res.Nodes {
				set[string(n.ID)] = true
				switch n.Kind {
				case lineage.KindJob:
					for _, r := range g.RunsOf(n.ID) {
						addRun(r.ID)
					}
				case lineage.KindRun:
					addRun(n.ID.Rest())
				}
			}
		}
	}
	return set, nil
}

// Export builds the PROV-JSON document of the records of store that f
// keeps, from one snapshot.
func Export(ctx context.Context, store prov.Store, f Filter) (*Document, error) {
	d := New()
	err := store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		n, err := tx.Size(ctx)
		if err != nil {
			return err
		}
		return tx.Entries(ctx, 0, n, func(e prov.Entry) error {
			if !f.Since.IsZero() && !e.Time.IsZero() && e.Time.Before(f.Since) {
				return nil
			}
			r, err := prov.ParseEntry(e.Data) // plain or signed (a DSSE envelope)
			if err != nil {
				return prov.Errorf(prov.Internal, "record %d does not parse: %v", e.Index, err)
			}
			if f.Match(r) {
				d.Add(e.Index, r)
			}
			return nil
		})
	})
	return d, err
}
