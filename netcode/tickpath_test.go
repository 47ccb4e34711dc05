package netcode_test

import (
	"errors"
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

func input(seq, ack uint32) []byte {
	return wsFrame(0x2, true, wire.AppendInput(nil, wire.Input{Seq: seq, Ack: ack, DX: 1}))
}

// TestNullGame: with Config.NullSnapshot the server runs the real
// handshake and read path but sends every client the same fixed-size
// message each tick: a valid keyframe the Go client applies without
// error, exactly NullSnapshot bytes, with consecutive ticks; inputs are
// read and dropped.
func TestNullGame(t *testing.T) { bothPaths(t, testNullGame) }

func testNullGame(t *testing.T, path string) {
	env := newTestServer(t, netcode.Config{ReadPath: path, NullSnapshot: 135})
	id := env.match(netcode.MatchSpec{Mode: "arena", Players: players(4)})
	k := &cadence{}
	c := env.dial(1, id, k.option())
	d := drive([]*client.Client{c}, 30)
	defer d.Stop()
	testkit.WaitFor(t, "a second of null snapshots", func() bool { n, _, _ := k.get(); return n >= 30 })
	if n, breaks, keys := k.get(); breaks != 0 || keys != n || !c.Connected() {
		t.Fatalf("%d snapshots, %d breaks, %d keyframes (every one is); connected %v: %v", n, breaks, keys, c.Connected(), c.Err())
	}

	w := env.tcp(id)
	if err := w.Send(hello(env.token(2, id))); err != nil {
		t.Fatal(err)
	}
	var last uint32
	for seen := 0; seen < 10; {
		op, p, err := w.ReadFrame(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if typ, _ := wire.Type(p); op != 0x2 || typ != wire.MsgSnapshot {
			continue
		}
		s, err := wire.DecodeSnapshot(p)
		if err != nil || len(p) != 135 || s.Base != 0 || (last != 0 && s.Tick != last+1) {
			t.Fatalf("snapshot of %d bytes after tick %d: %+v, %v", len(p), last, s, err)
		}
		last = s.Tick
		seen++
		_ = w.Send(input(uint32(seen), s.Tick))
	}
	if env.srv.Stats().InputsIn.Load() == 0 || env.srv.LoopTotals().InputsApplied != 0 {
		t.Errorf("%d inputs read, %d applied: want inputs read and dropped", env.srv.Stats().InputsIn.Load(), env.srv.LoopTotals().InputsApplied)
	}
}

// TestPauseResumesWithDelta: a client that sends inputs with stale acks is
// paused (no snapshots); once its ack reaches the last snapshot it was
// sent, it resumes with a delta against that snapshot, not a keyframe: its
// view was never lost.
func TestPauseResumesWithDelta(t *testing.T) { bothPaths(t, testPauseResumesWithDelta) }

func testPauseResumesWithDelta(t *testing.T, path string) {
	for _, interest := range []float32{0, 300} {
		env := newTestServer(t, netcode.Config{ReadPath: path, MaxInFlight: 3, Interest: interest})
		id := env.match(netcode.MatchSpec{Mode: "arena", Players: players(4), Bots: 4})
		w := env.tcp(id)
		if err := w.Send(hello(env.token(1, id))); err != nil {
			t.Fatal(err)
		}
		var first, last, seq uint32
		var mirror wire.Mirror
		paused, deadline := false, time.Now().Add(30*time.Second)
		for {
			if time.Now().After(deadline) {
				t.Fatalf("interest %v: no resume (paused %v, last snapshot %d)", interest, paused, last)
			}
			op, p, err := w.ReadFrame(100 * time.Millisecond)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				paused = paused || env.srv.Stats().Paused.Load() > 0
				if paused { // caught up: say so
					seq++
					_ = w.Send(input(seq, last))
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if typ, _ := wire.Type(p); op != 0x2 || typ != wire.MsgSnapshot {
				continue
			}
			s, err := wire.DecodeSnapshot(p)
			if err == nil {
				err = mirror.ApplySnapshot(s) // strict: ops must fit what the client holds
			}
			if err != nil {
				t.Fatal(err)
			}
			paused = paused || env.srv.Stats().Paused.Load() > 0
			if first == 0 {
				first = s.Tick
			} else if s.Tick != last+1 {
				if !paused || s.Base != last {
					t.Fatalf("interest %v: snapshot %d after %d (paused %v) has base %d, want a delta on %d", interest, s.Tick, last, paused, s.Base, last)
				}
				break // resumed with a delta
			} else if s.Base != last {
				t.Fatalf("interest %v: snapshot %d has base %d, want %d", interest, s.Tick, s.Base, last)
			}
			last = s.Tick
			seq++
			if !paused {
				_ = w.Send(input(seq, first)) // stale: the server thinks we do not read
				paused = env.srv.Stats().Paused.Load() > 0
			} else {
				_ = w.Send(input(seq, last))
			}
		}
		st := env.srv.Stats()
		// The match counts a snapshot after queueing it: the client may read it first.
		testkit.WaitFor(t, "the gap delta to be counted", func() bool { return st.GapDeltas.Load() > 0 })
		if st.Resyncs.Load() == 0 || st.GapDeltas.Load() == 0 || st.KeyframesBy[2].Load() != 0 {
			t.Fatalf("interest %v: %d resumes, %d gap deltas, %d resync keyframes", interest, st.Resyncs.Load(), st.GapDeltas.Load(), st.KeyframesBy[2].Load())
		}
	}
}

// swarmEnv is a 60 Hz swarm match (several-KB snapshots) on a server
// whose sockets have small send buffers, so a client that stops reading
// backs the server's writes up within a second.
func swarmEnv(t *testing.T, path string, n int, tune ...func(*netcode.Config)) (*testEnv, string) {
	rec := &worldRecord{}
	swarm := game.Mode{Name: "swarm", MinPlayers: 1, MaxPlayers: 4, New: func(cfg game.Config) (game.Sim, error) {
		return newSwarm(cfg, rec), nil
	}}
	cfg := netcode.Config{ReadPath: path, Modes: []game.Mode{swarm}, Hz: 60, SlowTimeout: time.Minute, WriteTimeout: time.Minute}
	for _, f := range tune {
		f(&cfg)
	}
	env := newTestServerOn(t, cfg, smallSendBuffers)
	return env, env.match(netcode.MatchSpec{Mode: "swarm", Players: players(n)})
}

// stallable is a client option whose snapshot handler blocks while
// stalled, so the client's socket stops being read.
type stallable struct {
	stall   atomic.Bool
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	last    uint32
	breaks  int
	n       int
}

func newStallable() *stallable { return &stallable{release: make(chan struct{})} }

func (s *stallable) option() client.Option {
	return client.WithOnSnapshot(func(_ *client.Client, sn wire.Snapshot, key bool) {
		s.mu.Lock()
		if s.last != 0 && (sn.Tick != s.last+1 && (key || sn.Base != s.last)) {
			s.breaks++
		}
		s.last, s.n = sn.Tick, s.n+1
		s.mu.Unlock()
		if s.stall.Load() {
			<-s.release
		}
	})
}

func (s *stallable) unstall() { s.once.Do(func() { close(s.release) }) }

func (s *stallable) get() (last uint32, n, breaks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.n, s.breaks
}

// TestWriterCatchesUp (tick path): a client that stops reading makes the
// match's one write per tick come back short; a writer goroutine takes
// over the rest, and once the client reads again it catches up and ends,
// and the match writes to the socket directly again, for longer than the
// handshake's read deadline and the writer's write deadline (which the
// match's non-blocking reads and writes must not inherit).
func TestWriterCatchesUp(t *testing.T) {
	env, id := swarmEnv(t, netcode.ReadPathTick, 1, func(c *netcode.Config) {
		c.HandshakeTimeout, c.WriteTimeout = 300*time.Millisecond, 3*time.Second
	})
	s := newStallable()
	defer s.unstall()
	c := env.dial(1, id, s.option())
	testkit.WaitFor(t, "direct writes", func() bool { _, n, _ := s.get(); return n > 5 && env.srv.DirectConns() == 1 })
	s.stall.Store(true)
	testkit.WaitFor(t, "a short write and a writer", func() bool {
		return env.srv.Stats().WritesBehind.Load() > 0 && env.srv.DirectConns() == 0
	})
	s.unstall()
	s.stall.Store(false)
	testkit.WaitFor(t, "the writer to catch up and end", func() bool { return env.srv.DirectConns() == 1 })
	last, n, _ := s.get()
	// 5 s of ticks at 60 Hz: past both deadlines.
	testkit.WaitFor(t, "snapshots after the catch-up", func() bool { l, m, _ := s.get(); return m > n+300 && l > last })
	if _, _, breaks := s.get(); breaks != 0 || !c.Connected() {
		t.Fatalf("%d breaks in the snapshot chain; connected %v (%v)", breaks, c.Connected(), c.Err())
	}
}

// TestStalledReaderDoesNotDelayOthers: while one client of a match does
// not read at all (its snapshots back up and are dropped), another client
// of the same match gets a snapshot for every tick, in order: the match
// goroutine never waits for the stalled socket.
func TestStalledReaderDoesNotDelayOthers(t *testing.T) {
	bothPaths(t, func(t *testing.T, path string) {
		env, id := swarmEnv(t, path, 2)
		stalled, honest := newStallable(), newStallable()
		defer stalled.unstall()
		env.dial(1, id, stalled.option())
		env.dial(2, id, honest.option())
		testkit.WaitFor(t, "both clients to get snapshots", func() bool {
			_, a, _ := stalled.get()
			_, b, _ := honest.get()
			return a > 5 && b > 5
		})
		stalled.stall.Store(true)
		from, _, _ := honest.get()
		testkit.WaitFor(t, "snapshots of the stalled client to be dropped", func() bool {
			return env.srv.Stats().SnapshotsDropped.Load() >= 10
		})
		to, _, _ := honest.get()
		testkit.WaitFor(t, "the honest client to read on", func() bool { l, _, _ := honest.get(); return l >= to+30 })
		if _, _, breaks := honest.get(); breaks != 0 || to < from+10 {
			t.Fatalf("honest client: ticks %d to %d during the stall, %d gaps in its snapshots", from, to, breaks)
		}
		stalled.unstall()
	})
}
