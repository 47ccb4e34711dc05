package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunServesAndShutsDown starts the real main on a loopback port with a
// data directory, checks /healthz and a guest sign-in, then stops it.
func TestRunServesAndShutsDown(t *testing.T) {
	base, stop := serveRun(t, "-admin-addr", "127.0.0.1:0", "-data-dir", t.TempDir())
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h["status"] != "ok" {
		t.Fatalf("healthz %d %v", resp.StatusCode, h)
	}
	resp, err = http.Post(base+"/v1/auth/guest", "application/json", strings.NewReader(`{"name":"ada"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("guest sign-in: %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestAdminListener: -admin-addr serves the metrics, the ops page and the
// readiness probe; the public address serves none of the admin routes.
func TestAdminListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := l.Addr().String()
	l.Close()
	public, stop := serveRun(t, "-admin-addr", adminAddr)
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	admin := "http://" + adminAddr
	if code, body := get(admin + "/metrics"); code != 200 || !strings.Contains(body, "rallypoint_ticks_total") {
		t.Errorf("admin /metrics: %d", code)
	}
	for _, path := range []string{"/ops", "/readyz", "/healthz", "/log/level", "/debug/pprof/"} {
		if code, _ := get(admin + path); code != 200 {
			t.Errorf("admin %s: %d", path, code)
		}
	}
	for _, path := range []string{"/metrics", "/ops", "/log/level", "/debug/pprof/"} {
		if code, body := get(public + path); code == 200 || strings.Contains(body, "rallypoint_") {
			t.Errorf("public %s: %d", path, code)
		}
	}
	if code, _ := get(public + "/readyz"); code != 200 {
		t.Errorf("public /readyz: %d", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestBadFlag reports a flag error instead of starting.
func TestBadFlag(t *testing.T) {
	for _, args := range [][]string{
		{"-log-level", "loud"},
		{"-read-path", "poll"},
		{"-bench-null-snapshot", "5"}, // smaller than any snapshot
	} {
		args = append(args, "-addr", "127.0.0.1:0", "-admin-addr", "", "-data-dir", "")
		if err := run(context.Background(), args, nil); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
}

// TestGameConfigs: -max-rewind 0 turns lag compensation off (the config's
// zero would mean the default), -match-time shortens only the arena.
func TestGameConfigs(t *testing.T) {
	g := gameConfigs(30, 200*time.Millisecond, 0)
	if g["arena"].MaxRewind != 200*time.Millisecond || g["arena"].TimeLimitTicks != 0 || g["bench"].MaxRewind != 200*time.Millisecond {
		t.Errorf("defaults: %+v", g)
	}
	g = gameConfigs(20, 0, 90*time.Second)
	if g["arena"].MaxRewind >= 0 || g["arena"].TimeLimitTicks != 1800 || g["bench"].TimeLimitTicks != 0 {
		t.Errorf("-max-rewind 0 -match-time 90s at 20 Hz: %+v", g)
	}
}

// TestHTTPServerLimits: an idle keep-alive and a slow body cannot hold a
// connection open for long.
func TestHTTPServerLimits(t *testing.T) {
	s := newHTTPServer("127.0.0.1:0", http.NotFoundHandler(), zap.NewNop())
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.IdleTimeout == 0 || s.MaxHeaderBytes == 0 || s.IdleTimeout > time.Minute {
		t.Errorf("server limits %+v", s)
	}
}
