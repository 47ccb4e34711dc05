package main

import (
	"context"
	"encoding/json"
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
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	dir := t.TempDir()
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data-dir", dir, "-log-level", "error"}, func(a string) { addrc <- a })
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("server did not start")
	}
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
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
}

// TestBadFlag reports a flag error instead of starting.
func TestBadFlag(t *testing.T) {
	if err := run(context.Background(), []string{"-log-level", "loud"}, nil); err == nil {
		t.Fatal("bad log level accepted")
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
