package netcode_test

import (
	"fmt"
	"net"
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

// swarmSim is a large world whose NPCs all take a small random step every
// tick, so every delta is a stream of relative moves: a client that misses
// a snapshot and is not sent a keyframe next drifts for good. Snapshots are
// several KB, so a stalled reader fills its socket buffers in about a
// second. It records the quantized world after every step, which is what
// the server encodes for that tick.
type swarmSim struct {
	w      *game.World
	avatar map[game.PlayerID]game.EntityID
	rec    *worldRecord
}

const (
	swarmNPCs = 3000
	swarmSize = 2000
)

func newSwarm(cfg game.Config, rec *worldRecord) *swarmSim {
	s := &swarmSim{w: game.NewWorld(swarmSize, swarmSize, cfg.Hz, cfg.Seed), avatar: map[game.PlayerID]game.EntityID{}, rec: rec}
	r := s.w.Rand()
	for range swarmNPCs {
		s.w.Spawn(game.Entity{Kind: game.KindNPC, HP: 100, X: r.Float32() * swarmSize, Y: r.Float32() * swarmSize})
	}
	rec.put(s.w)
	return s
}

func (s *swarmSim) World() *game.World { return s.w }

func (s *swarmSim) Join(p game.PlayerID) (game.EntityID, error) {
	id := s.w.Spawn(game.Entity{Kind: game.KindAvatar, HP: 100, Owner: p, X: swarmSize / 2, Y: swarmSize / 2})
	s.avatar[p] = id
	return id, nil
}

func (s *swarmSim) Leave(p game.PlayerID) {
	s.w.Remove(s.avatar[p])
	delete(s.avatar, p)
}

func (s *swarmSim) Apply(game.PlayerID, game.Input) {}

func (s *swarmSim) Step(events []game.Event) []game.Event {
	s.w.Tick++
	r := s.w.Rand()
	ents := s.w.Entities()
	for i := range ents {
		e := s.w.Get(ents[i].ID)
		if e.Kind != game.KindNPC {
			continue
		}
		e.X, e.Y = s.w.Clamp(e.X+r.Float32()*6-3, e.Y+r.Float32()*6-3)
	}
	s.rec.put(s.w)
	return events
}

func (s *swarmSim) Result() (game.Result, bool) { return game.Result{}, false }

// worldRecord keeps the quantized world of recent ticks, written by the
// match goroutine and read by the client's.
type worldRecord struct {
	mu    sync.Mutex
	ticks map[uint32]map[uint32]wire.EntityState
}

func (w *worldRecord) put(world *game.World) {
	m := make(map[uint32]wire.EntityState, len(world.Entities()))
	for _, e := range world.Entities() {
		m[uint32(e.ID)] = wire.EntityState{ID: uint32(e.ID), Kind: uint8(e.Kind), Flags: e.Flags, HP: e.HP,
			Owner: uint32(e.Owner), Score: e.Score, X: wire.Quantize(e.X), Y: wire.Quantize(e.Y)}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ticks == nil {
		w.ticks = map[uint32]map[uint32]wire.EntityState{}
	}
	w.ticks[uint32(world.Tick)] = m
}

// at returns the world of tick and forgets every older one.
func (w *worldRecord) at(tick uint32) map[uint32]wire.EntityState {
	w.mu.Lock()
	defer w.mu.Unlock()
	for t := range w.ticks {
		if t < tick {
			delete(w.ticks, t)
		}
	}
	return w.ticks[tick]
}

// TestDroppedSnapshotResyncs: a client whose socket reader stalls (a real
// gws socket on loopback, with the real client) fills its outbox until the
// server drops a snapshot. Once it reads again, the first snapshot after
// the gap is a delta against the last snapshot it was sent (its view was
// not lost: TCP delivered everything before the gap), not a keyframe, and
// after every snapshot the client's mirror equals the server's world at
// that tick (all of it with interest off; with interest on, exactly the
// entities near the avatar).
func TestDroppedSnapshotResyncs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interest float32
	}{{"interest off", 0}, {"interest on", 800}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &worldRecord{}
			swarm := game.Mode{Name: "swarm", MinPlayers: 1, MaxPlayers: 4, New: func(cfg game.Config) (game.Sim, error) {
				return newSwarm(cfg, rec), nil
			}}
			env := newTestServerOn(t, netcode.Config{
				Modes:    []game.Mode{swarm},
				Interest: tc.interest,
				Hz:       60,
				// The stall lasts until a drop: it must not end the connection.
				SlowTimeout:  time.Minute,
				WriteTimeout: time.Minute,
			}, smallSendBuffers)
			id := env.match(netcode.MatchSpec{Mode: "swarm", Players: players(1)})

			var (
				stall     atomic.Bool
				release   = make(chan struct{})
				once      sync.Once
				mu        sync.Mutex
				last      uint32
				gaps      int // snapshots that followed a dropped one
				after     int // snapshots checked after the first gap
				failure   string
				checkedAt uint32
			)
			unstall := func() { once.Do(func() { close(release) }) }
			defer unstall() // before the client's Close, which waits for its stalled reader
			fail := func(format string, args ...any) {
				if failure == "" {
					failure = fmt.Sprintf(format, args...)
				}
			}
			c := env.dial(1, id, client.WithOnSnapshot(func(c *client.Client, s wire.Snapshot, key bool) {
				mu.Lock()
				switch {
				case last == 0: // the first snapshot
				case s.Tick != last+1:
					gaps++
					if key || s.Base != last {
						fail("snapshot %d after %d (a snapshot was dropped) has base %d, want a delta on %d", s.Tick, last, s.Base, last)
					}
				case key || s.Base != last:
					fail("snapshot %d right after %d has base %d, want a delta on %d", s.Tick, last, s.Base, last)
				}
				last = s.Tick
				checkMirror(c, s.Tick, rec.at(s.Tick), tc.interest, fail)
				checkedAt = s.Tick
				if gaps > 0 {
					after++
				}
				mu.Unlock()
				if stall.Load() {
					<-release // the reader stops: the server's writes back up
				}
			}))
			testkit.WaitFor(t, "a few snapshots", func() bool { return c.Stats().Snapshots > 5 })
			stall.Store(true)
			t0 := time.Now()
			// Three drops in a row: a stall well under SlowTimeout must not
			// close the connection.
			testkit.WaitFor(t, "the server to drop snapshots", func() bool {
				return env.srv.Stats().SnapshotsDropped.Load() >= 3 || env.srv.Stats().SlowDisconnects.Load() > 0
			})
			if n := env.srv.Stats().SlowDisconnects.Load(); n > 0 {
				t.Fatalf("a stall of %d dropped snapshots closed the connection", env.srv.Stats().SnapshotsDropped.Load())
			}
			t.Logf("drop after %v, %d bytes out", time.Since(t0), env.srv.Stats().BytesOut.Load())
			stall.Store(false)
			unstall()
			testkit.WaitFor(t, "the client to resync after the drop", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return failure != "" || after > 30
			})
			mu.Lock()
			defer mu.Unlock()
			if failure != "" {
				t.Fatal(failure)
			}
			if gaps == 0 {
				t.Fatalf("the client saw no gap in ticks (last checked %d)", checkedAt)
			}
			if !c.Connected() {
				t.Fatalf("client disconnected: %v", c.Err())
			}
			st := env.srv.Stats()
			if st.GapDeltas.Load() == 0 || st.KeyframesBy[1].Load() != 0 || c.Stats().Keyframes != 1 {
				t.Fatalf("%d gap deltas, %d keyframes for drops, %d keyframes received: want deltas after the gap, the join's keyframe only",
					st.GapDeltas.Load(), st.KeyframesBy[1].Load(), c.Stats().Keyframes)
			}
		})
	}
}

// smallSendBuffers pins the send buffer of the server's sockets to a few
// KB, so that a stalled reader backs the writer up in about a second
// instead of after the kernel has grown the buffer to megabytes.
func smallSendBuffers(l net.Listener) net.Listener { return smallBufListener{l} }

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// checkMirror compares c's mirror, as it is right after the snapshot of
// tick, with the server's world at that tick. With interest, the client
// must hold every entity within the radius of its avatar and none beyond
// the hysteresis radius (1.2 radii; distances in quantized units, as the
// server measures them), each exactly as the server has it.
func checkMirror(c *client.Client, tick uint32, world map[uint32]wire.EntityState, interest float32, fail func(string, ...any)) {
	if world == nil {
		fail("no record of the server's world at tick %d", tick)
		return
	}
	self, ok := world[c.Welcome().Entity]
	if !ok {
		fail("tick %d: the server has no avatar %d", tick, c.Welcome().Entity)
		return
	}
	r, h := int64(interest*wire.PosScale), int64(interest*1.2*wire.PosScale)
	held := 0
	for id, want := range world {
		got, ok := c.Entity(game.EntityID(id))
		dx, dy := int64(want.X)-int64(self.X), int64(want.Y)-int64(self.Y)
		d2 := dx*dx + dy*dy
		switch {
		case ok && got != want:
			fail("tick %d: entity %d is %+v in the mirror, %+v on the server", tick, id, got, want)
			return
		case ok && interest > 0 && d2 > h*h:
			fail("tick %d: the mirror holds entity %d beyond the hysteresis radius", tick, id)
			return
		case ok:
			held++
		case interest == 0 || d2 <= r*r:
			fail("tick %d: the mirror lacks entity %d", tick, id)
			return
		}
	}
	if n := len(c.Entities(nil)); n != held {
		fail("tick %d: the mirror holds %d entities, %d of them in the server's world", tick, n, held)
	}
}
