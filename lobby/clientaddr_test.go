package lobby

import (
	"net/http"
	"testing"
)

func TestClientAddrs(t *testing.T) {
	r, err := NewClientAddrs([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"untrusted peer's header is ignored", "203.0.113.7:5000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted proxy", "10.1.2.3:5000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"client-supplied hops left of the real one are ignored", "127.0.0.1:5000", []string{"6.6.6.6, 198.51.100.9, 10.0.0.5"}, "198.51.100.9"},
		{"several headers", "10.0.0.1:1", []string{"6.6.6.6", "198.51.100.9"}, "198.51.100.9"},
		{"only proxies", "10.0.0.1:1", []string{"10.0.0.2"}, "10.0.0.1"},
		{"garbage hop", "10.0.0.1:1", []string{"nonsense"}, "10.0.0.1"},
		{"ipv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, h := range tc.xff {
				req.Header.Add("X-Forwarded-For", h)
			}
			if got := r.Addr(req); got != tc.want {
				t.Errorf("Addr = %q, want %q", got, tc.want)
			}
		})
	}
	var zero ClientAddrs
	req := &http.Request{RemoteAddr: "10.0.0.1:1", Header: http.Header{"X-Forwarded-For": {"1.1.1.1"}}}
	if got := zero.Addr(req); got != "10.0.0.1" {
		t.Errorf("zero Resolver trusted a header: %q", got)
	}
	if _, err := NewClientAddrs([]string{"not-an-ip"}); err == nil {
		t.Error("bad prefix accepted")
	}
}
