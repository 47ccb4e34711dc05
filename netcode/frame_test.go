package netcode

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// randomWorld returns a sorted world of up to n entities drawn from ids
// 1..2n, positions in a 1000x1000 world.
func randomWorld(r *rand.Rand, n int) []game.Entity {
	var out []game.Entity
	for id := 1; id <= 2*n; id++ {
		if r.IntN(2) == 0 {
			continue
		}
		out = append(out, game.Entity{
			ID: game.EntityID(id), Kind: game.Kind(1 + r.IntN(2)), HP: uint8(r.IntN(101)),
			Owner: game.PlayerID(r.IntN(3)), Score: uint32(r.IntN(5)), Flags: uint8(r.IntN(2)),
			X: r.Float32() * 1000, Y: r.Float32() * 1000,
		})
	}
	return out
}

// evolve changes some fields of a, removes some entities and adds new ones.
func evolve(r *rand.Rand, a []game.Entity, maxID int) []game.Entity {
	var b []game.Entity
	for _, e := range a {
		switch r.IntN(10) {
		case 0: // removed
			continue
		case 1, 2, 3: // small move
			e.X += (r.Float32() - 0.5) * 8
			e.Y += (r.Float32() - 0.5) * 8
		case 4: // teleport
			e.X, e.Y = r.Float32()*1000, r.Float32()*1000
		case 5:
			e.HP = uint8(r.IntN(101))
			e.X += 1
		case 6:
			e.Score++
			e.Flags ^= 1
		}
		b = append(b, e)
	}
	for id := maxID + 1; id <= maxID+3; id++ {
		if r.IntN(2) == 0 {
			b = append(b, game.Entity{ID: game.EntityID(id), Kind: game.KindNPC, HP: 100, X: r.Float32() * 1000, Y: r.Float32() * 1000})
		}
	}
	return b
}

// subset picks a random sorted subset of indices into cur.
func subset(r *rand.Rand, n int) []int32 {
	var out []int32
	for i := 0; i < n; i++ {
		if r.IntN(3) != 0 {
			out = append(out, int32(i))
		}
	}
	return out
}

func states(f *tickFrame, idx []int32) []wire.EntityState {
	out := make([]wire.EntityState, 0, len(idx))
	for _, i := range idx {
		out = append(out, f.cur[i])
	}
	return out
}

// TestDeltaProperty: for random worlds a and b and random views of each
// (area-of-interest changes), applying the delta a->b onto a client that
// holds its view of a yields exactly its view of b (quantized).
func TestDeltaProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 500; round++ {
		var f tickFrame
		a := randomWorld(r, 1+r.IntN(40))
		f.build(1, a)
		viewA := subset(r, len(f.cur))
		// The client starts from a keyframe of its view of a.
		var m wire.Mirror
		keyOps, known := f.appendOps(nil, nil, viewA, nil)
		if err := m.ApplySnapshot(wire.Snapshot{Tick: 1, Base: 0, Ops: keyOps}); err != nil {
			t.Fatalf("round %d keyframe: %v", round, err)
		}
		if got, want := m.Entities(), states(&f, viewA); !slices.Equal(got, want) {
			t.Fatalf("round %d keyframe mismatch:\n got %v\nwant %v", round, got, want)
		}
		for step := uint32(2); step < 6; step++ {
			maxID := 0
			if len(a) > 0 {
				maxID = int(a[len(a)-1].ID)
			}
			b := evolve(r, a, maxID+r.IntN(3))
			f.build(step, b)
			viewB := subset(r, len(f.cur))
			ops, next := f.appendOps(nil, known, viewB, nil)
			if err := m.ApplySnapshot(wire.Snapshot{Tick: step, Base: step - 1, Ops: ops}); err != nil {
				t.Fatalf("round %d step %d: %v", round, step, err)
			}
			if got, want := m.Entities(), states(&f, viewB); !slices.Equal(got, want) {
				t.Fatalf("round %d step %d mismatch:\n got %v\nwant %v", round, step, got, want)
			}
			a, known = b, next
		}
	}
}

// TestWholeWorldOpsShared: the shared whole-world delta equals a per-client
// merge over the same sets, and an unchanged entity costs nothing.
func TestWholeWorldOpsShared(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var f tickFrame
	a := randomWorld(r, 40)
	f.build(1, a)
	b := evolve(r, a, 80)
	f.build(2, b)
	f.wholeWorldSets()
	want, _ := f.appendOps(nil, f.prevIDs, f.allIdx, nil)
	if got := f.allDeltaOps(); !slices.Equal(got, want) {
		t.Fatalf("allDeltaOps differs from the merge")
	}
	// wire.AppendDiff is the reference encoder of a whole-world diff (tools,
	// the protocol document): the server's shared fragments must give the
	// same bytes, and so must its keyframe.
	if ref := wire.AppendDiff(nil, f.prev, f.cur); !slices.Equal(want, ref) {
		t.Fatalf("server delta differs from wire.AppendDiff:\n% x\n% x", want, ref)
	}
	if key, ref := f.allKeyOps(), wire.AppendDiff(nil, nil, f.cur); !slices.Equal(key, ref) {
		t.Fatalf("server keyframe differs from wire.AppendDiff:\n% x\n% x", key, ref)
	}
	f.build(3, b) // nothing changed
	if got := f.allDeltaOps(); len(got) != 0 {
		t.Fatalf("unchanged world encodes %d bytes, want 0", len(got))
	}
}

// TestInterestGrid compares grid queries against brute force.
func TestInterestGrid(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, radius := range []float32{50, 150, 400, 2000} {
		t.Run(fmt.Sprint(radius), func(t *testing.T) {
			var f tickFrame
			f.build(1, randomWorld(r, 200))
			var g grid
			g.build(f.cur, radius, 1000, 1000)
			for _, self := range f.cur[:20] {
				got := g.query(nil, f.cur, game.EntityID(self.ID), nil)
				var want []int32
				rq := float64(radius * wire.PosScale)
				for i, e := range f.cur {
					dx, dy := float64(e.X-self.X), float64(e.Y-self.Y)
					if dx*dx+dy*dy <= rq*rq {
						want = append(want, int32(i))
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("self %d: got %v want %v", self.ID, got, want)
				}
			}
		})
	}
}

// benchWorld runs the real bench mode to get arena-8x32 ticks.
func benchSim(b testing.TB, players int) game.Sim {
	mode, err := game.FindMode("bench")
	if err != nil {
		b.Fatal(err)
	}
	sim, err := mode.New(game.Config{Seed: 7, Hz: 30})
	if err != nil {
		b.Fatal(err)
	}
	for p := 1; p <= players; p++ {
		if _, err := sim.Join(game.PlayerID(p)); err != nil {
			b.Fatal(err)
		}
		sim.Apply(game.PlayerID(p), game.Input{DX: 0.7, DY: -0.4})
	}
	return sim
}

// recordBench runs the real bench mode (arena-8x32) for n ticks and
// returns every tick's world, so encode benchmarks time encoding alone.
func recordBench(b testing.TB, n int) [][]game.Entity {
	sim := benchSim(b, 8)
	var events []game.Event
	out := make([][]game.Entity, n)
	for i := range out {
		if i%15 == 0 { // players change direction now and then
			for p := 1; p <= 8; p++ {
				sim.Apply(game.PlayerID(p), game.Input{DX: float32(i%7)/3 - 1, DY: float32(p%5)/2 - 1})
			}
		}
		events = sim.Step(events[:0])
		out[i] = slices.Clone(sim.World().Entities())
	}
	return out
}

// BenchmarkEncodeArena8x32 measures the server's encode cost per client-tick
// for the arena-8x32 scenario: the tick's shared work (quantize, encode each
// entity's change once, build the interest grid) divided over 8 clients,
// plus each client's own snapshot. One op is one client-tick.
func BenchmarkEncodeArena8x32(b *testing.B) {
	ticks := recordBench(b, 300)
	for _, interest := range []float32{0, 300} {
		b.Run(fmt.Sprintf("interest=%v", interest), func(b *testing.B) {
			var f tickFrame
			var g grid
			views := make([][]uint32, 8)
			var scratch, out []byte
			var vis []int32
			var next []uint32
			var snapBytes, snaps int
			t := 0
			tick := func(n int) {
				t++
				w := ticks[t%len(ticks)]
				f.build(uint32(t), w)
				if interest > 0 {
					g.build(f.cur, interest, 1000, 1000)
				}
				for c := 0; c < 8 && n > 0; c++ {
					var ops []byte
					if interest == 0 {
						ops = f.allDeltaOps()
					} else {
						vis = g.query(vis[:0], f.cur, game.EntityID(33+c), views[c])
						scratch, next = f.appendOps(scratch[:0], views[c], vis, next[:0])
						views[c], next = next, views[c]
						ops = scratch
					}
					out = wire.AppendSnapshotHeader(out[:0], uint32(t), uint32(t)-1, 1234, len(ops))
					out = append(out, ops...)
					snapBytes += len(out)
					snaps++
					n--
				}
			}
			for i := 0; i < 60; i++ { // warm up: views settle, buffers grow
				tick(8)
			}
			snapBytes, snaps = 0, 0
			b.ReportAllocs()
			b.ResetTimer()
			for n := b.N; n > 0; n -= 8 {
				tick(min(n, 8))
			}
			b.ReportMetric(float64(snapBytes)/float64(snaps), "B/snapshot")
			b.ReportMetric(float64(snapBytes)/float64(snaps)*30, "B/client/s@30Hz")
		})
	}
}

// BenchmarkEncode64x1000: 64 players in a 1000-entity world (4000x4000
// units) with a 300-unit area of interest.
func BenchmarkEncode64x1000(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	world := make([]game.Entity, 1000)
	for i := range world {
		world[i] = game.Entity{ID: game.EntityID(i + 1), Kind: game.KindNPC, HP: 100, X: r.Float32() * 4000, Y: r.Float32() * 4000}
	}
	var f tickFrame
	var g grid
	views := make([][]uint32, 64)
	var scratch, out []byte
	var vis []int32
	var next []uint32
	tickN := uint32(0)
	var bytes, snaps int
	tick := func(n int) {
		tickN++
		for i := range world {
			world[i].X = min(max(world[i].X+(r.Float32()-0.5)*3, 0), 4000)
			world[i].Y = min(max(world[i].Y+(r.Float32()-0.5)*3, 0), 4000)
		}
		f.build(tickN, world)
		g.build(f.cur, 300, 4000, 4000)
		for c := 0; c < 64 && n > 0; c++ {
			vis = g.query(vis[:0], f.cur, game.EntityID(c*15+1), views[c])
			scratch, next = f.appendOps(scratch[:0], views[c], vis, next[:0])
			views[c], next = next, views[c]
			out = wire.AppendSnapshotHeader(out[:0], tickN, tickN-1, 1, len(scratch))
			out = append(out, scratch...)
			bytes += len(out)
			snaps++
			n--
		}
	}
	for i := 0; i < 30; i++ {
		tick(64)
	}
	bytes, snaps = 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for n := b.N; n > 0; n -= 64 {
		tick(min(n, 64))
	}
	b.ReportMetric(float64(bytes)/float64(snaps), "B/snapshot")
}

// BenchmarkKeyframeVsDelta reports the average size of a whole-world
// keyframe and of a whole-world delta snapshot for arena-8x32, and the cost
// of building both from a tick's frame.
func BenchmarkKeyframeVsDelta(b *testing.B) {
	ticks := recordBench(b, 300)
	var f tickFrame
	var out []byte
	var keyBytes, deltaBytes int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := uint32(i + 1)
		f.build(t, ticks[i%len(ticks)])
		if i%len(ticks) == 0 {
			f.build(t, ticks[0]) // no jump from the last recorded tick back to the first
		}
		key, delta := f.allKeyOps(), f.allDeltaOps()
		out = wire.AppendSnapshotHeader(out[:0], t, 0, 1234, len(key))
		keyBytes += len(out) + len(key)
		out = wire.AppendSnapshotHeader(out[:0], t, t-1, 1234, len(delta))
		deltaBytes += len(out) + len(delta)
	}
	b.ReportMetric(float64(keyBytes)/float64(b.N), "keyframe-B")
	b.ReportMetric(float64(deltaBytes)/float64(b.N), "delta-B")
}

// TestEncodeAllocs: steady-state encoding allocates nothing.
func TestEncodeAllocs(t *testing.T) {
	sim := benchSim(t, 8)
	var f tickFrame
	var g grid
	var events []game.Event
	var scratch, out []byte
	var vis []int32
	var known, next []uint32
	step := func() {
		events = sim.Step(events[:0])
		w := sim.World()
		f.build(uint32(w.Tick), w.Entities())
		g.build(f.cur, 300, w.Width, w.Height)
		out = wire.AppendSnapshotHeader(out[:0], 1, 0, 0, len(f.allDeltaOps()))
		out = append(out, f.allDeltaOps()...)
		vis = g.query(vis[:0], f.cur, 33, known)
		scratch, next = f.appendOps(scratch[:0], known, vis, next[:0])
		known, next = next, known
	}
	for i := 0; i < 100; i++ {
		step()
	}
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Fatalf("encode allocates %v times per tick, want 0", n)
	}
}
