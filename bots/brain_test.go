package bots_test

import (
	"errors"
	"testing"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/game"
)

// world is a small scene: self (1) at the centre, another avatar (2) to
// the east, an NPC (3) close by to the west and a dead avatar (4) closer
// still to the north.
func world() []game.Entity {
	return []game.Entity{
		{ID: 1, Kind: game.KindAvatar, HP: 100, X: 500, Y: 500},
		{ID: 2, Kind: game.KindAvatar, HP: 100, X: 700, Y: 500},
		{ID: 3, Kind: game.KindNPC, HP: 100, X: 490, Y: 500},
		{ID: 4, Kind: game.KindAvatar, Flags: game.FlagDead, X: 500, Y: 505},
	}
}

func TestBrainsDeterministic(t *testing.T) {
	for _, kind := range bots.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a, _ := bots.NewBrain(kind, 42)
			b, _ := bots.NewBrain(kind, 42)
			c, _ := bots.NewBrain(kind, 43)
			seen := world()
			differs := false
			for tick := game.Tick(1); tick < 600; tick++ {
				ia, ib, ic := a.Think(1, seen, tick), b.Think(1, seen, tick), c.Think(1, seen, tick)
				if ia != ib {
					t.Fatalf("tick %d: same seed, different inputs %+v %+v", tick, ia, ib)
				}
				differs = differs || ia != ic
				if ia.DX < -1 || ia.DX > 1 || ia.DY < -1 || ia.DY > 1 {
					t.Fatalf("tick %d: input out of range %+v", tick, ia)
				}
				// Move self a little so chase and flee see a changing world.
				seen[0].X += ia.DX
				seen[0].Y += ia.DY
			}
			if kind == bots.KindWander && !differs {
				t.Error("different seeds gave the same wander")
			}
		})
	}
}

func TestBrainsDoNotAllocate(t *testing.T) {
	seen := world()
	for _, kind := range bots.Kinds() {
		t.Run(kind, func(t *testing.T) {
			br, err := bots.NewBrain(kind, 7)
			if err != nil {
				t.Fatal(err)
			}
			tick := game.Tick(0)
			if n := testing.AllocsPerRun(1000, func() {
				tick++
				br.Think(1, seen, tick)
			}); n != 0 {
				t.Fatalf("%v allocations per Think", n)
			}
		})
	}
}

func TestNewBrainKinds(t *testing.T) {
	if _, err := bots.NewBrain("nope", 1); !errors.Is(err, bots.ErrUnknownBrain) {
		t.Fatalf("unknown kind: %v", err)
	}
}
