package lineage_test

import (
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/lineage"
)

// FuzzNodeID: ParseNodeID and Resolve never panic; a node built from any
// namespace and name (colons included) parses and resolves to itself;
// errors are Invalid or NotFound, never anything else.
func FuzzNodeID(f *testing.F) {
	for _, s := range [][2]string{
		{"gs://bucket", "path/x"}, {"postgres://h:5432", "db.s.t"}, {"a:b", "c:d"}, {"ns", "n"},
		{"bigquery", "proj.ds.t"}, {"file", "/tmp/x:y"}, {":", ":"}, {"ns", ""}, {"", "x"},
	} {
		f.Add(s[0], s[1], "dataset:"+s[0]+":"+s[1])
	}
	f.Add("x", "y", "run:")
	f.Add("x", "y", "job::")
	f.Fuzz(func(t *testing.T, ns, name, typed string) {
		g := lineage.New()
		id := lineage.DatasetNode(ns, name)
		g.AddDataset(id)
		g.AddJob(lineage.JobNode(ns, name))
		g.AddRun(lineage.Run{ID: name})

		valid := ns != "" && name != "" && !strings.ContainsAny(ns+name, "\n\r\x00")
		if _, err := lineage.ParseNodeID(string(id)); valid && err != nil {
			t.Fatalf("ParseNodeID(%q) of a well-formed node: %v", id, err)
		}
		if got, err := g.Resolve(string(id)); err != nil || got != id {
			t.Fatalf("Resolve(%q) = %q, %v", id, got, err)
		}
		if id.Kind() != lineage.KindDataset {
			t.Fatalf("Kind(%q) = %q", id, id.Kind())
		}
		if n, err := lineage.ParseNodeID(typed); err == nil {
			if n.Kind() == "" || n.Rest() == "" {
				t.Fatalf("ParseNodeID(%q) accepted a node without kind or rest", typed)
			}
		} else if !prov.IsKind(err, prov.Invalid) {
			t.Fatalf("ParseNodeID(%q): kind %s", typed, prov.KindOf(err))
		}
		if _, err := g.Resolve(typed); err != nil && !prov.IsKind(err, prov.Invalid) && !prov.IsKind(err, prov.NotFound) {
			t.Fatalf("Resolve(%q): kind %s: %v", typed, prov.KindOf(err), err)
		}
		if _, err := g.ResolveName(ns, typed); err != nil && !prov.IsKind(err, prov.Invalid) && !prov.IsKind(err, prov.NotFound) {
			t.Fatalf("ResolveName(%q, %q): kind %s", ns, typed, prov.KindOf(err))
		}
	})
}
