package wire

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantize(t *testing.T) {
	tests := []struct {
		v    float32
		want int32
	}{
		{0, 0},
		{1, PosScale},
		{-1, -PosScale},
		{0.5 / PosScale, 1},   // half rounds away from zero
		{-0.5 / PosScale, -1}, // likewise
		{0.49 / PosScale, 0},
		{1000.25, 16004},
		{float32(math.NaN()), 0},
		{float32(math.Inf(1)), math.MaxInt32},
		{float32(math.Inf(-1)), math.MinInt32},
		{1e12, math.MaxInt32},
		{-1e12, math.MinInt32},
	}
	for _, tc := range tests {
		t.Run("", func(t *testing.T) {
			if got := Quantize(tc.v); got != tc.want {
				t.Fatalf("Quantize(%v) = %d, want %d", tc.v, got, tc.want)
			}
		})
	}
	for _, v := range []float32{0, 1, -3.3, 1234.567, -99999} {
		if d := Dequantize(Quantize(v)) - v; d > 0.5/PosScale+1e-3 || d < -0.5/PosScale-1e-3 {
			t.Errorf("Dequantize(Quantize(%v)) off by %v", v, d)
		}
	}
	if Dequantize(16004) != 1000.25 {
		t.Errorf("Dequantize(16004) = %v", Dequantize(16004))
	}
}

func TestAppendOpHeader(t *testing.T) {
	tests := []struct {
		gap  uint32
		op   uint8
		want []byte
	}{
		{1, OpEnter, []byte{0x06}},
		{1, OpMove, []byte{0x04}},
		{31, OpRemove, []byte{0x7f}},
		{32, OpMove, []byte{0x80, 0x01}},
		{math.MaxUint32, OpUpdate, []byte{0xfd, 0xff, 0xff, 0xff, 0x3f}},
	}
	for _, tc := range tests {
		if got := AppendOpHeader(nil, tc.gap, tc.op); !bytes.Equal(got, tc.want) {
			t.Errorf("AppendOpHeader(%d, %d) = % x, want % x", tc.gap, tc.op, got, tc.want)
		}
	}
}

func TestAppendDelta(t *testing.T) {
	base := EntityState{ID: 7, Kind: 1, HP: 100, Owner: 3, Score: 10, X: 1000, Y: -1000}
	with := func(f func(*EntityState)) EntityState { e := base; f(&e); return e }
	tests := []struct {
		name    string
		cur     EntityState
		op      uint8
		want    []byte
		changed bool
	}{
		{"same", base, 0, nil, false},
		{"other id", with(func(e *EntityState) { e.ID = 8 }), 0, nil, false},
		{"small move", with(func(e *EntityState) { e.X += 5; e.Y -= 128 }), OpMove, []byte{5, 0x80}, true},
		{"x only", with(func(e *EntityState) { e.X += 127 }), OpMove, []byte{127, 0}, true},
		{"x jump", with(func(e *EntityState) { e.X += 128 }), OpUpdate, []byte{FieldX, 0xd0, 0x11}, true},
		{"x small y jump", with(func(e *EntityState) { e.X++; e.Y = 0 }), OpUpdate, []byte{FieldX | FieldY, 0xd2, 0x0f, 0}, true},
		{"hp and move", with(func(e *EntityState) { e.HP = 0; e.Y++ }), OpUpdate, []byte{FieldHP | FieldMove, 0, 0, 1}, true},
		{"all", EntityState{ID: 7, Kind: 2, Flags: 1, HP: 1, Owner: 300, Score: 0, X: 1, Y: 2}, OpUpdate,
			[]byte{FieldKind | FieldX | FieldY | FieldHP | FieldOwner | FieldScore | FieldFlags, 2, 2, 4, 1, 0xac, 0x02, 0, 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte{0xaa}
			out, op, changed := AppendDelta(dst, base, tc.cur)
			if changed != tc.changed || op != tc.op || !bytes.Equal(out[1:], tc.want) || out[0] != 0xaa {
				t.Fatalf("AppendDelta = % x, %d, %v; want % x, %d, %v", out[1:], op, changed, tc.want, tc.op, tc.changed)
			}
		})
	}
}

func TestAppendFull(t *testing.T) {
	if got := AppendFull(nil, EntityState{ID: 5}); !bytes.Equal(got, []byte{0}) {
		t.Errorf("zero entity = % x", got)
	}
	// X/Y are absolute even when small: never FieldMove.
	if got := AppendFull(nil, EntityState{ID: 5, X: 1, Y: -1, HP: 3}); !bytes.Equal(got, []byte{FieldX | FieldY | FieldHP, 2, 1, 3}) {
		t.Errorf("small entity = % x", got)
	}
}

// randState returns a random entity with the given id: half the time
// fields are zero, positions range from tiny to the int32 extremes.
func randState(r *rand.Rand, id uint32) EntityState {
	pos := func() int32 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return int32(r.IntN(200) - 100)
		case 2:
			return int32(r.Uint32())
		default:
			return []int32{math.MaxInt32, math.MinInt32, math.MaxInt32 - 100, math.MinInt32 + 100}[r.IntN(4)]
		}
	}
	e := EntityState{ID: id, X: pos(), Y: pos()}
	if r.IntN(2) == 0 {
		e.Kind, e.Flags, e.HP = uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32())
		e.Owner, e.Score = r.Uint32()>>r.IntN(32), r.Uint32()>>r.IntN(32)
	}
	return e
}

// mutate changes some fields of e, often only a small move.
func mutate(r *rand.Rand, e EntityState) EntityState {
	switch r.IntN(5) {
	case 0:
		return e
	case 1, 2: // small move, maybe past the int32 edge is avoided by clamping
		x, y := int64(e.X)+int64(r.IntN(256)-128), int64(e.Y)+int64(r.IntN(256)-128)
		e.X = int32(max(math.MinInt32, min(math.MaxInt32, x)))
		e.Y = int32(max(math.MinInt32, min(math.MaxInt32, y)))
		if r.IntN(3) == 0 {
			e.HP--
		}
		return e
	default:
		n := randState(r, e.ID)
		if r.IntN(2) == 0 {
			n.Kind = e.Kind
		}
		return n
	}
}

func TestDeltaProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		id := r.Uint32()>>r.IntN(32) | 1
		prev := randState(r, id)
		cur := mutate(r, prev)
		var m Mirror
		enter := AppendFull(AppendOpHeader(nil, id, OpEnter), prev)
		if err := m.Apply(enter); err != nil {
			t.Fatalf("%d: enter %+v: %v", i, prev, err)
		}
		if got, _ := m.Get(id); got != prev {
			t.Fatalf("%d: enter gave %+v, want %+v", i, got, prev)
		}
		payload, op, changed := AppendDelta(nil, prev, cur)
		if changed != (prev != cur) {
			t.Fatalf("%d: changed = %v for %+v -> %+v", i, changed, prev, cur)
		}
		if !changed {
			continue
		}
		if op == OpMove && len(payload) != 2 {
			t.Fatalf("%d: move payload % x", i, payload)
		}
		ops := append(AppendOpHeader(nil, id, op), payload...)
		if err := m.Apply(ops); err != nil {
			t.Fatalf("%d: apply %+v -> %+v (% x): %v", i, prev, cur, ops, err)
		}
		if got, _ := m.Get(id); got != cur || m.Len() != 1 {
			t.Fatalf("%d: got %+v, want %+v", i, got, cur)
		}
	}
}

// randWorld derives a world from prev: removes, adds and changes.
func randWorld(r *rand.Rand, prev []EntityState, maxID uint32) []EntityState {
	var next []EntityState
	for _, e := range prev {
		if r.IntN(10) == 0 {
			continue // removed
		}
		next = append(next, mutate(r, e))
	}
	for range r.IntN(8) {
		id := 1 + r.Uint32N(maxID)
		if r.IntN(50) == 0 {
			id = math.MaxUint32 - r.Uint32N(3)
		}
		i, found := slices.BinarySearchFunc(next, id, func(e EntityState, id uint32) int { return int(int64(e.ID) - int64(id)) })
		if !found {
			next = slices.Insert(next, i, randState(r, id))
		}
	}
	return next
}

func TestDiffProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for run := range 50 {
		var m, key Mirror
		var world []EntityState
		maxID := uint32(1) << r.IntN(32)
		for step := range 100 {
			next := randWorld(r, world, maxID)
			ops := AppendDiff(nil, world, next)
			if err := m.ApplySnapshot(Snapshot{Tick: uint32(step + 1), Base: uint32(step), Ops: ops}); err != nil && step > 0 {
				t.Fatalf("run %d step %d: %v", run, step, err)
			} else if step == 0 && err != nil {
				t.Fatalf("keyframe: %v", err)
			}
			if !slices.Equal(m.Entities(), next) && !(len(next) == 0 && m.Len() == 0) {
				t.Fatalf("run %d step %d: mirror\n%+v\nwant\n%+v", run, step, m.Entities(), next)
			}
			// A keyframe of the same world gives the same mirror.
			if err := key.ApplySnapshot(Snapshot{Tick: 9, Ops: AppendDiff(nil, nil, next)}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(key.Entities(), m.Entities()) {
				t.Fatalf("keyframe differs")
			}
			for _, e := range next {
				if got, ok := m.Get(e.ID); !ok || got != e {
					t.Fatalf("Get(%d) = %+v, %v", e.ID, got, ok)
				}
			}
			world = next
		}
	}
}

func TestMirrorSnapshots(t *testing.T) {
	var m Mirror
	a := []EntityState{{ID: 1, X: 5}, {ID: 2, HP: 3}}
	b := []EntityState{{ID: 2, HP: 2}, {ID: 9, Kind: 1}}
	if err := m.ApplySnapshot(Snapshot{Tick: 10, Base: 3, Ops: AppendDiff(nil, nil, a)}); !errors.Is(err, ErrBaseMismatch) {
		t.Fatalf("delta onto empty mirror: %v", err)
	}
	if err := m.ApplySnapshot(Snapshot{Tick: 10, Ops: AppendDiff(nil, nil, a)}); err != nil || m.Tick != 10 {
		t.Fatalf("keyframe: %v, tick %d", err, m.Tick)
	}
	d := AppendDiff(nil, a, b)
	if err := m.ApplySnapshot(Snapshot{Tick: 12, Base: 11, Ops: d}); !errors.Is(err, ErrBaseMismatch) || errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong base: %v", err)
	}
	if err := m.ApplySnapshot(Snapshot{Tick: 11, Base: 10, Ops: d}); err != nil || m.Tick != 11 || !slices.Equal(m.Entities(), b) {
		t.Fatalf("delta: %v, tick %d, %+v", err, m.Tick, m.Entities())
	}
	// A keyframe replaces everything.
	if err := m.ApplySnapshot(Snapshot{Tick: 20, Ops: AppendDiff(nil, nil, a)}); err != nil || !slices.Equal(m.Entities(), a) {
		t.Fatalf("second keyframe: %v, %+v", err, m.Entities())
	}
	// A failed keyframe leaves the mirror alone.
	if err := m.ApplySnapshot(Snapshot{Tick: 30, Ops: []byte{0x04, 1, 1}}); !errors.Is(err, ErrMalformed) || m.Tick != 20 || !slices.Equal(m.Entities(), a) {
		t.Fatalf("bad keyframe: %v, tick %d, %+v", err, m.Tick, m.Entities())
	}
	if _, ok := m.Get(3); ok {
		t.Fatal("Get(3) found something")
	}
	m.Reset()
	if m.Len() != 0 || m.Tick != 0 {
		t.Fatal("Reset")
	}
}

func TestMirrorApplyReject(t *testing.T) {
	world := []EntityState{{ID: 1, X: math.MaxInt32 - 1}, {ID: 5, HP: 1}}
	tests := []struct {
		name string
		ops  []byte
	}{
		{"enter existing", []byte{0x06, 0}},
		{"move unknown", []byte{0x08, 1, 1}},
		{"update unknown", []byte{0x09, FieldHP, 1}},
		{"remove unknown", []byte{0x0b}},
		{"gap zero", []byte{0x04, 0, 0, 0x03}},
		{"id overflow", append(AppendOpHeader(nil, math.MaxUint32, OpEnter), 0, 0x06, 0)},
		{"header varint too long", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
		{"truncated header", []byte{0x80}},
		{"truncated move", []byte{0x14, 1}},
		{"truncated mask", []byte{0x15}},
		{"truncated field", []byte{0x15, FieldHP | FieldKind, 1}},
		{"truncated varint field", []byte{0x15, FieldOwner, 0x80}},
		{"owner over uint32", []byte{0x15, FieldOwner, 0x80, 0x80, 0x80, 0x80, 0x10}},
		{"empty update mask", []byte{0x15, 0}},
		{"enter with move", []byte{0x0a, FieldMove, 1, 1}},
		{"move with x", []byte{0x15, FieldMove | FieldX, 2, 1, 1}},
		{"move past int32", []byte{0x04, 2, 0}},
		{"update move past int32", []byte{0x05, FieldMove, 2, 0}},
		{"good then bad", []byte{0x07, 0x04, 0x01, 0x01}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Mirror
			if err := m.Apply(AppendDiff(nil, nil, world)); err != nil {
				t.Fatal(err)
			}
			err := m.Apply(tc.ops)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			t.Log(err)
			if !slices.Equal(m.Entities(), world) {
				t.Fatalf("mirror changed by a failed apply: %+v", m.Entities())
			}
		})
	}
}

func TestMirrorMaxEntities(t *testing.T) {
	ops := bytes.Repeat([]byte{0x06, 0}, MaxMirrorEntities) // enter ids 1..Max
	var m Mirror
	if err := m.Apply(ops); err != nil || m.Len() != MaxMirrorEntities {
		t.Fatalf("%d entities: %v", m.Len(), err)
	}
	m.Reset()
	if err := m.Apply(append(ops, 0x06, 0)); !errors.Is(err, ErrMalformed) || m.Len() != 0 {
		t.Fatalf("one over: %v, len %d", err, m.Len())
	}
}

func TestAppendDiffPanicsOnUnsorted(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	AppendDiff(nil, nil, []EntityState{{ID: 2}, {ID: 1}})
}

// moving40 returns 40 entities and a step that moves each one a little.
func moving40() (world []EntityState, step func([]EntityState, int)) {
	for i := range 40 {
		world = append(world, EntityState{ID: uint32(i*3 + 1), Kind: 1, HP: 100, X: int32(i * 100), Y: int32(-i * 50)})
	}
	return world, func(w []EntityState, tick int) {
		for i := range w {
			d := int32(tick%7) - 3
			w[i].X += d
			w[i].Y -= d
		}
	}
}

func TestOpsZeroAllocs(t *testing.T) {
	prev, cur := EntityState{ID: 1, X: 10}, EntityState{ID: 1, X: 1000, HP: 5}
	buf := make([]byte, 0, 1024)
	world, step := moving40()
	next := slices.Clone(world)
	var m Mirror
	if err := m.Apply(AppendDiff(nil, nil, world)); err != nil {
		t.Fatal(err)
	}
	tick := 0
	tests := []struct {
		name string
		f    func()
	}{
		{"AppendDelta", func() { buf, _, _ = AppendDelta(buf[:0], prev, cur) }},
		{"AppendOpHeader", func() { buf = AppendOpHeader(buf[:0], 1<<30, OpUpdate) }},
		{"AppendFull", func() { buf = AppendFull(buf[:0], cur) }},
		{"AppendDiff", func() { buf = AppendDiff(buf[:0], world, next) }},
		{"Mirror.Apply", func() {
			copy(world, next)
			tick++
			step(next, tick)
			buf = AppendDiff(buf[:0], world, next)
			if err := m.Apply(buf); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(100, tc.f); a != 0 {
				t.Fatalf("%v allocs, want 0", a)
			}
		})
	}
	if !slices.Equal(m.Entities(), next) {
		t.Fatal("mirror diverged")
	}
}

func BenchmarkAppendDelta(b *testing.B) {
	prev := EntityState{ID: 1, Kind: 1, HP: 100, X: 1000, Y: 2000}
	cur := prev
	cur.X += 3
	cur.Y -= 2
	far := cur
	far.X += 5000
	far.HP = 90
	buf := make([]byte, 0, 64)
	b.Run("move", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _, _ = AppendDelta(buf[:0], prev, cur)
		}
	})
	b.Run("update", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _, _ = AppendDelta(buf[:0], prev, far)
		}
	})
}

func BenchmarkMirrorApply40(b *testing.B) {
	world, step := moving40()
	// Precompute a cycle of deltas so the benchmark measures Apply only.
	const n = 64
	frames := make([][]byte, n)
	w := slices.Clone(world)
	for i := range frames {
		next := slices.Clone(w)
		step(next, i+1)
		if i == n-1 {
			copy(next, world) // back to the start so the cycle repeats
		}
		frames[i] = AppendDiff(nil, w, next)
		w = next
	}
	var m Mirror
	if err := m.Apply(AppendDiff(nil, nil, world)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frames[0])))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := m.Apply(frames[i%n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkAppendDiff40(b *testing.B) {
	world, step := moving40()
	next := slices.Clone(world)
	step(next, 1)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendDiff(buf[:0], world, next)
	}
}
