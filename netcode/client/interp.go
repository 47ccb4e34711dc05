package client

import (
	"math"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// Interpolation tuning, in snapshots (one per tick from this server, fewer
// when it coalesces).
const (
	trackLen = 32 // samples kept per entity: about a second at 30 Hz

	calmDelay = 3.0 // interpolation delay on a calm network, in snapshot intervals
	// shrinkRate is the fraction of the gap to a lower target delay closed
	// per snapshot (about two seconds at 30 Hz); a higher target is adopted
	// at once.
	shrinkRate = 1.0 / 64
	// envelopeRate is how fast the clock estimate follows snapshots that
	// arrive later than it predicts, per snapshot; earlier ones move it at
	// once.
	envelopeRate = 1.0 / 64
	// intervalRate smooths the measured ticks between snapshots.
	intervalRate = 1.0 / 16
)

// clock estimates the server's tick from snapshot arrival times and the
// render tick, that estimate minus an interpolation delay that adapts to
// how irregularly snapshots arrive. Time comes only from the arguments,
// so tests drive it with synthetic arrivals.
//
// The estimate is an upper envelope: tick(t) = off + hz·(t − epoch), where
// off rises at once to meet a snapshot that arrives earlier than predicted
// and sinks slowly toward ones that arrive later, so it tracks the
// fastest recent path from the server. How late a snapshot is against it
// is the jitter the delay must absorb: the target delay is calmDelay
// intervals plus that lateness; the delay grows to a higher target at once
// and shrinks toward a lower one slowly.
type clock struct {
	hz       float64 // ticks per second; 0: no Welcome yet
	have     bool    // a snapshot was observed
	epoch    time.Time
	off      float64 // estimated server tick at epoch
	interval float64 // smoothed ticks between snapshots
	delay    float64 // interpolation delay in ticks
	last     float64 // lateness of the latest snapshot in ticks (for tests)
	newest   uint32  // the newest snapshot tick observed
}

// setHz sets the tick rate from a Welcome; a change starts over.
func (k *clock) setHz(hz int) {
	if float64(hz) != k.hz {
		*k = clock{hz: float64(hz)}
	}
}

// at returns the elapsed ticks from epoch to t.
func (k *clock) at(t time.Time) float64 { return t.Sub(k.epoch).Seconds() * k.hz }

// observe notes that the snapshot of tick arrived at t; key marks a
// keyframe (the first on a connection: the interval to the previous
// snapshot means nothing).
func (k *clock) observe(tick uint32, t time.Time, key bool) {
	if k.hz <= 0 {
		return
	}
	if !k.have {
		k.have, k.epoch, k.off = true, t, float64(tick)
		k.interval, k.delay, k.newest = 1, calmDelay, tick
		return
	}
	if !key && tick > k.newest {
		if d := float64(tick - k.newest); d <= k.hz {
			k.interval += (d - k.interval) * intervalRate
		}
	}
	k.newest = max(k.newest, tick)
	s := float64(tick) - k.at(t) // where this snapshot puts off
	late := k.off - s
	switch {
	case late <= 0: // earlier than predicted: the envelope rises to it
		k.off, late = s, 0
	case late > k.hz: // over a second late: the server dropped ticks, or a long stall
		k.off = s
	default:
		k.off -= late * envelopeRate
	}
	k.last = late
	maxDelay := float64(trackLen-4) * k.interval
	target := min(calmDelay*k.interval+late, maxDelay)
	if target > k.delay {
		k.delay = target
	} else {
		k.delay += (target - k.delay) * shrinkRate
	}
}

// serverTick is the estimated server tick at t.
func (k *clock) serverTick(t time.Time) float64 { return k.off + k.at(t) }

// renderTick is the tick the other entities are drawn at, at t: the
// estimated server tick minus the delay, never past the newest snapshot.
func (k *clock) renderTick(t time.Time) (float64, bool) {
	if !k.have {
		return 0, false
	}
	return max(0, min(k.serverTick(t)-k.delay, float64(k.newest))), true
}

// view converts a render tick to an Input's ViewTick and ViewFrac.
func view(r float64) (game.Tick, uint8) {
	if r < 1 {
		return 0, 0
	}
	t := math.Floor(r)
	return game.Tick(t), uint8(min(255, math.Round((r-t)*256)))
}

// sample is one entity's position in one snapshot.
type sample struct {
	tick uint32
	x, y float32
	jump bool // teleported: do not interpolate from the previous sample
}

// track is one entity's recent positions, a ring of samples in tick order.
type track struct {
	id   uint32
	n    int // samples held
	head int // index of the newest
	dead bool
	s    [trackLen]sample
}

func (t *track) newest() *sample { return &t.s[t.head] }

// at returns the i-th newest sample (0: the newest); i < n.
func (t *track) at(i int) *sample { return &t.s[(t.head-i+trackLen)%trackLen] }

func (t *track) push(s sample, dead bool, teleport float32) {
	if t.n > 0 {
		prev := t.newest()
		switch {
		case s.tick <= prev.tick: // not newer: a restarted match, or a repeat
			if s.tick == prev.tick {
				*prev = sample{tick: s.tick, x: s.x, y: s.y, jump: prev.jump}
				t.dead = dead
				return
			}
			t.n = 0
			s.jump = true
		case t.dead && !dead: // respawned
			s.jump = true
		case teleport > 0 && float32(math.Hypot(float64(s.x-prev.x), float64(s.y-prev.y))) > teleport:
			s.jump = true
		}
	}
	t.head = (t.head + 1) % trackLen
	t.s[t.head] = s
	t.n = min(t.n+1, trackLen)
	t.dead = dead
}

// position returns where the entity stood at render tick r: interpolated
// between the samples around r, the oldest before them all, the newest
// after them all (no extrapolation), and the earlier sample up to the tick
// of a jump.
func (t *track) position(r float64) (float32, float32) {
	for i := 0; i < t.n; i++ {
		a := t.at(i)
		if float64(a.tick) > r {
			continue
		}
		if i == 0 {
			return a.x, a.y
		}
		b := t.at(i - 1)
		if b.jump {
			return a.x, a.y
		}
		f := float32((r - float64(a.tick)) / float64(b.tick-a.tick))
		return a.x + (b.x-a.x)*f, a.y + (b.y-a.y)*f
	}
	o := t.at(t.n - 1)
	return o.x, o.y
}

// interp keeps a track per entity in view, rebuilt from the mirror at each
// snapshot once enabled (the first call to Client.Interpolated), so clients
// that never draw pay nothing for it.
type interp struct {
	enabled  bool
	teleport float32  // a move longer than this is a jump; 0: only respawns
	tracks   []*track // by increasing id: the entities of the last snapshot
	spare    []*track // the next record's output; never aliases tracks
	free     []*track // tracks of entities gone from view, for reuse
}

// record appends the snapshot of tick to the tracks of the entities in
// ents (sorted by id, as the mirror holds them); entities gone from view
// lose their tracks, new ones start one.
func (ip *interp) record(tick uint32, ents []wire.EntityState) {
	if !ip.enabled {
		return
	}
	out := ip.spare[:0]
	old := ip.tracks
	i := 0
	for _, e := range ents {
		for i < len(old) && old[i].id < e.ID {
			ip.free = append(ip.free, old[i])
			i++
		}
		var t *track
		if i < len(old) && old[i].id == e.ID {
			t = old[i]
			i++
		} else {
			t = ip.newTrack(e.ID)
		}
		t.push(sample{tick: tick, x: wire.Dequantize(e.X), y: wire.Dequantize(e.Y)}, e.Flags&game.FlagDead != 0, ip.teleport)
		out = append(out, t)
	}
	ip.free = append(ip.free, old[i:]...)
	clear(old)
	ip.tracks, ip.spare = out, old[:0]
}

func (ip *interp) newTrack(id uint32) *track {
	if n := len(ip.free); n > 0 {
		t := ip.free[n-1]
		ip.free[n-1] = nil
		ip.free = ip.free[:n-1]
		t.id, t.n, t.head, t.dead = id, 0, 0, false
		return t
	}
	return &track{id: id}
}

// position returns where entity e of the mirror stands at render tick r,
// hint being the index in tracks to start looking at (entities are asked
// for in id order); it returns the next hint.
func (ip *interp) position(e wire.EntityState, r float64, hint int) (float32, float32, int) {
	for hint < len(ip.tracks) && ip.tracks[hint].id < e.ID {
		hint++
	}
	if hint < len(ip.tracks) && ip.tracks[hint].id == e.ID && ip.tracks[hint].n > 0 {
		x, y := ip.tracks[hint].position(r)
		return x, y, hint + 1
	}
	return wire.Dequantize(e.X), wire.Dequantize(e.Y), hint
}

// RenderTick returns the server tick, with its fraction, at which
// Interpolated draws the other entities at now: the server's current tick
// as estimated from snapshot arrival times, minus an interpolation delay
// of about three snapshot intervals that grows at once when snapshots
// arrive late and shrinks back slowly, never past the newest snapshot.
// ok is false before the first snapshot.
func (c *Client) RenderTick(now time.Time) (tick float64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clk.renderTick(now)
}

// Interpolated appends the entities in view to dst, sorted by id, and
// returns the extended slice: what to draw at now. Other entities stand
// where they were at RenderTick(now), interpolated between the two
// snapshots around it (a respawn jumps instead of gliding across the
// map); the own avatar stands at its Predicted position (or, in a mode
// without a movement function, is interpolated too). Every other field
// is the latest snapshot's. Pass the previous frame's slice as dst[:0]:
// once it has grown, Interpolated does not allocate.
//
// Position history is kept from the first call on, so that clients that
// never call it pay nothing; until two snapshots have been recorded, an
// entity stands at its latest position.
func (c *Client) Interpolated(dst []game.Entity, now time.Time) []game.Entity {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.view.enabled = true
	r, _ := c.clk.renderTick(now)
	px, py, predicted := c.pred.predicted()
	predicted = predicted && c.pred.move != nil // else the own avatar is interpolated too
	self := c.welcome.Entity
	hint := 0
	for _, e := range c.mirror.Entities() {
		var x, y float32
		if e.ID == self && predicted {
			x, y = px, py
		} else {
			x, y, hint = c.view.position(e, r, hint)
		}
		dst = append(dst, game.Entity{
			ID: game.EntityID(e.ID), Kind: game.Kind(e.Kind), Flags: e.Flags, HP: e.HP,
			Owner: game.PlayerID(e.Owner), Score: e.Score, X: x, Y: y,
		})
	}
	return dst
}

// viewLocked is the view an input carries: the render tick once
// Interpolated draws the world, else the latest snapshot's tick.
func (c *Client) viewLocked(now time.Time) (game.Tick, uint8) {
	if !c.view.enabled {
		return game.Tick(c.mirror.Tick), 0
	}
	r, ok := c.clk.renderTick(now)
	if !ok {
		return 0, 0
	}
	return view(r)
}
