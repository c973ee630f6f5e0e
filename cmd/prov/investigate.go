package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/investigate"
	"github.com/prov-dev/prov/tlog"
	"github.com/spf13/cobra"
)

// openInvestigator opens the database named by --db for investigation, and
// its log if withLog (for repairs, which record their activity).
func (m *Main) openInvestigator(ctx context.Context, withLog bool) (*investigate.Investigator, *tlog.Log, func(), error) {
	c, store, err := m.openCapture(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	iv, err := investigate.New(c)
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	var l *tlog.Log
	if withLog {
		if l, _, err = m.openLogIn(ctx, store, false); err != nil {
			store.Close()
			return nil, nil, nil, err
		}
	}
	return iv, l, func() { store.Close() }, nil
}

// parseTime reads a time flag (see investigate.ParseTime).
func parseTime(flag, s string) (time.Time, error) {
	t, err := investigate.ParseTime(s)
	if err != nil {
		return t, usageError{fmt.Errorf("--%s %q is not a time: give RFC 3339 (2026-01-02T03:04:05Z), a date (2026-01-02), or an age (36h, 7d)", flag, s)}
	}
	return t, nil
}

// filterFlags are the find filters, shared by find and fix.
type filterFlags struct {
	f            investigate.Filter
	since, until string
}

func (ff *filterFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&ff.f.Table, "table", "", "the table to search (required; schema.table or table)")
	fl.StringVar(&ff.f.Column, "column", "", "only changes that wrote this column")
	fl.StringVar(&ff.f.Activity, "activity", "", "only changes of this activity")
	fl.StringVar(&ff.f.Release, "release", "", "only changes of activities of this release (their own or their parent's)")
	fl.StringVar(&ff.f.Kind, "kind", "", "only changes of activities of this kind (migration, release, request, job, script, fix, revert, …)")
	fl.StringVar(&ff.f.Agent, "agent", "", "only changes by this agent")
	fl.StringVar(&ff.since, "since", "", "only changes at or after this time (RFC 3339, a date, or an age such as 36h or 7d)")
	fl.StringVar(&ff.until, "until", "", "only changes before this time")
	fl.BoolVar(&ff.f.Current, "current", false, "only rows that exist now and whose current value (of --column, else whole row) a matching change wrote")
	fl.StringSliceVar(&ff.f.NotActivity, "not-activity", nil, "drop rows this activity touched after the match (repeatable)")
	fl.StringSliceVar(&ff.f.NotRelease, "not-release", nil, "drop rows this release's activities touched after the match (repeatable)")
}

func (ff *filterFlags) filter() (investigate.Filter, error) {
	f := ff.f
	var err error
	if f.Since, err = parseTime("since", ff.since); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", ff.until); err != nil {
		return f, err
	}
	if f.Table == "" {
		return f, usageError{fmt.Errorf("--table is required: say which table's rows to select")}
	}
	return f, nil
}

func (m *Main) findCommand() *cobra.Command {
	var ff filterFlags
	var format string
	var count, explain bool
	cmd := &cobra.Command{
		Use:   "find --table T [filters] [--count] [--format table|json|csv|ids] [--explain]",
		Short: "Select rows by who, what and when wrote them: the poisoned set",
		Long: `Select the rows of a captured table by the changes that wrote them: their
activity, release, kind, agent, time, and the column they wrote. Every
committed change counts, whether or not 'prov sequence' has moved it into
the log yet.

  --current --column C   rows whose current value of C a matching change wrote
                         (not rewritten since)
  --current              rows whose latest change matches
  --not-release R        drop rows that R's activities touched after the match
                         (with --column, only where they wrote it or deleted the row)

The poisoned set of a bad release whose revert missed some rows:

  prov find --table users --column photo_url --release v1.0 --current

Output: a table (default), JSON Lines (--format json or --json), CSV, or one
primary key per line (--format ids: the value for a one-column key, a JSON
object otherwise), streamed. --count prints the number only. --explain
prints the SQL it runs to stderr. A filter that selects nothing prints
nothing (or 0) and exits 0; a name that does not exist (table, column,
activity, release, kind) is an error, exit 1, with the closest names.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := ff.filter()
			if err != nil {
				return err
			}
			if m.JSON && !cmd.Flags().Changed("format") {
				format = "json"
			}
			switch format {
			case "table", "json", "csv", "ids":
			default:
				return usageError{fmt.Errorf("--format %q: choose table, json, csv or ids", format)}
			}
			if m.client != nil {
				return m.remoteFind(ctx, &ff, format, count, explain)
			}
			iv, _, done, err := m.openInvestigator(ctx, false)
			if err != nil {
				return err
			}
			defer done()
			if explain {
				q, err := iv.Explain(ctx, f)
				if err != nil {
					return err
				}
				fmt.Fprint(m.Stderr, q)
			}
			if count {
				n, err := iv.Count(ctx, f)
				if err != nil {
					return err
				}
				if m.JSON {
					return m.printJSON(map[string]int64{"count": n})
				}
				fmt.Fprintln(m.Stdout, n)
				return nil
			}
			return m.printMatches(format, func(fn func(investigate.Match) error) error { return iv.Find(ctx, f, fn) })
		},
	}
	ff.add(cmd)
	cmd.Flags().BoolVar(&count, "count", false, "print the number of rows only")
	cmd.Flags().StringVar(&format, "format", "table", "table, json (JSON Lines), csv or ids")
	cmd.Flags().BoolVar(&explain, "explain", false, "print the SQL query to stderr")
	return cmd
}

// printMatches prints the matches find calls its argument with.
func (m *Main) printMatches(format string, find func(func(investigate.Match) error) error) error {
	var emit func(investigate.Match) error
	var flush func() error
	// Rows are written as they are read, through a buffer: one write per
	// 64 KiB rather than per row (a poisoned set may be 100,000 rows).
	stdout := bufio.NewWriterSize(m.Stdout, 64<<10)
	defer stdout.Flush()
	index := func(x investigate.Match) string {
		if x.Index < 0 {
			return "pending"
		}
		return strconv.FormatInt(x.Index, 10)
	}
	n := 0
	switch format {
	case "ids":
		emit = func(x investigate.Match) error {
			_, err := fmt.Fprintln(stdout, investigate.KeyValue(x.PK))
			return err
		}
	case "json":
		enc := json.NewEncoder(stdout)
		emit = func(x investigate.Match) error { return enc.Encode(x) }
	case "csv":
		w := csv.NewWriter(stdout)
		w.Write([]string{"pk", "index", "op", "activity", "agent", "time"})
		emit = func(x investigate.Match) error {
			return w.Write([]string{x.PK, index(x), x.Op, x.Activity, x.Agent, x.Time.Format(time.RFC3339Nano)})
		}
		flush = func() error { w.Flush(); return w.Error() }
	default:
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		emit = func(x investigate.Match) error {
			if n == 0 {
				fmt.Fprintln(tw, "KEY\tINDEX\tOP\tACTIVITY\tAGENT\tTIME")
			}
			act := x.Activity
			if act == "" {
				act = "(unattributed)"
			}
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", investigate.KeyValue(x.PK), index(x), x.Op, act, x.Agent, x.Time.Format(time.RFC3339))
			if n%1000 == 999 {
				tw.Flush()
			}
			return err
		}
		flush = func() error {
			if n == 0 {
				fmt.Fprintln(m.Stderr, "no rows match")
			} else {
				fmt.Fprintf(tw, "(%d rows)\n", n)
			}
			return tw.Flush()
		}
	}
	err := find(func(x investigate.Match) error {
		err := emit(x)
		n++
		return err
	})
	if flush != nil {
		if ferr := flush(); err == nil {
			err = ferr
		}
	}
	if ferr := stdout.Flush(); err == nil {
		err = ferr
	}
	return err
}

// activityLine describes a change's activity in one line.
func activityLine(c *investigate.Change) string {
	if c.Activity == nil {
		who := c.Agent
		if c.DBUser != "" {
			who = "db user " + c.DBUser
			if c.App != "" {
				who += " via " + c.App
			}
		}
		if who == "" {
			return "(unattributed)"
		}
		return "(unattributed: " + who + ")"
	}
	a := c.Activity
	s := a.ID
	var parts []string
	for _, p := range [][2]string{{"", a.Kind}, {"release ", a.Release}, {"code ", a.CodeVersion}, {"", a.Name}} {
		if p[1] != "" && p[1] != a.ID {
			parts = append(parts, p[0]+p[1])
		}
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	if a.Reason != "" {
		s += " — " + a.Reason
	}
	return s
}

func changeIndex(c *investigate.Change) string {
	if c.Index < 0 {
		return fmt.Sprintf("pending #%d", c.Change)
	}
	return strconv.FormatInt(c.Index, 10)
}

func (m *Main) blameCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "blame TABLE PK",
		Short: "For each column of a row, the change that last wrote it: activity, release, agent, time, why",
		Long: `Like git blame, per column of one row: its current value and the change that
last wrote it (log index, time, operation, activity with its kind, release,
code version and reason, and agent). PK is the key value for a one-column
key, or a JSON object for a composite key ('{"org":1,"id":42}').`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var b *investigate.Blame
			if m.client != nil {
				b = new(investigate.Blame)
				if err := m.client.Blame(ctx, args[0], args[1], b); err != nil {
					return m.remoteErr(err)
				}
			} else {
				iv, _, done, err := m.openInvestigator(ctx, false)
				if err != nil {
					return err
				}
				defer done()
				if b, err = iv.Blame(ctx, args[0], args[1]); err != nil {
					return err
				}
			}
			if m.JSON {
				return m.printJSON(b)
			}
			if b.Deleted != nil {
				fmt.Fprintf(m.Stdout, "%s %s was deleted by change %s at %s: %s, agent %s\n", b.Table, b.PK, changeIndex(b.Deleted), b.Deleted.Time.Format(time.RFC3339), activityLine(b.Deleted), b.Deleted.Agent)
				return nil
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COLUMN\tVALUE\tINDEX\tTIME\tOP\tAGENT\tACTIVITY")
			for _, c := range b.Cells {
				v := string(c.Value)
				if len(v) > 40 {
					v = v[:37] + "…"
				}
				if c.Change == nil {
					fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t(as found when capture was enabled)\n", c.Column, v)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Column, v, changeIndex(c.Change), c.Change.Time.Format(time.RFC3339), c.Change.Op, c.Change.Agent, activityLine(c.Change))
			}
			return tw.Flush()
		},
	}
}

func (m *Main) historyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "history TABLE PK",
		Short: "Every change of a row, oldest first, with the values before and after",
		Long: `Every captured change of one row, oldest first — including changes not yet
in the log — with its activity and agent and the before and after values of
the columns it wrote (salted digests for PII columns). PK as for blame.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var pk string
			var h []*investigate.Change
			if m.client != nil {
				var out struct {
					PK      string                `json:"pk"`
					Changes []*investigate.Change `json:"changes"`
				}
				if err := m.client.History(ctx, args[0], args[1], &out); err != nil {
					return m.remoteErr(err)
				}
				pk, h = out.PK, out.Changes
			} else {
				iv, _, done, err := m.openInvestigator(ctx, false)
				if err != nil {
					return err
				}
				defer done()
				if pk, h, err = iv.History(ctx, args[0], args[1]); err != nil {
					return err
				}
			}
			if m.JSON {
				return m.printJSON(map[string]any{"table": args[0], "pk": pk, "changes": h})
			}
			for _, c := range h {
				fmt.Fprintf(m.Stdout, "%s  %s  %s by %s: %s\n", changeIndex(c), c.Time.Format(time.RFC3339Nano), c.Op, orDash(c.Agent), activityLine(c))
				switch c.Op {
				case prov.OpInsert:
					fmt.Fprintf(m.Stdout, "    + %s\n", compact(c.After))
				case prov.OpDelete, prov.OpTruncate:
					fmt.Fprintf(m.Stdout, "    - %s\n", compact(c.Before))
				default:
					if len(c.Columns) == 0 {
						fmt.Fprintln(m.Stdout, "    (no value changed)")
					}
					for _, col := range c.Columns {
						fmt.Fprintf(m.Stdout, "    %s: %s → %s\n", col, string(c.Before[col]), string(c.After[col]))
					}
				}
			}
			return nil
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func compact(v map[string]json.RawMessage) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (m *Main) activitiesCommand() *cobra.Command {
	var since, kind string
	cmd := &cobra.Command{
		Use:   "activities [--since T] [--kind K]",
		Short: "Releases, migrations, jobs, requests, fixes: their span, agent and the rows they changed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := parseTime("since", since)
			if err != nil {
				return err
			}
			var acts []*investigate.Activity
			if m.client != nil {
				var out struct {
					Activities []*investigate.Activity `json:"activities"`
				}
				if err := m.client.Activities(ctx, since, kind, &out); err != nil {
					return m.remoteErr(err)
				}
				acts = out.Activities
			} else {
				iv, _, done, err := m.openInvestigator(ctx, false)
				if err != nil {
					return err
				}
				defer done()
				if acts, err = iv.Activities(ctx, investigate.ActivityFilter{Since: t, Kind: kind}); err != nil {
					return err
				}
			}
			if m.JSON {
				return m.printJSON(map[string]any{"activities": acts})
			}
			if len(acts) == 0 {
				fmt.Fprintln(m.Stderr, "no activities")
				return nil
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACTIVITY\tKIND\tRELEASE\tAGENT\tFROM\tTO\tROWS CHANGED\tREASON")
			for _, a := range acts {
				from, to := span(a)
				var rows []string
				for _, r := range a.Rows {
					rows = append(rows, fmt.Sprintf("%s %s %d", r.Table, r.Op, r.Rows))
				}
				reason := a.Reason
				if len(a.InformedBy) > 0 {
					reason = strings.TrimSpace(reason + " (about " + strings.Join(a.InformedBy, ", ") + ")")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, orDash(a.Kind), orDash(a.Release), orDash(a.Agent), from, to, orDash(strings.Join(rows, "; ")), reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only activities active at or after this time (RFC 3339, a date, or an age such as 7d)")
	cmd.Flags().StringVar(&kind, "kind", "", "only activities of this kind")
	return cmd
}

// span is when an activity ran: its recorded start and end, else its
// changes' first and last.
func span(a *investigate.Activity) (string, string) {
	f := func(ts ...*time.Time) string {
		for _, t := range ts {
			if t != nil {
				return t.Format(time.RFC3339)
			}
		}
		return "-"
	}
	return f(a.Started, a.First), f(a.Ended, a.Last)
}

func (m *Main) fixCommand() *cobra.Command {
	var ff filterFlags
	var sets []string
	var reason, activity, agent string
	var apply bool
	cmd := &cobra.Command{
		Use:   "fix --table T [find filters] --set \"COLUMN = SQL-EXPRESSION\" --reason TEXT [--id ID] [--apply]",
		Short: "Apply an SQL expression to exactly the rows find selects, recorded as a fix",
		Long: `Fix exactly the rows that 'prov find' selects with the same filters, by
setting columns to SQL expressions evaluated on each row, such as

  prov fix --table users --column photo_url --release v1.0 --current \
      --set "photo_url = replace(photo_url, '.jpg', '.png')" --reason APP-1250 --apply

Without --apply it prints the plan: how many rows, and some before and after,
computed by the database (the statements run and are rolled back, so an
expression that fails is reported). With --apply it runs in one transaction,
attributed to a fix activity whose record names what it fixes; the changed
rows are captured like any other change. Rows that already hold the
expressions' values are left alone: a second run changes nothing.

The filters are find's, --activity included, so that a find command line
becomes a fix by adding --set and --reason; the fix's own activity id is
--id (default fix:<time>).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := ff.filter()
			if err != nil {
				return err
			}
			o := investigate.FixOptions{Filter: f, Reason: reason, Activity: activity, Agent: agent, Apply: apply}
			if len(sets) == 0 {
				return usageError{fmt.Errorf("--set \"COLUMN = SQL-EXPRESSION\" is required: say what to write")}
			}
			for _, s := range sets {
				a, err := investigate.ParseAssignment(s)
				if err != nil {
					return err
				}
				o.Set = append(o.Set, a)
			}
			if err := noBy(cmd, m); err != nil {
				return err
			}
			if m.client != nil {
				return m.remoteFix(ctx, &ff, sets, reason, activity, apply)
			}
			if o.Agent == "" {
				o.Agent = defaultAgent()
			}
			iv, l, done, err := m.openInvestigator(ctx, true)
			if err != nil {
				return err
			}
			defer done()
			rep, err := iv.Fix(ctx, l, o)
			if err != nil {
				return err
			}
			return m.printRepair("fix", rep)
		},
	}
	ff.add(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&sets, "set", nil, `"COLUMN = SQL-EXPRESSION" to write (repeatable)`)
	fl.StringVar(&reason, "reason", "", "why (required; recorded)")
	fl.StringVar(&activity, "id", "", "the fix's own activity id (default fix:<time>); --activity is the filter, as in find")
	fl.StringVar(&agent, "by", "", "who fixes: the fix's agent (default user:$USER); --agent is the filter, as in find")
	fl.BoolVar(&apply, "apply", false, "apply the fix (default: print the plan only)")
	return cmd
}

func (m *Main) revertCommand() *cobra.Command {
	var o investigate.RevertOptions
	cmd := &cobra.Command{
		Use:   "revert --activity ID [--table T] [--column C] --reason TEXT [--apply] [--force]",
		Short: "Restore what an activity changed: old values back, its inserts deleted, its deletes re-inserted",
		Long: `Undo an activity's changes from their before-images: an updated row gets back
the values it had before of the columns the activity wrote, a row it inserted
is deleted, a row it deleted is inserted again. Rows that others changed
after the activity are conflicts: listed and left alone unless --force.
--table and --column narrow the revert (a one-column revert only restores
updates). PII columns cannot be restored (only their digests are kept).

Without --apply it prints the plan. With --apply it runs in one transaction,
attributed to a revert activity whose record names ID; the restored rows are
captured like any other change. A second run changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if o.Activity == "" {
				return usageError{fmt.Errorf("--activity is required: say which activity to revert")}
			}
			if err := noBy(cmd, m); err != nil {
				return err
			}
			if m.client != nil {
				return m.remoteRevert(ctx, o)
			}
			if o.Agent == "" {
				o.Agent = defaultAgent()
			}
			iv, l, done, err := m.openInvestigator(ctx, true)
			if err != nil {
				return err
			}
			defer done()
			rep, err := iv.Revert(ctx, l, o)
			if err != nil {
				return err
			}
			return m.printRepair("revert", rep)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Activity, "activity", "", "the activity to revert (required)")
	fl.StringVar(&o.Table, "table", "", "only this table")
	fl.StringVar(&o.Column, "column", "", "only this column (with --table)")
	fl.StringVar(&o.Reason, "reason", "", "why (required; recorded)")
	fl.StringVar(&o.ID, "id", "", "the revert's own activity id (default revert:<activity>@<time>)")
	fl.StringVar(&o.Agent, "by", "", "who reverts: the revert's agent (default user:$USER)")
	fl.BoolVar(&o.Force, "force", false, "also restore rows changed again after the activity")
	fl.BoolVar(&o.Apply, "apply", false, "apply the revert (default: print the plan only)")
	return cmd
}

func (m *Main) printRepair(what string, r *investigate.Repair) error {
	if m.JSON {
		return m.printJSON(r)
	}
	out := m.Stdout
	if r.Selected == 0 {
		fmt.Fprintf(out, "no rows to %s: the filters select nothing\n", what)
		return nil
	}
	verb := map[bool]string{false: "would change", true: "changed"}[r.Applied]
	fmt.Fprintf(out, "%s: %d rows selected; %s %d", what, r.Selected, verb, r.Changed)
	if r.Unchanged > 0 {
		fmt.Fprintf(out, "; %d already as the %s would leave them", r.Unchanged, what)
	}
	if len(r.Conflicts) > 0 {
		fmt.Fprintf(out, "; %d conflicts left alone", len(r.Conflicts))
	}
	if r.Forced > 0 {
		fmt.Fprintf(out, "; %d conflicting rows forced", r.Forced)
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(out, "; %d cannot be restored", len(r.Skipped))
	}
	fmt.Fprintln(out)
	for _, s := range r.Samples {
		switch s.Op {
		case prov.OpDelete:
			fmt.Fprintf(out, "  %s %s: delete %s\n", s.Table, s.PK, compact(s.Before))
		case prov.OpInsert:
			fmt.Fprintf(out, "  %s %s: insert %s\n", s.Table, s.PK, compact(s.After))
		default:
			var parts []string
			for col, v := range s.After {
				parts = append(parts, fmt.Sprintf("%s: %s → %s", col, s.Before[col], v))
			}
			fmt.Fprintf(out, "  %s %s: %s\n", s.Table, s.PK, strings.Join(parts, ", "))
		}
	}
	if r.Changed > len(r.Samples) && len(r.Samples) > 0 {
		fmt.Fprintf(out, "  … and %d more\n", r.Changed-len(r.Samples))
	}
	for i, c := range r.Conflicts {
		if i == 20 {
			fmt.Fprintf(out, "  … and %d more conflicts (--json lists all)\n", len(r.Conflicts)-20)
			break
		}
		at := ""
		if c.Change > 0 {
			at = fmt.Sprintf(" (log index %d)", c.Change)
		}
		fmt.Fprintf(out, "  conflict %s %s: %s%s\n", c.Table, c.PK, c.Reason, at)
	}
	for i, c := range r.Skipped {
		if i == 20 {
			fmt.Fprintf(out, "  … and %d more that cannot be restored (--json lists all)\n", len(r.Skipped)-20)
			break
		}
		fmt.Fprintf(out, "  cannot restore %s %s: %s\n", c.Table, c.PK, c.Reason)
	}
	switch {
	case r.Applied && r.Changed > 0:
		fmt.Fprintf(out, "applied in one transaction as activity %s (record at log index %d)\n", r.Activity, r.Index)
	case r.Applied:
		fmt.Fprintln(out, "nothing to change")
	case r.Changed > 0:
		fmt.Fprintln(out, "nothing changed: run again with --apply to apply")
	}
	return nil
}
