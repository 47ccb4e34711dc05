package game

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// newTestArena returns an arena with players 1..len(pos) standing at pos.
func newTestArena(t *testing.T, c Config, pos ...[2]float32) *arenaSim {
	t.Helper()
	s, err := newArena(c)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pos {
		id, err := s.Join(PlayerID(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		e := s.World().Get(id)
		e.X, e.Y = p[0], p[1]
	}
	return s
}

func fire(aim float32) Input { return Input{Aim: aim, Buttons: ButtonFire} }

func kinds(evs []Event) []EventKind {
	var ks []EventKind
	for _, e := range evs {
		ks = append(ks, e.Kind)
	}
	return ks
}

func TestArenaShot(t *testing.T) {
	tests := []struct {
		name   string
		pos    [][2]float32 // player 1 shoots, aiming along +x unless aim set
		aim    float32
		target EntityID // 0: miss
	}{
		{"straight hit", [][2]float32{{100, 100}, {200, 100}}, 0, 2},
		{"nearest along the ray", [][2]float32{{100, 100}, {300, 100}, {150, 105}}, 0, 3},
		{"edge of hit radius", [][2]float32{{100, 100}, {200, 111.9}}, 0, 2},
		{"outside hit radius", [][2]float32{{100, 100}, {200, 112.5}}, 0, 0},
		{"edge of range", [][2]float32{{100, 100}, {399.5, 100}}, 0, 2},
		{"out of range", [][2]float32{{100, 100}, {401, 100}}, 0, 0},
		{"behind", [][2]float32{{100, 100}, {50, 100}}, 0, 0},
		{"aim up", [][2]float32{{100, 100}, {200, 100}, {100, 250}}, math.Pi / 2, 3},
		{"diagonal", [][2]float32{{100, 100}, {200, 200}}, math.Pi / 4, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestArena(t, Config{}, tt.pos...)
			s.Apply(1, fire(tt.aim))
			evs := s.Step(nil)
			if tt.target == 0 {
				if len(evs) != 0 {
					t.Errorf("events %+v, want none", evs)
				}
				return
			}
			want := []Event{{Kind: EventHit, Tick: 1, Source: 1, Target: tt.target, Value: 20}}
			if !slices.Equal(evs, want) {
				t.Errorf("events %+v, want %+v", evs, want)
			}
			if hp := s.World().Get(tt.target).HP; hp != 80 {
				t.Errorf("target hp %d, want 80", hp)
			}
		})
	}
}

func TestArenaCooldown(t *testing.T) {
	s := newTestArena(t, Config{}, [2]float32{100, 100}, [2]float32{200, 100})
	var hitTicks []Tick
	for range 30 {
		s.Apply(1, fire(0)) // held every tick
		for _, e := range s.Step(nil) {
			if e.Kind == EventHit {
				hitTicks = append(hitTicks, e.Tick)
			}
		}
	}
	// 0.4 s at 30 Hz is 12 ticks.
	if want := []Tick{1, 13, 25}; !slices.Equal(hitTicks, want) {
		t.Errorf("hits at ticks %v, want %v", hitTicks, want)
	}
}

func TestArenaKillScoreRespawn(t *testing.T) {
	s := newTestArena(t, Config{Seed: 5}, [2]float32{100, 100}, [2]float32{200, 100})
	var all []Event
	for range 5 {
		s.Apply(1, fire(0))
		for range 12 {
			all = s.Step(all)
		}
	}
	victim := s.World().Get(2)
	if victim.HP != 0 || victim.Flags&FlagDead == 0 {
		t.Fatalf("victim after 5 hits: %+v", victim)
	}
	if sc := s.World().Get(1).Score; sc != 1 {
		t.Errorf("shooter score %d, want 1", sc)
	}
	wantKinds := []EventKind{EventHit, EventHit, EventHit, EventHit, EventHit, EventKill, EventScore}
	if !slices.Equal(kinds(all), wantKinds) {
		t.Fatalf("events %v, want %v", kinds(all), wantKinds)
	}
	killTick := all[5].Tick
	if k, sc := all[5], all[6]; k.Source != 1 || k.Target != 2 || sc.Source != 1 || sc.Value != 1 || sc.Tick != killTick {
		t.Errorf("kill %+v score %+v", k, sc)
	}

	// Dead avatars ignore input and cannot be hit again.
	s.Apply(2, Input{DX: 1, Buttons: ButtonFire})
	s.Apply(1, fire(0))
	if evs := s.Step(nil); len(evs) != 0 {
		t.Errorf("events while victim is down: %+v", evs)
	}
	if v := s.World().Get(2); v.X != 200 || v.Y != 100 {
		t.Errorf("dead avatar moved to (%v, %v)", v.X, v.Y)
	}

	// Back after 2 s (60 ticks) at full hp.
	var respawn []Event
	for s.World().Tick < killTick+60 {
		respawn = s.Step(respawn)
	}
	want := []Event{{Kind: EventRespawn, Tick: killTick + 60, Target: 2}}
	if !slices.Equal(respawn, want) {
		t.Errorf("events until respawn %+v, want %+v", respawn, want)
	}
	if v := s.World().Get(2); v.HP != 100 || v.Flags&FlagDead != 0 {
		t.Errorf("respawned avatar %+v", v)
	}
}

func TestArenaMovement(t *testing.T) {
	s := newTestArena(t, Config{}, [2]float32{500, 500}, [2]float32{100, 100})
	s.Apply(1, Input{DX: 1, DY: 1}) // diagonal: normalized to speed 150
	s.Step(nil)
	a := s.World().Get(1)
	// 5/sqrt(2) = 3.5355 along each axis, on the 1/16 grid: 3.5625.
	if a.X != 503.5625 || a.Y != 503.5625 {
		t.Errorf("moved to (%v, %v); want (503.5625, 503.5625): 5 units along the diagonal, quantized", a.X, a.Y)
	}
	s.Step(nil) // no input: no movement (the last one is not repeated)
	if b := s.World().Get(1); b.X != a.X || b.Y != a.Y {
		t.Errorf("moved without input to (%v, %v)", b.X, b.Y)
	}
	for range 30 {
		s.Apply(2, Input{DX: -1})
		s.Step(nil)
	}
	if b := s.World().Get(2); b.X != 0 || b.Y != 100 {
		t.Errorf("player 2 at (%v, %v), want clamped to (0, 100)", b.X, b.Y)
	}
	for range 3 { // three inputs before one Step: three ticks of movement
		s.Apply(2, Input{DX: 1})
	}
	s.Step(nil)
	if b := s.World().Get(2); b.X != 15 {
		t.Errorf("three inputs in one Step moved player 2 to x=%v, want 15", b.X)
	}
}

func TestArenaResult(t *testing.T) {
	t.Run("time", func(t *testing.T) {
		s := newTestArena(t, Config{TimeLimitTicks: 3}, [2]float32{0, 0}, [2]float32{0, 900}, [2]float32{900, 0}, [2]float32{900, 900})
		for id, sc := range map[EntityID]uint32{1: 2, 2: 5, 3: 2, 4: 0} {
			s.World().Get(id).Score = sc
		}
		for i := 1; i <= 3; i++ {
			s.Step(nil)
			if _, over := s.Result(); over != (i == 3) {
				t.Fatalf("tick %d: over = %v", i, over)
			}
		}
		res, _ := s.Result()
		want := []PlayerResult{
			{Player: 2, Entity: 2, Score: 5, Rank: 1},
			{Player: 1, Entity: 1, Score: 2, Rank: 2},
			{Player: 3, Entity: 3, Score: 2, Rank: 2},
			{Player: 4, Entity: 4, Score: 0, Rank: 4},
		}
		if res.Reason != "time" || !slices.Equal(res.Players, want) {
			t.Errorf("result %+v, want time %+v", res, want)
		}
		if evs := s.Step(nil); len(evs) != 0 || s.World().Tick != 3 {
			t.Errorf("Step after the end: tick %d, events %v", s.World().Tick, evs)
		}
	})
	t.Run("score", func(t *testing.T) {
		s := newTestArena(t, Config{}, [2]float32{100, 100}, [2]float32{200, 100})
		s.World().Get(1).Score = 9
		s.World().Get(2).HP = 20
		s.Apply(1, fire(0))
		s.Step(nil)
		res, over := s.Result()
		if !over || res.Reason != "score" || res.Players[0].Player != 1 || res.Players[0].Score != 10 || res.Players[1].Rank != 2 {
			t.Errorf("result %+v over %v", res, over)
		}
	})
	t.Run("default three minutes", func(t *testing.T) {
		s := newTestArena(t, Config{Hz: 20})
		for range 180*20 - 1 {
			s.Step(nil)
		}
		if _, over := s.Result(); over {
			t.Fatal("over before 3 minutes")
		}
		s.Step(nil)
		if res, over := s.Result(); !over || res.Reason != "time" {
			t.Errorf("after 3 minutes: %+v %v", res, over)
		}
	})
}

func TestArenaJoinLeave(t *testing.T) {
	s := newTestArena(t, Config{MaxPlayers: 3})
	for p := PlayerID(1); p <= 3; p++ {
		if _, err := s.Join(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Join(4); !errors.Is(err, ErrFull) {
		t.Errorf("fourth join: %v, want ErrFull", err)
	}
	if _, err := s.Join(2); !errors.Is(err, ErrJoined) {
		t.Errorf("rejoin: %v, want ErrJoined", err)
	}
	s.Leave(2)
	s.Leave(2)
	id, err := s.Join(4)
	if err != nil || id != 4 {
		t.Errorf("join after leave = %d, %v; want 4 (IDs are not reused)", id, err)
	}
	if s.World().Get(2) != nil || len(s.World().Entities()) != 3 {
		t.Errorf("avatar 2 still in the world")
	}
}

func TestArenaStepAllocs(t *testing.T) {
	s := newTestArena(t, Config{TimeLimitTicks: -1}, [2]float32{100, 100}, [2]float32{200, 100}, [2]float32{500, 500})
	events := make([]Event, 0, 64)
	if n := testing.AllocsPerRun(1000, func() {
		s.Apply(1, fire(0))
		s.Apply(3, Input{DX: 0.3, DY: -0.2})
		events = s.Step(events[:0])
	}); n != 0 {
		t.Errorf("arena Step allocates %v times, want 0", n)
	}
}
