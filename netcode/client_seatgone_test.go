package netcode_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
)

// TestAutoReconnectStopsWhenSeatGone: a TokenSource error wrapping
// ErrSeatGone (the lobby says not_seated: the match was lost with its node)
// ends automatic reconnection at once, even with unlimited attempts, so
// the caller can queue again.
func TestAutoReconnectStopsWhenSeatGone(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	var asked atomic.Int32
	c := env.dial(1, id,
		client.WithAutoReconnect(10*time.Millisecond, 20*time.Millisecond, 0),
		client.WithTokenSource(func(context.Context) (string, error) {
			asked.Add(1)
			return "", fmt.Errorf("lobby said not_seated: %w", client.ErrSeatGone)
		}))
	c.Drop()
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("still reconnecting after %d token requests", asked.Load())
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("asked for %d tokens, want 1", n)
	}
}
