package e2e

import (
	"math"
	"sync/atomic"
	"testing"

	"github.com/rallypoint/rallypoint/game"
)

// TestStrafer: with a shooter named, the strafer walks to its anchor 150
// units from the shooter on its bearing, then runs back and forth across
// the line of fire at full speed, turning beyond ±60 units.
func TestStrafer(t *testing.T) {
	var shooter atomic.Int64
	shooter.Store(1)
	s := &strafer{bearing: math.Pi / 2, shooter: &shooter} // anchor straight below the shooter
	me := game.Entity{ID: 2, X: 100, Y: 100}
	world := []game.Entity{{ID: 1, X: 500, Y: 500}, me}
	const step = ArenaSpeed / 30
	minX, maxX := math.Inf(1), math.Inf(-1)
	for tick := range uint32(600) {
		world[1] = me
		in := s.think(me, world, tick)
		if l := math.Hypot(float64(in.DX), float64(in.DY)); math.Abs(l-1) > 1e-6 {
			t.Fatalf("tick %d: input %+v is not full speed", tick, in)
		}
		me.X += in.DX * step
		me.Y += in.DY * step
		if tick > 300 {
			minX, maxX = min(minX, float64(me.X)), max(maxX, float64(me.X))
			if math.Abs(float64(me.Y)-650) > 1 {
				t.Fatalf("tick %d: left the strafe line: %+v", tick, me)
			}
		}
	}
	if minX > 500-strafeHalf || maxX < 500+strafeHalf || minX < 500-strafeHalf-step-1 || maxX > 500+strafeHalf+step+1 {
		t.Fatalf("strafed over x %.1f..%.1f, want about %v..%v", minX, maxX, 500-strafeHalf, 500+strafeHalf)
	}
}
