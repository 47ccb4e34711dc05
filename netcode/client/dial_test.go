package client

import (
	"errors"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		url  string
		addr string
		host string
		tls  bool
	}{
		{"ws://127.0.0.1:8080/v1/ws?match=m1", "127.0.0.1:8080", "127.0.0.1", false},
		{"ws://example.com/v1/ws", "example.com:80", "example.com", false},
		{"ws://example.com:/v1/ws", "example.com:80", "example.com", false},
		{"wss://example.com/v1/ws?match=m1", "example.com:443", "example.com", true},
		{"wss://example.com:8443/v1/ws", "example.com:8443", "example.com", true},
		{"wss://Example.COM", "Example.COM:443", "Example.COM", true},
		{"ws://[::1]:8080/v1/ws", "[::1]:8080", "::1", false},
		{"ws://[::1]/v1/ws", "[::1]:80", "::1", false},
		{"wss://[2001:db8::1]/v1/ws", "[2001:db8::1]:443", "2001:db8::1", true},
		{"wss://[fe80::1%25eth0]:9000/v1/ws", "[fe80::1%eth0]:9000", "fe80::1%eth0", true},
		{"ws://user:pw@host:81/x", "host:81", "host", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := parseTarget(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if got.addr != tc.addr || got.host != tc.host || got.tls != tc.tls || got.url != tc.url {
				t.Fatalf("got %+v, want addr %q host %q tls %v", got, tc.addr, tc.host, tc.tls)
			}
		})
	}
}

func TestParseTargetRefuses(t *testing.T) {
	for _, u := range []string{
		"http://example.com/v1/ws",
		"example.com:8080",
		"ws:///v1/ws",
		"wss://:443/v1/ws",
		"ws://host:port/v1/ws",
		"ws://[::1/v1/ws",
		"",
	} {
		t.Run(u, func(t *testing.T) {
			if got, err := parseTarget(u); !errors.Is(err, ErrBadURL) {
				t.Fatalf("parseTarget(%q) = %+v, %v; want ErrBadURL", u, got, err)
			}
		})
	}
}
