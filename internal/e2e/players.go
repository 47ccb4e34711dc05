package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// Arena constants the measurements depend on (docs/protocol.md, section 8).
const (
	ArenaSpeed = 150.0 // units/s at full input
	ArenaSize  = 1000.0
	ArenaRange = 300.0
)

// goPlayer is a Go client in the match, connected straight to the server
// (not through a proxy): it signs in and queues through the lobby like
// any client, then sends one input per tick from its brain until stopped.
type goPlayer struct {
	name string
	c    *client.Client
	w    wire.Welcome

	brain func(self game.Entity, world []game.Entity, tick uint32) game.Input // owned by run

	stop chan struct{}
	done chan struct{}
}

// joinGo signs in as name, queues for mode and connects to the match it
// is placed in. opts are added to the client's.
func joinGo(ctx context.Context, lobbyURL, name, mode string, opts ...client.Option) (*goPlayer, error) {
	lc := bots.NewLobbyClient(lobbyURL, nil)
	sess, err := lc.Guest(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s: sign-in: %w", name, err)
	}
	ticket, err := lc.Queue(ctx, sess.SessionToken, mode)
	if err != nil {
		return nil, fmt.Errorf("%s: queue: %w", name, err)
	}
	as, err := lc.WaitMatched(ctx, sess.SessionToken, ticket)
	if err != nil {
		return nil, fmt.Errorf("%s: matchmaking: %w", name, err)
	}
	tokens := func(ctx context.Context) (string, error) {
		a, err := lc.MatchToken(ctx, sess.SessionToken, as.MatchID)
		return a.Token, err
	}
	opts = append([]client.Option{client.WithTokenSource(tokens), client.WithAutoReconnect(100*time.Millisecond, time.Second, 10)}, opts...)
	c, err := client.Dial(ctx, as.WSURL, as.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: dial: %w", name, err)
	}
	return &goPlayer{name: name, c: c, w: c.Welcome(), stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// run sends one input per tick at the match's rate until close or the end
// of the match.
func (p *goPlayer) run() {
	defer close(p.done)
	hz := max(int(p.w.Hz), 1)
	t := time.NewTicker(time.Second / time.Duration(hz))
	defer t.Stop()
	var world []game.Entity
	for {
		select {
		case <-p.stop:
			return
		case <-p.c.Done():
			return
		case <-t.C:
		}
		if p.brain == nil || !p.c.Connected() {
			continue
		}
		world = p.c.Entities(world[:0])
		var self game.Entity
		found := false
		for _, e := range world {
			if uint32(e.ID) == p.w.Entity {
				self, found = e, true
				break
			}
		}
		if !found {
			continue
		}
		_ = p.c.SendInput(p.brain(self, world, p.c.Tick()))
	}
}

// close stops the input loop and the client.
func (p *goPlayer) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	_ = p.c.Close()
}

// strafer is a target for the lag-compensation test: it keeps to an anchor
// point at 150 units from the shooter, on its own bearing, and strafes
// back and forth across the line of fire at full speed, turning at ±60
// units. Until a shooter is named it strafes around where it stood.
type strafer struct {
	bearing float64       // radians, from the shooter to the anchor
	shooter *atomic.Int64 // the shooter's entity (0: none yet)
	dir     float64       // +1 or -1 along the strafe axis
	home    *[2]float64   // where it stood when it had no shooter
}

const (
	strafeDist  = 150.0 // units from the shooter
	strafeHalf  = 60.0  // units either side of the anchor
	strafeSnap  = 25.0  // further than this from the strafe line: walk back first
	fieldMargin = 40.0
)

func (s *strafer) think(self game.Entity, world []game.Entity, _ uint32) game.Input {
	if s.dir == 0 {
		s.dir = 1
	}
	ax, ay := float64(self.X), float64(self.Y)
	px, py := 1.0, 0.0 // strafe axis
	if id := s.shooter.Load(); id != 0 {
		for _, e := range world {
			if int64(e.ID) == id {
				ax = float64(e.X) + strafeDist*math.Cos(s.bearing)
				ay = float64(e.Y) + strafeDist*math.Sin(s.bearing)
				px, py = -math.Sin(s.bearing), math.Cos(s.bearing)
				break
			}
		}
	} else {
		if s.home == nil {
			s.home = &[2]float64{clampField(ax), clampField(ay)}
		}
		ax, ay = s.home[0], s.home[1]
	}
	ax, ay = clampField(ax), clampField(ay)
	// Offset from the anchor, split along the strafe axis and across it.
	ox, oy := float64(self.X)-ax, float64(self.Y)-ay
	along := ox*px + oy*py
	across := math.Hypot(ox-along*px, oy-along*py)
	if across > strafeSnap || math.Abs(along) > strafeHalf+strafeSnap {
		d := math.Hypot(ox, oy)
		return game.Input{DX: float32(-ox / d), DY: float32(-oy / d)}
	}
	if along > strafeHalf {
		s.dir = -1
	} else if along < -strafeHalf {
		s.dir = 1
	}
	// Run along the strafe axis, drifting back onto the line.
	cx, cy := ox-along*px, oy-along*py
	dx, dy := s.dir*px-cx/10, s.dir*py-cy/10
	d := math.Hypot(dx, dy)
	return game.Input{DX: float32(dx / d), DY: float32(dy / d)}
}

func clampField(v float64) float64 { return min(max(v, fieldMargin), ArenaSize-fieldMargin) }

// observer records, from a client connected straight to the server, every
// entity's position at every tick and every event: the truth the pages'
// drawings are compared with.
type observer struct {
	mu     sync.Mutex
	truth  *Truth
	events []wire.Event
	tick   uint32
	buf    []game.Entity
}

func newObserver(hz int) *observer { return &observer{truth: NewTruth(ArenaSpeed, hz)} }

func (o *observer) onSnapshot(c *client.Client, s wire.Snapshot, _ bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = c.Entities(o.buf[:0])
	w := make(map[uint32]Sample, len(o.buf))
	for _, e := range o.buf {
		w[uint32(e.ID)] = Sample{X: float64(e.X), Y: float64(e.Y), Flags: e.Flags}
	}
	o.truth.Add(s.Tick, w)
	o.tick = s.Tick
}

func (o *observer) onEvent(_ *client.Client, e wire.Event) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
}

// Tick is the last tick observed.
func (o *observer) Tick() uint32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tick
}

// dump writes the truth and the events as JSON (for looking into a run):
// {"ticks": {tick: [[id, x, y, flags], ...]}, "events": [[tick, kind, source, target, value], ...]}.
func (o *observer) dump(path string) error {
	o.mu.Lock()
	ticks := make(map[uint32][][4]float64, len(o.truth.ticks))
	for t, w := range o.truth.ticks {
		for id, s := range w {
			ticks[t] = append(ticks[t], [4]float64{float64(id), s.X, s.Y, float64(s.Flags)})
		}
	}
	evs := make([][5]int64, len(o.events))
	for i, e := range o.events {
		evs[i] = [5]int64{int64(e.Tick), int64(e.Kind), int64(e.Source), int64(e.Target), int64(e.Value)}
	}
	o.mu.Unlock()
	b, err := json.Marshal(map[string]any{"ticks": ticks, "events": evs})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Hits returns the Hit events in ticks [from, to] whose source is shooter
// and whose target is one of targets.
func (o *observer) Hits(shooter uint32, targets []uint32, from, to uint32) []Hit {
	o.mu.Lock()
	defer o.mu.Unlock()
	var hs []Hit
	for _, e := range o.events {
		if e.Kind != uint8(game.EventHit) || e.Source != shooter || e.Tick < from || e.Tick > to {
			continue
		}
		for _, t := range targets {
			if e.Target == t {
				hs = append(hs, Hit{Tick: e.Tick, Target: e.Target})
				break
			}
		}
	}
	return hs
}
