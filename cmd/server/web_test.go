package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServesDemo starts the real main and checks that the browser demo is
// served at / with its script and stylesheet, and that the static handler
// does not swallow the API: unknown /v1/ paths get the lobby's JSON 404 and
// /healthz still answers.
func TestServesDemo(t *testing.T) {
	base, stop := serveRun(t, "-data-dir", "")
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()

	tests := []struct {
		path   string
		status int
		ctype  string
		body   string // a substring of the body
	}{
		{"/", 200, "text/html; charset=utf-8", `id="arena"`},
		{"/app.js", 200, "text/javascript; charset=utf-8", ""},
		{"/app.css", 200, "text/css; charset=utf-8", ""},
		{"/no-such-file.js", 404, "", ""},
		{"/v1/no-such-endpoint", 404, "application/json", `"error"`},
		{"/v1/matches", 200, "application/json", `"matches"`},
		{"/healthz", 200, "application/json", `"ok"`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tc.status, b)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Fatalf("Content-Type %q, want %q", ct, tc.ctype)
			}
			if !strings.Contains(string(b), tc.body) {
				t.Fatalf("body lacks %q: %.200s", tc.body, b)
			}
			if tc.status == 200 && len(b) == 0 {
				t.Fatal("empty body")
			}
		})
	}
}
