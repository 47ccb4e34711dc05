package game

import (
	"fmt"
	"math"
)

// The bench mode is the "arena-8x32" benchmark scenario
// (shared/bench/arena-8x32.md), implemented exactly as written so our
// figures can be set beside other servers running the same scenario.
const (
	benchNPCs       = 32
	benchAvatars    = 8
	benchFirstNPC   = EntityID(1)  // NPCs are 1..32
	benchFirstAvat  = EntityID(33) // avatars are 33..40
	benchSize       = 1000
	benchHP         = 100
	benchNPCSpeed   = 50  // units/s
	benchAvatSpeed  = 100 // units/s at full input
	benchRepick     = 0.05
	benchDrainEvery = 2 // seconds of match time between 1 hp losses
)

func benchMode() Mode {
	return Mode{
		Name:       ModeBench,
		MinPlayers: 1,
		MaxPlayers: benchAvatars,
		New: func(c Config) (Sim, error) {
			s, err := newBench(c)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		// Bench bots wander, as the arena-8x32 clients do.
		NewBrain: func(hz int, seed uint64) Brain { return NewWander(seed, hz) },
	}
}

var benchDefaults = modeDefaults{
	width:      benchSize,
	height:     benchSize,
	maxPlayers: benchAvatars,
	// timeLimitTicks nil: no limit by default.
}

// benchSlot is one of the eight avatar slots; slot i is entity 33+i.
type benchSlot struct {
	player PlayerID // zero if free
	in     Input    // latest input, clamped; zero until the first
}

type benchSim struct {
	// immutable after newBench
	set        settings
	drainEvery Tick

	// owned by the match goroutine
	w     *World
	vel   [benchNPCs][2]float32 // NPC velocity, indexed by ID-1
	slots [benchAvatars]benchSlot
	over  bool
	res   Result
}

func newBench(c Config) (*benchSim, error) {
	set, err := benchDefaults.apply(ModeBench, c)
	if err != nil {
		return nil, err
	}
	s := &benchSim{
		set:        set,
		drainEvery: Tick(benchDrainEvery * set.hz),
		w:          NewWorld(set.width, set.height, set.hz, set.seed),
	}
	for i := range benchNPCs {
		x, y := s.w.randomPos()
		s.w.Spawn(Entity{ID: benchFirstNPC + EntityID(i), Kind: KindNPC, HP: benchHP, X: x, Y: y})
		s.repick(i)
	}
	return s, nil
}

// repick gives NPC i a velocity of uniform random angle and speed 50.
func (s *benchSim) repick(i int) {
	a := s.w.rng.Float64() * 2 * math.Pi
	s.vel[i] = [2]float32{float32(benchNPCSpeed * math.Cos(a)), float32(benchNPCSpeed * math.Sin(a))}
}

func (s *benchSim) World() *World { return s.w }

func (s *benchSim) slotOf(p PlayerID) int {
	for i := range s.slots {
		if s.slots[i].player == p {
			return i
		}
	}
	return -1
}

// Join puts p's avatar in the lowest free slot: entity 33 for the first
// player, up to 40.
func (s *benchSim) Join(p PlayerID) (EntityID, error) {
	if p == 0 {
		return 0, fmt.Errorf("%w: bench: player 0", ErrBadConfig)
	}
	if s.slotOf(p) >= 0 {
		return 0, ErrJoined
	}
	free := -1
	for i := range s.set.maxPlayers {
		if s.slots[i].player == 0 {
			free = i
			break
		}
	}
	if free < 0 {
		return 0, ErrFull
	}
	x, y := s.w.randomPos()
	id := s.w.Spawn(Entity{ID: benchFirstAvat + EntityID(free), Kind: KindAvatar, HP: benchHP, Owner: p, X: x, Y: y})
	s.slots[free] = benchSlot{player: p}
	return id, nil
}

func (s *benchSim) Leave(p PlayerID) {
	i := s.slotOf(p)
	if p == 0 || i < 0 {
		return
	}
	s.slots[i] = benchSlot{}
	s.w.Remove(benchFirstAvat + EntityID(i))
}

func (s *benchSim) Apply(p PlayerID, in Input) {
	if i := s.slotOf(p); p != 0 && i >= 0 {
		s.slots[i].in = in.Clamped()
	}
}

// Step runs one tick of the scenario: NPCs (maybe re-pick, then move),
// avatars (move by their latest input), then every 2 s of match time one
// uniformly random entity loses 1 hp, going from 1 back to 100. The
// scenario defines no events.
func (s *benchSim) Step(events []Event) []Event {
	if s.over {
		return events
	}
	w := s.w
	w.Tick++
	dt := w.DT()
	for i := range w.ents {
		e := &w.ents[i]
		var vx, vy float32
		switch e.Kind {
		case KindNPC:
			n := int(e.ID - benchFirstNPC)
			if w.rng.Float64() < benchRepick {
				s.repick(n)
			}
			vx, vy = s.vel[n][0], s.vel[n][1]
		case KindAvatar:
			in := s.slots[e.ID-benchFirstAvat].in
			vx, vy = in.DX*benchAvatSpeed, in.DY*benchAvatSpeed
		}
		e.X, e.Y = w.Clamp(e.X+vx*dt, e.Y+vy*dt)
	}
	if w.Tick%s.drainEvery == 0 && len(w.ents) > 0 {
		e := &w.ents[w.rng.IntN(len(w.ents))]
		e.HP--
		if e.HP == 0 {
			e.HP = benchHP
		}
	}
	if s.set.timeLimitTicks > 0 && int(w.Tick) >= s.set.timeLimitTicks {
		s.over = true
		s.res = Result{Reason: "time"}
		for i, sl := range s.slots {
			if sl.player != 0 {
				s.res.Players = append(s.res.Players, PlayerResult{Player: sl.player, Entity: benchFirstAvat + EntityID(i)})
			}
		}
		rank(s.res.Players)
	}
	return events
}

func (s *benchSim) Result() (Result, bool) { return s.res, s.over }
