package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

func (m *Main) initCommand() *cobra.Command {
	var origin string
	cmd := &cobra.Command{
		Use:   "init [--origin NAME]",
		Short: "Create a log and its signing key",
		Long: `Create a new log in the store (--db), with an Ed25519 signing key in a file
beside it (mode 0600, never inside the database), and sign its first
checkpoint. The origin names the log in every checkpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if origin == "" {
				origin = defaultOrigin()
			}
			if err := tlog.ValidOrigin(origin); err != nil {
				return err
			}
			store, err := m.openStore(ctx, true)
			if err != nil {
				return err
			}
			defer store.Close()
			keyPath := m.keyPath()
			skey, vkey, err := tlog.GenerateKey(origin)
			if err != nil {
				return err
			}
			if err := writeKeyFile(keyPath, skey); err != nil {
				return err
			}
			if err := tlog.Init(ctx, store, origin, vkey); err != nil {
				os.Remove(keyPath)
				return fmt.Errorf("init %s: %w", m.DB, err)
			}
			signer, err := note.NewSigner(skey)
			if err != nil {
				return err
			}
			l, err := tlog.Open(ctx, store, tlog.Options{Signer: signer})
			if err != nil {
				return err
			}
			c, _, err := l.Checkpoint(ctx)
			if err != nil {
				return err
			}
			if m.JSON {
				return m.printJSON(map[string]any{"origin": origin, "db": m.DB, "key_file": keyPath, "verifier_key": vkey, "checkpoint": string(c.Note)})
			}
			fmt.Fprintf(m.Stdout, "Initialised log %s in %s.\nPrivate key: %s (keep it secret, back it up: it signs every checkpoint)\nVerifier key, for auditors: %s\n", origin, m.DB, keyPath, vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&origin, "origin", "", "the log's name in its checkpoints, e.g. example.com/prov/app (default: HOST/prov-RANDOM)")
	return cmd
}

func defaultOrigin() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	host = strings.Map(func(r rune) rune {
		if r == '+' || r == ' ' {
			return '-'
		}
		return r
	}, host)
	var b [4]byte
	rand.Read(b[:])
	return host + "/prov-" + hex.EncodeToString(b[:])
}

func (m *Main) appendCommand() *cobra.Command {
	var batch int
	var noCheckpoint bool
	cmd := &cobra.Command{
		Use:   "append [FILE|-]",
		Short: "Append records (JSON Lines) to the log",
		Long: `Append records, one JSON object per line, from FILE or standard input.
The input is appended atomically: if any line is invalid, nothing is appended
and the error names the line. With --batch-size N, every N records are
committed together instead (each batch atomic), so a long stream need not be
held in memory. Prints the index assigned to each record once it is durable,
then signs a checkpoint if the key is at hand.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if batch < 0 {
				return usageError{fmt.Errorf("--batch-size must not be negative")}
			}
			in := m.Stdin
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return prov.Errorf(prov.NotFound, "cannot read %s: %v", args[0], err)
				}
				defer f.Close()
				in = f
			}
			if m.client != nil {
				return m.remoteAppend(ctx, in, batch)
			}
			l, closeLog, err := m.openLog(ctx, false)
			if err != nil {
				return err
			}
			defer closeLog()
			err = m.appendLines(in, batch, nil, func(raw [][]byte) ([]tlog.Appended, error) {
				entries, err := l.PrepareAll(raw)
				if err != nil {
					return nil, err
				}
				first, err := l.AppendEntries(ctx, entries) // a *tlog.RecordError if a signature or key rule refuses one
				if err != nil {
					return nil, err
				}
				res := make([]tlog.Appended, len(entries))
				for i := range res {
					res[i].Index = first + int64(i)
				}
				return res, nil
			})
			if err != nil {
				return err
			}
			if noCheckpoint {
				return nil
			}
			if _, _, err := l.Checkpoint(ctx); err != nil {
				if prov.IsKind(err, prov.Unauthorized) {
					fmt.Fprintf(m.Stderr, "prov: appended; no checkpoint signed: %v\n", err)
					return nil
				}
				return fmt.Errorf("appended, but signing a checkpoint failed: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&batch, "batch-size", 0, "commit every N records (0: the whole input in one transaction)")
	cmd.Flags().BoolVar(&noCheckpoint, "no-checkpoint", false, "do not sign a checkpoint after appending")
	return cmd
}

// lineReader reads lines of at most max bytes, counting them from 1 and
// skipping blank ones.
type lineReader struct {
	r   *bufio.Reader
	max int
	n   int
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

func (lr *lineReader) next() ([]byte, int, error) {
	for {
		lr.n++
		var line []byte
		tooLong := false
		for {
			chunk, err := lr.r.ReadSlice('\n')
			if !tooLong && len(line)+len(chunk) > lr.max+2 { // +2: room for "\r\n"
				tooLong, line = true, nil
			}
			if !tooLong {
				line = append(line, chunk...)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil && err != io.EOF {
				return nil, lr.n, prov.Errorf(prov.Unavailable, "reading input: %v", err)
			}
			if tooLong {
				return nil, lr.n, prov.Errorf(prov.Invalid, "record is over the limit of %d bytes (raise it with --max-record-bytes)", lr.max)
			}
			if len(bytes.TrimSpace(line)) > 0 {
				return line, lr.n, nil
			}
			if err == io.EOF {
				return nil, lr.n, io.EOF
			}
			break // a blank line
		}
	}
}

func parseIndex(s, what string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, usageError{fmt.Errorf("%s %q is not a record index (a whole number from 0)", what, s)}
	}
	return n, nil
}

func (m *Main) getCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get INDEX",
		Short: "Print a record's stored bytes, exactly",
		Long:  "Print the record at INDEX exactly as it is stored, followed by a newline. With --json, print it with its index and leaf hash.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			idx, err := parseIndex(args[0], "INDEX")
			if err != nil {
				return err
			}
			if m.client != nil {
				return m.remoteGet(cmd.Context(), idx)
			}
			l, closeLog, err := m.openLog(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer closeLog()
			e, err := l.Get(cmd.Context(), idx)
			if err != nil {
				return err
			}
			return m.printRecord(e.Index, e.Data, e.Hashes[:min(len(e.Hashes), prov.HashSize)])
		},
	}
}

// printRecord prints a record's bytes, or with --json its index and leaf
// hash too.
func (m *Main) printRecord(index int64, data, leafHash []byte) error {
	if m.JSON {
		return m.printJSON(map[string]any{"index": index, "leaf_hash": leafHash, "record": json.RawMessage(data)})
	}
	m.Stdout.Write(data)
	_, err := io.WriteString(m.Stdout, "\n")
	return err
}

// keySummary says what a key record does, for prov log: [key add 3f2a…].
func keySummary(rec []byte) string {
	r, err := prov.ParseRecord(rec)
	if err != nil {
		return ""
	}
	ev, err := prov.ParseKeyEvent(r)
	if err != nil {
		return ""
	}
	abbrev := func(id string) string { return id[:min(len(id), 12)] + "…" }
	switch ev.Action {
	case prov.KeyRotate:
		return fmt.Sprintf("[key rotate %s → %s]", abbrev(ev.Replaces), abbrev(ev.KeyID))
	case prov.KeyPolicy:
		return fmt.Sprintf("[policy require_signatures=%v]", *ev.RequireSignatures)
	case prov.KeyRevoke:
		if ev.CompromisedSince != nil {
			return fmt.Sprintf("[key revoke %s, compromised since %d]", abbrev(ev.KeyID), *ev.CompromisedSince)
		}
	}
	return fmt.Sprintf("[key %s %s]", ev.Action, abbrev(ev.KeyID))
}

func (m *Main) logCommand() *cobra.Command {
	var from, to int64
	cmd := &cobra.Command{
		Use:   "log [--from N] [--to N]",
		Short: "List records, oldest first",
		Long:  "List the records with index from N to N (both included; default: all). With --json, one JSON object per line: {index, record} (a record stored over several lines is shown compacted; prov get prints its bytes exactly), and for a signed record also envelope (the stored DSSE envelope; record is its payload). Signed records' reasons are marked [signed].",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if from < 0 {
				return usageError{fmt.Errorf("--from must not be negative")}
			}
			end := int64(-1)
			if to >= 0 {
				end = to + 1
			}
			entries := func(fn func(prov.Entry) error) error { return m.remoteEntries(ctx, from, end, fn) }
			if m.client == nil {
				l, closeLog, err := m.openLog(ctx, false)
				if err != nil {
					return err
				}
				defer closeLog()
				if end < 0 {
					if end, err = l.Size(ctx); err != nil {
						return err
					}
				}
				entries = func(fn func(prov.Entry) error) error { return l.Entries(ctx, from, end, fn) }
			}
			out := bufio.NewWriter(m.Stdout)
			defer out.Flush()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			if !m.JSON {
				fmt.Fprintln(tw, "INDEX\tTIME\tTYPE\tACTIVITY\tAGENT\tREASON")
			}
			err := entries(func(e prov.Entry) error {
				rec, env, err := prov.RecordBytes(e.Data)
				if err != nil {
					rec, env = e.Data, nil // verify names it; list what is stored
				}
				if m.JSON {
					if env != nil {
						fmt.Fprintf(out, "{\"index\":%d,\"record\":%s,\"envelope\":%s}\n", e.Index, prov.OneLine(rec), prov.OneLine(e.Data))
					} else {
						fmt.Fprintf(out, "{\"index\":%d,\"record\":%s}\n", e.Index, prov.OneLine(e.Data))
					}
					return nil
				}
				var r struct {
					Reason string `json:"reason"`
				}
				json.Unmarshal(rec, &r)
				if e.Type == prov.TypeKey {
					r.Reason = strings.TrimSpace(keySummary(rec) + " " + r.Reason)
				}
				if env != nil {
					r.Reason = "[signed] " + r.Reason
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Index, e.Time.Format(time.RFC3339), e.Type, dash(e.ActivityID), dash(e.AgentID), dash(truncate(r.Reason, 60)))
				return nil
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		},
	}
	cmd.Flags().Int64Var(&from, "from", 0, "first index")
	cmd.Flags().Int64Var(&to, "to", -1, "last index (included)")
	return cmd
}

// appendLines appends the JSON Lines of in, batch records per call of send
// (0: all in one), after check (if not nil) has passed each line, and
// prints each record's index (with --json, its line too, and whether it
// was a duplicate). An error of send that is a *tlog.RecordError is
// reported with the input line of the record it names; every error says
// whether earlier batches were appended. An input without records is an
// error.
func (m *Main) appendLines(in io.Reader, batch int, check func([]byte) error, send func(raw [][]byte) ([]tlog.Appended, error)) error {
	r := newLineReader(in, m.MaxRecordBytes)
	out := bufio.NewWriter(m.Stdout)
	defer out.Flush()
	var raw [][]byte
	var lines []int
	total := 0
	failed := func(line int, err error) error {
		if total > 0 {
			return prov.Errorf(prov.KindOf(err), "line %d: %v (the %d records before this batch were appended)", line, err, total)
		}
		return prov.Errorf(prov.KindOf(err), "line %d: %v (nothing was appended)", line, err)
	}
	flush := func() error {
		if len(raw) == 0 {
			return nil
		}
		res, err := send(raw)
		if err != nil {
			var re *tlog.RecordError
			if errors.As(err, &re) && re.N >= 0 && re.N < len(lines) {
				return failed(lines[re.N], re.Err)
			}
			return err
		}
		for i, a := range res {
			switch {
			case m.JSON && a.Duplicate:
				fmt.Fprintf(out, "{\"line\":%d,\"index\":%d,\"duplicate\":true}\n", lines[i], a.Index)
			case m.JSON:
				fmt.Fprintf(out, "{\"line\":%d,\"index\":%d}\n", lines[i], a.Index)
			default:
				fmt.Fprintf(out, "%d\n", a.Index)
			}
		}
		total += len(res)
		raw, lines = raw[:0], lines[:0]
		return out.Flush()
	}
	for {
		line, n, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return failed(n, err)
		}
		if check != nil {
			if err := check(line); err != nil {
				return failed(n, err)
			}
		}
		raw = append(raw, line)
		lines = append(lines, n)
		if batch > 0 && len(raw) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if total == 0 {
		return prov.Errorf(prov.Invalid, "no records in the input: want one JSON object per line")
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func (m *Main) checkpointCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "Print the latest signed checkpoint, signing a new one if the log grew",
		Long:  "Print the latest checkpoint (C2SP tlog-checkpoint, a signed note): origin, size and root hash, signed with the log's key. If the log has grown since the last one, a new checkpoint is signed first.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if m.client != nil {
				return m.remoteCheckpoint(cmd.Context())
			}
			l, closeLog, err := m.openLog(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer closeLog()
			c, created, err := l.Checkpoint(cmd.Context())
			if err != nil {
				return err
			}
			if m.JSON {
				return m.printJSON(map[string]any{"origin": l.Origin(), "size": c.Size, "root": c.Root[:], "note": string(c.Note), "created": c.Created, "new": created})
			}
			_, err = m.Stdout.Write(c.Note)
			return err
		},
	}
}

func (m *Main) keyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "key",
		Short: "Print the log's verifier key, for auditors",
		Long:  "Print the signed-note verifier key of the log's signing key: give it to auditors, who check checkpoints with it. It is read from the key file when present, else from the store.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if m.client != nil {
				return m.remoteKey(cmd.Context())
			}
			l, closeLog, err := m.openLog(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer closeLog()
			var vkey string
			if skey, err := readKeyFile(m.keyPath()); err == nil {
				if vkey, err = tlog.VerifierKey(skey); err != nil {
					return err
				}
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			} else {
				if vkey, err = metaVerifier(cmd, l); err != nil {
					return err
				}
			}
			if m.JSON {
				return m.printJSON(map[string]string{"origin": l.Origin(), "verifier_key": vkey})
			}
			fmt.Fprintln(m.Stdout, vkey)
			return nil
		},
	}
}

func metaVerifier(cmd *cobra.Command, l *tlog.Log) (vkey string, err error) {
	err = l.Store().View(cmd.Context(), func(ctx context.Context, tx prov.ReadTx) error {
		vkey, err = tx.Meta(ctx, prov.MetaVerifier)
		return err
	})
	return vkey, err
}

func (m *Main) proofCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proof",
		Short: "Prove inclusion of a record, or consistency between two tree sizes",
	}
	var size int64
	incl := &cobra.Command{
		Use:   "inclusion INDEX [--size N]",
		Short: "Prove that record INDEX is in the tree of size N",
		Long:  "Print the RFC 9162 inclusion proof of record INDEX in the tree of N records (default: the latest checkpoint's size if it covers INDEX, else the log's size).",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			idx, err := parseIndex(args[0], "INDEX")
			if err != nil {
				return err
			}
			if size < 0 {
				return usageError{fmt.Errorf("--size must not be negative")}
			}
			var p tlog.InclusionProof
			if m.client != nil {
				p, err = m.remoteInclusion(cmd.Context(), idx, size)
			} else {
				l, closeLog, oerr := m.openLog(cmd.Context(), false)
				if oerr != nil {
					return oerr
				}
				defer closeLog()
				p, err = l.ProveInclusion(cmd.Context(), idx, size)
			}
			if err != nil {
				return err
			}
			if m.JSON {
				return m.printJSON(p)
			}
			m.printProof(fmt.Sprintf("record %d in tree of size %d\nleaf hash: %s\nroot hash: %s", p.Index, p.TreeSize, b64(p.LeafHash), b64(p.RootHash)), p.Proof)
			return nil
		},
	}
	incl.Flags().Int64Var(&size, "size", 0, "tree size (default: latest checkpoint's, or the log's)")
	cons := &cobra.Command{
		Use:   "consistency OLD NEW",
		Short: "Prove that the tree of NEW records extends the tree of OLD records",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			oldSize, err := parseIndex(args[0], "OLD")
			if err != nil {
				return err
			}
			newSize, err := parseIndex(args[1], "NEW")
			if err != nil {
				return err
			}
			var p tlog.ConsistencyProof
			if m.client != nil {
				p, err = m.remoteConsistency(cmd.Context(), oldSize, newSize)
			} else {
				l, closeLog, oerr := m.openLog(cmd.Context(), false)
				if oerr != nil {
					return oerr
				}
				defer closeLog()
				p, err = l.ProveConsistency(cmd.Context(), oldSize, newSize)
			}
			if err != nil {
				return err
			}
			if m.JSON {
				return m.printJSON(p)
			}
			m.printProof(fmt.Sprintf("tree %d extends tree %d\nold root: %s\nnew root: %s", p.NewSize, p.OldSize, b64(p.OldRoot), b64(p.NewRoot)), p.Proof)
			return nil
		},
	}
	cmd.AddCommand(incl, cons)
	return cmd
}

// printProof prints a proof's header lines, then its hashes, one a line.
func (m *Main) printProof(header string, proof [][]byte) {
	fmt.Fprintf(m.Stdout, "%s\nproof (%d hashes):\n", header, len(proof))
	for _, h := range proof {
		fmt.Fprintf(m.Stdout, "  %s\n", b64(h))
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func (m *Main) verifyCommand() *cobra.Command {
	var checkpointFile, verifier string
	var live bool
	var liveLimit int
	cmd := &cobra.Command{
		Use:   "verify [--checkpoint FILE] [--verifier KEY] [--live]",
		Short: "Verify the whole log from its stored bytes",
		Long: `Recompute every leaf and every tree hash from the stored record bytes, check
every stored checkpoint's signature and root, and, with --checkpoint, that the
log still extends a checkpoint you saved earlier. Exits 3 and names the first
bad record if anything was edited, removed, reordered or truncated.

Checkpoint signatures are checked with --verifier if given (the key an
auditor holds), else with the key file's public key, else with the key
recorded in the store.

With --live, every captured row is also checked against the live table: the
digest of the row as it is now must be the digest of its last captured change.
Rows written behind capture's back (triggers disabled, replication role
replica, capture switched off) are listed, and verify exits 3.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if m.client != nil {
				return m.remoteVerify(ctx, checkpointFile, verifier, live, liveLimit)
			}
			store, err := m.openStore(ctx, false)
			if err != nil {
				return err
			}
			defer store.Close()
			var opts tlog.Options
			source := "the store"
			switch {
			case verifier != "":
				if opts.Verifier, err = note.NewVerifier(verifier); err != nil {
					return usageError{fmt.Errorf("--verifier is not a signed-note verifier key: %v", err)}
				}
				source = "--verifier"
			default:
				if skey, err := readKeyFile(m.keyPath()); err == nil {
					vkey, err := tlog.VerifierKey(skey)
					if err != nil {
						return err
					}
					if opts.Verifier, err = note.NewVerifier(vkey); err != nil {
						return err
					}
					source = "the key file"
				} else if !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			l, err := tlog.Open(ctx, store, opts)
			if err != nil {
				return err
			}
			var vo tlog.VerifyOptions
			if checkpointFile != "" {
				if vo.Checkpoint, err = os.ReadFile(checkpointFile); err != nil {
					return prov.Errorf(prov.NotFound, "cannot read checkpoint file: %v", err)
				}
			}
			start := time.Now()
			rep, verr := l.Verify(ctx, vo)
			if verr != nil && rep.Problem == nil {
				return verr
			}
			var liveRep *capture.LiveReport
			if live {
				lr, err := m.verifyLive(ctx, store, liveLimit)
				if err != nil {
					return err
				}
				liveRep = &lr
			}
			return m.reportVerify(rep, verr, source, liveRep, time.Since(start))
		},
	}
	cmd.Flags().StringVar(&checkpointFile, "checkpoint", "", "a signed checkpoint saved earlier: the log must still extend it")
	cmd.Flags().BoolVar(&live, "live", false, "also check every captured row of the live tables against its last captured change")
	cmd.Flags().IntVar(&liveLimit, "live-limit", 100, "with --live: list at most this many drifted rows (0: all)")
	cmd.Flags().StringVar(&verifier, "verifier", "", "verifier key to check checkpoint signatures with (default: from the key file, else the store)")
	return cmd
}

// reportVerify prints verify's outcome: the log's report (verr is its
// damage, if any), checked with the key from source, and the live rows'.
func (m *Main) reportVerify(rep tlog.Report, verr error, source string, liveRep *capture.LiveReport, elapsed time.Duration) error {
	drifted := liveRep != nil && len(liveRep.Drift) > 0
	if m.JSON {
		out := map[string]any{"ok": rep.Problem == nil && !drifted, "report": rep, "verifier": source}
		if liveRep != nil {
			out["live"] = liveRep
		}
		if err := m.printJSON(out); err != nil {
			return err
		}
		if verr != nil {
			return errSilent{verr}
		}
		if drifted {
			return errSilent{prov.Errorf(prov.Tampered, "rows were written behind capture's back")}
		}
		return nil
	}
	if verr != nil {
		return verr
	}
	fmt.Fprintf(m.Stdout, "ok: log %s, %d records, root %s; %d checkpoints verified with %s", rep.Origin, rep.Size, b64(rep.Root), rep.Checkpoints, source)
	if rep.Signed > 0 || rep.Keys > 0 {
		fmt.Fprintf(m.Stdout, "; %d signed records verified with %d agent keys", rep.Signed, rep.Keys)
	}
	if rep.Saved != nil {
		fmt.Fprintf(m.Stdout, "; extends the saved checkpoint of size %d", *rep.Saved)
	}
	fmt.Fprintf(m.Stdout, " (%.2fs)\n", elapsed.Seconds())
	if liveRep == nil {
		return nil
	}
	if !drifted {
		fmt.Fprintf(m.Stdout, "ok: %d live rows of %d captured tables match their last captured change\n", liveRep.Rows, liveRep.Tables)
		return nil
	}
	n := int64(len(liveRep.Drift)) + liveRep.More
	fmt.Fprintf(m.Stdout, "DRIFT: %d of %d live rows were written behind capture's back:\n", n, liveRep.Rows)
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tKEY\tWHAT\tLAST CAPTURED CHANGE")
	for _, d := range liveRep.Drift {
		last := "-"
		if d.Index != nil {
			last = fmt.Sprint(*d.Index)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Table, d.Key, d.What, last)
	}
	tw.Flush()
	if liveRep.More > 0 {
		fmt.Fprintf(m.Stdout, "… and %d more (raise --live-limit)\n", liveRep.More)
	}
	return errSilent{prov.Errorf(prov.Tampered, "rows were written behind capture's back")}
}

// errSilent carries an error whose report was already printed.
type errSilent struct{ error }

func (e errSilent) Unwrap() error { return e.error }

// verifyLive checks the live rows of captured tables in store.
func (m *Main) verifyLive(ctx context.Context, store prov.Store, limit int) (capture.LiveReport, error) {
	type liveVerifier interface {
		VerifyLive(ctx context.Context, limit int) (capture.LiveReport, error)
	}
	var lv liveVerifier
	switch s := store.(type) {
	case *postgres.Store:
		lv = capture.NewPostgres(s)
	case *sqlite.Store:
		lv = capture.NewSQLite(s)
	default:
		return capture.LiveReport{}, prov.Errorf(prov.Invalid, "verify --live needs a database with captured tables")
	}
	return lv.VerifyLive(ctx, limit)
}
