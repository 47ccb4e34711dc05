package lobby

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddrs finds the address a request really came from, for rate
// limits and connection caps: the TCP peer, or, when the peer is a trusted
// reverse proxy, the right-most address in X-Forwarded-For that is not one
// of the trusted proxies (the entries left of it are whatever the client
// claims and cannot be trusted). The zero value trusts no proxy. The game
// server keys its socket caps with it too (internal/app wires it), so
// both count a client behind a proxy the same way.
type ClientAddrs struct {
	trusted []netip.Prefix
}

// NewClientAddrs returns a ClientAddrs that trusts X-Forwarded-For from
// peers in the given CIDR prefixes or single addresses (e.g. "10.0.0.0/8",
// "127.0.0.1").
func NewClientAddrs(trusted []string) (ClientAddrs, error) {
	var r ClientAddrs
	for _, t := range trusted {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				return ClientAddrs{}, fmt.Errorf("lobby: trusted proxy %q: not an address or CIDR prefix", t)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

func (r ClientAddrs) isTrusted(a netip.Addr) bool {
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
func (r ClientAddrs) Addr(req *http.Request) string {
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
