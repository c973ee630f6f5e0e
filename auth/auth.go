// Package auth keeps the bearer tokens of prov serve and checks them.
//
// A token is "prov_<id>_<secret>": the id is public (it names the token in
// lists and logs), the secret is 32 random bytes that only its holder has.
// The store keeps the id, a name, the scopes and the SHA-256 of the secret,
// never the secret; a presented secret is hashed and compared in constant
// time. Scopes: ingest (append records), read (read provenance: records,
// blame, history, find, activities, status), audit (checkpoints, tiles,
// proofs, verify), admin (everything, repairs and tokens included).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
)

// Scopes.
const (
	Ingest = "ingest"
	Read   = "read"
	Audit  = "audit"
	Admin  = "admin"
)

// Scopes lists the scopes a token may hold.
var Scopes = []string{Ingest, Read, Audit, Admin}

// Token is what the store knows of a token.
type Token struct {
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	Scopes  []string   `json:"scopes"`
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// Allows reports whether the token grants scope: admin grants every scope.
func (t Token) Allows(scope string) bool {
	return slices.Contains(t.Scopes, scope) || slices.Contains(t.Scopes, Admin)
}

// Tokens is the token table of one store.
type Tokens struct {
	store prov.Store
	pg    string // the schema-qualified table on PostgreSQL; "" on SQLite

	mu    sync.Mutex
	cache map[string]cached // id → token and hash, for CacheFor
	// CacheFor is how long an authenticated token is trusted without reading
	// the store again: a revocation takes at most this long to apply.
	CacheFor time.Duration
}

type cached struct {
	tok  Token
	hash []byte
	at   time.Time
}

// New returns the token table of store: a *postgres.Store or *sqlite.Store.
func New(store prov.Store) (*Tokens, error) {
	t := &Tokens{store: store, cache: map[string]cached{}, CacheFor: 2 * time.Second}
	switch s := store.(type) {
	case *postgres.Store:
		t.pg = pgx.Identifier{s.Schema()}.Sanitize() + ".tokens"
	case *sqlite.Store:
	default:
		return nil, prov.Errorf(prov.Internal, "auth: unknown store %T", store)
	}
	return t, nil
}

func (t *Tokens) table() string {
	if t.pg != "" {
		return t.pg
	}
	return "prov_tokens"
}

// ph is the n-th placeholder.
func (t *Tokens) ph(n int) string {
	if t.pg != "" {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

type execer interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	query(ctx context.Context, q string, args ...any) (rowsOf, error)
}

type rowsOf interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}

type pgExec struct{ q postgres.Querier }

func (p pgExec) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (p pgExec) query(ctx context.Context, q string, args ...any) (rowsOf, error) {
	r, err := p.q.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgRows{r}, nil
}

type pgRows struct{ pgx.Rows }

func (r pgRows) Close() { r.Rows.Close() }

type sqlExec struct{ tx *sql.Tx }

func (s sqlExec) exec(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := s.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (s sqlExec) query(ctx context.Context, q string, args ...any) (rowsOf, error) {
	r, err := s.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

func execOf(tx prov.ReadTx) execer {
	if q, ok := tx.(interface{ Querier() postgres.Querier }); ok {
		return pgExec{q.Querier()}
	}
	return sqlExec{tx.(interface{ SQLTx() *sql.Tx }).SQLTx()}
}

func (t *Tokens) timeArg(v time.Time) any {
	if t.pg != "" {
		return v
	}
	return v.UnixMicro()
}

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// Create makes a token with the given scopes and returns it, whole, once:
// only its hash is kept.
func (t *Tokens) Create(ctx context.Context, name string, scopes []string) (string, Token, error) {
	if strings.TrimSpace(name) == "" {
		return "", Token{}, prov.Errorf(prov.Invalid, "a token needs a name (--name), saying who or what uses it")
	}
	if len(scopes) == 0 {
		return "", Token{}, prov.Errorf(prov.Invalid, "a token needs at least one scope (--scope): %s", strings.Join(Scopes, ", "))
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return "", Token{}, prov.Errorf(prov.Invalid, "unknown scope %q: choose among %s", s, strings.Join(Scopes, ", "))
		}
	}
	idb, secret := make([]byte, 5), make([]byte, 20)
	rand.Read(idb)
	rand.Read(secret)
	id := strings.ToLower(enc.EncodeToString(idb))
	sec := strings.ToLower(enc.EncodeToString(secret))
	sum := sha256.Sum256([]byte(sec))
	tok := Token{ID: id, Name: name, Scopes: slices.Clone(scopes), Created: time.Now().UTC().Truncate(time.Microsecond)}
	err := t.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		_, err := execOf(tx).exec(ctx, "INSERT INTO "+t.table()+" (id, name, hash, scopes, created) VALUES ("+t.ph(1)+", "+t.ph(2)+", "+t.ph(3)+", "+t.ph(4)+", "+t.ph(5)+")",
			id, name, sum[:], strings.Join(scopes, " "), t.timeArg(tok.Created))
		return err
	})
	if err != nil {
		return "", Token{}, wrap("create a token", err)
	}
	return "prov_" + id + "_" + sec, tok, nil
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *prov.Error
	if errors.As(err, &pe) {
		return err
	}
	return &prov.Error{Kind: prov.Unavailable, Message: op + ": " + err.Error(), Err: err}
}

// List returns every token, revoked ones included, oldest first.
func (t *Tokens) List(ctx context.Context) ([]Token, error) {
	var out []Token
	err := t.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		toks, _, err := t.read(ctx, execOf(tx), "")
		out = toks
		return err
	})
	return out, err
}

// read reads the tokens (id "": all) and their hashes.
func (t *Tokens) read(ctx context.Context, q execer, id string) ([]Token, [][]byte, error) {
	query := "SELECT id, name, hash, scopes, created, revoked FROM " + t.table()
	var args []any
	if id != "" {
		query += " WHERE id = " + t.ph(1)
		args = append(args, id)
	}
	query += " ORDER BY created, id"
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, nil, wrap("read tokens", err)
	}
	defer rows.Close()
	var toks []Token
	var hashes [][]byte
	for rows.Next() {
		var tok Token
		var hash []byte
		var scopes string
		var created, revoked any
		if err := rows.Scan(&tok.ID, &tok.Name, &hash, &scopes, &created, &revoked); err != nil {
			return nil, nil, wrap("read tokens", err)
		}
		tok.Scopes = strings.Fields(scopes)
		tok.Created = timeOf(created)
		if revoked != nil {
			r := timeOf(revoked)
			tok.Revoked = &r
		}
		toks, hashes = append(toks, tok), append(hashes, hash)
	}
	return toks, hashes, wrap("read tokens", rows.Err())
}

func timeOf(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case int64:
		return time.UnixMicro(x).UTC()
	}
	return time.Time{}
}

// Revoke revokes a token by id; a revoked token authenticates no more
// (within CacheFor).
func (t *Tokens) Revoke(ctx context.Context, id string) error {
	var n int64
	err := t.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		var err error
		n, err = execOf(tx).exec(ctx, "UPDATE "+t.table()+" SET revoked = "+t.ph(1)+" WHERE id = "+t.ph(2)+" AND revoked IS NULL", t.timeArg(time.Now().UTC()), id)
		return err
	})
	if err != nil {
		return wrap("revoke a token", err)
	}
	if n == 0 {
		return prov.Errorf(prov.NotFound, "no live token has id %s: 'prov token list' shows the tokens", id)
	}
	t.mu.Lock()
	delete(t.cache, id)
	t.mu.Unlock()
	return nil
}

// Authenticate checks a presented token and returns it, or an error of
// kind Unauthorized that says what is wrong (never which part of a secret).
func (t *Tokens) Authenticate(ctx context.Context, presented string) (Token, error) {
	rest, ok := strings.CutPrefix(presented, "prov_")
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || id == "" || secret == "" || len(presented) > 200 {
		return Token{}, prov.Errorf(prov.Unauthorized, "the bearer token is not a Prov token (prov_<id>_<secret>)")
	}
	sum := sha256.Sum256([]byte(secret))
	t.mu.Lock()
	c, hit := t.cache[id]
	t.mu.Unlock()
	if !hit || time.Since(c.at) > t.CacheFor {
		err := t.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
			toks, hashes, err := t.read(ctx, execOf(tx), id)
			if err != nil {
				return err
			}
			if len(toks) == 0 {
				c = cached{}
				return nil
			}
			c = cached{tok: toks[0], hash: hashes[0], at: time.Now()}
			return nil
		})
		if err != nil {
			return Token{}, err
		}
		if c.hash != nil {
			t.mu.Lock()
			t.cache[id] = c
			t.mu.Unlock()
		}
	}
	if c.hash == nil || subtle.ConstantTimeCompare(c.hash, sum[:]) != 1 {
		return Token{}, prov.Errorf(prov.Unauthorized, "the bearer token is not valid: check it, or create one with 'prov token create'")
	}
	if c.tok.Revoked != nil {
		return Token{}, prov.Errorf(prov.Unauthorized, "the bearer token %s was revoked at %s", id, c.tok.Revoked.Format(time.RFC3339))
	}
	return c.tok, nil
}
