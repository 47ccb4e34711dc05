package game

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Brains: deterministic input generators for server-side bots (bot fill,
// steering a disconnected player) and for headless clients (package bots),
// through the Brain interface. Each is driven by Think once per tick and
// never allocates there.

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
	minTicks, spanTicks Tick

	// owned by the caller of Think
	r    rng
	next Tick // tick of the next redraw
	last Tick // tick of the previous Think
	in   Input
	init bool
}

// NewWander returns a Wander brain for matches running at hz ticks per
// second (30 if zero).
func NewWander(seed uint64, hz int) *Wander {
	if hz <= 0 {
		hz = defaultHz
	}
	minT := Tick(max(1, hz/2))
	return &Wander{minTicks: minT, spanTicks: Tick(hz), r: newRNG(seed)}
}

// Think implements Brain.
func (w *Wander) Think(_ EntityID, _ []Entity, tick Tick) Input {
	// A tick going backwards is a new match (or a resync): start over.
	if !w.init || tick >= w.next || tick < w.last {
		w.init = true
		w.in = Input{DX: w.r.unit(), DY: w.r.unit()}
		w.in.Aim = float32(math.Atan2(float64(w.in.DY), float64(w.in.DX)))
		w.next = tick + w.minTicks + Tick(w.r.float()*float32(w.spanTicks+1))
	}
	w.last = tick
	return w.in
}

// nearest returns the closest living avatar other than self, and self.
func nearest(self EntityID, seen []Entity) (me, target *Entity) {
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
		if e.ID == self || e.Kind != KindAvatar || e.Flags&FlagDead != 0 {
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
// fire while it is within the arena's shot range (the bench mode ignores buttons). With
// nobody in sight it wanders.
type Chase struct {
	wander Wander
}

// NewChase returns a Chase brain; hz paces its wandering.
func NewChase(seed uint64, hz int) *Chase { return &Chase{wander: *NewWander(seed, hz)} }

// Think implements Brain.
func (c *Chase) Think(self EntityID, seen []Entity, tick Tick) Input {
	me, t := nearest(self, seen)
	if t == nil {
		return c.wander.Think(self, seen, tick)
	}
	c.wander.last = tick
	dx, dy, dist, aim := toward(me.X, me.Y, t.X, t.Y)
	in := Input{DX: dx, DY: dy, Aim: aim}
	if dist <= arenaRange {
		in.Buttons = ButtonFire
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

// Think implements Brain.
func (f *Flee) Think(self EntityID, seen []Entity, tick Tick) Input {
	me, t := nearest(self, seen)
	if t == nil {
		return f.wander.Think(self, seen, tick)
	}
	f.wander.last = tick
	dx, dy, _, aim := toward(t.X, t.Y, me.X, me.Y)
	if dx == 0 && dy == 0 {
		dx = 1 // on top of each other: pick a side
	}
	return Input{DX: dx, DY: dy, Aim: aim}
}

// ScriptStep is one recorded input: Input is held from Tick (counted from
// the first Think) until the next step.
type ScriptStep struct {
	Tick  Tick  `json:"tick"`
	Input Input `json:"input"`
}

// Replay plays a recorded input script and loops it.
type Replay struct {
	// immutable after NewReplay
	script []ScriptStep
	period Tick

	// owned by the caller of Think
	start Tick
	last  Tick
	i     int // current step
	init  bool
}

// ErrBadScript is returned by NewReplay for an unusable script.
var ErrBadScript = errors.New("game: bad replay script")

// NewReplay returns a brain that replays script, looping every period ticks
// (if zero, one tick after the last step). Steps are sorted by Tick; the
// script is copied.
func NewReplay(script []ScriptStep, period Tick) (*Replay, error) {
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
		{Tick: 0, Input: Input{DX: 1}},
		{Tick: 30, Input: Input{DY: 1, Aim: math.Pi / 2}},
		{Tick: 60, Input: Input{DX: -1, Aim: math.Pi}},
		{Tick: 90, Input: Input{DY: -1, Aim: -math.Pi / 2}},
		{Tick: 119, Input: Input{DY: -1, Aim: -math.Pi / 2}},
	}
}

// Think implements Brain.
func (r *Replay) Think(_ EntityID, _ []Entity, tick Tick) Input {
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
