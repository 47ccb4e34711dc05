package bots

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/rallypoint/rallypoint/game"
)

// Brain kinds accepted by NewBrain.
const (
	KindWander = "wander"
	KindChase  = "chase"
	KindFlee   = "flee"
	KindReplay = "replay"
)

// Kinds lists the brain kinds NewBrain accepts.
func Kinds() []string { return []string{KindWander, KindChase, KindFlee, KindReplay} }

// ErrUnknownBrain is returned by NewBrain for a kind it does not know.
var ErrUnknownBrain = errors.New("bots: unknown brain")

// DefaultHz is the tick rate brains assume when converting seconds to ticks
// (the server's default). A brain run against a 20 Hz match changes
// direction every 0.75-2.25 s instead of 0.5-1.5 s.
const DefaultHz = 30

// FireRange is how close (world units) a chaser must be to hold fire: the
// arena's shot range.
const FireRange = 300

// NewBrain returns a brain of the given kind, deterministic from seed: the
// same seed and the same sequence of Think calls give the same inputs.
// The replay kind plays DefaultScript.
func NewBrain(kind string, seed uint64) (game.Brain, error) {
	return newBrainHz(kind, seed, DefaultHz)
}

// newBrainHz is NewBrain for a match ticking at hz.
func newBrainHz(kind string, seed uint64, hz int) (game.Brain, error) {
	switch kind {
	case KindWander:
		return NewWander(seed, hz), nil
	case KindChase:
		return NewChase(seed, hz), nil
	case KindFlee:
		return NewFlee(seed, hz), nil
	case KindReplay:
		return NewReplay(DefaultScript(), 0)
	}
	return nil, fmt.Errorf("%w: %q (want one of %v)", ErrUnknownBrain, kind, Kinds())
}

// ServerBrain makes the brain of a server-side bot, for
// netcode.Config.NewBrain and app.Config.NewBrain: bot fill and steering a
// disconnected player, in a match ticking at hz. Arena bots chase and
// shoot; every other mode (bench included) wanders, as the arena-8x32
// clients do.
func ServerBrain(mode string, hz int, seed uint64) game.Brain {
	if hz <= 0 {
		hz = DefaultHz
	}
	if mode == game.ModeArena {
		return NewChase(seed, hz)
	}
	return NewWander(seed, hz)
}

// rng is a small seeded generator kept by value inside each brain, so Think
// never allocates.
type rng struct{ pcg rand.PCG }

func newRNG(seed uint64) rng {
	return rng{pcg: *rand.NewPCG(seed, 0x9e3779b97f4a7c15)}
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float32 { return float32(r.pcg.Uint64()>>40) / (1 << 24) }

// unit returns a uniform value in [-1, 1].
func (r *rng) unit() float32 { return r.float()*2 - 1 }

// Wander walks in a random direction and redraws it every 0.5-1.5 s: dx and
// dy uniform in [-1, 1], the arena-8x32 client behaviour.
type Wander struct {
	// immutable after NewWander
	minTicks, spanTicks game.Tick

	// owned by the caller of Think
	r    rng
	next game.Tick // tick of the next redraw
	last game.Tick // tick of the previous Think
	in   game.Input
	init bool
}

// NewWander returns a Wander brain for matches running at hz ticks per
// second (DefaultHz if zero).
func NewWander(seed uint64, hz int) *Wander {
	if hz <= 0 {
		hz = DefaultHz
	}
	minT := game.Tick(max(1, hz/2))
	return &Wander{minTicks: minT, spanTicks: game.Tick(hz), r: newRNG(seed)}
}

// Think implements game.Brain.
func (w *Wander) Think(_ game.EntityID, _ []game.Entity, tick game.Tick) game.Input {
	// A tick going backwards is a new match (or a resync): start over.
	if !w.init || tick >= w.next || tick < w.last {
		w.init = true
		w.in = game.Input{DX: w.r.unit(), DY: w.r.unit()}
		w.in.Aim = float32(math.Atan2(float64(w.in.DY), float64(w.in.DX)))
		w.next = tick + w.minTicks + game.Tick(w.r.float()*float32(w.spanTicks+1))
	}
	w.last = tick
	return w.in
}

// nearest returns the closest living avatar other than self, and self.
func nearest(self game.EntityID, seen []game.Entity) (me, target *game.Entity) {
	for i := range seen {
		if seen[i].ID == self {
			me = &seen[i]
			break
		}
	}
	if me == nil {
		return nil, nil
	}
	best := float32(math.MaxFloat32)
	for i := range seen {
		e := &seen[i]
		if e.ID == self || e.Kind != game.KindAvatar || e.Flags&game.FlagDead != 0 {
			continue
		}
		dx, dy := e.X-me.X, e.Y-me.Y
		if d := dx*dx + dy*dy; d < best {
			best, target = d, e
		}
	}
	return me, target
}

// toward returns the unit vector from a to b, its length before
// normalizing, and the angle.
func toward(ax, ay, bx, by float32) (dx, dy, dist, aim float32) {
	dx, dy = bx-ax, by-ay
	dist = float32(math.Hypot(float64(dx), float64(dy)))
	if dist > 0 {
		dx, dy = dx/dist, dy/dist
	}
	return dx, dy, dist, float32(math.Atan2(float64(dy), float64(dx)))
}

// Chase runs at the nearest other living avatar, aims at it, and holds
// fire while it is within FireRange (the bench mode ignores buttons). With
// nobody in sight it wanders.
type Chase struct {
	wander Wander
}

// NewChase returns a Chase brain; hz paces its wandering.
func NewChase(seed uint64, hz int) *Chase { return &Chase{wander: *NewWander(seed, hz)} }

// Think implements game.Brain.
func (c *Chase) Think(self game.EntityID, seen []game.Entity, tick game.Tick) game.Input {
	me, t := nearest(self, seen)
	if t == nil {
		return c.wander.Think(self, seen, tick)
	}
	c.wander.last = tick
	dx, dy, dist, aim := toward(me.X, me.Y, t.X, t.Y)
	in := game.Input{DX: dx, DY: dy, Aim: aim}
	if dist <= FireRange {
		in.Buttons = game.ButtonFire
	}
	return in
}

// Flee runs straight away from the nearest other living avatar (sliding
// along a wall it reaches). With nobody in sight it wanders.
type Flee struct {
	wander Wander
}

// NewFlee returns a Flee brain; hz paces its wandering.
func NewFlee(seed uint64, hz int) *Flee { return &Flee{wander: *NewWander(seed, hz)} }

// Think implements game.Brain.
func (f *Flee) Think(self game.EntityID, seen []game.Entity, tick game.Tick) game.Input {
	me, t := nearest(self, seen)
	if t == nil {
		return f.wander.Think(self, seen, tick)
	}
	f.wander.last = tick
	dx, dy, _, aim := toward(t.X, t.Y, me.X, me.Y)
	if dx == 0 && dy == 0 {
		dx = 1 // on top of each other: pick a side
	}
	return game.Input{DX: dx, DY: dy, Aim: aim}
}

// ScriptStep is one recorded input: Input is held from Tick (counted from
// the first Think) until the next step.
type ScriptStep struct {
	Tick  game.Tick  `json:"tick"`
	Input game.Input `json:"input"`
}

// Replay plays a recorded input script and loops it.
type Replay struct {
	// immutable after NewReplay
	script []ScriptStep
	period game.Tick

	// owned by the caller of Think
	start game.Tick
	last  game.Tick
	i     int // current step
	init  bool
}

// ErrBadScript is returned by NewReplay for an unusable script.
var ErrBadScript = errors.New("bots: bad replay script")

// NewReplay returns a brain that replays script, looping every period ticks
// (if zero, one tick after the last step). Steps are sorted by Tick; the
// script is copied.
func NewReplay(script []ScriptStep, period game.Tick) (*Replay, error) {
	if len(script) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadScript)
	}
	s := append([]ScriptStep(nil), script...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Tick < s[j].Tick })
	if period == 0 {
		period = s[len(s)-1].Tick + 1
	}
	if period <= s[len(s)-1].Tick {
		return nil, fmt.Errorf("%w: period %d not after the last step at tick %d", ErrBadScript, period, s[len(s)-1].Tick)
	}
	return &Replay{script: s, period: period}, nil
}

// DefaultScript walks a square, one second per side at 30 Hz.
func DefaultScript() []ScriptStep {
	return []ScriptStep{
		{Tick: 0, Input: game.Input{DX: 1}},
		{Tick: 30, Input: game.Input{DY: 1, Aim: math.Pi / 2}},
		{Tick: 60, Input: game.Input{DX: -1, Aim: math.Pi}},
		{Tick: 90, Input: game.Input{DY: -1, Aim: -math.Pi / 2}},
		{Tick: 119, Input: game.Input{DY: -1, Aim: -math.Pi / 2}},
	}
}

// Think implements game.Brain.
func (r *Replay) Think(_ game.EntityID, _ []game.Entity, tick game.Tick) game.Input {
	if !r.init || tick < r.last {
		r.init, r.start, r.i = true, tick, 0
	}
	r.last = tick
	off := (tick - r.start) % r.period
	if off < r.script[r.i].Tick {
		r.i = 0 // wrapped around
	}
	for r.i+1 < len(r.script) && r.script[r.i+1].Tick <= off {
		r.i++
	}
	return r.script[r.i].Input
}
