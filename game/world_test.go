package game

import (
	"math"
	"slices"
	"testing"
)

func TestWorldSpawnGetRemove(t *testing.T) {
	w := NewWorld(100, 50, 20, 1)
	ids := []EntityID{
		w.Spawn(Entity{Kind: KindNPC}),         // 1
		w.Spawn(Entity{ID: 10, Kind: KindNPC}), // explicit
		w.Spawn(Entity{ID: 5, Kind: KindNPC}),  // explicit, below nextID
		w.Spawn(Entity{Kind: KindAvatar}),      // 11: above every ID used
	}
	if want := []EntityID{1, 10, 5, 11}; !slices.Equal(ids, want) {
		t.Fatalf("Spawn ids = %v, want %v", ids, want)
	}
	if id := w.Spawn(Entity{ID: 5}); id != 0 {
		t.Errorf("Spawn of a taken ID = %d, want 0", id)
	}
	if !w.Remove(11) || w.Remove(11) {
		t.Errorf("Remove(11) twice: want true then false")
	}
	if id := w.Spawn(Entity{}); id != 12 {
		t.Errorf("Spawn after Remove = %d, want 12 (IDs strictly increase)", id)
	}

	tests := []struct {
		id   EntityID
		want bool
	}{{1, true}, {5, true}, {10, true}, {12, true}, {0, false}, {2, false}, {11, false}, {99, false}}
	for _, tt := range tests {
		e := w.Get(tt.id)
		if (e != nil) != tt.want || (e != nil && e.ID != tt.id) {
			t.Errorf("Get(%d) = %v, want found=%v", tt.id, e, tt.want)
		}
	}
	got := []EntityID{}
	for _, e := range w.Entities() {
		got = append(got, e.ID)
	}
	if want := []EntityID{1, 5, 10, 12}; !slices.Equal(got, want) {
		t.Errorf("Entities ids = %v, want %v", got, want)
	}
	w.Get(5).HP = 7
	if w.Entities()[1].HP != 7 {
		t.Errorf("Get does not point into the world's storage")
	}
}

func TestWorldClampAndDT(t *testing.T) {
	w := NewWorld(100, 50, 20, 1)
	if w.DT() != 1/float32(20) {
		t.Errorf("DT = %v", w.DT())
	}
	nan := float32(math.NaN())
	tests := []struct{ x, y, wx, wy float32 }{
		{10, 10, 10, 10},
		{-1, -1, 0, 0},
		{101, 51, 100, 50},
		{nan, nan, 0, 0},
		{float32(math.Inf(1)), float32(math.Inf(-1)), 100, 0},
	}
	for _, tt := range tests {
		if x, y := w.Clamp(tt.x, tt.y); x != tt.wx || y != tt.wy {
			t.Errorf("Clamp(%v, %v) = %v, %v; want %v, %v", tt.x, tt.y, x, y, tt.wx, tt.wy)
		}
	}
	if NewWorld(1, 1, 0, 0).Hz != 30 {
		t.Errorf("NewWorld with hz 0: want Hz 30")
	}
}

func TestWorldRandSeeded(t *testing.T) {
	a, b, c := NewWorld(1, 1, 30, 7), NewWorld(1, 1, 30, 7), NewWorld(1, 1, 30, 8)
	for range 100 {
		x, y, z := a.Rand().Uint64(), b.Rand().Uint64(), c.Rand().Uint64()
		if x != y {
			t.Fatalf("same seed, different draws")
		}
		if x == z {
			t.Fatalf("different seeds, same draw")
		}
	}
}

func TestWorldEntitiesReadOnlyView(t *testing.T) {
	w := NewWorld(1, 1, 30, 0)
	for range 3 {
		w.Spawn(Entity{})
	}
	v := w.Entities()
	if cap(v) != len(v) {
		t.Errorf("Entities cap %d > len %d: appending would write into the world", cap(v), len(v))
	}
	if n := testing.AllocsPerRun(100, func() { _ = w.Entities() }); n != 0 {
		t.Errorf("Entities allocates %v times, want 0", n)
	}
}
