package client

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// arrival is when the snapshot of tick k leaves a 30 Hz server (tick k
// at k/30 s), plus latency.
func arrival(k int, latency time.Duration) time.Time {
	return t0.Add(time.Duration(k)*time.Second/30 + latency)
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestClockCalm: snapshots every tick with a constant latency: the render
// tick runs exactly three ticks behind the newest snapshot's schedule.
func TestClockCalm(t *testing.T) {
	var k clock
	k.setHz(30)
	if _, ok := k.renderTick(t0); ok {
		t.Fatal("render tick before any snapshot")
	}
	for tick := 100; tick < 400; tick++ {
		k.observe(uint32(tick), arrival(tick, 40*time.Millisecond), tick == 100)
		// Half a tick after the arrival of tick: render at tick - 2.5.
		r, ok := k.renderTick(arrival(tick, 40*time.Millisecond).Add(time.Second / 60))
		if !ok || !near(r, float64(tick)-2.5, 1e-6) {
			t.Fatalf("after tick %d: render tick %v, want %v", tick, r, float64(tick)-2.5)
		}
	}
	if !near(k.delay, 3, 1e-6) || !near(k.interval, 1, 1e-9) {
		t.Fatalf("calm delay %v ticks, interval %v", k.delay, k.interval)
	}
	// No snapshots for a while: the render tick stops at the newest.
	if r, _ := k.renderTick(arrival(450, 0)); r != 399 {
		t.Fatalf("render tick %v past the newest snapshot 399", r)
	}
}

// TestClockLateSnapshot: a snapshot 5 ticks late (and the ones queued
// behind it, arriving in a burst) raises the delay at once; it shrinks
// back slowly once the network is calm again.
func TestClockLateSnapshot(t *testing.T) {
	var k clock
	k.setHz(30)
	const lat = 30 * time.Millisecond
	for tick := 1; tick <= 100; tick++ {
		k.observe(uint32(tick), arrival(tick, lat), tick == 1)
	}
	stall := 5 * time.Second / 30
	for tick := 101; tick <= 105; tick++ { // all arrive together, 101 five ticks late
		k.observe(uint32(tick), arrival(101, lat+stall), false)
		if tick == 101 && !near(k.delay, 3+5, 1e-6) {
			t.Fatalf("delay %v ticks after a snapshot 5 ticks late, want 8 at once", k.delay)
		}
	}
	grown := k.delay
	for tick := 106; tick <= 136; tick++ { // a calm second
		k.observe(uint32(tick), arrival(tick, lat), false)
	}
	if k.delay < grown-3 || k.delay > grown {
		t.Fatalf("delay %v a second after %v: should shrink, slowly", k.delay, grown)
	}
	for tick := 137; tick <= 1000; tick++ {
		k.observe(uint32(tick), arrival(tick, lat), false)
	}
	if !near(k.delay, 3, 0.05) {
		t.Fatalf("delay %v ticks after 30 calm seconds, want about 3", k.delay)
	}
}

// TestClockJitter: latency jittering by up to 50 ms (1.5 ticks): the
// delay settles between calm and calm plus the jitter, and a frame drawn
// at any moment finds a snapshot after its render tick (the buffer never
// runs dry, so nothing freezes or extrapolates).
func TestClockJitter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var k clock
	k.setHz(30)
	type arr struct {
		tick int
		at   time.Time
	}
	var arrivals []arr
	last := t0
	for tick := 1; tick <= 1800; tick++ {
		at := arrival(tick, 20*time.Millisecond+time.Duration(rng.Int64N(int64(50*time.Millisecond))))
		if at.Before(last) { // TCP delivers in order
			at = last
		}
		last = at
		arrivals = append(arrivals, arr{tick, at})
	}
	dry := 0
	i := 0
	for now := t0; now.Before(last); now = now.Add(7 * time.Millisecond) { // frames at ~144 Hz
		for i < len(arrivals) && !arrivals[i].at.After(now) {
			k.observe(uint32(arrivals[i].tick), arrivals[i].at, i == 0)
			i++
		}
		if i < 90 {
			continue // warming up: three seconds
		}
		if r, _ := k.renderTick(now); r >= float64(arrivals[i-1].tick) {
			dry++
		}
	}
	if dry != 0 {
		t.Fatalf("%d frames found no snapshot after their render tick", dry)
	}
	if k.delay < 3 || k.delay > 3+1.5+0.5 {
		t.Fatalf("delay %v ticks with 1.5 ticks of jitter", k.delay)
	}
}

// TestClockLongHole: a snapshot over a second late (a stall, or ticks the
// server dropped) moves the estimate to it, and the delay is capped.
func TestClockLongHole(t *testing.T) {
	var k clock
	k.setHz(30)
	for tick := 1; tick <= 60; tick++ {
		k.observe(uint32(tick), arrival(tick, 0), tick == 1)
	}
	k.observe(61, arrival(61+90, 0), false) // three seconds late
	if max := float64(trackLen-4) * k.interval; k.delay > max+1e-9 || k.delay < max-1 {
		t.Fatalf("delay %v after a long hole, want the cap %v", k.delay, max)
	}
	r, _ := k.renderTick(arrival(61+90, 0))
	if want := 61 - k.delay; !near(r, want, 1e-6) {
		t.Fatalf("render tick %v, want %v (estimate reset to the late snapshot)", r, want)
	}
}

func TestView(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		tick game.Tick
		frac uint8
	}{
		{0, 0, 0}, {0.9, 0, 0}, {1, 1, 0}, {10.5, 10, 128}, {10.25, 10, 64},
		{10.999, 10, 255}, {10.001, 10, 0}, {4e9, 4e9, 0},
	} {
		if tick, frac := view(tc.r); tick != tc.tick || frac != tc.frac {
			t.Errorf("view(%v) = %d, %d; want %d, %d", tc.r, tick, frac, tc.tick, tc.frac)
		}
	}
}

// TestTrack: interpolation between samples, holding before the first and
// after the last, and a respawn that jumps instead of gliding.
func TestTrack(t *testing.T) {
	var tr track
	push := func(tick uint32, x, y float32, dead bool) {
		tr.push(sample{tick: tick, x: x, y: y}, dead, 0)
	}
	push(10, 100, 100, false)
	push(11, 104, 100, false)
	push(13, 112, 92, false) // tick 12 was coalesced away
	push(14, 112, 92, true)  // down
	push(15, 112, 92, true)
	push(16, 900, 50, false) // respawned across the map
	push(17, 904, 50, false)
	for _, tc := range []struct {
		r    float64
		x, y float32
	}{
		{5, 100, 100}, {10, 100, 100}, {10.5, 102, 100}, {11, 104, 100},
		{12, 108, 96}, {12.5, 110, 94}, {13, 112, 92}, {15, 112, 92},
		{15.5, 112, 92}, {15.99, 112, 92}, // no glide toward the respawn
		{16, 900, 50}, {16.25, 901, 50}, {17, 904, 50}, {30, 904, 50},
	} {
		if x, y := tr.position(tc.r); x != tc.x || y != tc.y {
			t.Errorf("position(%v) = (%v, %v), want (%v, %v)", tc.r, x, y, tc.x, tc.y)
		}
	}
	// The ring keeps the newest trackLen samples.
	for tick := uint32(18); tick < 18+2*trackLen; tick++ {
		push(tick, float32(tick), 0, false)
	}
	if x, _ := tr.position(0); x != float32(18+trackLen) {
		t.Fatalf("oldest kept x %v, want %v", x, 18+trackLen)
	}
}

// TestTrackTeleportDistance: with a teleport distance, a long move between
// two snapshots jumps even when nobody died.
func TestTrackTeleportDistance(t *testing.T) {
	var tr track
	tr.push(sample{tick: 1, x: 10, y: 10}, false, 50)
	tr.push(sample{tick: 2, x: 40, y: 10}, false, 50)  // 30 units: a glide
	tr.push(sample{tick: 3, x: 400, y: 10}, false, 50) // 360 units: a jump
	if x, _ := tr.position(1.5); x != 25 {
		t.Fatalf("x %v at 1.5, want 25", x)
	}
	if x, _ := tr.position(2.5); x != 40 {
		t.Fatalf("x %v at 2.5, want 40 (no glide across a teleport)", x)
	}
}

// feeder builds snapshots for a Client from whole worlds, as the server
// would send them.
type feeder struct {
	c    *Client
	prev []wire.EntityState
	ack  uint32
}

func (f *feeder) send(t *testing.T, tick uint32, at time.Time, world ...wire.EntityState) {
	t.Helper()
	s := wire.Snapshot{Tick: tick, Base: f.c.mirror.Tick, AckSeq: f.ack, Ops: wire.AppendDiff(nil, f.prev, world)}
	if f.prev == nil {
		s.Base = 0
	}
	f.c.mu.Lock()
	err := f.c.snapshotLocked(s, at)
	f.c.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	f.prev = append(f.prev[:0], world...)
}

func newTestClient(w wire.Welcome) *Client {
	c := &Client{done: make(chan struct{})}
	c.welcomeLocked(w)
	return c
}

// TestInterpolated: a Client fed snapshots at synthetic arrival times draws
// remote entities between the snapshots around its render tick (a respawn
// jumps), its own avatar at the predicted position, and allocates nothing
// per frame.
func TestInterpolated(t *testing.T) {
	c := newTestClient(arenaWelcome(1, 0, false))
	f := &feeder{c: c}
	var dst []game.Entity
	dst = c.Interpolated(dst, t0) // turns history on; nothing to draw yet
	if len(dst) != 0 {
		t.Fatalf("drew %d entities before any snapshot", len(dst))
	}
	const lat = 25 * time.Millisecond
	for tick := uint32(1); tick <= 20; tick++ {
		var flags uint8
		x3 := float32(300)
		switch {
		case tick >= 8 && tick < 12:
			flags = game.FlagDead
		case tick >= 12:
			x3 = 800 // respawned
		}
		f.send(t, tick, arrival(int(tick), lat),
			avatar(1, 500, 500, 0),
			avatar(2, 100+float32(tick)*4, 200, 0),
			avatar(3, x3, 300, flags))
	}
	// The own avatar is predicted: two inputs sent, not applied yet.
	c.mu.Lock()
	c.pred.sent(1, game.Input{DX: 1})
	c.pred.sent(2, game.Input{DX: 1})
	c.mu.Unlock()

	at := func(r float64) time.Time { // when the render tick is r
		return arrival(20, lat).Add(time.Duration((r - 17) * float64(time.Second) / 30))
	}
	for _, tc := range []struct {
		r      float64
		x2, x3 float32
	}{
		{10.5, 142, 300}, {11.75, 147, 300}, {12, 148, 800}, {16.25, 165, 800},
	} {
		if r, _ := c.RenderTick(at(tc.r)); !near(r, tc.r, 1e-6) {
			t.Fatalf("render tick %v, want %v", r, tc.r)
		}
		dst = c.Interpolated(dst[:0], at(tc.r))
		if len(dst) != 3 {
			t.Fatalf("%d entities", len(dst))
		}
		if e := dst[0]; e.ID != 1 || e.X != 510 || e.Y != 500 {
			t.Errorf("own avatar at (%v, %v), want the prediction (510, 500)", e.X, e.Y)
		}
		if e := dst[1]; e.ID != 2 || e.X != tc.x2 || e.Y != 200 || e.HP != 100 {
			t.Errorf("at %v: entity 2 %+v, want x %v", tc.r, e, tc.x2)
		}
		if e := dst[2]; e.ID != 3 || e.X != tc.x3 || e.Flags != 0 {
			t.Errorf("at %v: entity 3 %+v, want x %v", tc.r, e, tc.x3)
		}
	}
	if n := testing.AllocsPerRun(100, func() { dst = c.Interpolated(dst[:0], at(15)) }); n != 0 {
		t.Fatalf("Interpolated allocates %v times per call", n)
	}
	// Steady state snapshots allocate nothing for the history either.
	tick := uint32(21)
	world := []wire.EntityState{avatar(1, 500, 500, 0), avatar(2, 100, 200, 0), avatar(3, 800, 300, 0)}
	ops := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		world[1].X += 16
		ops = wire.AppendDiff(ops[:0], f.prev, world)
		c.mu.Lock()
		_ = c.snapshotLocked(wire.Snapshot{Tick: tick, Base: tick - 1, Ops: ops}, arrival(int(tick), lat))
		c.mu.Unlock()
		f.prev = append(f.prev[:0], world...)
		tick++
	}); n != 0 {
		t.Fatalf("a snapshot allocates %v times", n)
	}
}

// TestInterpolatedEnterLeave: entities entering the view start a track,
// ones leaving it are dropped (and their tracks reused).
func TestInterpolatedEnterLeave(t *testing.T) {
	c := newTestClient(arenaWelcome(1, 0, false))
	f := &feeder{c: c}
	c.Interpolated(nil, t0)
	const lat = 10 * time.Millisecond
	for tick := uint32(1); tick <= 10; tick++ {
		world := []wire.EntityState{avatar(1, 10, 10, 0)}
		if tick <= 5 {
			world = append(world, avatar(2, float32(tick), 0, 0))
		}
		if tick >= 4 {
			world = append(world, avatar(5, 50+float32(tick), 0, 0))
		}
		f.send(t, tick, arrival(int(tick), lat), world...)
	}
	got := c.Interpolated(nil, arrival(10, lat)) // render tick 7
	if len(got) != 2 || got[1].ID != 5 || got[1].X != 57 {
		t.Fatalf("drew %+v", got)
	}
	if len(c.view.tracks) != 2 || len(c.view.free) != 1 {
		t.Fatalf("%d tracks, %d free", len(c.view.tracks), len(c.view.free))
	}
	// Entity 5 entered at tick 4: before that it stands where it entered.
	if r, _ := c.RenderTick(arrival(6, lat)); !near(r, 3, 1e-6) {
		t.Fatalf("render tick %v", r)
	}
	if got := c.Interpolated(got[:0], arrival(6, lat)); got[1].X != 54 {
		t.Fatalf("entity 5 at x %v before it entered, want 54", got[1].X)
	}
}

// TestSendInputView: the view an input carries is the latest snapshot's
// tick until Interpolated is in use, then the render tick.
func TestSendInputView(t *testing.T) {
	c := newTestClient(arenaWelcome(1, 0, false))
	f := &feeder{c: c}
	if tick, frac := c.viewLocked(t0); tick != 0 || frac != 0 {
		t.Fatalf("view %d+%d/256 before any snapshot", tick, frac)
	}
	for tick := uint32(1); tick <= 10; tick++ {
		f.send(t, tick, arrival(int(tick), 0), avatar(1, 10, 10, 0))
	}
	now := arrival(10, 0).Add(time.Second / 60)
	if tick, frac := c.viewLocked(now); tick != 10 || frac != 0 {
		t.Fatalf("view %d+%d/256, want the mirror's tick 10", tick, frac)
	}
	c.Interpolated(nil, now)
	if tick, frac := c.viewLocked(now); tick != 7 || frac != 128 {
		t.Fatalf("view %d+%d/256, want 7+128/256", tick, frac)
	}
}

// TestInterpolatedNoMove: in a mode without a movement function the own
// avatar is interpolated like everything else.
func TestInterpolatedNoMove(t *testing.T) {
	w := arenaWelcome(1, 0, false)
	w.Mode = game.ModeBench
	c := newTestClient(w)
	f := &feeder{c: c}
	c.Interpolated(nil, t0)
	for tick := uint32(1); tick <= 10; tick++ {
		f.send(t, tick, arrival(int(tick), 0), avatar(1, float32(tick), 0, 0))
	}
	got := c.Interpolated(nil, arrival(10, 0).Add(time.Second/60)) // render tick 7.5
	if len(got) != 1 || got[0].X != 7.5 {
		t.Fatalf("drew %+v, want the own avatar at x 7.5", got)
	}
}

// BenchmarkSnapshotAndDraw: one arena-8x32-sized snapshot (40 entities,
// all moving) recorded into the history, and one frame drawn.
func BenchmarkSnapshotAndDraw(b *testing.B) {
	c := newTestClient(arenaWelcome(1, 0, false))
	c.Interpolated(nil, t0)
	world := make([]wire.EntityState, 40)
	for i := range world {
		world[i] = avatar(uint32(i+1), float32(10*i), 100, 0)
	}
	var prev []wire.EntityState
	var ops []byte
	var dst []game.Entity
	b.ReportAllocs()
	for i := range b.N {
		tick := uint32(i + 1)
		for j := range world {
			world[j].X += 16
		}
		ops = wire.AppendDiff(ops[:0], prev, world)
		base := tick - 1
		if prev == nil {
			base = 0
		}
		at := arrival(int(tick), 0)
		c.mu.Lock()
		if err := c.snapshotLocked(wire.Snapshot{Tick: tick, Base: base, Ops: ops}, at); err != nil {
			b.Fatal(err)
		}
		c.mu.Unlock()
		prev = append(prev[:0], world...)
		dst = c.Interpolated(dst[:0], at.Add(time.Second/60))
	}
}
