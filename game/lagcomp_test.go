package game

import (
	"math"
	"testing"
	"time"
)

// strafeArena: shooter 1 at (100, 500) aiming east; target 2 starts at
// (300, 500) and runs north at full speed, 5 units a tick at 30 Hz.
func strafeArena(t *testing.T, c Config) *arenaSim {
	t.Helper()
	s := newTestArena(t, c, [2]float32{100, 500}, [2]float32{300, 500})
	for range 10 {
		s.Apply(2, Input{DY: -1})
		s.Step(nil)
	}
	return s // tick 10; the target stood at y = 500 - 5·tick after each tick
}

func shotHits(s *arenaSim, in Input) bool {
	s.Apply(2, Input{DY: -1})
	s.Apply(1, in)
	for _, e := range s.Step(nil) {
		if e.Kind == EventHit && e.Source == 1 && e.Target == 2 {
			return true
		}
	}
	return false
}

// TestLagCompensation: a shot is judged against where the target was at
// the tick (and fraction) the shooter saw it, within the rewind cap.
func TestLagCompensation(t *testing.T) {
	// The shot fires in tick 11, when the target stands at y = 445. The
	// shooter aims straight east (y = 500), where the target stood at tick
	// 0, or at y = 475 where it stood at tick 5.
	cases := []struct {
		name string
		c    Config
		in   Input
		hit  bool
	}{
		{"no view: judged now, target long gone", Config{}, Input{Aim: 0, Buttons: ButtonFire}, false},
		{"view at tick 5 (6 ticks = 200 ms back): hit", Config{}, aimAt(475, 5, 0), true},
		{"view half way between ticks 5 and 6: hit", Config{}, aimAt(472.5, 5, 128), true},
		{"rewind off: miss", Config{MaxRewind: -1}, aimAt(475, 5, 0), false},
		{"view at tick 1 is past the 200 ms cap: judged at tick 5, miss", Config{}, aimAt(495, 1, 0), false},
		{"a 400 ms cap reaches tick 1: hit", Config{MaxRewind: 400 * time.Millisecond}, aimAt(495, 1, 0), true},
		{"a view in the future is judged now: hit where the target is", Config{}, aimAt(445, 50, 0), true},
		{"a 100 ms cap does not reach tick 4", Config{MaxRewind: 100 * time.Millisecond}, aimAt(480, 4, 0), false},
		{"it does when the input arrived 4 ticks before it was applied", Config{MaxRewind: 100 * time.Millisecond}, waited(aimAt(480, 4, 0), 4), true},
		{"more than 5 ticks between arrival and application are not credited", Config{MaxRewind: 66 * time.Millisecond}, waited(aimAt(495, 1, 0), 9), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := strafeArena(t, tc.c)
			if got := shotHits(s, tc.in); got != tc.hit {
				t.Errorf("hit = %v, want %v", got, tc.hit)
			}
		})
	}
}

func waited(in Input, n uint8) Input { in.Waited = n; return in }

// aimAt aims the shooter at (300, y) with the given view.
func aimAt(y float32, tick Tick, frac uint8) Input {
	dx, dy := float64(300-100), float64(y-500)
	return Input{Aim: float32(math.Atan2(dy, dx)), Buttons: ButtonFire, ViewTick: tick, ViewFrac: frac}
}

// TestLagCompensationDeadThen: a target that was down at the view tick
// cannot be hit there, even if it stands there alive now.
func TestLagCompensationDeadThen(t *testing.T) {
	s := newTestArena(t, Config{}, [2]float32{100, 500}, [2]float32{300, 500})
	s.Step(nil)
	e := s.World().Get(2)
	e.Flags |= FlagDead
	s.players[1].respawnAt = 1000
	s.Step(nil) // tick 2: recorded dead
	e.Flags &^= FlagDead
	s.Step(nil) // tick 3: alive again at the same spot
	if shotHits(s, Input{Aim: 0, Buttons: ButtonFire, ViewTick: 2}) {
		t.Error("hit a target that was down at the view tick")
	}
	if !shotHits(newTestArenaAt(t), Input{Aim: 0, Buttons: ButtonFire}) {
		t.Error("control: a shot judged now missed")
	}
}

func newTestArenaAt(t *testing.T) *arenaSim {
	s := newTestArena(t, Config{}, [2]float32{100, 500}, [2]float32{300, 500})
	s.Step(nil)
	return s
}

// TestRewindArithmetic pins the view and the interpolated past position
// exactly (the hit tests above tolerate a few units of error: the hit
// radius).
func TestRewindArithmetic(t *testing.T) {
	s := strafeArena(t, Config{}) // tick 10; the target stood at y = 500 - 5·tick
	views := []struct {
		in   Input
		want float64
	}{
		{Input{ViewTick: 7, ViewFrac: 64}, 7.25},
		{Input{ViewTick: 9, ViewFrac: 255}, 9 + 255.0/256},
		{Input{ViewTick: 1}, 4},            // the cap: 10 - 6
		{Input{ViewTick: 1, Waited: 2}, 2}, // counted from arrival, 2 ticks earlier
		{Input{ViewTick: 1, Waited: 9}, 1}, // in reach: at most 5 credited, 10 - 6 - 5 < 1
		{Input{ViewTick: 50}, 10},
		{Input{ViewTick: 0, ViewFrac: 200}, 10},
	}
	for _, v := range views {
		if got := s.viewOf(v.in); got != v.want {
			t.Errorf("viewOf(%+v) = %v, want %v", v.in, got, v.want)
		}
	}
	for _, p := range []struct{ view, y float64 }{{7, 465}, {7.25, 463.75}, {7.5, 462.5}, {9.75, 451.25}, {10, 450}} {
		x, y, alive := s.posAt(1, p.view)
		if x != 300 || y != p.y || !alive {
			t.Errorf("posAt(target, %v) = (%v, %v, %v), want (300, %v, true)", p.view, x, y, alive, p.y)
		}
	}
}
