package game_test

import (
	"errors"
	"math"
	"testing"

	"github.com/rallypoint/rallypoint/game"
)

// brainWorld is a small scene: self (1) at the centre, another avatar (2)
// to the east, an NPC (3) close by to the west and a dead avatar (4) closer
// still to the north.
func brainWorld() []game.Entity {
	return []game.Entity{
		{ID: 1, Kind: game.KindAvatar, HP: 100, X: 500, Y: 500},
		{ID: 2, Kind: game.KindAvatar, HP: 100, X: 700, Y: 500},
		{ID: 3, Kind: game.KindNPC, HP: 100, X: 490, Y: 500},
		{ID: 4, Kind: game.KindAvatar, Flags: game.FlagDead, X: 500, Y: 505},
	}
}

// arenaRange is the arena's shot range, within which a chaser fires.
const arenaRange = 300

// TestWanderRedraws: directions are uniform in [-1, 1] and change every
// 0.5-1.5 s (15-45 ticks at 30 Hz).
func TestWanderRedraws(t *testing.T) {
	w := game.NewWander(1, 30)
	prev := w.Think(1, nil, 0)
	last, minGap, maxGap, changes := game.Tick(0), game.Tick(1<<30), game.Tick(0), 0
	var neg, pos bool
	for tick := game.Tick(1); tick < 30*120; tick++ {
		in := w.Think(1, nil, tick)
		neg, pos = neg || in.DX < -0.5, pos || in.DX > 0.5
		if in != prev {
			gap := tick - last
			minGap, maxGap = min(minGap, gap), max(maxGap, gap)
			last, prev = tick, in
			changes++
		}
	}
	if minGap < 15 || maxGap > 46 || changes < 80 {
		t.Fatalf("redraw gaps %d..%d ticks, %d changes", minGap, maxGap, changes)
	}
	if !neg || !pos {
		t.Fatal("dx never spanned both signs")
	}
}

func TestChaseMovesTowardAndFires(t *testing.T) {
	c := game.NewChase(1, 30)
	seen := brainWorld()
	in := c.Think(1, seen, 1)
	// Toward avatar 2 (east), ignoring the NPC and the dead avatar.
	if in.DX < 0.99 || math.Abs(float64(in.DY)) > 0.01 {
		t.Fatalf("chase input %+v, want east", in)
	}
	if in.Buttons&game.ButtonFire == 0 || math.Abs(float64(in.Aim)) > 0.01 {
		t.Fatalf("chase in range: %+v, want fire aimed east", in)
	}
	seen[1].X = 500 + arenaRange + 50
	if in := c.Think(1, seen, 2); in.Buttons&game.ButtonFire != 0 {
		t.Fatalf("fired out of range: %+v", in)
	}
	// Simulate: the distance shrinks.
	d0 := seen[1].X - seen[0].X
	for tick := game.Tick(3); tick < 30; tick++ {
		in := c.Think(1, seen, tick)
		seen[0].X += in.DX * 5
		seen[0].Y += in.DY * 5
	}
	if d := seen[1].X - seen[0].X; d >= d0-100 {
		t.Fatalf("chaser did not close in: %v -> %v", d0, d)
	}
}

func TestFleeMovesAway(t *testing.T) {
	f := game.NewFlee(1, 30)
	seen := brainWorld()
	seen[1].X, seen[1].Y = 450, 480 // south-west of self
	dist := func() float64 {
		return math.Hypot(float64(seen[1].X-seen[0].X), float64(seen[1].Y-seen[0].Y))
	}
	d0 := dist()
	for tick := game.Tick(1); tick < 30; tick++ {
		in := f.Think(1, seen, tick)
		if in.Buttons != 0 {
			t.Fatalf("flee fired: %+v", in)
		}
		seen[0].X += in.DX * 5
		seen[0].Y += in.DY * 5
	}
	if d := dist(); d < d0+100 {
		t.Fatalf("fleer did not get away: %v -> %v", d0, d)
	}
}

func TestReplayLoops(t *testing.T) {
	script := []game.ScriptStep{
		{Tick: 0, Input: game.Input{DX: 1}},
		{Tick: 2, Input: game.Input{DY: 1}},
	}
	r, err := game.NewReplay(script, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1} // DX per tick
	for i, dx := range want {
		if in := r.Think(1, nil, game.Tick(100+i)); in.DX != dx {
			t.Fatalf("tick +%d: dx %v, want %v", i, in.DX, dx)
		}
	}
	// A tick that goes back (a new match) starts the script over.
	if in := r.Think(1, nil, 3); in.DX != 1 {
		t.Fatalf("after restart: %+v", in)
	}
	if _, err := game.NewReplay(nil, 0); !errors.Is(err, game.ErrBadScript) {
		t.Fatalf("empty script: %v", err)
	}
	if _, err := game.NewReplay(script, 2); !errors.Is(err, game.ErrBadScript) {
		t.Fatalf("short period: %v", err)
	}
}

func TestModeBrains(t *testing.T) {
	arena, _ := game.FindMode(game.ModeArena)
	if _, ok := arena.NewBrain(30, 1).(*game.Chase); !ok {
		t.Error("arena server brain is not a chaser")
	}
	bench, _ := game.FindMode(game.ModeBench)
	if _, ok := bench.NewBrain(20, 1).(*game.Wander); !ok {
		t.Error("bench server brain does not wander")
	}
}
