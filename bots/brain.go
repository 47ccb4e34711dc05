package bots

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/rallypoint/rallypoint/game"
)

// Brain kinds accepted by NewBrain. The brains themselves live in package
// game, beside the Brain interface, so the server's bots and these headless
// clients play by the same code.
const (
	KindWander = "wander"
	KindChase  = "chase"
	KindFlee   = "flee"
	KindReplay = "replay"
)

// Kinds lists the brain kinds NewBrain accepts.
func Kinds() []string { return []string{KindWander, KindChase, KindFlee, KindReplay} }

// ErrUnknownBrain is returned by NewBrain for a kind it does not know.
var ErrUnknownBrain = errors.New("bots: unknown brain")

// DefaultHz is the tick rate brains assume when converting seconds to ticks
// (the server's default). A brain run against a 20 Hz match changes
// direction every 0.75-2.25 s instead of 0.5-1.5 s.
const DefaultHz = 30

// NewBrain returns a brain of the given kind, deterministic from seed: the
// same seed and the same sequence of Think calls give the same inputs.
// The replay kind plays game.DefaultScript.
func NewBrain(kind string, seed uint64) (game.Brain, error) {
	return newBrainHz(kind, seed, DefaultHz)
}

// newBrainHz is NewBrain for a match ticking at hz.
func newBrainHz(kind string, seed uint64, hz int) (game.Brain, error) {
	switch kind {
	case KindWander:
		return game.NewWander(seed, hz), nil
	case KindChase:
		return game.NewChase(seed, hz), nil
	case KindFlee:
		return game.NewFlee(seed, hz), nil
	case KindReplay:
		return game.NewReplay(game.DefaultScript(), 0)
	}
	return nil, fmt.Errorf("%w: %q (want one of %v)", ErrUnknownBrain, kind, Kinds())
}

// rng is a small seeded generator kept by value, so drawing never
// allocates.
type rng struct{ pcg rand.PCG }

func newRNG(seed uint64) rng {
	return rng{pcg: *rand.NewPCG(seed, 0x9e3779b97f4a7c15)}
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float32 { return float32(r.pcg.Uint64()>>40) / (1 << 24) }
