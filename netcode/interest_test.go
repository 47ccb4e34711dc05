package netcode

import (
	"slices"
	"testing"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// TestInterestHysteresis: an entity between the radius and 1.2 radii stays
// in view only if the client already holds it; beyond 1.2 radii it leaves.
func TestInterestHysteresis(t *testing.T) {
	at := func(id uint32, x float32) wire.EntityState {
		return wire.EntityState{ID: id, X: wire.Quantize(x), Y: wire.Quantize(500)}
	}
	// Self at x=500; radius 100: entity 2 inside, 3 and 4 in the band, 5
	// and 6 beyond it.
	cur := []wire.EntityState{at(1, 500), at(2, 590), at(3, 610), at(4, 390), at(5, 625), at(6, 370)}
	var g grid
	g.build(cur, 100, 1000, 1000)
	ids := func(idx []int32) []uint32 {
		var out []uint32
		for _, i := range idx {
			out = append(out, cur[i].ID)
		}
		return out
	}
	if got := ids(g.query(nil, cur, 1, nil)); !slices.Equal(got, []uint32{1, 2}) {
		t.Fatalf("fresh view %v, want [1 2]", got)
	}
	if got := ids(g.query(nil, cur, 1, []uint32{1, 2, 3, 5, 6})); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Fatalf("view holding 3, 5 and 6: %v, want [1 2 3]", got)
	}
	if got := ids(g.query(nil, cur, 1, []uint32{4})); !slices.Equal(got, []uint32{1, 2, 4}) {
		t.Fatalf("view holding 4: %v, want [1 2 4]", got)
	}
	// Entities clamped to the world's edge are found from their neighbours.
	edge := []wire.EntityState{{ID: 1, X: 0, Y: 0}, {ID: 2, X: wire.Quantize(10), Y: wire.Quantize(10)}, {ID: 3, X: wire.Quantize(1000), Y: wire.Quantize(1000)}}
	g.build(edge, 100, 1000, 1000)
	if got := g.query(nil, edge, 2, nil); !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("view from the corner %v, want [0 1]", got)
	}
	// Exactly on the radius is in view; exactly on 1.2 radii stays if held.
	rim := []wire.EntityState{at(1, 500), at(2, 600), at(3, 380)}
	g.build(rim, 100, 1000, 1000)
	if got := g.query(nil, rim, 1, nil); !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("view with an entity on the radius %v, want [0 1]", got)
	}
	if got := g.query(nil, rim, 1, []uint32{3}); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Fatalf("view holding an entity on 1.2 radii %v, want [0 1 2]", got)
	}
	// Entities past the world's bounds land in the edge cells (a 959-unit
	// world has 8 cells of 120 units a side; 965 would be in a ninth).
	out := []wire.EntityState{{ID: 1, X: wire.Quantize(950), Y: wire.Quantize(950)}, {ID: 2, X: wire.Quantize(965), Y: wire.Quantize(965)}}
	g.build(out, 100, 959, 959)
	if got := g.query(nil, out, 1, nil); !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("view near an entity past the edge %v, want [0 1]", got)
	}
	if got := g.query(nil, cur, game.EntityID(99), nil); len(got) != 0 {
		t.Fatalf("view of a missing avatar %v", got)
	}
}
