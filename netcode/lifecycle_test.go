package netcode_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// TestDrainThenShutdown: Drain refuses new matches and waits for running
// ones to end by themselves; a match that outlives the drain is ended by
// Shutdown with a "shutdown" MatchOver carrying the standings, a going-away
// close, and its result in MatchEnded.
func TestDrainThenShutdown(t *testing.T) {
	results := make(chan game.Result, 4)
	env := newTestServer(t, netcode.Config{Hooks: netcode.Hooks{
		MatchEnded: func(_ netcode.MatchInfo, res game.Result, _ error) { results <- res },
	}})
	short := env.match(netcode.MatchSpec{Mode: "arena", Players: players(2), Game: game.Config{TimeLimitTicks: 20}})
	long := env.match(netcode.MatchSpec{Mode: "arena", Players: players(2)})
	overc := make(chan wire.MatchOver, 1)
	c := env.dial(1, long, client.WithOnMatchOver(func(_ *client.Client, m wire.MatchOver) { overc <- m }))
	env.dial(2, long)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = short
	if err := env.srv.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a match still running: %v", err)
	}
	if r := <-results; r.Reason != "time" {
		t.Errorf("the short match ended with %q during the drain, want time", r.Reason)
	}
	if _, err := env.srv.CreateMatch(netcode.MatchSpec{Mode: "arena", Players: players(2)}); !errors.Is(err, netcode.ErrDraining) {
		t.Errorf("CreateMatch while draining: %v", err)
	}
	if !c.Connected() {
		t.Fatal("the long match's player was disconnected by the drain")
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := env.srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-overc:
		if m.Reason != "shutdown" || len(m.Results) != 2 {
			t.Errorf("MatchOver %+v, want shutdown with both players", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no MatchOver at shutdown")
	}
	<-c.Done()
	if got := closeCode(c.Err()); got != wire.CodeGoingAway {
		t.Errorf("close %v, want %d", c.Err(), wire.CodeGoingAway)
	}
	if r := <-results; r.Reason != "shutdown" || len(r.Players) != 2 {
		t.Errorf("MatchEnded %+v, want shutdown with both players", r)
	}
}

// TestKeyframeReasons: keyframes are counted by why they were sent; a new
// connection's first snapshot is a join.
func TestKeyframeReasons(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(2)})
	k := &cadence{}
	env.dial(1, id, k.option())
	testkit.WaitFor(t, "the first snapshot", func() bool { n, _, _ := k.get(); return n > 0 })
	st := env.srv.Stats()
	if st.KeyframesBy[0].Load() != 1 || st.Keyframes.Load() != 1 || netcode.KeyframeReasons()[0] != "join" {
		t.Errorf("keyframes %d, by reason %d/%d/%d, want 1 join", st.Keyframes.Load(), st.KeyframesBy[0].Load(), st.KeyframesBy[1].Load(), st.KeyframesBy[2].Load())
	}
}
