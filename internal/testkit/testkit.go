// Package testkit holds what the module's integration tests share: the
// whole server on a loopback port with quick matchmaking, and polling with
// a deadline instead of sleeping for a fixed time.
package testkit

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/lobby"
)

// QuickLobby is a lobby config for tests: groups start after 50 ms, bots
// fill after 200 ms, the matchmaker runs every 20 ms, and nothing is rate
// limited.
func QuickLobby() lobby.Config {
	return lobby.Config{
		FillWait:      50 * time.Millisecond,
		BotFillAfter:  200 * time.Millisecond,
		MatchInterval: 20 * time.Millisecond,
		RateLimit:     rate.Inf,
		RateBurst:     1 << 20,

		SessionRateLimit: rate.Inf,
		SessionRateBurst: 1 << 20,
	}
}

// Serve starts the whole server (lobby, matchmaker, SSE, game sockets) on
// 127.0.0.1:0 and shuts it down, checking for errors, when the test ends.
func Serve(t testing.TB, cfg app.Config) (*app.App, *httptest.Server) {
	t.Helper()
	a, err := app.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return a, hs
}

// WaitFor polls cond every few milliseconds until it holds, failing the
// test after 15 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
