package game

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// World is the state of one match: its bounds, its clock, its entities
// sorted by ID, and its seeded random source. A World belongs to the
// goroutine that owns the match; it is not safe for concurrent use and must
// not be copied (its random source points into it).
type World struct {
	// Width and Height bound positions to [0, Width] x [0, Height].
	Width, Height float32
	// Tick is the number of Steps taken; 0 is the initial world.
	Tick Tick
	// Hz is the tick rate; a tick lasts DT() seconds.
	Hz int

	ents   []Entity // sorted by ID ascending
	nextID EntityID // the ID Spawn assigns next; above every ID ever used
	pcg    rand.PCG
	rng    *rand.Rand // reads pcg; built once in NewWorld
}

// seedStream is the second PCG seed word, so that seed 0 is as good a seed
// as any other.
const seedStream = 0x9e3779b97f4a7c15

// NewWorld returns an empty world of the given size, ticking hz times a
// second, whose random source is seeded with seed. If hz is not positive,
// 30 is used.
func NewWorld(width, height float32, hz int, seed uint64) *World {
	if hz <= 0 {
		hz = defaultHz
	}
	w := &World{Width: width, Height: height, Hz: hz, nextID: 1}
	w.pcg.Seed(seed, seed^seedStream)
	w.rng = rand.New(&w.pcg)
	return w
}

// Entities returns the entities sorted by ID ascending. The slice is the
// world's own storage, not a copy: callers must not modify it, and it is
// valid only until the world next changes.
func (w *World) Entities() []Entity {
	return w.ents[:len(w.ents):len(w.ents)]
}

func (w *World) search(id EntityID) (int, bool) {
	return slices.BinarySearchFunc(w.ents, id, func(e Entity, id EntityID) int {
		return cmp.Compare(e.ID, id)
	})
}

// Get returns the entity with the given ID, or nil if there is none. The
// pointer is into the world's storage and is valid until the next Spawn or
// Remove.
func (w *World) Get(id EntityID) *Entity {
	i, ok := w.search(id)
	if !ok {
		return nil
	}
	return &w.ents[i]
}

// Spawn adds e to the world and returns its ID. If e.ID is zero, Spawn
// assigns one above every ID the world has used, so assigned IDs strictly
// increase. If e.ID is already taken, Spawn adds nothing and returns zero.
func (w *World) Spawn(e Entity) EntityID {
	if e.ID == 0 {
		e.ID = w.nextID
	}
	i, ok := w.search(e.ID)
	if ok {
		return 0
	}
	w.ents = slices.Insert(w.ents, i, e)
	if e.ID >= w.nextID {
		w.nextID = e.ID + 1
	}
	return e.ID
}

// Remove deletes the entity with the given ID and reports whether there was
// one.
func (w *World) Remove(id EntityID) bool {
	i, ok := w.search(id)
	if !ok {
		return false
	}
	w.ents = slices.Delete(w.ents, i, i+1)
	return true
}

// Rand returns the world's seeded random source. Rules draw every random
// number from it, in a fixed order, so a match replays exactly.
func (w *World) Rand() *rand.Rand { return w.rng }

// DT returns the length of a tick in seconds, 1/Hz.
func (w *World) DT() float32 { return 1 / float32(w.Hz) }

// Clamp returns (x, y) moved inside [0, Width] x [0, Height]. NaN becomes 0.
func (w *World) Clamp(x, y float32) (float32, float32) {
	return clampRange(x, w.Width), clampRange(y, w.Height)
}

func clampRange(v, hi float32) float32 {
	switch {
	case math.IsNaN(float64(v)) || v < 0:
		return 0
	case v > hi:
		return hi
	}
	return v
}

// randomPos returns a uniformly random position in the world.
func (w *World) randomPos() (float32, float32) {
	x := w.rng.Float32() * w.Width
	y := w.rng.Float32() * w.Height
	return x, y
}
