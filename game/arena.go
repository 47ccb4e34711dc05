package game

import (
	"fmt"
	"math"
)

// Arena rules: the reference browser game. Players run around a walled
// field and shoot; a shot is an instant ray.
const (
	arenaSize       = 1000
	arenaMaxPlayers = 16
	arenaMinPlayers = 2
	arenaHP         = 100
	arenaSpeed      = 150 // units/s at full input
	arenaRange      = 300 // units a shot reaches
	arenaHitRadius  = 12  // units; how close to the ray an avatar must be
	arenaCooldown   = 0.4 // seconds between shots
	arenaDamage     = 20
	arenaRespawn    = 2 // seconds down before respawning
	arenaTimeLimit  = 180
	arenaScoreToWin = 10
	reasonTime      = "time"
	reasonScore     = "score"
)

func arenaMode() Mode {
	return Mode{
		Name:       ModeArena,
		MinPlayers: arenaMinPlayers,
		MaxPlayers: arenaMaxPlayers,
		New: func(c Config) (Sim, error) {
			s, err := newArena(c)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}

var arenaDefaults = modeDefaults{
	width:          arenaSize,
	height:         arenaSize,
	maxPlayers:     arenaMaxPlayers,
	timeLimitTicks: func(hz int) int { return arenaTimeLimit * hz },
}

// arenaPlayer is a player's rules state beside its avatar entity.
type arenaPlayer struct {
	player    PlayerID
	ent       EntityID
	in        Input // latest input, clamped
	fire      bool  // fire was held in some input since the last Step
	readyAt   Tick  // first tick the next shot may fire
	respawnAt Tick  // while dead, the tick the avatar comes back
}

// arenaHit is one shot's result, applied after every shot is traced so that
// shots in the same tick are simultaneous.
type arenaHit struct {
	shooter, target int // indexes into players
}

type arenaSim struct {
	// immutable after newArena
	set      settings
	cooldown Tick
	respawn  Tick

	// owned by the match goroutine
	w       *World
	players []arenaPlayer // in ascending entity ID order (IDs only grow)
	hits    []arenaHit    // scratch, reused every Step
	over    bool
	res     Result
}

func newArena(c Config) (*arenaSim, error) {
	set, err := arenaDefaults.apply(ModeArena, c)
	if err != nil {
		return nil, err
	}
	return &arenaSim{
		set:      set,
		cooldown: ticksFor(arenaCooldown, set.hz),
		respawn:  ticksFor(arenaRespawn, set.hz),
		w:        NewWorld(set.width, set.height, set.hz, set.seed),
		players:  make([]arenaPlayer, 0, set.maxPlayers),
		hits:     make([]arenaHit, 0, set.maxPlayers),
	}, nil
}

func (s *arenaSim) World() *World { return s.w }

func (s *arenaSim) indexOf(p PlayerID) int {
	for i := range s.players {
		if s.players[i].player == p {
			return i
		}
	}
	return -1
}

// Join spawns p's avatar at a random position with full hp.
func (s *arenaSim) Join(p PlayerID) (EntityID, error) {
	if p == 0 {
		return 0, fmt.Errorf("%w: arena: player 0", ErrBadConfig)
	}
	if s.indexOf(p) >= 0 {
		return 0, ErrJoined
	}
	if len(s.players) >= s.set.maxPlayers {
		return 0, ErrFull
	}
	x, y := s.w.randomPos()
	id := s.w.Spawn(Entity{Kind: KindAvatar, HP: arenaHP, Owner: p, X: x, Y: y})
	s.players = append(s.players, arenaPlayer{player: p, ent: id})
	return id, nil
}

func (s *arenaSim) Leave(p PlayerID) {
	i := s.indexOf(p)
	if p == 0 || i < 0 {
		return
	}
	s.w.Remove(s.players[i].ent)
	s.players = append(s.players[:i], s.players[i+1:]...)
}

// Apply keeps p's latest movement and aim. Fire is latched until the next
// Step, so a press is not lost when two inputs land in one tick. Dead
// avatars ignore input.
func (s *arenaSim) Apply(p PlayerID, in Input) {
	i := s.indexOf(p)
	if p == 0 || i < 0 {
		return
	}
	pl := &s.players[i]
	if e := s.w.Get(pl.ent); e == nil || e.Flags&FlagDead != 0 {
		return
	}
	pl.in = in.Clamped()
	if in.Buttons&ButtonFire != 0 {
		pl.fire = true
	}
}

// Step runs one tick: respawns that are due, movement, shots (traced
// against positions after movement, then applied together), then the end
// conditions.
func (s *arenaSim) Step(events []Event) []Event {
	if s.over {
		return events
	}
	w := s.w
	w.Tick++
	dt := w.DT()

	for i := range s.players {
		pl := &s.players[i]
		e := w.Get(pl.ent)
		if e.Flags&FlagDead == 0 || w.Tick < pl.respawnAt {
			continue
		}
		e.X, e.Y = w.randomPos()
		e.HP = arenaHP
		e.Flags &^= FlagDead
		pl.readyAt = w.Tick
		events = append(events, Event{Kind: EventRespawn, Tick: w.Tick, Target: e.ID})
	}

	for i := range s.players {
		pl := &s.players[i]
		e := w.Get(pl.ent)
		if e.Flags&FlagDead != 0 {
			continue
		}
		dx, dy := pl.in.DX, pl.in.DY
		if n := dx*dx + dy*dy; n > 1 { // full speed on diagonals, not more
			l := float32(math.Sqrt(float64(n)))
			dx, dy = dx/l, dy/l
		}
		e.X, e.Y = w.Clamp(e.X+dx*arenaSpeed*dt, e.Y+dy*arenaSpeed*dt)
	}

	s.hits = s.hits[:0]
	for i := range s.players {
		pl := &s.players[i]
		fire := pl.fire
		pl.fire = false
		if !fire || w.Tick < pl.readyAt || w.Get(pl.ent).Flags&FlagDead != 0 {
			continue
		}
		pl.readyAt = w.Tick + s.cooldown
		if t := s.trace(i); t >= 0 {
			s.hits = append(s.hits, arenaHit{shooter: i, target: t})
		}
	}
	for _, h := range s.hits {
		events = s.hit(events, h)
	}

	switch {
	case s.leaderScore() >= arenaScoreToWin:
		s.end(reasonScore)
	case s.set.timeLimitTicks > 0 && int(w.Tick) >= s.set.timeLimitTicks:
		s.end(reasonTime)
	}
	return events
}

// trace returns the index of the living avatar nearest to shooter i along
// its aim ray within range and hit radius, or -1.
func (s *arenaSim) trace(i int) int {
	from := s.w.Get(s.players[i].ent)
	a := float64(s.players[i].in.Aim)
	dirX, dirY := math.Cos(a), math.Sin(a)
	ox, oy := float64(from.X), float64(from.Y)
	best, bestAlong := -1, math.Inf(1)
	for j := range s.players {
		if j == i {
			continue
		}
		e := s.w.Get(s.players[j].ent)
		if e.Flags&FlagDead != 0 {
			continue
		}
		rx, ry := float64(e.X)-ox, float64(e.Y)-oy
		along := rx*dirX + ry*dirY
		if along < 0 || along > arenaRange {
			continue
		}
		px, py := rx-along*dirX, ry-along*dirY
		if px*px+py*py > arenaHitRadius*arenaHitRadius {
			continue
		}
		if along < bestAlong {
			best, bestAlong = j, along
		}
	}
	return best
}

// hit applies one traced shot. A target already brought down earlier in
// the same tick takes nothing more.
func (s *arenaSim) hit(events []Event, h arenaHit) []Event {
	w := s.w
	shooter := w.Get(s.players[h.shooter].ent)
	target := w.Get(s.players[h.target].ent)
	if target.Flags&FlagDead != 0 {
		return events
	}
	events = append(events, Event{Kind: EventHit, Tick: w.Tick, Source: shooter.ID, Target: target.ID, Value: arenaDamage})
	if target.HP > arenaDamage {
		target.HP -= arenaDamage
		return events
	}
	target.HP = 0
	target.Flags |= FlagDead
	tp := &s.players[h.target]
	tp.respawnAt = w.Tick + s.respawn
	tp.in, tp.fire = Input{}, false
	shooter.Score++
	return append(events,
		Event{Kind: EventKill, Tick: w.Tick, Source: shooter.ID, Target: target.ID},
		Event{Kind: EventScore, Tick: w.Tick, Source: shooter.ID, Value: int32(shooter.Score)},
	)
}

func (s *arenaSim) leaderScore() uint32 {
	var best uint32
	for _, pl := range s.players {
		best = max(best, s.w.Get(pl.ent).Score)
	}
	return best
}

func (s *arenaSim) end(reason string) {
	s.over = true
	s.res = Result{Reason: reason, Players: make([]PlayerResult, 0, len(s.players))}
	for _, pl := range s.players {
		s.res.Players = append(s.res.Players, PlayerResult{Player: pl.player, Entity: pl.ent, Score: s.w.Get(pl.ent).Score})
	}
	rank(s.res.Players)
}

func (s *arenaSim) Result() (Result, bool) { return s.res, s.over }
