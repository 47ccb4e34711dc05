package netcode_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// TestBotIdentities: server-side bots get player ids from FirstBotPlayer
// up, above every lobby id, and brains seeded from the match seed, one
// apart, so a seeded match replays with the same bots.
func TestBotIdentities(t *testing.T) {
	var mu sync.Mutex
	var seeds []uint64
	env := newTestServer(t, netcode.Config{NewBrain: func(_ string, _ int, seed uint64) game.Brain {
		mu.Lock()
		defer mu.Unlock()
		seeds = append(seeds, seed)
		return rightBrain{}
	}})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1), Bots: 3, Seed: 100})
	c := env.dial(1, id)
	testkit.WaitFor(t, "three bot avatars", func() bool {
		n := 0
		for _, e := range c.Entities(nil) {
			if e.Kind == game.KindAvatar && e.Owner != 1 {
				n++
			}
		}
		return n == 3
	})
	owners := map[game.PlayerID]bool{}
	for _, e := range c.Entities(nil) {
		if e.Kind == game.KindAvatar && e.Owner != 1 {
			owners[e.Owner] = true
		}
	}
	for i := range 3 {
		if p := netcode.FirstBotPlayer + game.PlayerID(i); !owners[p] {
			t.Errorf("no bot avatar owned by player %d (owners %v)", p, owners)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seeds) != 3 || seeds[0] != 101 || seeds[1] != 102 || seeds[2] != 103 {
		t.Fatalf("brain seeds %v, want [101 102 103]", seeds)
	}
}

// TestOpenMatch: any player whose grant names an open match takes a free
// seat, until the seats run out.
func TestOpenMatch(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Open: true, Game: game.Config{MaxPlayers: 2}})
	a := env.dial(7, id)
	b := env.dial(8, id)
	if a.Welcome().Entity == 0 || b.Welcome().Entity == a.Welcome().Entity {
		t.Fatalf("welcomes %+v %+v", a.Welcome(), b.Welcome())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, env.wsURL(id), env.token(9, id))
	if got := closeCode(err); got != wire.CodeMatchFull {
		t.Fatalf("third player in a two-seat open match: %v", err)
	}
	if info, _ := env.srv.Match(id); len(info.Players) != 2 {
		t.Fatalf("players %v", info.Players)
	}
}

// TestSteerDisconnected: with SteerDisconnected, a brain moves a dropped
// player's avatar during the grace period; without it, the avatar idles.
func TestSteerDisconnected(t *testing.T) {
	for _, steer := range []bool{true, false} {
		t.Run(map[bool]string{true: "steered", false: "idle"}[steer], func(t *testing.T) {
			env := newTestServer(t, netcode.Config{SteerDisconnected: steer, NewBrain: func(string, int, uint64) game.Brain { return rightBrain{} }})
			id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(2), Seed: 11})
			watcher := env.dial(2, id)
			c := env.dial(1, id)
			me := game.EntityID(c.Welcome().Entity)
			c.Drop()
			testkit.WaitFor(t, "the server to notice the drop", func() bool { return env.srv.Stats().ConnsOpen.Load() == 1 })
			x := func() float32 {
				e, ok := watcher.Entity(me)
				if !ok {
					t.Fatalf("the watcher does not see avatar %d", me)
				}
				return wire.Dequantize(e.X)
			}
			testkit.WaitFor(t, "a few ticks after the drop", func() bool {
				_, ok := watcher.Entity(me)
				return ok && watcher.Tick() > c.Tick()+3
			})
			start, x0 := watcher.Tick(), x()
			testkit.WaitFor(t, "30 ticks", func() bool { return watcher.Tick() > start+30 })
			moved := x() - x0
			if steer && moved <= 10 {
				t.Fatalf("a steered avatar moved %v units in 30 ticks", moved)
			}
			if !steer && moved != 0 {
				t.Fatalf("an idle avatar moved %v units", moved)
			}
		})
	}
}

// TestCloseWithoutError: a match that ends, or a server that shuts down,
// closes its sockets with a code but sends no Error message first; every
// message a client gets is a welcome, a snapshot, an event or the result.
func TestCloseWithoutError(t *testing.T) {
	for _, end := range []string{"match over", "shutdown"} {
		t.Run(end, func(t *testing.T) {
			env := newTestServer(t, netcode.Config{})
			spec := netcode.MatchSpec{Mode: "arena", Players: players(1), Game: game.Config{TimeLimitTicks: 20}}
			want := wire.CodeNormal
			if end == "shutdown" {
				spec.Game.TimeLimitTicks, want = -1, wire.CodeGoingAway
			}
			id := env.match(spec)
			var events atomic.Uint64
			c := env.dial(1, id, client.WithOnEvent(func(*client.Client, wire.Event) { events.Add(1) }))
			if end == "shutdown" {
				testkit.WaitFor(t, "a few snapshots", func() bool { return c.Stats().Snapshots > 3 })
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := env.srv.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-c.Done():
			case <-time.After(15 * time.Second):
				t.Fatal("not closed")
			}
			if got := closeCode(c.Err()); got != want {
				t.Fatalf("closed with %v, want %d", c.Err(), want)
			}
			st := c.Stats()
			n := 1 + st.Snapshots + events.Load() // welcome, snapshots, events
			if _, over := c.MatchOver(); over {
				n++
			}
			if st.FramesIn != n {
				t.Fatalf("%d messages received, %d of them welcome, snapshots, events or result", st.FramesIn, n)
			}
		})
	}
}

// TestExecAfterStop: a command sent to a match whose loop has stopped is
// not run and fails with ErrMatchNotFound.
func TestExecAfterStop(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	ran := false
	if err := env.srv.ExecAfterStop(id, func() { ran = true }); !errors.Is(err, netcode.ErrMatchNotFound) || ran {
		t.Fatalf("exec after stop: %v, ran %v", err, ran)
	}
}

func TestCreateMatchSeats(t *testing.T) {
	env := newTestServer(t, netcode.Config{NewBrain: func(string, int, uint64) game.Brain { return rightBrain{} }})
	if _, err := env.srv.CreateMatch(netcode.MatchSpec{Mode: "bench", Players: players(6), Bots: 2}); err != nil {
		t.Fatalf("6 players and 2 bots in 8 seats: %v", err)
	}
	if _, err := env.srv.CreateMatch(netcode.MatchSpec{Mode: "bench", Players: players(6), Bots: 3}); err == nil {
		t.Fatal("6 players and 3 bots fit in 8 seats")
	}
	if _, err := env.srv.CreateMatch(netcode.MatchSpec{Mode: "nope"}); !errors.Is(err, game.ErrUnknownMode) {
		t.Fatalf("unknown mode: %v", err)
	}
}

// TestShutdownClosesHandshakes: a socket still in its handshake when the
// server shuts down is closed at once with CodeGoingAway, not left to its
// handshake timeout.
func TestShutdownClosesHandshakes(t *testing.T) {
	env := newTestServer(t, netcode.Config{HandshakeTimeout: time.Minute})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	r := env.raw(id)
	testkit.WaitFor(t, "the socket to be accepted", func() bool { return env.srv.Stats().ConnsOpen.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.wait(t); got != wire.CodeGoingAway {
		t.Fatalf("closed with %d, want %d", got, wire.CodeGoingAway)
	}
}

func TestMatchesListedByID(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	for _, id := range []string{"c", "a", "b"} {
		env.match(netcode.MatchSpec{ID: id, Mode: "bench", Players: players(1)})
	}
	var ids []string
	for _, m := range env.srv.Matches() {
		ids = append(ids, m.ID)
	}
	if len(ids) != 3 || ids[0] != "a" || ids[1] != "b" || ids[2] != "c" {
		t.Fatalf("matches listed as %v", ids)
	}
	if _, err := env.srv.CreateMatch(netcode.MatchSpec{ID: "a", Mode: "bench"}); err == nil {
		t.Fatal("created a second match with id a")
	}
	if info, ok := env.srv.Match("b"); !ok || info.ID != "b" || info.Mode != "bench" || info.State != "running" {
		t.Fatalf("Match(b) = %+v, %v", info, ok)
	}
	if _, ok := env.srv.Match("nope"); ok {
		t.Fatal("Match of an unknown id")
	}
}

// TestMatchInfoTimings: the loop timings in MatchInfo are microseconds.
func TestMatchInfoTimings(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	c := env.dial(1, id)
	testkit.WaitFor(t, "ten ticks", func() bool { return c.Tick() > 10 })
	info, _ := env.srv.Match(id)
	if info.TickMaxUs <= 0 || info.TickMaxUs >= 1e6 || info.TickLastUs > info.TickMaxUs || info.LateMaxUs >= 1e7 {
		t.Fatalf("tick timings last %d max %d late %d µs: not microseconds of a 30 Hz bench tick", info.TickLastUs, info.TickMaxUs, info.LateMaxUs)
	}
	if got := env.srv.Stats().Closes(5000); got != 0 {
		t.Fatalf("Closes(5000) = %d", got)
	}
}
