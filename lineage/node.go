package lineage

import (
	"github.com/prov-dev/prov/internal/suggest"
	"sort"
	"strings"

	"github.com/prov-dev/prov"
)

// NodeID is a node as Marquez writes a nodeId: "dataset:NAMESPACE:NAME",
// "job:NAMESPACE:NAME", "run:ID". Namespaces may contain colons (gs://bucket,
// postgres://host:5432), so a NodeID cannot always be split back into its
// namespace and name; the graph resolves what a user typed against the nodes
// it knows instead (Graph.Resolve).
type NodeID string

// Node kinds, the prefix of a NodeID.
const (
	KindDataset = "dataset"
	KindJob     = "job"
	KindRun     = "run"
)

// DatasetNode returns the NodeID of the dataset NAME in NAMESPACE.
func DatasetNode(namespace, name string) NodeID {
	return NodeID(KindDataset + ":" + namespace + ":" + name)
}

// JobNode returns the NodeID of the job NAME in NAMESPACE.
func JobNode(namespace, name string) NodeID {
	return NodeID(KindJob + ":" + namespace + ":" + name)
}

// RunNode returns the NodeID of the run with the given id.
func RunNode(runID string) NodeID { return NodeID(KindRun + ":" + runID) }

// Kind returns the node's kind (KindDataset, KindJob, KindRun), or "" if
// the id has none of their prefixes.
func (n NodeID) Kind() string {
	k, _, ok := strings.Cut(string(n), ":")
	if !ok {
		return ""
	}
	switch k {
	case KindDataset, KindJob, KindRun:
		return k
	}
	return ""
}

// Rest returns what follows the kind prefix: "NAMESPACE:NAME" of a dataset or
// a job, the run id of a run.
func (n NodeID) Rest() string {
	_, rest, _ := strings.Cut(string(n), ":")
	return rest
}

// ParseNodeID checks that s is written as a NodeID: a known kind prefix,
// then for a dataset or a job a namespace and a name separated by a colon
// (both non-empty), for a run a non-empty id. It does not split the
// namespace from the name (that is ambiguous when either holds colons).
// Errors are of kind Invalid and say what is expected.
func ParseNodeID(s string) (NodeID, error) {
	k, rest, ok := strings.Cut(s, ":")
	if !ok || (k != KindDataset && k != KindJob && k != KindRun) {
		return "", prov.Errorf(prov.Invalid, "%q is not a node: write dataset:NAMESPACE:NAME, job:NAMESPACE:NAME or run:ID (or give --namespace and --name)", s)
	}
	if strings.TrimSpace(rest) == "" {
		return "", prov.Errorf(prov.Invalid, "%q names no %s: write %s", s, k, nodeForm(k))
	}
	if strings.ContainsAny(rest, "\n\r\x00") {
		return "", prov.Errorf(prov.Invalid, "%q: a node id cannot hold a line break or NUL", s)
	}
	if k != KindRun {
		// Some colon must split rest into a non-empty namespace and name.
		if len(rest) < 3 || !strings.Contains(rest[1:len(rest)-1], ":") {
			return "", prov.Errorf(prov.Invalid, "%q: want %s (a namespace, a colon, a name)", s, nodeForm(k))
		}
	}
	return NodeID(s), nil
}

func nodeForm(kind string) string {
	if kind == KindRun {
		return "run:ID"
	}
	return kind + ":NAMESPACE:NAME"
}

// Resolve finds the node a user means by s:
//   - a NodeID the graph knows, exactly;
//   - otherwise, without a kind prefix, a dataset or job whose
//     "NAMESPACE:NAME" or NAME is s, or a run whose id is s.
//
// More than one match is an error of kind Invalid that lists the candidates;
// no match is an error of kind NotFound with the closest known nodes.
func (g *Graph) Resolve(s string) (NodeID, error) {
	if _, ok := g.ids[NodeID(s)]; ok {
		return NodeID(s), nil
	}
	if NodeID(s).Kind() != "" {
		if _, err := ParseNodeID(s); err != nil {
			return "", err
		}
		return "", g.unknown(s, NodeID(s).Kind())
	}
	if strings.TrimSpace(s) == "" {
		return "", prov.Errorf(prov.Invalid, "empty node: write dataset:NAMESPACE:NAME, job:NAMESPACE:NAME or run:ID")
	}
	var cands []NodeID
	for _, n := range g.nodes {
		rest := n.id.Rest()
		if rest == s || (n.kind != kindRun && strings.HasSuffix(rest, ":"+s)) {
			cands = append(cands, n.id)
		}
	}
	return g.pick(s, cands)
}

// ResolveName finds the dataset or job NAME in NAMESPACE (namespace "" means
// any namespace), with the errors of Resolve.
func (g *Graph) ResolveName(namespace, name string) (NodeID, error) {
	if name == "" {
		return "", prov.Errorf(prov.Invalid, "--name is required with --namespace: the dataset or job name")
	}
	if namespace == "" {
		return g.Resolve(name)
	}
	var cands []NodeID
	for _, id := range []NodeID{DatasetNode(namespace, name), JobNode(namespace, name)} {
		if _, ok := g.ids[id]; ok {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		return "", g.unknown(namespace+":"+name, "")
	}
	return g.pick(namespace+":"+name, cands)
}

func (g *Graph) pick(s string, cands []NodeID) (NodeID, error) {
	switch len(cands) {
	case 0:
		return "", g.unknown(s, "")
	case 1:
		return cands[0], nil
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i] < cands[j] })
	const show = 10
	list := make([]string, 0, show)
	for i, c := range cands {
		if i == show {
			list = append(list, "…")
			break
		}
		list = append(list, string(c))
	}
	return "", prov.Errorf(prov.Invalid, "%q is ambiguous: %d nodes match (%s); give the full node id", s, len(cands), strings.Join(list, ", "))
}

// unknown returns the NotFound error for s, with the closest known nodes of
// the given kind ("" for any).
func (g *Graph) unknown(s, kind string) error {
	return prov.Errorf(prov.NotFound, "no node %s is known to the lineage graph%s", s, g.suggest(s, kind))
}

// suggest returns "; did you mean A or B?" with up to three known nodes
// closest to s in edit distance (compared without their kind prefix when s
// has none), or "" when none is close.
func (g *Graph) suggest(s, kind string) string {
	type scored struct {
		id NodeID
		d  int
	}
	var best []scored
	ls := strings.ToLower(s)
	limit := max(2, len(s)/3)
	for _, n := range g.nodes {
		if kind != "" && n.id.Kind() != kind {
			continue
		}
		c := string(n.id)
		if kind == "" {
			c = n.id.Rest()
		}
		if d := len(c) - len(s); d > limit || -d > limit {
			if !strings.Contains(strings.ToLower(c), ls) {
				continue
			}
		}
		d := suggest.Distance(ls, strings.ToLower(c))
		if d <= limit || strings.Contains(strings.ToLower(c), ls) {
			best = append(best, scored{n.id, d})
		}
	}
	if len(best) == 0 {
		return ""
	}
	sort.Slice(best, func(i, j int) bool {
		if best[i].d != best[j].d {
			return best[i].d < best[j].d
		}
		return best[i].id < best[j].id
	})
	var out []string
	for i := 0; i < len(best) && i < 3; i++ {
		out = append(out, string(best[i].id))
	}
	return "; did you mean " + strings.Join(out, " or ") + "?"
}
