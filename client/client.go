// Package client is a Go client of Prov's HTTP API (package httpapi, served
// by prov serve): append records, read the log, get checkpoints and proofs,
// verify, and investigate captured changes, from a program that cannot or
// should not reach the database.
//
// Errors the server reports (RFC 9457 problem+json) are *Error values that
// keep the status, title and detail and carry the domain's kind, so that
// prov.KindOf and prov.IsKind work on them as on errors of the embedded log.
// A server that cannot be reached is an error of kind Unavailable.
//
// Only idempotent requests are retried: reads, verification, and appends
// whose records all carry a producer event id (the server answers a retried
// event with its original index). Any request is retried when it could not
// be sent at all (the connection was refused).
//
// The client does not trust the server for what it can check itself:
// VerifiedCheckpoint, ProveInclusion and ProveConsistency check signatures
// and Merkle proofs locally against the log's verifier key.
//
// A Client may be used by several goroutines at once.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prov-dev/prov"
)

// Client talks to one Prov server with one token.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client

	// Timeout bounds each attempt of a request that is not a stream, and the
	// wait for a stream's first byte (a stream then lasts as long as its
	// context). 0: no bound but the context's.
	Timeout time.Duration
	// Retries is how many times an idempotent request is tried again after
	// a network error or a 429, 502, 503 or 504 answer.
	Retries int
	// Backoff is the wait before the first retry; it doubles with each one,
	// with jitter, and a Retry-After answer of up to a minute is honoured.
	Backoff time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// Option changes how New builds a Client.
type Option func(*options)

type options struct{ insecure bool }

// Insecure allows plain http:// to a host that is not the loopback
// interface, where the token and the data cross the network unencrypted.
// Use it only behind a proxy that terminates TLS on the same machine.
func Insecure() Option { return func(o *options) { o.insecure = true } }

// Defaults of a new Client.
const (
	DefaultTimeout = 5 * time.Minute
	DefaultRetries = 3
	DefaultBackoff = 250 * time.Millisecond
)

// New returns a client of the server at baseURL (https://host:port, or
// http:// on loopback) that sends token as its bearer token (none if
// empty). hc is the HTTP client to use (nil: a new one); its redirects are
// refused, so that the token never follows one, and its own Timeout, if
// any, also cuts streams. New fails with kind Invalid for a URL that is not
// http(s), carries credentials, or is plain http to another host without
// the Insecure option.
func New(baseURL, token string, hc *http.Client, opts ...Option) (*Client, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, prov.Errorf(prov.Invalid, "the server %q is not an http:// or https:// URL, such as https://prov.example.com:7470", redactURL(baseURL))
	}
	if u.User != nil {
		return nil, prov.Errorf(prov.Invalid, "the server URL must not carry credentials: give the token separately (--token-file or PROV_TOKEN)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, prov.Errorf(prov.Invalid, "the server URL %s must not have a query or fragment", u.Redacted())
	}
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) && !o.insecure {
		return nil, prov.Errorf(prov.Invalid, "the server %s is plain http:// on a host that is not this machine: the token and the records would cross the network unencrypted; use https://, or say --insecure if a proxy on this machine terminates TLS", u.Redacted())
	}
	if strings.ContainsAny(token, "\r\n") {
		return nil, prov.Errorf(prov.Invalid, "the token holds a line break: check the token file")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		return prov.Errorf(prov.Unavailable, "the server redirected to %s: give that address as the server (redirects are not followed, so that the token goes only where you send it)", req.URL.Redacted())
	}
	return &Client{base: u, token: token, hc: c, Timeout: DefaultTimeout, Retries: DefaultRetries, Backoff: DefaultBackoff, UserAgent: "prov-client/1"}, nil
}

// IsLoopback reports whether host (a name or an IP address, without port)
// is this machine's loopback interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL returns the server's base URL.
func (c *Client) URL() string { return c.base.String() }

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparseable URL)"
}

// Error is a problem the server reported (RFC 9457 problem+json), or an
// answer that was not what the API promises.
type Error struct {
	Status int
	Type   string // the problem type URI
	Title  string
	Detail string
	Line   int // for appends: the 1-based record of the request at fault, 0 if none
	Kind   prov.Kind

	retryAfter time.Duration
}

// Error returns the server's sentence, which says what was wrong and what to do.
func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	return fmt.Sprintf("the server answered %d %s", e.Status, e.Title)
}

// Unwrap exposes the kind as a *prov.Error, for prov.KindOf and errors.As.
func (e *Error) Unwrap() error { return &prov.Error{Kind: e.Kind, Message: e.Error()} }

// kindOf maps a problem to the domain's kind: by its type when it names
// one, else by status.
func kindOf(status int, typ string) prov.Kind {
	name := strings.ReplaceAll(typ[strings.LastIndexByte(typ, '/')+1:], "-", "_")
	switch k := prov.Kind(name); k {
	case prov.Invalid, prov.NotFound, prov.Conflict, prov.Unauthorized, prov.Tampered, prov.Unavailable, prov.Internal:
		return k
	}
	switch name {
	case "forbidden":
		return prov.Unauthorized
	case "too_large":
		return prov.Invalid
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return prov.Unauthorized
	case status == http.StatusNotFound:
		return prov.NotFound
	case status == http.StatusConflict:
		return prov.Conflict
	case status == http.StatusUnprocessableEntity:
		return prov.Tampered
	case status == http.StatusTooManyRequests || status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		return prov.Unavailable
	case status >= 400 && status < 500:
		return prov.Invalid
	}
	return prov.Internal
}

// problem reads an error answer.
func problem(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Line   int    `json:"line"`
	}
	if json.Unmarshal(body, &p) == nil && (p.Type != "" || p.Detail != "") {
		e.Type, e.Detail, e.Line = p.Type, p.Detail, p.Line
		if p.Title != "" {
			e.Title = p.Title
		}
	} else {
		e.Detail = fmt.Sprintf("the server answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if s := strings.TrimSpace(string(body)); s != "" && len(s) < 200 && !strings.ContainsAny(s, "<>") {
			e.Detail += ": " + s
		}
	}
	e.Kind = kindOf(resp.StatusCode, e.Type)
	return e
}

// request is one API call.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	contentType  string
	idempotent   bool
	stream       bool // the caller reads the body: the timeout covers the headers only
}

// do sends r, retrying as allowed, and returns a 2xx response whose body
// the caller must close, or an error. cancel must be called once the body
// is read.
func (c *Client) do(ctx context.Context, r request) (resp *http.Response, cancel func(), err error) {
	u := *c.base
	u.Path += r.path
	u.RawPath = ""
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		resp, cancel, err = c.once(ctx, r, &u)
		if err == nil {
			return resp, cancel, nil
		}
		var retryAfter time.Duration
		retry := false
		var pe *Error
		switch {
		case ctx.Err() != nil:
			return nil, nil, prov.Errorf(prov.Unavailable, "%s %s: %v", r.method, r.path, context.Cause(ctx))
		case errors.As(err, &pe):
			retry = r.idempotent && (pe.Status == 429 || pe.Status == 502 || pe.Status == 503 || pe.Status == 504)
			retryAfter = pe.retryAfter
		default:
			retry = r.idempotent || notSent(err)
		}
		if !retry || attempt >= c.Retries {
			return nil, nil, err
		}
		wait := c.Backoff << attempt
		wait += time.Duration(rand.Int64N(int64(wait)/2 + 1))
		if retryAfter > 0 {
			wait = retryAfter
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, prov.Errorf(prov.Unavailable, "%s %s: %v (after: %v)", r.method, r.path, context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

// notSent reports whether a transport error happened before the request
// could reach the server, so that sending it again cannot do it twice.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// once sends r once.
func (c *Client) once(ctx context.Context, r request, u *url.URL) (*http.Response, func(), error) {
	ctx, cancel := context.WithCancelCause(ctx)
	var timer *time.Timer
	if c.Timeout > 0 {
		timer = time.AfterFunc(c.Timeout, func() { cancel(errTimeout{c.Timeout}) })
	}
	stop := func() {
		if timer != nil {
			timer.Stop()
		}
		cancel(nil)
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		stop()
		return nil, nil, prov.Errorf(prov.Invalid, "%s %s: %v", r.method, r.path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	req.Header.Set("User-Agent", c.UserAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		stop()
		var pe *prov.Error
		if errors.As(err, &pe) { // our CheckRedirect
			return nil, nil, pe
		}
		var et errTimeout
		if errors.As(context.Cause(ctx), &et) {
			return nil, nil, prov.Errorf(prov.Unavailable, "the server %s did not answer %s %s within %v: retry later, or raise the timeout", c.base.Host, r.method, r.path, et.d)
		}
		return nil, nil, prov.Errorf(prov.Unavailable, "cannot reach the server %s: %v", c.base.Host, unwrapURL(err))
	}
	if r.stream && timer != nil {
		timer.Stop() // headers are in: the stream lasts as long as ctx
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		defer stop()
		p := problem(resp)
		if s := resp.Header.Get("Retry-After"); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 60 {
				p.retryAfter = time.Duration(n) * time.Second
			}
		}
		return nil, nil, p
	}
	resp.Body = &ctxBody{ReadCloser: resp.Body, ctx: ctx}
	return resp, stop, nil
}

// ctxBody reports why a body's read was cut: a timeout or the caller.
type ctxBody struct {
	io.ReadCloser
	ctx context.Context
}

func (b *ctxBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); cause != nil {
			err = cause
		}
	}
	return n, err
}

// unwrapURL drops *url.Error's "Get URL:" prefix, which repeats the address.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("no answer in time (%v)", ue.Err)
		}
		return ue.Err
	}
	return err
}

// errTimeout is the cause of a request's cancellation by Client.Timeout.
type errTimeout struct{ d time.Duration }

func (e errTimeout) Error() string { return fmt.Sprintf("no answer within %v", e.d) }

// readErr describes an error reading an answer's body.
func (c *Client) readErr(ctx context.Context, what string, err error) error {
	var et errTimeout
	if errors.As(err, &et) {
		return prov.Errorf(prov.Unavailable, "reading %s from %s: %v", what, c.base.Host, et)
	}
	if ctx.Err() != nil {
		return prov.Errorf(prov.Unavailable, "reading %s from %s: %v", what, c.base.Host, context.Cause(ctx))
	}
	var pe *prov.Error
	if errors.As(err, &pe) {
		return err
	}
	return prov.Errorf(prov.Unavailable, "reading %s from %s: %v", what, c.base.Host, err)
}
