package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// TestSocketTokenSingleUse: a socket token opens one connection. Replaying
// it (5 s later, or at once) is refused with 4001 and does not kick the
// real player off the seat.
func TestSocketTokenSingleUse(t *testing.T) {
	hs := newApp(t)
	p := guest(t, hs.URL, "ada")
	as := queue(t, hs.URL, p, "bench")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	real, err := client.Dial(ctx, as.WSURL, as.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	replay, err := client.Dial(ctx, as.WSURL, as.Token)
	if err == nil {
		_ = replay.Close()
	}
	if got := code(err); got != wire.CodeAuthFailed {
		t.Fatalf("replayed token: %v (code %d), want %d", err, got, wire.CodeAuthFailed)
	}
	time.Sleep(50 * time.Millisecond) // a kick would have arrived by now
	if !real.Connected() {
		t.Fatalf("the real player was kicked by the replay: %v", real.Err())
	}
	// A fresh token from the lobby works (a reconnect), once.
	fresh, status := rejoinToken(t, hs.URL, p, as.MatchID)
	if status != 200 {
		t.Fatalf("fresh token: %d", status)
	}
	c2, err := client.Dial(ctx, fresh.WSURL, fresh.Token)
	if err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
	_ = c2.Close()
}

// TestLogoutClosesSockets: logging out closes the player's live socket with
// 4003 and releases the seat.
func TestLogoutClosesSockets(t *testing.T) {
	hs := newApp(t)
	p := guest(t, hs.URL, "ada")
	as := queue(t, hs.URL, p, "bench")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, as.WSURL, as.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if status := call(t, "POST", hs.URL+"/v1/auth/logout", p.Session, nil, nil); status/100 != 2 {
		t.Fatalf("logout: %d", status)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the live socket kept playing after logout")
	}
	if got := code(c.Err()); got != wire.CodeTokenRevoked {
		t.Fatalf("closed with %v, want %d", c.Err(), wire.CodeTokenRevoked)
	}
	testkit.WaitFor(t, "the seat to be released", func() bool {
		var m struct {
			Players []uint32 `json:"players"`
		}
		status := call(t, "GET", hs.URL+"/v1/matches/"+as.MatchID, "", nil, &m)
		return status == 404 || len(m.Players) == 0
	})
}
