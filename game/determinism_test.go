package game_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rallypoint/rallypoint/game"
)

// play runs a match of mode for ticks ticks with players driven by a
// scripted random source (its own seed, not the world's), and returns the
// final entities and every event.
func play(t *testing.T, mode string, seed uint64, players, ticks int) ([]game.Entity, []game.Event) {
	t.Helper()
	m, err := game.FindMode(mode)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := m.New(game.Config{Seed: seed, TimeLimitTicks: -1})
	if err != nil {
		t.Fatal(err)
	}
	script := rand.New(rand.NewPCG(1, 2))
	var events []game.Event
	for tick := range ticks {
		if tick < players { // players trickle in over the first ticks
			if _, err := sim.Join(game.PlayerID(10 + tick)); err != nil {
				t.Fatal(err)
			}
		}
		if tick == ticks/2 {
			sim.Leave(10) // and one leaves halfway
		}
		for p := range min(tick+1, players) {
			if script.IntN(4) != 0 { // not every player sends every tick
				continue
			}
			sim.Apply(game.PlayerID(10+p), game.Input{
				DX:      script.Float32()*2 - 1,
				DY:      script.Float32()*2 - 1,
				Aim:     script.Float32() * 2 * math.Pi,
				Buttons: uint8(script.IntN(2)),
			})
		}
		events = sim.Step(events)
	}
	return slices.Clone(sim.World().Entities()), events
}

func TestDeterminism(t *testing.T) {
	tests := []struct {
		mode    string
		players int
	}{
		{game.ModeBench, 8},
		{game.ModeArena, 16},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			a, evA := play(t, tt.mode, 99, tt.players, 1000)
			b, evB := play(t, tt.mode, 99, tt.players, 1000)
			if !slices.Equal(a, b) || !slices.Equal(evA, evB) {
				t.Fatalf("same seed and inputs, different worlds")
			}
			if tt.mode == game.ModeArena && len(evA) == 0 {
				t.Errorf("the arena script produced no events; it tests too little")
			}
			c, _ := play(t, tt.mode, 100, tt.players, 1000)
			if slices.Equal(a, c) {
				t.Errorf("different seeds, same world")
			}
		})
	}
}
