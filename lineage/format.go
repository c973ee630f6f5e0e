package lineage

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/prov-dev/prov"
)

// Formats of Write.
var Formats = []string{"tree", "json", "dot", "mermaid"}

// Write writes r in a format: "tree" (indented text from the root, each
// node's subtree once), "json", "dot" (Graphviz) or "mermaid" (a flowchart).
// The output is deterministic: nodes and edges in id order. Names are
// escaped for each format. An unknown format is an error of kind Invalid.
func (r *Result) Write(w io.Writer, format string) error {
	bw := bufio.NewWriter(w)
	switch format {
	case "tree", "":
		r.writeTree(bw)
	case "json":
		enc := json.NewEncoder(bw)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	case "dot":
		r.writeDot(bw)
	case "mermaid":
		r.writeMermaid(bw)
	default:
		return prov.Errorf(prov.Invalid, "unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
	}
	return bw.Flush()
}

// text quotes s when it holds characters that would break a line of text.
func text(s NodeID) string {
	for _, c := range string(s) {
		if c < ' ' || c == 0x7f || c == '\u2028' || c == '\u2029' {
			return strconv.Quote(string(s))
		}
	}
	return string(s)
}

func (r *Result) writeTree(w *bufio.Writer) {
	children := map[NodeID][]Edge{}
	for _, e := range r.Edges() {
		if r.Direction == Downstream.String() {
			children[e.From] = append(children[e.From], e)
		} else {
			children[e.To] = append(children[e.To], e)
		}
	}
	printed := map[NodeID]bool{}
	onPath := map[NodeID]bool{}
	var walk func(n NodeID, prefix string)
	walk = func(n NodeID, prefix string) {
		printed[n] = true
		onPath[n] = true
		kids := children[n]
		for i, e := range kids {
			next := e.From
			if r.Direction == Downstream.String() {
				next = e.To
			}
			branch, indent := "├── ", "│   "
			if i == len(kids)-1 {
				branch, indent = "└── ", "    "
			}
			note := ""
			if !e.At.IsZero() {
				note = "  " + e.At.UTC().Format(time.RFC3339)
			}
			switch {
			case onPath[next]:
				fmt.Fprintf(w, "%s%s%s  (cycle)%s\n", prefix, branch, text(next), note)
			case printed[next]:
				fmt.Fprintf(w, "%s%s%s  (see above)%s\n", prefix, branch, text(next), note)
			default:
				fmt.Fprintf(w, "%s%s%s%s\n", prefix, branch, text(next), note)
				walk(next, prefix+indent)
			}
		}
		onPath[n] = false
	}
	fmt.Fprintf(w, "%s\n", text(r.Root))
	walk(r.Root, "")
	if r.Truncated {
		fmt.Fprintf(w, "(more %s beyond depth %d: raise --depth)\n", r.Direction, r.Depth)
	}
	if len(r.Cycles) > 0 {
		fmt.Fprintf(w, "%d edge(s) close a cycle:", len(r.Cycles))
		for _, e := range r.Cycles {
			fmt.Fprintf(w, " %s -> %s;", text(e.From), text(e.To))
		}
		fmt.Fprintln(w)
	}
	for _, c := range r.Columns {
		fmt.Fprintf(w, "column %s.%s <- %s.%s", text(c.To), strconv.Quote(c.ToField), text(c.From), strconv.Quote(c.FromField))
		if c.Transformation != "" {
			fmt.Fprintf(w, " (%s)", strconv.Quote(c.Transformation))
		}
		fmt.Fprintln(w)
	}
}

// dotQuote writes s as a Graphviz double-quoted string.
func dotQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < ' ' {
				fmt.Fprintf(&b, "\\x%02x", c) // shown, not interpreted
				continue
			}
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (r *Result) writeDot(w *bufio.Writer) {
	fmt.Fprintf(w, "digraph lineage {\n  rankdir=LR;\n")
	for _, n := range r.Nodes {
		shape := "box"
		switch n.Kind {
		case KindJob:
			shape = "ellipse"
		case KindRun:
			shape = "oval"
		}
		style := ""
		if n.ID == r.Root {
			style = ", style=bold"
		}
		fmt.Fprintf(w, "  %s [shape=%s%s];\n", dotQuote(string(n.ID)), shape, style)
	}
	cyc := map[Edge]bool{}
	for _, e := range r.Cycles {
		cyc[e] = true
	}
	for _, e := range r.Edges() {
		attr := ""
		if cyc[e] {
			attr = " [color=red, label=\"cycle\"]"
		}
		fmt.Fprintf(w, "  %s -> %s%s;\n", dotQuote(string(e.From)), dotQuote(string(e.To)), attr)
	}
	fmt.Fprintln(w, "}")
}

// mermaidLabel escapes s for a double-quoted Mermaid label, with Mermaid's
// entity codes.
func mermaidLabel(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '"':
			b.WriteString("#quot;")
		case c == '#':
			b.WriteString("#35;")
		case c == '<':
			b.WriteString("#lt;")
		case c == '>':
			b.WriteString("#gt;")
		case c == '&':
			b.WriteString("#amp;")
		case c < ' ' || c == 0x7f:
			fmt.Fprintf(&b, "#%d;", c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func (r *Result) writeMermaid(w *bufio.Writer) {
	fmt.Fprintln(w, "flowchart LR")
	for i, n := range r.Nodes {
		id := "n" + strconv.Itoa(i)
		open, end := "[\"", "\"]"
		switch n.Kind {
		case KindDataset:
			open, end = "[(\"", "\")]"
		case KindRun:
			open, end = "([\"", "\"])"
		}
		fmt.Fprintf(w, "  %s%s%s%s\n", id, open, mermaidLabel(string(n.ID)), end)
	}
	for _, e := range r.links {
		fmt.Fprintf(w, "  n%d --> n%d\n", e.from, e.to)
	}
}

// ImpactFormats are the formats of ImpactResult.Write.
var ImpactFormats = []string{"text", "json"}

// Write writes the impact as "text" (one line per dataset, run and job) or
// "json".
func (r *ImpactResult) Write(w io.Writer, format string) error {
	bw := bufio.NewWriter(w)
	switch format {
	case "text", "tree", "":
		at := func(t time.Time) string {
			if t.IsZero() {
				return "all of its history"
			}
			return t.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(bw, "%d dataset(s) poisoned:\n", len(r.Datasets))
		for _, d := range r.Datasets {
			fmt.Fprintf(bw, "  %s  from %s", text(d.ID), at(d.Since))
			if d.Via != "" {
				fmt.Fprintf(bw, "  written by %s", text(d.Via))
			}
			fmt.Fprintln(bw)
		}
		fmt.Fprintf(bw, "%d run(s) read poisoned data:\n", len(r.Runs))
		for _, x := range r.Runs {
			when := "at an unknown time"
			if !x.Since.IsZero() {
				when = "at " + x.Since.UTC().Format(time.RFC3339Nano)
			}
			fmt.Fprintf(bw, "  %s  read %s %s\n", text(x.ID), text(x.Via), when)
		}
		fmt.Fprintf(bw, "%d job(s) affected:\n", len(r.Jobs))
		for _, j := range r.Jobs {
			fmt.Fprintf(bw, "  %s\n", text(j))
		}
	case "json":
		enc := json.NewEncoder(bw)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	default:
		return prov.Errorf(prov.Invalid, "unknown format %q: want one of %s", format, strings.Join(ImpactFormats, ", "))
	}
	return bw.Flush()
}

// MarshalJSON writes empty lists as [], not null.
func (r *ImpactResult) MarshalJSON() ([]byte, error) {
	type plain ImpactResult
	c := plain(*r)
	for _, p := range []*[]Affected{&c.Datasets, &c.Runs} {
		if *p == nil {
			*p = []Affected{}
		}
	}
	if c.Jobs == nil {
		c.Jobs = []NodeID{}
	}
	if c.Seeds == nil {
		c.Seeds = []Poison{}
	}
	return json.Marshal(c)
}
