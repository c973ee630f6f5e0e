package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
	"github.com/spf13/cobra"
)

// agentCommand is `prov agent`: agents' signing keys and signature
// policies, which are records of the log (docs/decisions/0009).
func (m *Main) agentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Manage agents' signing keys and signature policies (key records of the log)",
	}
	key := &cobra.Command{
		Use:   "key",
		Short: "Add, rotate, revoke and list an agent's Ed25519 signing keys",
		Long: `An agent's keys sign its records (DSSE envelopes, see 'prov sign'). Each key
event is a record of the log, and a key is valid for the records logged after
the record that adds it and before the record that rotates it out or revokes
it: the log's own order decides, so validity cannot be back-dated.`,
	}
	var agent, pubFile, outFile, replaces, keyID, reason string
	var generate bool
	var since int64
	newKey := func() (ed25519.PublicKey, error) {
		switch {
		case generate && pubFile != "":
			return nil, usageError{fmt.Errorf("--generate and --public-key exclude each other")}
		case generate:
			if outFile == "" {
				return nil, usageError{fmt.Errorf("--generate needs --out FILE for the private key")}
			}
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return nil, err
			}
			der, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				return nil, err
			}
			if err := writeKeyFile(outFile, strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))); err != nil {
				return nil, err
			}
			return pub, nil
		case pubFile != "":
			b, err := os.ReadFile(pubFile)
			if err != nil {
				return nil, prov.Errorf(prov.NotFound, "cannot read the public key: %v", err)
			}
			pub, err := prov.ParsePublicKey(b)
			if err != nil {
				return nil, prov.Errorf(prov.Invalid, "%s: %v", pubFile, err)
			}
			return pub, nil
		}
		return nil, usageError{fmt.Errorf("give the key: --public-key FILE (PEM, PKIX), or --generate --out FILE")}
	}
	needAgent := func() error {
		if strings.TrimSpace(agent) == "" {
			return usageError{fmt.Errorf("--agent ID is required: the agent whose key this is (the agent.id of its records)")}
		}
		return nil
	}
	add := &cobra.Command{
		Use:   "add --agent ID (--public-key FILE | --generate --out FILE)",
		Short: "Add a key of an agent: valid for the records logged after this one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needAgent(); err != nil {
				return err
			}
			pub, err := newKey()
			if err != nil {
				return err
			}
			ev := prov.KeyEvent{Action: prov.KeyAdd, KeyID: prov.KeyID(pub), PublicKey: prov.PublicKeyAttribute(pub)}
			return m.appendKeyEvent(cmd.Context(), agent, ev, reason, generate)
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate --agent ID [--replaces KEY] (--public-key FILE | --generate --out FILE)",
		Short: "Replace an agent's key: the old key is valid until this record, the new one after it",
		Long: `Replace an agent's key in one record: the old key stays valid for the records
logged before it (they still verify) and the new key is valid for those after.
--replaces names the old key (a unique prefix of its id will do); it may be
left out when the agent has exactly one valid key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needAgent(); err != nil {
				return err
			}
			old, err := m.findKey(cmd.Context(), agent, replaces, "--replaces")
			if err != nil {
				return err
			}
			pub, err := newKey()
			if err != nil {
				return err
			}
			ev := prov.KeyEvent{Action: prov.KeyRotate, KeyID: prov.KeyID(pub), PublicKey: prov.PublicKeyAttribute(pub), Replaces: old}
			return m.appendKeyEvent(cmd.Context(), agent, ev, reason, generate)
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke --agent ID --key-id KEY [--compromised-since INDEX]",
		Short: "Revoke an agent's key: records logged after this one are refused",
		Long: `Revoke an agent's key: records signed with it and logged after this record
are refused. Records it signed before stay valid, unless the key is revoked
as compromised: with --compromised-since INDEX, the records it signed at that
index or later no longer verify ('prov verify' names the first), since an
attacker may have made them. A key that was rotated out or revoked may still
be revoked as compromised.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needAgent(); err != nil {
				return err
			}
			if keyID == "" {
				return usageError{fmt.Errorf("--key-id KEY is required ('prov agent key list --agent %s' lists the keys)", agent)}
			}
			id, err := m.findKey(cmd.Context(), agent, keyID, "--key-id")
			if err != nil {
				return err
			}
			ev := prov.KeyEvent{Action: prov.KeyRevoke, KeyID: id}
			if cmd.Flags().Changed("compromised-since") {
				if since < 0 {
					return usageError{fmt.Errorf("--compromised-since must be a log index (0 or more)")}
				}
				ev.CompromisedSince = &since
			}
			return m.appendKeyEvent(cmd.Context(), agent, ev, reason, false)
		},
	}
	list := &cobra.Command{
		Use:   "list [--agent ID]",
		Short: "List agents' keys and when each was valid (log indexes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, closeLog, err := m.openLog(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer closeLog()
			keys, err := l.Keys(cmd.Context(), agent)
			if err != nil {
				return err
			}
			if m.JSON {
				if keys == nil {
					keys = []tlog.Key{}
				}
				return m.printJSON(keys)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AGENT\tKEY\tADDED AT\tENDED AT\tSTATUS")
			for _, k := range keys {
				until, status := "-", "valid"
				if k.Ended != "" {
					until, status = fmt.Sprint(k.Until), k.Ended
				}
				if k.CompromisedSince != nil {
					status = fmt.Sprintf("compromised since %d", *k.CompromisedSince)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", k.Agent, k.ID, k.Added, until, status)
			}
			return tw.Flush()
		},
	}
	for _, c := range []*cobra.Command{add, rotate, revoke, list} {
		c.Flags().StringVar(&agent, "agent", "", "the agent (its records' agent.id)")
	}
	for _, c := range []*cobra.Command{add, rotate} {
		c.Flags().StringVar(&pubFile, "public-key", "", "the agent's Ed25519 public key (PEM \"PUBLIC KEY\", as openssl pkey -pubout writes)")
		c.Flags().BoolVar(&generate, "generate", false, "generate a key pair; the private key goes to --out")
		c.Flags().StringVar(&outFile, "out", "", "with --generate: the private key file to create (mode 0600, PEM PKCS#8)")
	}
	for _, c := range []*cobra.Command{add, rotate, revoke} {
		c.Flags().StringVar(&reason, "reason", "", "why, in words (the record's reason)")
	}
	rotate.Flags().StringVar(&replaces, "replaces", "", "the key to replace (id or unique prefix; default: the agent's only valid key)")
	revoke.Flags().StringVar(&keyID, "key-id", "", "the key to revoke (id or unique prefix)")
	revoke.Flags().Int64Var(&since, "compromised-since", 0, "revoke as compromised: records it signed at this log index or later no longer verify")
	key.AddCommand(add, rotate, revoke, list)

	var require bool
	pol := &cobra.Command{
		Use:   "policy --agent ID --require-signatures[=false]",
		Short: "Require (or stop requiring) signatures on an agent's records",
		Long: `Set an agent's signature policy, as a record of the log: with
--require-signatures, records that name the agent (agent.id) and are logged
after this one must arrive signed by one of its valid keys; unsigned ones are
refused at append (CLI and server) and named by 'prov verify'. Capture's
sequencer writes unsigned records: do not require signatures of an agent that
captured changes are attributed to.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needAgent(); err != nil {
				return err
			}
			if !cmd.Flags().Changed("require-signatures") {
				return usageError{fmt.Errorf("say --require-signatures or --require-signatures=false")}
			}
			return m.appendKeyEvent(cmd.Context(), agent, prov.KeyEvent{Action: prov.KeyPolicy, RequireSignatures: &require}, reason, false)
		},
	}
	pol.Flags().StringVar(&agent, "agent", "", "the agent (its records' agent.id)")
	pol.Flags().BoolVar(&require, "require-signatures", false, "refuse the agent's unsigned records")
	pol.Flags().StringVar(&reason, "reason", "", "why, in words (the record's reason)")
	cmd.AddCommand(key, pol)
	return cmd
}

// findKey resolves a key id or unique prefix among agent's keys; with no
// id, the agent's only valid key.
func (m *Main) findKey(ctx context.Context, agent, id, flag string) (string, error) {
	l, closeLog, err := m.openLog(ctx, false)
	if err != nil {
		return "", err
	}
	defer closeLog()
	keys, err := l.Keys(ctx, agent)
	if err != nil {
		return "", err
	}
	var found []string
	for _, k := range keys {
		if id == "" && k.Ended == "" || id != "" && strings.HasPrefix(k.ID, strings.ToLower(id)) {
			found = append(found, k.ID)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case id == "" && len(found) == 0:
		return "", prov.Errorf(prov.NotFound, "agent %q has no valid key to replace: add one with 'prov agent key add'", agent)
	case id == "":
		return "", usageError{fmt.Errorf("agent %q has %d valid keys: say which with %s", agent, len(found), flag)}
	case len(found) == 0:
		return "", prov.Errorf(prov.NotFound, "agent %q has no key %s ('prov agent key list --agent %s' lists its keys)", agent, id, agent)
	}
	return "", usageError{fmt.Errorf("%s %s names %d keys of %q: give more of the id", flag, id, len(found), agent)}
}

// appendKeyEvent appends a key record and signs a checkpoint.
func (m *Main) appendKeyEvent(ctx context.Context, agent string, ev prov.KeyEvent, reason string, generated bool) error {
	l, closeLog, err := m.openLog(ctx, false)
	if err != nil {
		return err
	}
	defer closeLog()
	rec := prov.Record{Type: prov.TypeKey, Time: time.Now().UTC(), Agent: &prov.Agent{ID: agent}, Reason: reason, Attributes: ev.Attributes()}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	idx, err := l.Append(ctx, [][]byte{data})
	var re *tlog.RecordError
	if errors.As(err, &re) {
		return re.Err // one record: no need to say which
	}
	if err != nil {
		return err
	}
	if l.CanSign() {
		if _, _, err := l.Checkpoint(ctx); err != nil {
			return fmt.Errorf("appended at %d, but signing a checkpoint failed: %w", idx, err)
		}
	}
	if m.JSON {
		out := map[string]any{"index": idx, "agent": agent, "action": ev.Action}
		if ev.KeyID != "" {
			out["key_id"] = ev.KeyID
		}
		return m.printJSON(out)
	}
	switch ev.Action {
	case prov.KeyAdd:
		fmt.Fprintf(m.Stdout, "Added key %s of %s at index %d: valid for records logged after it.\n", ev.KeyID, agent, idx)
	case prov.KeyRotate:
		fmt.Fprintf(m.Stdout, "Rotated %s's key %s out and key %s in at index %d: records logged after it must be signed with the new key.\n", agent, ev.Replaces, ev.KeyID, idx)
	case prov.KeyRevoke:
		fmt.Fprintf(m.Stdout, "Revoked key %s of %s at index %d.", ev.KeyID, agent, idx)
		if ev.CompromisedSince != nil {
			fmt.Fprintf(m.Stdout, " Records it signed from index %d on no longer verify.", *ev.CompromisedSince)
		}
		fmt.Fprintln(m.Stdout)
	case prov.KeyPolicy:
		if *ev.RequireSignatures {
			fmt.Fprintf(m.Stdout, "Records of %s logged after index %d must be signed.\n", agent, idx)
		} else {
			fmt.Fprintf(m.Stdout, "Records of %s logged after index %d need not be signed.\n", agent, idx)
		}
	}
	if generated {
		fmt.Fprintln(m.Stdout, "Private key: written with mode 0600; keep it secret, sign records with 'prov sign --key FILE'.")
	}
	return nil
}

// signCommand is `prov sign`: records to DSSE envelopes.
func (m *Main) signCommand() *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "sign --key FILE [FILE|-]",
		Short: "Sign records (JSON Lines) with an agent's key: prints DSSE envelopes",
		Long: `Wrap each record (one JSON object per line, from FILE or standard input) in
a DSSE envelope signed with the Ed25519 private key in FILE (PEM PKCS#8, as
'prov agent key add --generate --out FILE' or 'openssl genpkey -algorithm
ed25519' writes), and print the envelopes, one per line, for 'prov append' or
POST /api/v1/records. The payload type is ` + prov.PayloadType + `, the
payload the record's bytes, the key id the key's ('prov agent key list').
Records are checked first: a bad one stops the run and nothing is printed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return usageError{fmt.Errorf("--key FILE is required: the agent's private key")}
			}
			priv, err := readPrivateKey(keyFile)
			if err != nil {
				return err
			}
			id := prov.KeyID(priv.Public().(ed25519.PublicKey))
			in := m.Stdin
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return prov.Errorf(prov.NotFound, "cannot read %s: %v", args[0], err)
				}
				defer f.Close()
				in = f
			}
			r := newLineReader(in, m.MaxRecordBytes)
			var out [][]byte
			for {
				line, n, err := r.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return prov.Errorf(prov.KindOf(err), "line %d: %v", n, err)
				}
				line = []byte(strings.TrimSpace(string(line)))
				if _, err := prov.ParseRecord(line); err != nil {
					return prov.Errorf(prov.Invalid, "line %d: %v (nothing was signed)", n, err)
				}
				env, err := prov.SignEnvelope(line, id, func(pae []byte) ([]byte, error) { return ed25519.Sign(priv, pae), nil })
				if err != nil {
					return err
				}
				out = append(out, env)
			}
			if len(out) == 0 {
				return prov.Errorf(prov.Invalid, "no records in the input: want one JSON object per line")
			}
			w := bufio.NewWriter(m.Stdout)
			for _, env := range out {
				w.Write(env)
				w.WriteByte('\n')
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the agent's Ed25519 private key file (PEM PKCS#8, mode 0600)")
	return cmd
}

// readPrivateKey reads an Ed25519 private key file (PEM PKCS#8), refusing
// one that others can read.
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	s, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, prov.Errorf(prov.Invalid, "%s is not a PEM \"PRIVATE KEY\" (PKCS#8) file", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, prov.Errorf(prov.Invalid, "%s: %v", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, prov.Errorf(prov.Invalid, "%s holds a %T key, not Ed25519", path, k)
	}
	return priv, nil
}
