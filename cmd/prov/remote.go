package main

// Client mode: with --server (or PROV_SERVER), the commands that have an
// endpoint in the HTTP API talk to a prov serve instead of opening the
// database, with the same flags and the same output. Checkpoints and proofs
// are checked here against the log's verifier key, so that an auditor need
// not trust the server.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/client"
	"github.com/prov-dev/prov/investigate"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/tlog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// clientCommands are the commands that work through a server.
var clientCommands = map[string]bool{
	"prov append": true, "prov get": true, "prov log": true, "prov checkpoint": true, "prov key": true,
	"prov proof inclusion": true, "prov proof consistency": true, "prov verify": true,
	"prov capture status": true, "prov blame": true, "prov history": true, "prov activities": true,
	"prov find": true, "prov fix": true, "prov revert": true,
	"prov ingest openlineage": true, "prov diff-runs": true,
	"prov lineage": true, "prov impact": true, "prov export": true,
	"prov quarantine mark": true, "prov quarantine check": true, "prov quarantine clear": true, "prov quarantine list": true,
	"prov sign": true, // needs neither a database nor a server
}

func (m *Main) clientFlags(f *pflag.FlagSet) {
	f.StringVar(&m.Server, "server", "", "work through a prov serve at this URL (https://host:port) instead of a database (env PROV_SERVER)")
	f.StringVar(&m.Token, "token", "", "bearer token for --server (env PROV_TOKEN; --token-file keeps it off the command line, where other users can see it)")
	f.StringVar(&m.TokenFile, "token-file", "", "file holding the bearer token for --server")
	f.StringVar(&m.LogKey, "log-key", "", "with --server: the log's verifier key, or a file holding it, to check checkpoints and proofs (env PROV_LOG_KEY; default: the key the server states, trusted on first use)")
	f.BoolVar(&m.Insecure, "insecure", false, "with --server: allow plain http:// to a host that is not this machine")
}

// setupClient chooses between direct and client mode, and in client mode
// builds the client. A flag beats the environment; --server with --db, or
// PROV_SERVER with PROV_DB and neither flag, is ambiguous.
func (m *Main) setupClient(cmd *cobra.Command) error {
	fl := cmd.Flags()
	server := m.Server
	switch {
	case server != "" && fl.Changed("db"):
		return usageError{fmt.Errorf("--server and --db both given: drop --db to work through the server, or --server to open the database directly")}
	case server == "" && !fl.Changed("db"):
		server = m.Getenv("PROV_SERVER")
		if server != "" && m.Getenv("PROV_DB") != "" {
			return usageError{fmt.Errorf("PROV_SERVER and PROV_DB are both set: unset one, or choose with --server or --db")}
		}
	}
	path := cmd.CommandPath()
	if strings.HasPrefix(path, "prov help") || strings.HasPrefix(path, "prov completion") {
		return nil
	}
	if server == "" {
		for _, f := range []string{"token", "token-file", "log-key"} {
			if fl.Changed(f) {
				return usageError{fmt.Errorf("--%s is for --server: a database opened directly needs none", f)}
			}
		}
		return nil
	}
	if !clientCommands[path] {
		return usageError{fmt.Errorf("'%s' works on the database itself: it needs --db, not --server (PROV_SERVER)", path)}
	}
	if fl.Changed("schema") {
		return usageError{fmt.Errorf("--schema is for --db: the server knows its schema")}
	}
	token := m.Token
	switch {
	case token != "" && m.TokenFile != "":
		return usageError{fmt.Errorf("--token and --token-file both given: keep one")}
	case m.TokenFile != "":
		fi, err := os.Stat(m.TokenFile)
		if err != nil {
			return prov.Errorf(prov.NotFound, "cannot read the token file: %v", err)
		}
		b, err := os.ReadFile(m.TokenFile)
		if err != nil {
			return prov.Errorf(prov.NotFound, "cannot read the token file: %v", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(m.Stderr, "prov: warning: the token file %s is readable by others (mode %04o): run 'chmod 600 %s'\n", m.TokenFile, fi.Mode().Perm(), m.TokenFile)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return prov.Errorf(prov.Invalid, "the token file %s is empty", m.TokenFile)
		}
	case token == "":
		token = strings.TrimSpace(m.Getenv("PROV_TOKEN"))
	}
	var opts []client.Option
	if m.Insecure {
		opts = append(opts, client.Insecure())
	}
	c, err := client.New(server, token, nil, opts...)
	if err != nil {
		return usageError{err}
	}
	m.client, m.Server, m.Token = c, server, token
	if m.LogKey == "" {
		m.LogKey = m.Getenv("PROV_LOG_KEY")
	}
	if m.LogKey == "" && fl.Changed("key") {
		m.LogKey = m.Key // the key file at hand: its verifier key
	}
	return nil
}

// remoteErr makes a server's error say what to do on this side.
func (m *Main) remoteErr(err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return err
	}
	switch {
	case ce.Status == 401 && m.Token == "":
		return prov.Errorf(prov.Unauthorized, "the server %s needs a token: give --token-file FILE or set PROV_TOKEN (its operator creates one with 'prov token create --name N --scope …')", m.client.URL())
	case ce.Status == 401:
		return prov.Errorf(prov.Unauthorized, "the server %s refused the token: %s", m.client.URL(), ce.Detail)
	case ce.Status == 403:
		return prov.Errorf(prov.Unauthorized, "the server %s refused: %s", m.client.URL(), ce.Detail)
	}
	return err
}

// logVerifier returns the verifier of the log's checkpoints: the key the
// user gave (--log-key, PROV_LOG_KEY, --key), else the server's, trusted on
// first use with a warning. source says which.
func (m *Main) logVerifier(ctx context.Context) (note.Verifier, string, error) {
	if m.LogKey != "" {
		vkey, err := verifierKeyOf(m.LogKey)
		if err != nil {
			return nil, "", err
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, "", usageError{fmt.Errorf("the log key is not a signed-note verifier key: %v", err)}
		}
		return v, "the log key you gave", nil
	}
	v, k, err := m.client.ServerKey(ctx)
	if err != nil {
		return nil, "", m.remoteErr(err)
	}
	file := m.knownLogsFile()
	pinned, err := knownKey(file, k.Origin)
	if err != nil {
		return nil, "", err
	}
	switch {
	case pinned == k.VerifierKey:
		return v, "the key trusted on first use (" + file + ")", nil
	case pinned != "":
		return nil, "", prov.Errorf(prov.Tampered, "the server states the key %s for the log %s, but the key trusted on first use is %s (%s): if the log's operator really changed its key, remove that line; else the server is not the log you knew", k.VerifierKey, k.Origin, pinned, file)
	}
	saved := ""
	if file != "" {
		if err := pinKey(file, k.Origin, k.VerifierKey); err != nil {
			fmt.Fprintf(m.Stderr, "prov: warning: cannot remember the log's key in %s: %v\n", file, err)
		} else {
			saved = "; remembered in " + file + ", later answers must match it"
		}
	}
	fmt.Fprintf(m.Stderr, "prov: warning: checking with the key the server states (%s), trusted on first use%s. Pass the key the log's operator published (--log-key or PROV_LOG_KEY) so that the server cannot choose it\n", k.VerifierKey, saved)
	return v, "the server's key (trusted on first use)", nil
}

// knownLogsFile is where keys trusted on first use are kept: PROV_KNOWN_LOGS,
// else prov/known_logs in the user's configuration directory; "" if none.
func (m *Main) knownLogsFile() string {
	if f := m.Getenv("PROV_KNOWN_LOGS"); f != "" {
		return f
	}
	if d := m.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "prov", "known_logs")
	}
	if d := m.Getenv("HOME"); d != "" {
		return filepath.Join(d, ".config", "prov", "known_logs")
	}
	return ""
}

// knownKey returns the key trusted for origin in file ("origin key" lines),
// or "" if none.
func knownKey(file, origin string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", prov.Errorf(prov.Unavailable, "cannot read the keys trusted on first use: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if o, k, ok := strings.Cut(strings.TrimSpace(line), " "); ok && o == origin {
			return strings.TrimSpace(k), nil
		}
	}
	return "", nil
}

// pinKey adds "origin key" to file.
func pinKey(file, origin, vkey string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s %s\n", origin, vkey); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// verifierKeyOf reads a verifier key given as text, or as a file holding a
// verifier key or the log's private key.
func verifierKeyOf(s string) (string, error) {
	if _, err := note.NewVerifier(s); err == nil {
		return s, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", usageError{fmt.Errorf("the log key %q is neither a verifier key (name+hash+key) nor a readable file: %v", s, err)}
	}
	k := strings.TrimSpace(string(b))
	if strings.HasPrefix(k, "PRIVATE+KEY+") {
		return tlog.VerifierKey(k)
	}
	return k, nil
}

func (m *Main) remoteAppend(ctx context.Context, in io.Reader, batch int) error {
	// Each line is checked here as the server would (but for signatures), so
	// that a bad line is named before anything is sent.
	return m.appendLines(in, batch, checkRecord, func(raw [][]byte) ([]tlog.Appended, error) {
		res, err := m.client.Append(ctx, raw)
		if err == nil {
			return res, nil
		}
		var ce *client.Error
		if errors.As(err, &ce) && ce.Line > 0 && ce.Line <= len(raw) {
			return nil, &tlog.RecordError{N: ce.Line - 1, Err: errors.New(recordPrefix.ReplaceAllString(ce.Detail, ""))}
		}
		if errors.As(err, &ce) && (ce.Status == 413 || strings.Contains(ce.Detail, "several requests")) {
			return nil, prov.Errorf(prov.Invalid, "%s (--batch-size N sends N records per request)", ce.Detail)
		}
		return nil, m.remoteErr(err)
	}) // the server signs checkpoints itself
}

// checkRecord checks a record, plain or in a DSSE envelope, as
// tlog.Log.Prepare does; the signature is the server's to check.
func checkRecord(line []byte) error {
	rec, env, err := prov.RecordBytes(bytes.Trim(line, " \t\r\n"))
	if err != nil {
		return err
	}
	r, err := prov.ParseRecord(rec)
	switch {
	case err != nil && env != nil:
		return prov.Errorf(prov.KindOf(err), "the envelope's payload: %v", err)
	case err != nil:
		return err
	case env != nil && r.Agent == nil:
		return prov.Errorf(prov.Invalid, `a signed record must name its agent (field "agent"): the keys that sign it are that agent's`)
	}
	return nil
}

// recordPrefix is tlog.RecordError's "record N: ", replaced by the line.
var recordPrefix = regexp.MustCompile(`^record \d+: `)

func (m *Main) remoteGet(ctx context.Context, idx int64) error {
	data, err := m.client.Get(ctx, idx)
	if err != nil {
		return m.remoteErr(err)
	}
	leaf := sumdb.RecordHash(data)
	return m.printRecord(idx, data, leaf[:])
}

// remoteEntries streams records as entries with their index fields.
func (m *Main) remoteEntries(ctx context.Context, from, to int64, fn func(prov.Entry) error) error {
	err := m.client.Entries(ctx, from, to, func(index int64, data []byte) error {
		e := prov.Entry{Index: index, Data: data}
		if r, err := prov.ParseEntry(data); err == nil {
			e.Type, e.EventID, e.Time = r.Type, r.ID, r.Time.UTC()
			if r.Activity != nil {
				e.ActivityID = r.Activity.ID
			}
			if r.Agent != nil {
				e.AgentID = r.Agent.ID
			}
		}
		return fn(e)
	})
	return m.remoteErr(err)
}

func (m *Main) remoteCheckpoint(ctx context.Context) error {
	v, _, err := m.logVerifier(ctx)
	if err != nil {
		return err
	}
	cp, err := m.client.VerifiedCheckpoint(ctx, v)
	if err != nil {
		return m.remoteErr(err)
	}
	if m.JSON {
		return m.printJSON(map[string]any{"origin": cp.Origin, "size": cp.Size, "root": cp.Root[:], "note": string(cp.Note)})
	}
	_, err = m.Stdout.Write(cp.Note)
	return err
}

func (m *Main) remoteKey(ctx context.Context) error {
	k, err := m.client.Key(ctx)
	if err != nil {
		return m.remoteErr(err)
	}
	if m.LogKey != "" {
		mine, err := verifierKeyOf(m.LogKey)
		if err != nil {
			return err
		}
		if mine != k.VerifierKey {
			return prov.Errorf(prov.Tampered, "the server states the key %s, not the log key you gave (%s)", k.VerifierKey, mine)
		}
	}
	if m.JSON {
		return m.printJSON(map[string]string{"origin": k.Origin, "verifier_key": k.VerifierKey})
	}
	fmt.Fprintln(m.Stdout, k.VerifierKey)
	return nil
}

// checked tells, on stderr, what a proof was checked against.
func (m *Main) checked(cp client.Checkpoint, source string) {
	if !m.JSON {
		fmt.Fprintf(m.Stderr, "prov: proof checked here against the checkpoint of %d records signed for %s, verified with %s\n", cp.Size, cp.Origin, source)
	}
}

func (m *Main) remoteInclusion(ctx context.Context, idx, size int64) (tlog.InclusionProof, error) {
	v, source, err := m.logVerifier(ctx)
	if err != nil {
		return tlog.InclusionProof{}, err
	}
	p, cp, err := m.client.ProveInclusion(ctx, v, idx, size)
	if err != nil {
		return p, m.remoteErr(err)
	}
	m.checked(cp, source)
	return p, nil
}

func (m *Main) remoteConsistency(ctx context.Context, oldSize, newSize int64) (tlog.ConsistencyProof, error) {
	v, source, err := m.logVerifier(ctx)
	if err != nil {
		return tlog.ConsistencyProof{}, err
	}
	p, cp, err := m.client.ProveConsistency(ctx, v, oldSize, newSize)
	if err != nil {
		return p, m.remoteErr(err)
	}
	m.checked(cp, source)
	return p, nil
}

// remoteVerify has the server recompute its log, and checks here what can
// be checked without the records: the latest checkpoint's signature, and
// with --checkpoint, that the log extends the saved checkpoint (a
// consistency proof, checked here).
func (m *Main) remoteVerify(ctx context.Context, checkpointFile, verifier string, live bool, liveLimit int) error {
	if liveLimit != 100 {
		return usageError{fmt.Errorf("--live-limit: the server lists at most 100 drifted rows; drop the flag with --server")}
	}
	if verifier != "" {
		m.LogKey = verifier
	}
	v, source, err := m.logVerifier(ctx)
	if err != nil {
		return err
	}
	var saved []byte
	if checkpointFile != "" {
		if saved, err = os.ReadFile(checkpointFile); err != nil {
			return prov.Errorf(prov.NotFound, "cannot read checkpoint file: %v", err)
		}
	}
	// The checkpoint is fetched first: the log can only have grown since.
	cp, err := m.client.VerifiedCheckpoint(ctx, v)
	noCheckpoint := prov.IsKind(err, prov.NotFound)
	if err != nil && !noCheckpoint {
		return m.remoteErr(err)
	}
	start := time.Now()
	res, err := m.client.Verify(ctx, client.VerifyRequest{Checkpoint: saved, Live: live})
	if err != nil {
		return m.remoteErr(err)
	}
	rep := res.Report
	var verr error
	if res.Problem != "" || rep.Problem != nil {
		msg := res.Problem
		if msg == "" {
			msg = rep.Problem.Detail
		}
		verr = prov.Errorf(prov.Tampered, "%s", msg)
	}
	// What the server says is checked here as far as possible.
	if verr == nil && !noCheckpoint {
		if verr = m.checkServerVerdict(ctx, v, cp, rep, saved); verr != nil {
			if !prov.IsKind(verr, prov.Tampered) {
				return verr
			}
			rep.Problem = &tlog.Problem{Index: rep.Size, What: "server", Detail: verr.Error()}
		}
	}
	var liveRep *capture.LiveReport
	if len(res.Live) > 0 {
		liveRep = new(capture.LiveReport)
		if err := json.Unmarshal(res.Live, liveRep); err != nil {
			return prov.Errorf(prov.Internal, "the server's live report is not what the API promises: %v", err)
		}
	}
	return m.reportVerify(rep, verr, "the server, its checkpoint checked here with "+source, liveRep, time.Since(start))
}

// checkServerVerdict checks a server's clean verdict against its signed
// checkpoint cp, fetched before: the root the server reports extends cp,
// and the saved checkpoint, if any, by consistency proofs checked here.
func (m *Main) checkServerVerdict(ctx context.Context, v note.Verifier, cp client.Checkpoint, rep tlog.Report, saved []byte) error {
	tie := func(old client.Checkpoint, what string) error {
		switch {
		case old.Size > rep.Size:
			return prov.Errorf(prov.Tampered, "%s covers %d records, but the server's log has %d: the log was truncated", what, old.Size, rep.Size)
		case old.Size == rep.Size:
			if string(old.Root[:]) != string(rep.Root) {
				return prov.Errorf(prov.Tampered, "the server's root of its %d records is not the root %s states", rep.Size, what)
			}
			return nil
		}
		p, err := m.client.ConsistencyProof(ctx, old.Size, rep.Size)
		if err != nil {
			return m.remoteErr(err)
		}
		if p.OldSize != old.Size || p.NewSize != rep.Size || string(p.OldRoot) != string(old.Root[:]) || string(p.NewRoot) != string(rep.Root) {
			return prov.Errorf(prov.Tampered, "the log the server verified (%d records) does not extend %s (%d records)", rep.Size, what, old.Size)
		}
		if err := tlog.VerifyConsistency(p); err != nil {
			return prov.Errorf(prov.Tampered, "the log the server verified does not extend %s: %v", what, err)
		}
		return nil
	}
	if err := tie(cp, "its signed checkpoint"); err != nil {
		return err
	}
	if len(saved) == 0 {
		return nil
	}
	old, err := client.OpenCheckpoint(saved, v)
	if err != nil {
		return err
	}
	return tie(old, "the saved checkpoint")
}

func (m *Main) remoteCaptureStatus(ctx context.Context) error {
	var st capture.Status
	if err := m.client.CaptureStatus(ctx, &st); err != nil {
		return m.remoteErr(err)
	}
	return m.printCaptureStatus(st)
}

// remoteFilter is a find filter as the server takes it. ff was checked.
func remoteFilter(ff *filterFlags) client.Filter {
	f := ff.f
	return client.Filter{Table: f.Table, Column: f.Column, Activity: f.Activity, Release: f.Release, Kind: f.Kind, Agent: f.Agent,
		Since: ff.since, Until: ff.until, Current: f.Current, NotActivity: f.NotActivity, NotRelease: f.NotRelease}
}

func (m *Main) remoteFind(ctx context.Context, ff *filterFlags, format string, count, explain bool) error {
	f := remoteFilter(ff)
	if explain {
		q, err := m.client.FindExplain(ctx, f)
		if err != nil {
			return m.remoteErr(err)
		}
		fmt.Fprint(m.Stderr, q)
	}
	if count {
		n, err := m.client.FindCount(ctx, f)
		if err != nil {
			return m.remoteErr(err)
		}
		if m.JSON {
			return m.printJSON(map[string]int64{"count": n})
		}
		fmt.Fprintln(m.Stdout, n)
		return nil
	}
	if format == "ids" {
		out := bufio.NewWriter(m.Stdout)
		err := m.client.FindIDs(ctx, f, func(pk string) error {
			_, err := fmt.Fprintln(out, pk)
			return err
		})
		if ferr := out.Flush(); err == nil {
			err = ferr
		}
		return m.remoteErr(err)
	}
	return m.printMatches(format, func(fn func(investigate.Match) error) error {
		return m.remoteErr(m.client.Find(ctx, f, func(raw json.RawMessage) error {
			var x investigate.Match
			if err := json.Unmarshal(raw, &x); err != nil {
				return prov.Errorf(prov.Internal, "the server sent a row that is not a match: %v", err)
			}
			return fn(x)
		}))
	})
}

func (m *Main) remoteFix(ctx context.Context, ff *filterFlags, sets []string, reason, id string, apply bool) error {
	var rep investigate.Repair
	err := m.client.Fix(ctx, client.FixRequest{Filter: remoteFilter(ff), Set: sets, Reason: reason, ID: id, Apply: apply}, &rep)
	if err != nil {
		return m.remoteErr(err)
	}
	return m.printRepair("fix", &rep)
}

func (m *Main) remoteRevert(ctx context.Context, o investigate.RevertOptions) error {
	var rep investigate.Repair
	err := m.client.Revert(ctx, client.RevertRequest{Activity: o.Activity, Table: o.Table, Column: o.Column, Reason: o.Reason, ID: o.ID, Force: o.Force, Apply: o.Apply}, &rep)
	if err != nil {
		return m.remoteErr(err)
	}
	return m.printRepair("revert", &rep)
}

// noBy refuses --by in client mode: the server attributes a repair to the
// token that asks for it.
func noBy(cmd *cobra.Command, m *Main) error {
	if m.client != nil && cmd.Flags().Changed("by") {
		return usageError{fmt.Errorf("--by: through a server, a repair is attributed to your token (agent token:ID); drop --by")}
	}
	return nil
}

func (m *Main) remoteIngestLineage(ctx context.Context, events [][]byte, lines []int) ([]openlineage.Result, error) {
	var out struct {
		Events []openlineage.Result `json:"events"`
	}
	err := m.client.IngestLineage(ctx, events, &out)
	var ce *client.Error
	if errors.As(err, &ce) && ce.Line > 0 && ce.Line <= len(lines) {
		return nil, prov.Errorf(ce.Kind, "line %d: %s (nothing was ingested)", lines[ce.Line-1], recordPrefix.ReplaceAllString(ce.Detail, ""))
	}
	if err != nil {
		return nil, m.remoteErr(err)
	}
	if len(out.Events) != len(events) {
		return nil, prov.Errorf(prov.Internal, "the server answered for %d events of %d", len(out.Events), len(events))
	}
	return out.Events, nil
}

func (m *Main) remoteLineageRun(ctx context.Context, id string) (*openlineage.RunInfo, error) {
	var r openlineage.RunInfo
	if err := m.client.LineageRun(ctx, id, &r); err != nil {
		return nil, m.remoteErr(err)
	}
	return &r, nil
}
