package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/tlog"
	"github.com/spf13/cobra"
)

func (m *Main) ingestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Ingest events of other formats into the log",
	}
	var noCheckpoint bool
	ol := &cobra.Command{
		Use:   "openlineage [FILE|-]",
		Short: "Ingest OpenLineage events (JSON Lines, a JSON array, or one event)",
		Long: `Ingest OpenLineage events (RunEvent, DatasetEvent, JobEvent; spec 1-0-0 to
2-0-2) from FILE or standard input: one event, a JSON array of events, or JSON
Lines. Each event becomes one record of type lineage that keeps the event byte
for byte and maps it to PROV (run → activity, producer → agent, job → plan,
inputs → used and outputs → generated dataset versions, columnLineage →
column-level derivations), indexed for lineage queries and diff-runs.

The input is ingested atomically: if any event is refused, nothing is
appended and the error names its line and field. An event already in the log
(the same bytes) is not appended again. Prints the counts, then signs a
checkpoint if the key is at hand.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			in, name := m.Stdin, "standard input"
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return prov.Errorf(prov.NotFound, "cannot read %s: %v", args[0], err)
				}
				defer f.Close()
				in, name = f, args[0]
			}
			body, err := io.ReadAll(in)
			if err != nil {
				return prov.Errorf(prov.Unavailable, "reading %s: %v", name, err)
			}
			events, lines, err := openlineage.SplitEvents(body)
			if err != nil {
				return err
			}
			var l *tlog.Log // nil through a server, which signs checkpoints itself
			var res []openlineage.Result
			if m.client != nil {
				if res, err = m.remoteIngestLineage(ctx, events, lines); err != nil {
					return err
				}
			} else {
				var closeLog func()
				if l, closeLog, err = m.openLog(ctx, false); err != nil {
					return err
				}
				defer closeLog()
				res, err = openlineage.Ingest(ctx, l, events)
				if err != nil {
					var re *tlog.RecordError
					if errors.As(err, &re) {
						return prov.Errorf(prov.KindOf(re.Err), "line %d: %v (nothing was ingested)", lines[re.N], re.Err)
					}
					return err
				}
			}
			fresh, kinds, tolerated, cycles := 0, map[openlineage.Kind]int{}, 0, 0
			for _, r := range res {
				if !r.Duplicate {
					fresh++
				}
				kinds[r.Kind]++
				tolerated += len(r.Tolerated)
				cycles += len(r.Cycles)
			}
			if m.JSON {
				type line struct {
					Line int `json:"line"`
					openlineage.Result
				}
				out := make([]line, len(res))
				for i, r := range res {
					out[i] = line{lines[i], r}
				}
				if err := m.printJSON(map[string]any{"events": len(res), "appended": fresh, "duplicates": len(res) - fresh, "results": out}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(m.Stdout, "ingested %d OpenLineage events: %d appended, %d already in the log (%d run, %d dataset, %d job events)\n",
					len(res), fresh, len(res)-fresh, kinds[openlineage.RunEvent], kinds[openlineage.DatasetEvent], kinds[openlineage.JobEvent])
				if tolerated > 0 {
					fmt.Fprintf(m.Stdout, "tolerated %d deviations from the specification (see --json)\n", tolerated)
				}
				for i, r := range res {
					for _, c := range r.Cycles {
						fmt.Fprintf(m.Stdout, "line %d: cycle: %s is both an input and an output (stored as sent)\n", lines[i], c)
					}
				}
			}
			if noCheckpoint || fresh == 0 || l == nil {
				return nil
			}
			if _, _, err := l.Checkpoint(ctx); err != nil {
				if prov.IsKind(err, prov.Unauthorized) {
					fmt.Fprintf(m.Stderr, "prov: ingested; no checkpoint signed: %v\n", err)
					return nil
				}
				return fmt.Errorf("ingested, but signing a checkpoint failed: %w", err)
			}
			return nil
		},
	}
	ol.Flags().BoolVar(&noCheckpoint, "no-checkpoint", false, "do not sign a checkpoint after ingesting")
	cmd.AddCommand(ol)
	return cmd
}

func (m *Main) diffRunsCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "diff-runs RUN_A RUN_B",
		Short: "Compare two pipeline runs side by side",
		Long: `Compare two OpenLineage runs (by run id) side by side: job, state, duration,
code version, parameters (run facets), job facets, inputs and outputs
(dataset versions, row counts, sizes, schemas, locations, facets), column
lineage and the shape of the graph (parent, children, counts). Only what
differs is shown unless --all; --json gives both runs and every aspect.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			load := m.remoteLineageRun
			if m.client == nil {
				l, closeLog, err := m.openLog(ctx, false)
				if err != nil {
					return err
				}
				defer closeLog()
				load = func(ctx context.Context, id string) (*openlineage.RunInfo, error) {
					return openlineage.LoadRun(ctx, l, id)
				}
			}
			a, err := load(ctx, args[0])
			if err != nil {
				return err
			}
			b, err := load(ctx, args[1])
			if err != nil {
				return err
			}
			d := openlineage.DiffRuns(a, b)
			if m.JSON {
				return m.printJSON(d)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "\tA\tB\n")
			fmt.Fprintf(tw, "run\t%s\t%s\n", a.ID, b.ID)
			fmt.Fprintf(tw, "started\t%s\t%s\n", timeText(a.Started), timeText(b.Started))
			same := 0
			for _, x := range d.Differences {
				if x.Equal && !all {
					same++
					continue
				}
				mark := "≠ "
				if x.Equal {
					mark = "  "
				}
				fmt.Fprintf(tw, "%s%s\t%s\t%s\n", mark, x.What, cell(x.A), cell(x.B))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if !all {
				fmt.Fprintf(m.Stdout, "(%d aspects equal, not shown: --all shows them)\n", same)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "show the aspects that are equal too")
	return cmd
}

func timeText(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// cell shortens a value for a table cell.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	s = strings.ReplaceAll(s, "\t", " ")
	if len(s) > 70 {
		return s[:69] + "…"
	}
	return s
}
