package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/client"
	"github.com/prov-dev/prov/lineage"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/provjson"
	"github.com/prov-dev/prov/quarantine"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// exitQuarantined is prov quarantine check's exit code when the node or
// something upstream of it is quarantined (decision 0004).
const exitQuarantined = 3

// nodeFlags name a lineage node: an argument written as Marquez writes a
// nodeId, or --namespace and --name.
type nodeFlags struct{ namespace, name string }

func (n *nodeFlags) add(f *pflag.FlagSet) {
	f.StringVar(&n.namespace, "namespace", "", "the node's namespace (with --name), instead of a NODE argument")
	f.StringVar(&n.name, "name", "", "the dataset or job name (with --namespace, or alone when it is unique)")
}

// resolve returns the node that args or the flags name in g.
func (n *nodeFlags) resolve(g *lineage.Graph, args []string) (lineage.NodeID, error) {
	switch {
	case len(args) == 1 && (n.namespace != "" || n.name != ""):
		return "", usageError{fmt.Errorf("give the node either as an argument or with --namespace/--name, not both")}
	case len(args) == 1:
		return g.Resolve(args[0])
	case n.name != "":
		return g.ResolveName(n.namespace, n.name)
	case n.namespace != "":
		return "", usageError{fmt.Errorf("--namespace needs --name")}
	}
	return "", usageError{fmt.Errorf("which node? Give NODE (dataset:NAMESPACE:NAME, job:NAMESPACE:NAME, run:ID) or --namespace NS --name NAME")}
}

// remote returns the node as the server's API takes it: the NODE argument,
// NAMESPACE:NAME, or a NAME alone (the server resolves and checks it).
func (n *nodeFlags) remote(args []string) string {
	switch {
	case len(args) == 1:
		return args[0]
	case n.namespace != "":
		return n.namespace + ":" + n.name
	}
	return n.name
}

// openGraph opens the store and loads its lineage graph as of at (zero:
// everything). Lineage queries read a database; through a server, use the
// API's /api/v1/lineage routes.
func (m *Main) openGraph(ctx context.Context, at time.Time) (prov.Store, *lineage.Graph, error) {
	if m.client != nil {
		return nil, nil, prov.Errorf(prov.Invalid, "this command reads a database (--db); through a server, use GET /api/v1/lineage, /api/v1/impact, /api/v1/quarantine or /api/v1/export")
	}
	store, err := m.openStore(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	g, err := openlineage.Graph(ctx, store, at)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, g, nil
}

func (m *Main) lineageCommand() *cobra.Command {
	var nf nodeFlags
	var up, down, columns, runs bool
	var depth int
	var at, format string
	cmd := &cobra.Command{
		Use:   "lineage (NODE | --namespace NS --name NAME) --upstream|--downstream [--depth N] [--at TIME] [--columns] [--format tree|json|dot|mermaid]",
		Short: "What a dataset, job or run was made from (--upstream) or what was made from it (--downstream)",
		Long: `Walk the pipeline lineage recorded in the log (OpenLineage events and
captured tables) from a node, as Marquez writes node ids:
dataset:NAMESPACE:NAME, job:NAMESPACE:NAME or run:ID. Namespaces may contain
colons (gs://bucket, postgres://host:5432): the id is matched against the
nodes the log knows; a bare NAME or NAMESPACE:NAME works when it is unique.
Jobs are shown as Marquez shows them (a job reads and writes datasets); from
a run, or with --runs, runs are walked instead.

--depth bounds the walk in edges (0: no bound); --at shows the lineage as
it was at a time; --columns adds column-level lineage. Cycles in the
submitted lineage are reported, never followed twice.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if up == down {
				return usageError{fmt.Errorf("give exactly one of --upstream and --downstream")}
			}
			t, err := parseTime("at", at)
			if err != nil {
				return err
			}
			if m.JSON {
				format = "json"
			}
			if m.client != nil {
				q := client.LineageQuery{Namespace: nf.namespace, Name: nf.name, Direction: "upstream", Depth: depth, At: at, Columns: columns, Runs: runs}
				if down {
					q.Direction = "downstream"
				}
				if len(args) == 1 {
					q.Node = args[0]
				}
				var res lineage.Result
				if err := m.client.Lineage(ctx, q, &res); err != nil {
					return m.remoteErr(err)
				}
				return res.Write(m.Stdout, format)
			}
			store, g, err := m.openGraph(ctx, t)
			if err != nil {
				return err
			}
			defer store.Close()
			node, err := nf.resolve(g, args)
			if err != nil {
				return err
			}
			opts := lineage.Options{Direction: lineage.Upstream, Depth: depth, At: t, Columns: columns, Runs: runs}
			if down {
				opts.Direction = lineage.Downstream
			}
			res, err := g.Lineage(node, opts)
			if err != nil {
				return err
			}
			return res.Write(m.Stdout, format)
		},
	}
	f := cmd.Flags()
	nf.add(f)
	f.BoolVar(&up, "upstream", false, "what the node was made from")
	f.BoolVar(&down, "downstream", false, "what was made from the node")
	f.IntVar(&depth, "depth", 0, "at most this many edges from the node (0: no bound)")
	f.StringVar(&at, "at", "", "the lineage as it was at this time (RFC 3339, a date, or an age such as 7d)")
	f.BoolVar(&columns, "columns", false, "add column-level lineage between the datasets shown")
	f.BoolVar(&runs, "runs", false, "walk runs instead of jobs")
	f.StringVar(&format, "format", "tree", "tree, json, dot or mermaid")
	return cmd
}

func (m *Main) impactCommand() *cobra.Command {
	var nf nodeFlags
	var activity, since, format string
	cmd := &cobra.Command{
		Use:   "impact (NODE | --namespace NS --name NAME | --activity ID) [--since TIME] [--format text|json]",
		Short: "What a poisoned dataset, job or run reached downstream, time-aware",
		Long: `The downstream closure of a poisoned write, aware of time: a run is
affected only if it read a poisoned dataset at or after the poisoned write,
and the datasets it wrote from then on are poisoned in turn.

For a dataset, it is poisoned from --since (default: all of its history);
for a run (--activity ID is run:ID, or a captured activity such as a
migration) or a job, the datasets it wrote at or after --since are.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := parseTime("since", since)
			if err != nil {
				return err
			}
			if m.JSON {
				format = "json"
			}
			if m.client != nil {
				node := nf.remote(args)
				var res lineage.ImpactResult
				if err := m.client.Impact(ctx, node, activity, since, &res); err != nil {
					return m.remoteErr(err)
				}
				return res.Write(m.Stdout, format)
			}
			store, g, err := m.openGraph(ctx, time.Time{})
			if err != nil {
				return err
			}
			defer store.Close()
			var node lineage.NodeID
			if activity != "" {
				if len(args) > 0 || nf.name != "" || nf.namespace != "" {
					return usageError{fmt.Errorf("give either NODE or --activity, not both")}
				}
				id := activity
				if !strings.HasPrefix(id, "run:") {
					id = "run:" + id
				}
				if node, err = g.Resolve(id); err != nil {
					return err
				}
			} else if node, err = nf.resolve(g, args); err != nil {
				return err
			}
			res, err := g.Impact(node, t)
			if err != nil {
				return err
			}
			return res.Write(m.Stdout, format)
		},
	}
	f := cmd.Flags()
	nf.add(f)
	f.StringVar(&activity, "activity", "", "the run or activity whose writes are poisoned")
	f.StringVar(&since, "since", "", "poisoned from this time (RFC 3339, a date, or an age such as 7d)")
	f.StringVar(&format, "format", "text", "text or json")
	return cmd
}

func (m *Main) quarantineCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quarantine mark|check|clear|list",
		Short: "Mark datasets, jobs or runs as poisoned; check a node before using it (exit 3 if quarantined)",
		Long: `Quarantine marks are records in the log (type quarantine): who marked or
cleared which node, when, and why. 'prov quarantine check NODE' exits 3 when
NODE or anything upstream of it is quarantined, printing the path, so that a
pipeline (a training job) can gate on it.`,
	}
	var nf nodeFlags
	var reason, ticket, by string
	change := func(action string) *cobra.Command {
		c := &cobra.Command{
			Use:  action + " (NODE | --namespace NS --name NAME) --reason TEXT [--ticket T] [--by AGENT]",
			Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx := cmd.Context()
				if strings.TrimSpace(reason) == "" {
					return usageError{fmt.Errorf("--reason is required: say why the data is bad (mark) or good again (clear)")}
				}
				if m.client != nil {
					node := nf.remote(args)
					var mk quarantine.Mark
					if err := m.client.Quarantine(ctx, action, node, reason, ticket, &mk); err != nil {
						return m.remoteErr(err)
					}
					return m.printMark(action, mk)
				}
				l, done, err := m.openLog(ctx, true)
				if err != nil {
					return err
				}
				defer done()
				g, err := openlineage.Graph(ctx, l.Store(), time.Time{})
				if err != nil {
					return err
				}
				st, err := quarantine.Load(ctx, l.Store())
				if err != nil {
					return err
				}
				typed := ""
				if len(args) == 1 {
					typed = args[0]
				} else {
					n, err := nf.resolve(g, args)
					if err != nil {
						return err
					}
					typed = string(n)
				}
				if by == "" {
					by = defaultAgent()
				}
				mk, err := st.Prepare(g, typed, quarantine.Mark{Action: action, Time: time.Now().UTC(), Agent: by, Reason: reason, Ticket: ticket})
				if err != nil {
					return err
				}
				rec, err := quarantine.Record(mk)
				if err != nil {
					return err
				}
				idx, err := l.Append(ctx, [][]byte{rec})
				if err != nil {
					return err
				}
				mk.Index = idx
				return m.printMark(action, mk)
			},
		}
		c.Short = map[string]string{"mark": "Mark a node as poisoned", "clear": "End a node's quarantine"}[action]
		nf.add(c.Flags())
		c.Flags().StringVar(&reason, "reason", "", "why (required)")
		c.Flags().StringVar(&ticket, "ticket", "", "an issue or incident reference")
		c.Flags().StringVar(&by, "by", "", "who (default user:$USER)")
		return c
	}
	check := &cobra.Command{
		Use:   "check (NODE | --namespace NS --name NAME)",
		Short: "Exit 3 if NODE or anything upstream of it is quarantined, printing the path",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			node, b, err := m.checkQuarantine(ctx, nf, args)
			if err != nil {
				return err
			}
			if m.JSON {
				out := map[string]any{"node": node, "quarantined": b != nil}
				if b != nil {
					out["path"], out["mark"] = b.Path, b.Mark
				}
				if err := m.printJSON(out); err != nil {
					return err
				}
			} else if b == nil {
				fmt.Fprintf(m.Stdout, "ok: neither %s nor anything upstream of it is quarantined\n", node)
			} else {
				printBlocked(m.Stdout, node, b)
			}
			if b != nil {
				return exitCode(exitQuarantined)
			}
			return nil
		},
	}
	nf.add(check.Flags())
	list := &cobra.Command{
		Use:   "list",
		Short: "The quarantines in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var marks []quarantine.Mark
			if m.client != nil {
				var out struct {
					Quarantined []quarantine.Mark `json:"quarantined"`
				}
				if err := m.client.QuarantineCheck(ctx, "", &out); err != nil {
					return m.remoteErr(err)
				}
				marks = out.Quarantined
			} else {
				store, err := m.openStore(ctx, false)
				if err != nil {
					return err
				}
				defer store.Close()
				st, err := quarantine.Load(ctx, store)
				if err != nil {
					return err
				}
				marks = st.List()
			}
			if m.JSON {
				return m.printJSON(map[string]any{"quarantined": marks})
			}
			if len(marks) == 0 {
				fmt.Fprintln(m.Stderr, "nothing is quarantined")
			}
			for _, mk := range marks {
				fmt.Fprintf(m.Stdout, "%s  since %s by %s (record %d): %s\n", mk.Node, mk.Time.Format(time.RFC3339), orDash(mk.Agent), mk.Index, mk.Reason)
			}
			return nil
		},
	}
	cmd.AddCommand(change(quarantine.ActionMark), check, change(quarantine.ActionClear), list)
	return cmd
}

// printBlocked prints why node is blocked: the path up to the quarantined
// node, and its mark.
func printBlocked(w io.Writer, node lineage.NodeID, b *quarantine.Blocked) {
	q := b.Path[len(b.Path)-1]
	if q == node {
		fmt.Fprintf(w, "QUARANTINED: %s\n", node)
	} else {
		fmt.Fprintf(w, "QUARANTINED: %s is downstream of quarantined %s\n", node, q)
		for i, n := range b.Path {
			if i == 0 {
				fmt.Fprintf(w, "  %s\n", n)
				continue
			}
			fmt.Fprintf(w, "  <- %s\n", n)
		}
	}
	fmt.Fprintf(w, "marked by %s at %s (record %d): %s", orDash(b.Mark.Agent), b.Mark.Time.Format(time.RFC3339), b.Mark.Index, b.Mark.Reason)
	if b.Mark.Ticket != "" {
		fmt.Fprintf(w, " [%s]", b.Mark.Ticket)
	}
	fmt.Fprintln(w)
}

func (m *Main) exportCommand() *cobra.Command {
	var format, node, activity, since, output string
	cmd := &cobra.Command{
		Use:   "export --format prov-json [--node NODE | --activity ID | --since TIME] [-o FILE]",
		Short: "The log's records as a W3C PROV-JSON document",
		Long: `Write the log's records (all types) as one W3C PROV-JSON document:
entities (datasets, dataset versions, rows and their tables), activities
(runs, releases, migrations, fixes …), agents, and how they relate, with
times. --node keeps the records of a lineage node's closure (upstream and
downstream, with the runs of the jobs in it), --activity those of an
activity, its children and what it informed, --since those at or after a
time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if format != "prov-json" {
				return usageError{fmt.Errorf("--format %q: the only export format is prov-json", format)}
			}
			var f provjson.Filter
			var err error
			if f.Since, err = parseTime("since", since); err != nil {
				return err
			}
			f.Activity = activity
			if m.client != nil {
				var doc json.RawMessage
				if err := m.client.Export(ctx, node, activity, since, &doc); err != nil {
					return m.remoteErr(err)
				}
				return m.writeExport(output, func(w io.Writer) error {
					var buf bytes.Buffer
					if err := json.Indent(&buf, doc, "", "  "); err != nil {
						return err
					}
					buf.WriteByte('\n')
					_, err := w.Write(buf.Bytes())
					return err
				}, -1)
			}
			store, err := m.openStore(ctx, false)
			if err != nil {
				return err
			}
			defer store.Close()
			if node != "" {
				g, err := openlineage.Graph(ctx, store, time.Time{})
				if err != nil {
					return err
				}
				if f.Nodes, err = provjson.Closure(g, node); err != nil {
					return err
				}
			}
			d, err := provjson.Export(ctx, store, f)
			if err != nil {
				return err
			}
			return m.writeExport(output, d.Write, d.Records())
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "prov-json", "prov-json")
	f.StringVar(&node, "node", "", "only the records of this lineage node's closure")
	f.StringVar(&activity, "activity", "", "only the records of this activity, its children and what it informed")
	f.StringVar(&since, "since", "", "only records at or after this time (RFC 3339, a date, or an age such as 7d)")
	f.StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

// writeExport writes a document to output (a file; "" or "-": standard
// output), and says how many records a file got (records < 0: unknown).
func (m *Main) writeExport(output string, write func(io.Writer) error, records int) error {
	if output == "" || output == "-" {
		return write(m.Stdout)
	}
	file, err := os.Create(output)
	if err != nil {
		return prov.Errorf(prov.Invalid, "cannot create %s: %v", output, err)
	}
	defer file.Close()
	bw := bufio.NewWriter(file)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := file.Close(); err != nil {
		return err
	}
	if records >= 0 {
		fmt.Fprintf(m.Stderr, "%d records written to %s\n", records, output)
	}
	return nil
}

// printMark prints a mark or clear that was appended.
func (m *Main) printMark(action string, mk quarantine.Mark) error {
	if m.JSON {
		return m.printJSON(mk)
	}
	verb := "quarantined"
	if action == quarantine.ActionClear {
		verb = "cleared"
	}
	fmt.Fprintf(m.Stdout, "%s %s (record %d)\n", verb, mk.Node, mk.Index)
	return nil
}

// checkQuarantine checks the node of args or nf, in the database or
// through the server.
func (m *Main) checkQuarantine(ctx context.Context, nf nodeFlags, args []string) (lineage.NodeID, *quarantine.Blocked, error) {
	if m.client != nil {
		node := nf.remote(args)
		var out struct {
			Node        lineage.NodeID   `json:"node"`
			Quarantined bool             `json:"quarantined"`
			Path        []lineage.NodeID `json:"path"`
			Mark        quarantine.Mark  `json:"mark"`
		}
		if err := m.client.QuarantineCheck(ctx, node, &out); err != nil {
			return "", nil, m.remoteErr(err)
		}
		if !out.Quarantined {
			return out.Node, nil, nil
		}
		return out.Node, &quarantine.Blocked{Path: out.Path, Mark: out.Mark}, nil
	}
	store, g, err := m.openGraph(ctx, time.Time{})
	if err != nil {
		return "", nil, err
	}
	defer store.Close()
	st, err := quarantine.Load(ctx, store)
	if err != nil {
		return "", nil, err
	}
	typed := ""
	if len(args) == 1 {
		typed = args[0]
	} else {
		n, err := nf.resolve(g, args)
		if err != nil {
			return "", nil, err
		}
		typed = string(n)
	}
	return st.Check(g, typed)
}
