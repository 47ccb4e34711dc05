package app_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// flakyTokens is a UsedTokens whose backend can be "down".
type flakyTokens struct {
	lobby.UsedTokens
	down atomic.Bool
}

func (f *flakyTokens) UseOnce(ctx context.Context, jti string, exp time.Time) (bool, error) {
	if f.down.Load() {
		return false, fmt.Errorf("%w: test outage", lobby.ErrStoreUnavailable)
	}
	return f.UsedTokens.UseOnce(ctx, jti, exp)
}

// TestSocketStoreUnavailable: when the shared store cannot check a socket
// token, the hello is closed with 1013 (try again later), not 4001, and the
// same token works once the store is back.
func TestSocketStoreUnavailable(t *testing.T) {
	used := &flakyTokens{UsedTokens: lobby.NewMemoryUsedTokens()}
	cfg := testkit.QuickLobby()
	cfg.UsedTokens = used
	_, hs := testkit.Serve(t, app.Config{Lobby: cfg, NewBrain: func(string, int, uint64) game.Brain { return walker{} }})
	p := guest(t, hs.URL, "ada")
	as := queue(t, hs.URL, p, "bench")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	used.down.Store(true)
	c, err := client.Dial(ctx, as.WSURL, as.Token)
	if err == nil {
		_ = c.Close()
	}
	if got := code(err); got != wire.CodeTryAgain {
		t.Fatalf("hello with the store down: %v (code %d), want %d", err, got, wire.CodeTryAgain)
	}
	used.down.Store(false)
	c, err = client.Dial(ctx, as.WSURL, as.Token)
	if err != nil {
		t.Fatalf("the same token after the outage: %v", err)
	}
	_ = c.Close()
}
