package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
	"github.com/spf13/cobra"
)

// openCapture opens capture in the database named by --db: PostgreSQL, or
// the SQLite file that holds both the application's tables and the log.
func (m *Main) openCapture(ctx context.Context) (capture.Capturer, prov.Store, error) {
	if isPostgres(m.DB) {
		store, err := postgres.Open(ctx, m.DB, postgres.Options{Schema: m.Schema})
		if err != nil {
			return nil, nil, err
		}
		return capture.NewPostgres(store), store, nil
	}
	store, err := sqlite.Open(ctx, sqlitePath(m.DB), sqlite.Options{})
	if err != nil {
		return nil, nil, err
	}
	return capture.NewSQLite(store), store, nil
}

func (m *Main) captureCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Capture every row change of application tables, in their own transactions",
	}
	var pii []string
	enable := &cobra.Command{
		Use:   "enable TABLE [TABLE…] [--pii COLUMN…]",
		Short: "Install capture on tables",
		Long: `Install capture on the named tables (schema-qualified names accepted): every
INSERT, UPDATE, DELETE and TRUNCATE is recorded in the same transaction, with
the row images and the prov.context attribution. --pii COLUMN (or
TABLE.COLUMN) keeps only salted digests of that column's values. Tables need a
primary key. All or nothing: on any error nothing is installed.

On SQLite (--db FILE), the application's tables are in the same file as the
log; INSERT, UPDATE and DELETE are captured (SQLite has no TRUNCATE), with the
attribution an SDK transaction writes into prov_context. 'prov sequence'
keeps the triggers in line with the tables' columns after ALTER TABLE.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, store, err := m.openCapture(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			tables, err := c.Enable(cmd.Context(), args, pii)
			if err != nil {
				return err
			}
			if m.JSON {
				return m.printJSON(map[string]any{"enabled": tables})
			}
			for _, t := range tables {
				fmt.Fprintf(m.Stdout, "capturing %s (key %s", t.Name, strings.Join(t.PK, ", "))
				if len(t.PII) > 0 {
					fmt.Fprintf(m.Stdout, "; digests only for %s", strings.Join(t.PII, ", "))
				}
				fmt.Fprintln(m.Stdout, ")")
			}
			return nil
		},
	}
	enable.Flags().StringSliceVar(&pii, "pii", nil, "column whose values are stored as salted digests only (repeatable; COLUMN or TABLE.COLUMN)")
	disable := &cobra.Command{
		Use:   "disable TABLE",
		Short: "Remove capture from a table",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, store, err := m.openCapture(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			if err := c.Disable(cmd.Context(), args[0]); err != nil {
				return err
			}
			if m.JSON {
				return m.printJSON(map[string]any{"disabled": args[0]})
			}
			fmt.Fprintf(m.Stdout, "capture disabled on %s (changes captured before stay in the log)\n", args[0])
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List captured tables, their changes, those not yet in the log, and the unattributed share",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if m.client != nil {
				return m.remoteCaptureStatus(cmd.Context())
			}
			c, store, err := m.openCapture(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			return m.printCaptureStatus(st)
		},
	}
	cmd.AddCommand(enable, disable, status)
	return cmd
}

// printCaptureStatus prints capture status's table, or its JSON.
func (m *Main) printCaptureStatus(st capture.Status) error {
	if m.JSON {
		return m.printJSON(st)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tKEY\tCHANGES\tNOT IN LOG\tUNATTRIBUTED\tBYPASSED\tSTATE")
	for _, t := range st.Tables {
		state := "capturing"
		switch {
		case t.Missing:
			state = "table dropped"
		case t.Disabled != "":
			state = "disabled " + t.Disabled
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d (%.1f%%)\t%d\t%s\n", t.Name, strings.Join(t.PK, ","), t.Changes, t.Pending, t.Unattributed, 100*t.Share, t.Bypassed, state)
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d (%.1f%%)\t\t\n", st.Changes, st.Pending, st.Unattributed, 100*st.Share)
	return tw.Flush()
}

func (m *Main) sequenceCommand() *cobra.Command {
	var follow bool
	var batch int
	var idle time.Duration
	cmd := &cobra.Command{
		Use:   "sequence [--follow]",
		Short: "Move captured changes into the log and sign a checkpoint",
		Long: `Move captured changes into the log in batches, each in one transaction with
its checkpoint: a crash loses and duplicates nothing. Without --follow it stops
when the queue is empty; with it, it keeps going until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, store, err := m.openCapture(ctx)
			if err != nil {
				return err
			}
			defer store.Close()
			l, closeLog, err := m.openLogIn(ctx, store, false)
			if err != nil {
				return err
			}
			defer closeLog()
			seq := c.Sequencer(l)
			seq.Batch = batch
			start := time.Now()
			n, err := seq.Run(ctx, follow, idle)
			if err != nil {
				return err
			}
			size, _ := l.Size(ctx)
			if m.JSON {
				return m.printJSON(map[string]any{"sequenced": n, "log_size": size, "seconds": time.Since(start).Seconds()})
			}
			fmt.Fprintf(m.Stdout, "sequenced %d changes into the log (now %d records) in %.2fs\n", n, size, time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep sequencing new changes until interrupted")
	cmd.Flags().IntVar(&batch, "batch", capture.DefaultBatch, "changes per transaction")
	cmd.Flags().DurationVar(&idle, "poll", 100*time.Millisecond, "with --follow: how long to wait when the queue is empty")
	return cmd
}

func (m *Main) runCommand() *cobra.Command {
	var a prov.Activity
	var reason, agent string
	cmd := &cobra.Command{
		Use:   "run --activity ID [--kind K] [--release R] [--code-version SHA] [--reason TEXT] [--agent ID] -- COMMAND [ARGS…]",
		Short: "Run a command with every database change it makes attributed to an activity",
		Long: `Record an activity (start, end, exit status, command, host, code version) and
run COMMAND with the attribution in its environment: PGOPTIONS carries
prov.context, so every change the command makes through PostgreSQL (psql,
migration tools, scripts) is captured as part of the activity, with no change
to the command. PROV_CONTEXT carries it too, for tools that use the Go SDK.
The code version defaults to the current git commit. prov exits with the
command's exit code.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if a.ID == "" {
				return usageError{fmt.Errorf("--activity is required: the id the command's changes are attributed to, such as migration:0042")}
			}
			if a.CodeVersion == "" {
				a.CodeVersion = gitVersion()
			}
			if agent == "" {
				agent = defaultAgent()
			}
			a.Host, _ = os.Hostname()
			a.Command = args
			l, closeLog, err := m.openLog(ctx, false)
			if err != nil {
				return err
			}
			defer closeLog()
			started := time.Now().UTC()
			a.Started, a.Status = &started, "running"
			if err := m.appendActivity(ctx, l, a, agent, reason, started); err != nil {
				return err
			}
			attr := prov.Attribution{Activity: a.ID, Agent: agent}
			c := exec.Command(args[0], args[1:]...)
			c.Stdin, c.Stdout, c.Stderr = m.Stdin, m.Stdout, m.Stderr
			pgopts := strings.TrimSpace(os.Getenv("PGOPTIONS") + " -c " + prov.ContextSetting + "=" + strings.ReplaceAll(attr.Encode(), `\`, `\\`))
			c.Env = append(os.Environ(), "PGOPTIONS="+pgopts, "PROV_CONTEXT="+attr.Encode())
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			runErr := c.Start()
			if runErr == nil {
				done := make(chan struct{})
				go func() {
					for {
						select {
						case s := <-sigs:
							c.Process.Signal(s)
						case <-done:
							return
						}
					}
				}()
				runErr = c.Wait()
				close(done)
			}
			ended := time.Now().UTC()
			code := 0
			var ee *exec.ExitError
			switch {
			case runErr == nil:
				a.Status = "succeeded"
			case errors.As(runErr, &ee):
				code = ee.ExitCode()
				a.Status = "failed"
			default:
				code = 127
				a.Status = "failed"
			}
			a.Ended, a.ExitCode = &ended, &code
			// The end is recorded even if ctx was cancelled by a signal.
			if err := m.appendActivity(context.WithoutCancel(ctx), l, a, agent, reason, ended); err != nil {
				return err
			}
			if runErr != nil && ee == nil {
				return prov.Errorf(prov.Invalid, "cannot run %s: %v (the failed start is recorded in activity %s)", args[0], runErr, a.ID)
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.ID, "activity", "", "activity id, such as migration:0042 (required)")
	f.StringVar(&a.Kind, "kind", "script", "activity kind: migration, release, script, job, request, …")
	f.StringVar(&a.Name, "name", "", "activity name")
	f.StringVar(&a.Release, "release", "", "release the activity belongs to, such as v1.0")
	f.StringVar(&a.CodeVersion, "code-version", "", "code version (default: the current git commit)")
	f.StringVar(&a.Parent, "parent", "", "id of the enclosing activity")
	f.StringVar(&reason, "reason", "", "why the activity runs")
	f.StringVar(&agent, "agent", "", "who runs it (default: user:$USER)")
	return cmd
}

// exitCode makes prov exit with a command's exit code, saying nothing more.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func (m *Main) appendActivity(ctx context.Context, l interface {
	Append(context.Context, [][]byte) (int64, error)
}, a prov.Activity, agent, reason string, at time.Time) error {
	rec := prov.Record{Type: prov.TypeActivity, Time: at, Activity: &a, Agent: &prov.Agent{ID: agent}, Reason: reason}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := l.Append(ctx, [][]byte{b}); err != nil {
		return fmt.Errorf("record activity %s: %w", a.ID, err)
	}
	return nil
}

// gitVersion returns the commit checked out in the current directory, with
// "-dirty" if the work tree has changes, or "" outside a git checkout.
func gitVersion() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		v += "-dirty"
	}
	return v
}

func defaultAgent() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "user:" + u.Username
	}
	return "user:unknown"
}
