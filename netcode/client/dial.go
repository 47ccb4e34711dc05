package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
)

// ErrBadURL is returned (wrapped) by Dial for a URL that is not ws:// or
// wss:// with a host.
var ErrBadURL = errors.New("client: bad WebSocket URL")

// Dialer opens the stream connection a Client speaks WebSocket over (TLS,
// for wss://, is added on top by the client). *net.Dialer implements it,
// and so do the SOCKS5 dialers of golang.org/x/net/proxy (as
// proxy.ContextDialer); wrap anything else in a DialerFunc.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// DialerFunc adapts a function to Dialer.
type DialerFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// DialContext calls f.
func (f DialerFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// WithDialer makes the client open its connections with d (a proxy, a
// custom resolver, an in-memory pipe in tests). Dial and every Resume call
// d.DialContext("tcp", host:port) with the handshake deadline in ctx. If
// d is nil, or without this option, a net.Dialer is used.
func WithDialer(d Dialer) Option { return func(o *options) { o.dialer = d } }

// WithTLSConfig sets the TLS configuration for wss:// URLs (custom root
// CAs, client certificates, a pinned ServerName). The client clones it and,
// when ServerName is empty, sets it to the URL's host, so one config may be
// shared by many clients. Without this option the system roots are used.
// It is ignored for ws:// URLs.
func WithTLSConfig(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// target is where a WebSocket URL says to connect.
type target struct {
	url  string // the URL as given, for the HTTP upgrade request
	addr string // host:port to dial
	host string // host name or IP literal, without brackets or port
	tls  bool   // wss://
}

// parseTarget checks a WebSocket URL and derives the address to dial: the
// URL's port, or 80 for ws:// and 443 for wss:// when it has none, with
// IPv6 literals bracketed.
func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	t := target{url: raw, host: u.Hostname()}
	port := u.Port()
	switch u.Scheme {
	case "ws":
		if port == "" {
			port = "80"
		}
	case "wss":
		t.tls = true
		if port == "" {
			port = "443"
		}
	default:
		return target{}, fmt.Errorf("%w: scheme %q in %q, want ws or wss", ErrBadURL, u.Scheme, raw)
	}
	if t.host == "" {
		return target{}, fmt.Errorf("%w: no host in %q", ErrBadURL, raw)
	}
	t.addr = net.JoinHostPort(t.host, port)
	return t, nil
}

// dialConn opens the connection to t: TCP through the configured dialer,
// then the TLS handshake for wss://, both bounded by ctx.
func (c *Client) dialConn(ctx context.Context, t target) (net.Conn, error) {
	var d Dialer = &net.Dialer{}
	if c.opts.dialer != nil {
		d = c.opts.dialer
	}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if !t.tls {
		return nc, nil
	}
	var cfg *tls.Config
	if c.opts.tls != nil {
		cfg = c.opts.tls.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = t.host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("client: tls handshake with %s: %w", t.addr, err)
	}
	return tc, nil
}
