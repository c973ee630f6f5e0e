package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/auth"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/storetest"
)

func stores(t *testing.T, fn func(t *testing.T, s prov.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), sqlite.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		b := make([]byte, 5)
		rand.Read(b)
		schema := "auth_" + hex.EncodeToString(b)
		s, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			s.Close()
			if c, err := pgx.Connect(context.Background(), dsn); err == nil {
				c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
				c.Close(context.Background())
			}
		}()
		fn(t, s)
	})
}

func TestTokens(t *testing.T) {
	stores(t, func(t *testing.T, s prov.Store) {
		ctx := context.Background()
		toks, err := auth.New(s)
		if err != nil {
			t.Fatal(err)
		}
		toks.CacheFor = 0
		secret, tok, err := toks.Create(ctx, "ci ingest", []string{auth.Ingest, auth.Read})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "prov_"+tok.ID+"_") || !tok.Allows(auth.Read) || tok.Allows(auth.Admin) || tok.Allows(auth.Audit) {
			t.Errorf("token %q %+v", secret, tok)
		}
		got, err := toks.Authenticate(ctx, secret)
		if err != nil || got.ID != tok.ID || got.Name != "ci ingest" || len(got.Scopes) != 2 {
			t.Errorf("authenticate: %+v %v", got, err)
		}
		for _, bad := range []string{"", "Bearer x", "prov_" + tok.ID + "_" + strings.Repeat("a", 32), "prov_nosuchid_abc", secret + "x", strings.Replace(secret, "prov_", "prv_", 1)} {
			if _, err := toks.Authenticate(ctx, bad); prov.KindOf(err) != prov.Unauthorized {
				t.Errorf("authenticate %q: %v", bad, err)
			}
		}
		if _, _, err := toks.Create(ctx, "x", []string{"write"}); prov.KindOf(err) != prov.Invalid {
			t.Errorf("unknown scope: %v", err)
		}
		if _, _, err := toks.Create(ctx, "", []string{auth.Read}); prov.KindOf(err) != prov.Invalid {
			t.Errorf("no name: %v", err)
		}
		list, err := toks.List(ctx)
		if err != nil || len(list) != 1 || list[0].ID != tok.ID || time.Since(list[0].Created) > time.Minute {
			t.Errorf("list: %+v %v", list, err)
		}
		if err := toks.Revoke(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := toks.Authenticate(ctx, secret); prov.KindOf(err) != prov.Unauthorized || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("revoked token: %v", err)
		}
		if err := toks.Revoke(ctx, tok.ID); prov.KindOf(err) != prov.NotFound {
			t.Errorf("revoke twice: %v", err)
		}
	})
}
