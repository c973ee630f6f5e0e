package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/auth"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/httpapi"
	"github.com/prov-dev/prov/investigate"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tiles"
	"github.com/prov-dev/prov/tlog"
	"github.com/spf13/cobra"
)

// DefaultListen is where prov serve listens unless told otherwise: loopback.
const DefaultListen = "127.0.0.1:7470"

// isLoopback reports whether a listen address is on the loopback interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (m *Main) serveCommand() *cobra.Command {
	var listen, cert, key string
	var insecure, auditReads, publicTiles, noSequencer bool
	var maxBody int64
	var maxRecords, groupCommit int
	var checkpointEvery, poll, headerTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR] [--tls-cert F --tls-key F]",
		Short: "Serve the HTTP API, run the sequencer, sign checkpoints",
		Long: `Serve Prov's HTTP JSON API (/openapi.json describes it) over the store named
by --db: append, read and prove records, verify, and — where capture is
enabled — blame, history, activities, find, fix and revert. The sequencer
runs inside, moving captured changes into the log, and a checkpoint is signed
whenever the log has grown (every --checkpoint-every).

Every endpoint but /healthz, /openapi.json and /metrics needs a bearer token:
'prov token create --name N --scope ingest|read|audit|admin'. The log is
also served in the C2SP tlog-tiles layout for third-party verifiers
(/checkpoint, /tile/…), with a read or audit token, or to anyone with
--public-tiles. It listens on loopback unless told otherwise, and refuses a
non-loopback address without TLS (--tls-cert, --tls-key) unless --insecure. SIGINT or SIGTERM shut it
down gracefully: requests in flight finish, the sequencer commits or rolls
back its batch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if (cert == "") != (key == "") {
				return usageError{fmt.Errorf("--tls-cert and --tls-key go together")}
			}
			if !isLoopback(listen) && cert == "" && !insecure {
				return usageError{fmt.Errorf("--listen %s is not a loopback address: serve it with TLS (--tls-cert, --tls-key), or say --insecure if a proxy in front terminates TLS", listen)}
			}
			store, err := m.openStore(ctx, false)
			if err != nil {
				return err
			}
			defer store.Close()
			l, _, err := m.openLogIn(ctx, store, true)
			if err != nil {
				return err
			}
			toks, err := auth.New(store)
			if err != nil {
				return err
			}
			var capt capture.Capturer
			switch s := store.(type) {
			case *postgres.Store:
				capt = capture.NewPostgres(s)
			case *sqlite.Store:
				capt = capture.NewSQLite(s)
			}
			iv, err := investigate.New(capt)
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewJSONHandler(m.Stderr, nil))
			var batcher *tlog.Batcher
			if groupCommit > 0 {
				batcher = l.NewBatcher(groupCommit)
				defer batcher.Close() // after Shutdown: requests still in flight get their answer
			}
			tileAPI := tiles.New(l)
			tileAPI.Logger = logger
			api := httpapi.New(httpapi.Config{Log: l, Batcher: batcher, Tokens: toks, Capture: capt, Investigator: iv, Metrics: httpapi.NewMetrics(l, capt),
				Tiles: tileAPI, Logger: logger, MaxBodyBytes: maxBody, MaxRecords: maxRecords, AuditReads: auditReads, PublicTiles: publicTiles})
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return prov.Errorf(prov.Unavailable, "cannot listen on %s: %v", listen, err)
			}
			srv := &http.Server{Handler: api, ReadHeaderTimeout: headerTimeout, ReadTimeout: 2 * time.Minute, WriteTimeout: 10 * time.Minute,
				IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
			scheme := "http"
			if cert != "" {
				scheme = "https"
			}
			fmt.Fprintf(m.Stdout, "serving log %s on %s://%s\n", l.Origin(), scheme, ln.Addr())
			logger.Info("serving", "origin", l.Origin(), "addr", ln.Addr().String(), "tls", cert != "")

			bg, stop := context.WithCancel(context.WithoutCancel(ctx))
			defer stop()
			done := make(chan struct{}, 2)
			if !noSequencer {
				go func() {
					defer func() { done <- struct{}{} }()
					seq := capt.Sequencer(l)
					for bg.Err() == nil {
						if _, err := seq.Run(bg, true, poll); err != nil && bg.Err() == nil {
							logger.Error("sequencer", "err", err)
							sleep(bg, 5*time.Second)
						}
					}
				}()
			} else {
				done <- struct{}{}
			}
			go func() {
				defer func() { done <- struct{}{} }()
				for bg.Err() == nil {
					checkpoint := l.Checkpoint
					if batcher != nil { // stored with the appends, not beside them
						checkpoint = func(ctx context.Context) (prov.Checkpoint, bool, error) {
							return batcher.Checkpoint(ctx, checkpointEvery)
						}
					}
					if _, created, err := checkpoint(bg); err != nil && bg.Err() == nil {
						logger.Error("checkpoint", "err", err)
					} else if created {
						logger.Debug("checkpoint signed")
					}
					sleep(bg, checkpointEvery)
				}
			}()
			errc := make(chan error, 1)
			go func() {
				if cert != "" {
					errc <- srv.ServeTLS(ln, cert, key)
				} else {
					errc <- srv.Serve(ln)
				}
			}()
			select {
			case err := <-errc:
				stop()
				<-done
				<-done
				return prov.Errorf(prov.Unavailable, "server stopped: %v", err)
			case <-ctx.Done():
			}
			logger.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = srv.Shutdown(sctx)
			stop()
			<-done
			<-done
			if _, _, cerr := l.Checkpoint(context.Background()); cerr != nil {
				logger.Error("final checkpoint", "err", cerr)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			fmt.Fprintln(m.Stdout, "stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", DefaultListen, "address to listen on")
	f.StringVar(&cert, "tls-cert", "", "TLS certificate file (PEM)")
	f.StringVar(&key, "tls-key", "", "TLS private key file (PEM)")
	f.BoolVar(&insecure, "insecure", false, "allow a non-loopback address without TLS")
	f.BoolVar(&auditReads, "audit-reads", false, "append an audit record (who read what) for every read of provenance")
	f.BoolVar(&publicTiles, "public-tiles", false, "serve /checkpoint and /tile/… without a token, for public verifiers")
	f.BoolVar(&noSequencer, "no-sequencer", false, "do not run the capture sequencer here (another process runs it)")
	f.Int64Var(&maxBody, "max-body-bytes", 64<<20, "largest request body")
	f.IntVar(&maxRecords, "max-records", 10000, "most records in one append request")
	f.IntVar(&groupCommit, "group-commit", 10000, "append concurrent requests' records in shared transactions of up to this many records (one durable commit each); 0: a transaction per request")
	f.DurationVar(&checkpointEvery, "checkpoint-every", time.Second, "how often to sign a checkpoint if the log grew")
	f.DurationVar(&headerTimeout, "header-timeout", 5*time.Second, "time a client has to send a request's headers (slow clients are cut off)")
	f.DurationVar(&poll, "poll", 200*time.Millisecond, "how often the sequencer looks for new changes when idle")
	return cmd
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (m *Main) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke the bearer tokens of prov serve"}
	var name string
	var scopes []string
	create := &cobra.Command{
		Use:   "create --name NAME --scope ingest|read|audit|admin [--scope …]",
		Short: "Create a token; it is printed once, only its hash is kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			toks, done, err := m.openTokens(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			secret, tok, err := toks.Create(cmd.Context(), name, scopes)
			if err != nil {
				return err
			}
			if m.JSON {
				return m.printJSON(map[string]any{"token": secret, "id": tok.ID, "name": tok.Name, "scopes": tok.Scopes})
			}
			fmt.Fprintln(m.Stdout, secret)
			fmt.Fprintf(m.Stderr, "token %s (%s) with scopes %s: keep it secret, it is shown only now\n", tok.ID, tok.Name, strings.Join(tok.Scopes, ", "))
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the token is for (required)")
	create.Flags().StringSliceVar(&scopes, "scope", nil, "scope: ingest, read, audit or admin (repeatable)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			toks, done, err := m.openTokens(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			all, err := toks.List(cmd.Context())
			if err != nil {
				return err
			}
			if m.JSON {
				return m.printJSON(map[string]any{"tokens": all})
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tREVOKED")
			for _, t := range all {
				rev := "-"
				if t.Revoked != nil {
					rev = t.Revoked.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Scopes, ","), t.Created.Format(time.RFC3339), rev)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			toks, done, err := m.openTokens(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if err := toks.Revoke(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "revoked %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func (m *Main) openTokens(ctx context.Context) (*auth.Tokens, func(), error) {
	store, err := m.openStore(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	toks, err := auth.New(store)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return toks, func() { store.Close() }, nil
}
