package lineage

import (
	"container/heap"
	"slices"
	"time"

	"github.com/prov-dev/prov"
)

// Poison is a dataset known to be bad from a time on (zero: all of its
// history).
type Poison struct {
	Dataset NodeID    `json:"dataset"`
	From    time.Time `json:"from,omitzero"`
}

// Affected is a dataset or run that a poisoned write reached: a dataset is
// poisoned from Since (the first bad write that reached it; zero: all of its
// history), written by run Via; a run is affected from Since (its first read
// of poisoned data; zero: unknown), reading dataset Via.
type Affected struct {
	ID    NodeID    `json:"id"`
	Since time.Time `json:"since,omitzero"`
	Via   NodeID    `json:"via,omitempty"`
}

// ImpactResult is what a poisoned write reached downstream. Lists are
// sorted by id.
type ImpactResult struct {
	Seeds    []Poison   `json:"seeds"`
	Datasets []Affected `json:"datasets"`
	Runs     []Affected `json:"runs"`
	Jobs     []NodeID   `json:"jobs"`
}

// Impact returns the time-aware downstream closure of node from since on:
// for a dataset, the dataset is poisoned from since; for a run, the datasets
// it wrote at or after since are poisoned from their write; for a job, the
// same for each of its runs. See ImpactOf for how poison spreads. Errors:
// NotFound for an unknown node.
func (g *Graph) Impact(node NodeID, since time.Time) (*ImpactResult, error) {
	i, ok := g.ids[node]
	if !ok {
		return nil, g.unknown(string(node), node.Kind())
	}
	x := g.index()
	var seeds []Poison
	switch g.nodes[i].kind {
	case kindDataset:
		seeds = []Poison{{Dataset: node, From: since}}
	case kindRun:
		seeds = g.runSeeds(x, i, since)
	case kindJob:
		for _, r := range x.runsOf[i] {
			seeds = append(seeds, g.runSeeds(x, r, since)...)
		}
		if len(seeds) == 0 {
			return nil, prov.Errorf(prov.NotFound, "job %s wrote no dataset%s: nothing is downstream of it", node, sinceWords(since))
		}
	}
	return g.ImpactOf(seeds), nil
}

func sinceWords(since time.Time) string {
	if since.IsZero() {
		return ""
	}
	return " since " + since.Format(time.RFC3339)
}

func (g *Graph) runSeeds(x *index, r int32, since time.Time) []Poison {
	s := nanos(since)
	var out []Poison
	for _, w := range x.writes[r] {
		if w.at == noTime || s == noTime || w.at >= s {
			from := w.at
			if from == noTime {
				from = s
			}
			out = append(out, Poison{Dataset: g.nodes[w.other].id, From: fromNanos(from)})
		}
	}
	return out
}

// ImpactOf returns what the poisoned datasets reached. A run is affected if
// it read a poisoned dataset at or after the time it became poisoned (a read
// at an unknown time counts: the answer errs on the side of reporting); an
// affected run poisons each dataset it wrote at or after its first bad read
// (from that write on; a write at an unknown time from the bad read on); and
// so on downstream. Cycles are walked once. Seeds naming unknown datasets are
// ignored.
func (g *Graph) ImpactOf(seeds []Poison) *ImpactResult {
	x := g.index()
	res := &ImpactResult{Seeds: slices.Clone(seeds)}
	poisoned := map[int32]int64{} // dataset -> poisoned from
	viaRun := map[int32]int32{}
	affected := map[int32]int64{} // run -> first bad read
	viaData := map[int32]int32{}
	h := &timeHeap{}
	push := func(d int32, at int64, via int32) {
		if old, ok := poisoned[d]; ok && old <= at {
			return
		}
		poisoned[d] = at
		viaRun[d] = via
		heap.Push(h, item{d, at})
	}
	for _, s := range seeds {
		if d, ok := g.ids[s.Dataset]; ok && g.nodes[d].kind == kindDataset {
			push(d, nanos(s.From), -1)
		}
	}
	for h.Len() > 0 {
		it := heap.Pop(h).(item)
		if poisoned[it.node] != it.at {
			continue // superseded by an earlier time
		}
		t := it.at
		for _, rd := range x.reads[it.node] {
			ra := rd.at
			if ra != noTime && t != noTime && ra < t {
				continue // read before the poisoned write
			}
			if ra == noTime {
				ra = t
			}
			if old, ok := affected[rd.other]; ok && old <= ra {
				continue
			}
			affected[rd.other] = ra
			viaData[rd.other] = it.node
			for _, w := range x.writes[rd.other] {
				wa := w.at
				if wa != noTime && ra != noTime && wa < ra {
					continue // written before the run read poisoned data
				}
				if wa == noTime {
					wa = ra
				}
				push(w.other, wa, rd.other)
			}
		}
	}
	for d, at := range poisoned {
		a := Affected{ID: g.nodes[d].id, Since: fromNanos(at)}
		if v := viaRun[d]; v >= 0 {
			a.Via = g.nodes[v].id
		}
		res.Datasets = append(res.Datasets, a)
	}
	jobs := map[int32]bool{}
	for r, at := range affected {
		res.Runs = append(res.Runs, Affected{ID: g.nodes[r].id, Since: fromNanos(at), Via: g.nodes[viaData[r]].id})
		if j := x.jobOf[r]; j != unknownJob {
			jobs[j] = true
		}
	}
	for j := range jobs {
		res.Jobs = append(res.Jobs, g.nodes[j].id)
	}
	byID := func(a, b Affected) int { return compareIDs(a.ID, b.ID) }
	slices.SortFunc(res.Datasets, byID)
	slices.SortFunc(res.Runs, byID)
	slices.Sort(res.Jobs)
	return res
}

type item struct {
	node int32
	at   int64
}

type timeHeap []item

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(v any)        { *h = append(*h, v.(item)) }
func (h *timeHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}
