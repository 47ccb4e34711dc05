package game

import (
	"errors"
	"math"
	"testing"
)

func newTestBench(t testing.TB, c Config) *benchSim {
	t.Helper()
	s, err := newBench(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBenchStart(t *testing.T) {
	s := newTestBench(t, Config{Seed: 42})
	w := s.World()
	if w.Width != 1000 || w.Height != 1000 || w.Hz != 30 || w.Tick != 0 {
		t.Fatalf("world %vx%v at %d Hz tick %d", w.Width, w.Height, w.Hz, w.Tick)
	}
	es := w.Entities()
	if len(es) != 32 {
		t.Fatalf("%d entities at start, want 32 NPCs", len(es))
	}
	for i, e := range es {
		if e.ID != EntityID(i+1) || e.Kind != KindNPC || e.HP != 100 || e.Owner != 0 {
			t.Errorf("NPC %d = %+v", i, e)
		}
		if e.X < 0 || e.X >= 1000 || e.Y < 0 || e.Y >= 1000 {
			t.Errorf("NPC %d at (%v, %v), outside the world", e.ID, e.X, e.Y)
		}
		v := s.vel[i]
		if sp := math.Hypot(float64(v[0]), float64(v[1])); math.Abs(sp-50) > 1e-4 {
			t.Errorf("NPC %d speed %v, want 50", e.ID, sp)
		}
	}
	if _, over := s.Result(); over {
		t.Errorf("bench over at start")
	}
}

func TestBenchJoinLeave(t *testing.T) {
	s := newTestBench(t, Config{Seed: 1})
	for p := PlayerID(1); p <= 8; p++ {
		id, err := s.Join(100 + p)
		if err != nil || id != 32+EntityID(p) {
			t.Fatalf("Join(%d) = %d, %v; want %d", 100+p, id, err, 32+p)
		}
		e := s.World().Get(id)
		if e.Kind != KindAvatar || e.Owner != 100+p || e.HP != 100 {
			t.Errorf("avatar %+v", e)
		}
	}
	steps := []struct {
		name   string
		leave  PlayerID // left before the join, if not 0
		join   PlayerID
		wantID EntityID
		err    error
	}{
		{"ninth player", 0, 200, 0, ErrFull},
		{"rejoin", 0, 103, 0, ErrJoined},
		{"player zero", 0, 0, 0, ErrBadConfig},
		{"lowest free id", 105, 200, 37, nil},
		{"after two leave", 102, 201, 34, nil},
		{"leave unknown is a no-op", 999, 202, 0, ErrFull},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.leave != 0 {
				s.Leave(st.leave)
			}
			id, err := s.Join(st.join)
			if !errors.Is(err, st.err) || id != st.wantID {
				t.Errorf("Join(%d) = %d, %v; want %d, %v", st.join, id, err, st.wantID, st.err)
			}
		})
	}
	if n := len(s.World().Entities()); n != 40 {
		t.Errorf("%d entities, want 40", n)
	}

	small := newTestBench(t, Config{MaxPlayers: 2})
	small.Join(1)
	small.Join(2)
	if _, err := small.Join(3); !errors.Is(err, ErrFull) {
		t.Errorf("third join with MaxPlayers 2: %v, want ErrFull", err)
	}
}

// TestBenchNPCMotion checks that every NPC moves 50*dt per tick in a
// straight line unless it re-picked its velocity (p=0.05) or hit a wall.
func TestBenchNPCMotion(t *testing.T) {
	for _, hz := range []int{30, 20} {
		s := newTestBench(t, Config{Seed: uint64(hz), Hz: hz})
		dt := 1 / float64(hz)
		repicks, moves := 0, 0
		for range 1000 {
			before := append([]Entity(nil), s.World().Entities()...)
			vel := s.vel
			s.Step(nil)
			for i, e := range s.World().Entities() {
				b := before[i]
				v := s.vel[i]
				if v != vel[i] {
					repicks++
				}
				if e.X == 0 || e.X == 1000 || e.Y == 0 || e.Y == 1000 {
					continue // clamped
				}
				moves++
				wantX := b.X + v[0]*float32(dt)
				wantY := b.Y + v[1]*float32(dt)
				if e.X != wantX || e.Y != wantY {
					t.Fatalf("%d Hz tick %d NPC %d: (%v,%v) -> (%v,%v), want (%v,%v)", hz, s.World().Tick, e.ID, b.X, b.Y, e.X, e.Y, wantX, wantY)
				}
				d := math.Hypot(float64(e.X-b.X), float64(e.Y-b.Y))
				if math.Abs(d-50*dt) > 1e-3 {
					t.Fatalf("%d Hz NPC %d moved %v, want %v", hz, e.ID, d, 50*dt)
				}
			}
		}
		// 32 000 draws at p=0.05: mean 1600, sd about 39.
		if repicks < 1400 || repicks > 1800 {
			t.Errorf("%d Hz: %d re-picks in 32000 NPC ticks, want about 1600", hz, repicks)
		}
		if moves < 25000 {
			t.Errorf("%d Hz: only %d unclamped moves", hz, moves)
		}
	}
}

func TestBenchAvatarMotion(t *testing.T) {
	tests := []struct {
		name   string
		in     Input
		vx, vy float32 // units per second
	}{
		{"still until first input", Input{}, 0, 0},
		{"right", Input{DX: 1}, 100, 0},
		{"half up-left", Input{DX: -0.5, DY: -0.5}, -50, -50},
		{"clamped", Input{DX: 7, DY: -3}, 100, -100},
		{"nan", Input{DX: float32(math.NaN()), DY: 1}, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestBench(t, Config{Seed: 3})
			id, _ := s.Join(1)
			a := s.World().Get(id)
			a.X, a.Y = 500, 500
			if tt.in != (Input{}) {
				s.Apply(1, tt.in)
			}
			s.Apply(2, Input{DX: 1}) // not joined: ignored
			s.Step(nil)
			a = s.World().Get(id)
			dt := float32(1) / 30
			if a.X != 500+tt.vx*dt || a.Y != 500+tt.vy*dt {
				t.Errorf("avatar at (%v, %v), want (%v, %v)", a.X, a.Y, 500+tt.vx*dt, 500+tt.vy*dt)
			}
		})
	}

	// Pushing into a corner for 11 s ends pinned at it.
	s := newTestBench(t, Config{Seed: 3})
	id, _ := s.Join(1)
	s.Apply(1, Input{DX: 1, DY: -1})
	for range 11 * 30 {
		s.Step(nil)
	}
	if a := s.World().Get(id); a.X != 1000 || a.Y != 0 {
		t.Errorf("avatar at (%v, %v), want clamped to (1000, 0)", a.X, a.Y)
	}
}

func TestBenchHPDrain(t *testing.T) {
	for _, hz := range []int{30, 20} {
		s := newTestBench(t, Config{Seed: 9, Hz: hz})
		for p := PlayerID(1); p <= 8; p++ {
			s.Join(p)
		}
		total := func() int {
			n := 0
			for _, e := range s.World().Entities() {
				n += int(e.HP)
			}
			return n
		}
		prev := total()
		for range 20 * 2 * hz {
			s.Step(nil)
			tick := int(s.World().Tick)
			want := prev
			if tick%(2*hz) == 0 {
				want--
			}
			if got := total(); got != want {
				t.Fatalf("%d Hz tick %d: total hp %d, want %d", hz, tick, got, want)
			}
			prev = want
		}
	}

	// At 1 hp the loss wraps to 100.
	s := newTestBench(t, Config{Seed: 9})
	for i := range s.w.ents {
		s.w.ents[i].HP = 1
	}
	for range 60 {
		s.Step(nil)
	}
	full := 0
	for _, e := range s.World().Entities() {
		switch e.HP {
		case 100:
			full++
		case 1:
		default:
			t.Errorf("entity %d hp %d", e.ID, e.HP)
		}
	}
	if full != 1 {
		t.Errorf("%d entities wrapped to 100, want 1", full)
	}
}

func TestBenchTimeLimit(t *testing.T) {
	s := newTestBench(t, Config{TimeLimitTicks: 5})
	s.Join(7)
	s.Join(3)
	for i := 1; i <= 5; i++ {
		s.Step(nil)
		res, over := s.Result()
		if over != (i == 5) {
			t.Fatalf("tick %d over = %v", i, over)
		}
		if over && (res.Reason != "time" || len(res.Players) != 2 || res.Players[0].Player != 3 || res.Players[1].Rank != 1) {
			t.Errorf("result %+v", res)
		}
	}
	s = newTestBench(t, Config{})
	for range 10000 {
		s.Step(nil)
	}
	if _, over := s.Result(); over {
		t.Errorf("bench over with no time limit")
	}
}

func newFullBench(tb testing.TB) *benchSim {
	s := newTestBench(tb, Config{Seed: 1})
	for p := PlayerID(1); p <= 8; p++ {
		s.Join(p)
		s.Apply(p, Input{DX: 0.5, DY: -0.25})
	}
	return s
}

func TestBenchStepAllocs(t *testing.T) {
	s := newFullBench(t)
	events := make([]Event, 0, 16)
	if n := testing.AllocsPerRun(1000, func() {
		for p := PlayerID(1); p <= 8; p++ {
			s.Apply(p, Input{DX: 1})
		}
		events = s.Step(events[:0])
	}); n != 0 {
		t.Errorf("bench Step allocates %v times, want 0", n)
	}
}

func BenchmarkBenchStep(b *testing.B) {
	s := newFullBench(b)
	events := make([]Event, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		events = s.Step(events[:0])
	}
}
