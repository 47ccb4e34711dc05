// Package realip finds the address a request really came from, for rate
// limits and connection caps: the TCP peer, or, when the peer is a trusted
// reverse proxy, the right-most address in X-Forwarded-For that is not one
// of the trusted proxies (the left-most entries are whatever the client
// claims and cannot be trusted).
package realip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds a request's client address. The zero value trusts no
// proxy: every request is its TCP peer.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that trusts X-Forwarded-For from peers in the
// given CIDR prefixes or single addresses (e.g. "10.0.0.0/8",
// "127.0.0.1").
func New(trusted []string) (Resolver, error) {
	var r Resolver
	for _, t := range trusted {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				return Resolver{}, fmt.Errorf("realip: trusted proxy %q: not an address or CIDR prefix", t)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

func (r Resolver) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the client address of req as a string (an IP, without the
// port).
func (r Resolver) Addr(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(r.trusted) == 0 || !r.isTrusted(peer) {
		return host
	}
	hops := req.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return host // a malformed hop: stop at the proxy we know
			}
			if !r.isTrusted(a) {
				return a.Unmap().String()
			}
		}
	}
	return host
}
