package netcode_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// TestGracePeriodHoldsSeat: a dropped player's seat and entity are held
// across many housekeeping passes and resumed as they were; dropped again,
// the seat is released only once the whole grace period has passed, and
// then a reconnect is refused. Housekeeping runs every 10 ms here instead
// of every second, so "many passes" is short, and each wait polls the
// server's pass counter with a deadline.
func TestGracePeriodHoldsSeat(t *testing.T) {
	const grace = time.Second
	type release struct {
		at     time.Time
		player game.PlayerID
		reason string
	}
	released := make(chan release, 4)
	cfg := netcode.Config{Grace: grace, Hooks: netcode.Hooks{SeatReleased: func(_ string, p game.PlayerID, reason string) {
		released <- release{time.Now(), p, reason}
	}}}
	netcode.SetHousekeep(&cfg, 10*time.Millisecond)
	env := newTestServer(t, cfg)
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(2)})
	_ = env.dial(2, id) // keeps the match from being abandoned
	c := env.dial(1, id)
	first := c.Welcome()

	// drop cuts the socket, waits for the server to notice and then for
	// several housekeeping passes, and checks that the seat is still held.
	drop := func() time.Time {
		t.Helper()
		dropped := time.Now() // the grace period starts after this
		c.Drop()
		testkit.WaitFor(t, "the server to notice the drop", func() bool { return env.srv.Stats().ConnsOpen.Load() == 1 })
		passes := env.srv.HousekeepPasses(id)
		testkit.WaitFor(t, "five housekeeping passes", func() bool { return env.srv.HousekeepPasses(id) >= passes+5 })
		if held := time.Since(dropped); held >= grace {
			t.Fatalf("the machine is too slow for this test: five passes took %v", held)
		}
		select {
		case r := <-released:
			t.Fatalf("seat of player %d released (%s) %v after the drop, within the %v grace period", r.player, r.reason, r.at.Sub(dropped), grace)
		default:
		}
		if info, _ := env.srv.Match(id); !slices.Contains(info.Players, 1) {
			t.Fatalf("player 1 lost the seat during the grace period: %+v", info)
		}
		return dropped
	}

	keys := c.Stats().Keyframes
	drop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Resume(ctx); err != nil {
		t.Fatalf("resume within the grace period: %v", err)
	}
	if w := c.Welcome(); !w.Resumed || w.Entity != first.Entity || w.Player != first.Player {
		t.Fatalf("resume welcome %+v after %+v", w, first)
	}
	testkit.WaitFor(t, "a keyframe after the resume", func() bool { return c.Stats().Keyframes > keys })

	dropped := drop()
	select {
	case r := <-released:
		if r.player != 1 || r.reason != "grace expired" {
			t.Fatalf("released player %d (%s)", r.player, r.reason)
		}
		if held := r.at.Sub(dropped); held < grace {
			t.Fatalf("seat released %v after the drop, before the %v grace period ended", held, grace)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("seat never released")
	}
	if err := c.Resume(ctx); closeCode(err) != wire.CodeSeatExpired {
		t.Fatalf("reconnect after the grace period: %v, want code %d", err, wire.CodeSeatExpired)
	}
}

// TestReservedSeatsReleasedTogether: seats reserved for players who never
// come expire together, in one housekeeping pass, as "never connected".
func TestReservedSeatsReleasedTogether(t *testing.T) {
	type release struct {
		player game.PlayerID
		reason string
		pass   uint64
	}
	released := make(chan release, 4)
	var env *testEnv
	cfg := netcode.Config{Grace: 100 * time.Millisecond, Hooks: netcode.Hooks{SeatReleased: func(id string, p game.PlayerID, reason string) {
		released <- release{p, reason, env.srv.HousekeepPasses(id)}
	}}}
	netcode.SetHousekeep(&cfg, 10*time.Millisecond)
	env = newTestServer(t, cfg)
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(3)})
	_ = env.dial(3, id) // keeps the match from being abandoned
	var got []release
	for range 2 {
		select {
		case r := <-released:
			got = append(got, r)
		case <-time.After(15 * time.Second):
			t.Fatalf("released %+v, want players 1 and 2", got)
		}
	}
	if got[0].player != 1 || got[1].player != 2 || got[0].reason != "never connected" || got[1].reason != "never connected" {
		t.Fatalf("released %+v, want players 1 and 2, never connected", got)
	}
	if got[0].pass != got[1].pass {
		t.Fatalf("released in passes %d and %d, want one pass", got[0].pass, got[1].pass)
	}
}
