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
		// Arena bots chase the nearest avatar and shoot.
		NewBrain: func(hz int, seed uint64) Brain { return NewChase(seed, hz) },
		Move:     ArenaMove,
	}
}

// PosScale is the position quantum of the arena: avatars stand on a grid of
// 1/PosScale units, exactly the positions the wire protocol carries, so a
// client's prediction starts from the server's own numbers.
const PosScale = 16

// ArenaMove is one tick of arena movement, bit for bit what clients
// reproduce to predict their avatar (docs/protocol.md, "Movement"). In
// float64: clamp dx and dy to [-1, 1] (NaN to 0); if dx²+dy² > 1, divide
// both by its square root; add d·(150/hz) to each coordinate; clamp to
// [0, floor(size·16)/16]; round to the nearest 1/16 (halves away from
// zero). Every product is rounded before it is added (no fused
// multiply-add), which the float64 conversions below enforce.
func ArenaMove(x, y float32, in Input, hz int, width, height float32) (float32, float32) {
	dx, dy := float64(clampUnit(in.DX)), float64(clampUnit(in.DY))
	if n := float64(dx*dx) + float64(dy*dy); n > 1 {
		l := math.Sqrt(n)
		dx, dy = dx/l, dy/l
	}
	step := float64(arenaSpeed) / float64(hz)
	nx := float64(x) + float64(dx*step)
	ny := float64(y) + float64(dy*step)
	return quantize(nx, width), quantize(ny, height)
}

// quantize clamps v to [0, floor(size·PosScale)/PosScale] (NaN to 0) and
// rounds it to the nearest 1/PosScale.
func quantize(v float64, size float32) float32 {
	hi := math.Floor(float64(size)*PosScale) / PosScale
	switch {
	case v != v || v < 0:
		v = 0
	case v > hi:
		v = hi
	}
	return float32(math.Round(v*PosScale) / PosScale)
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
	queued    []Input     // inputs applied since the last Step, one tick each
	aim       float32     // aim of the latest input
	shot      Input       // the first input since the last Step that held fire
	fire      bool        // shot is set
	readyAt   Tick        // first tick the next shot may fire
	respawnAt Tick        // while dead, the tick the avatar comes back
	past      []arenaPast // ring of recent positions, indexed by tick % len
}

// arenaPast is where an avatar stood after the movement of one tick.
type arenaPast struct {
	tick  Tick
	x, y  float32
	alive bool
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
	rewind   float64 // most ticks a shot may be judged in the past (0: off)
	history  int     // length of each player's past ring

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
	rewind := 0.0
	if set.maxRewind > 0 {
		rewind = set.maxRewind.Seconds() * float64(set.hz)
	}
	return &arenaSim{
		set:      set,
		cooldown: ticksFor(arenaCooldown, set.hz),
		respawn:  ticksFor(arenaRespawn, set.hz),
		rewind:   rewind,
		history:  int(math.Ceil(rewind)) + 2 + maxCreditedWait,
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
	x, y := s.spawnPos()
	id := s.w.Spawn(Entity{Kind: KindAvatar, HP: arenaHP, Owner: p, X: x, Y: y})
	s.players = append(s.players, arenaPlayer{player: p, ent: id, queued: make([]Input, 0, 4), past: make([]arenaPast, s.history)})
	return id, nil
}

// spawnPos is a random position on the arena's 1/PosScale grid.
func (s *arenaSim) spawnPos() (float32, float32) {
	x, y := s.w.randomPos()
	return quantize(float64(x), s.w.Width), quantize(float64(y), s.w.Height)
}

func (s *arenaSim) Leave(p PlayerID) {
	i := s.indexOf(p)
	if p == 0 || i < 0 {
		return
	}
	s.w.Remove(s.players[i].ent)
	s.players = append(s.players[:i], s.players[i+1:]...)
}

// Apply queues one tick of p's movement for the next Step and keeps its
// aim; the first input holding fire since the last Step is the one whose
// shot is judged. Dead avatars consume inputs without acting on them.
func (s *arenaSim) Apply(p PlayerID, in Input) {
	i := s.indexOf(p)
	if p == 0 || i < 0 {
		return
	}
	pl := &s.players[i]
	if e := s.w.Get(pl.ent); e == nil || e.Flags&FlagDead != 0 {
		return
	}
	in = in.Clamped()
	pl.queued = append(pl.queued, in)
	pl.aim = in.Aim
	if in.Buttons&ButtonFire != 0 && !pl.fire {
		pl.shot, pl.fire = in, true
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

	for i := range s.players {
		pl := &s.players[i]
		e := w.Get(pl.ent)
		if e.Flags&FlagDead == 0 || w.Tick < pl.respawnAt {
			continue
		}
		e.X, e.Y = s.spawnPos()
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
		for _, in := range pl.queued {
			e.X, e.Y = ArenaMove(e.X, e.Y, in, w.Hz, w.Width, w.Height)
		}
	}
	for i := range s.players {
		pl := &s.players[i]
		pl.queued = pl.queued[:0]
		e := w.Get(pl.ent)
		pl.past[int(w.Tick)%len(pl.past)] = arenaPast{tick: w.Tick, x: e.X, y: e.Y, alive: e.Flags&FlagDead == 0}
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
		if t := s.trace(i, s.viewOf(pl.shot)); t >= 0 {
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

// maxCreditedWait is the most ticks an input's Waited extends the rewind
// cap by (the tick it arrived in, plus up to 4 in the server's buffer).
const maxCreditedWait = 5

// viewOf returns the tick, with fraction, at which in's shot is judged:
// the tick its player was looking at, never later than now, and at most
// the rewind cap before the newest tick the server had simulated when the
// input arrived (in.Waited ticks ago): the time the input then waited to
// be applied is the server's doing, not the player's latency, so it is
// not held against the cap.
func (s *arenaSim) viewOf(in Input) float64 {
	now := float64(s.w.Tick)
	if in.ViewTick == 0 || s.rewind == 0 {
		return now
	}
	v := float64(in.ViewTick) + float64(in.ViewFrac)/256
	oldest := now - s.rewind - float64(min(in.Waited, maxCreditedWait))
	return max(oldest, min(v, now))
}

// posAt returns where player j stood at view (a tick with fraction),
// interpolated between the two ticks around it, and whether it was alive
// then. Ticks the history no longer (or never) held count as now.
func (s *arenaSim) posAt(j int, view float64) (x, y float64, alive bool) {
	pl := &s.players[j]
	t0 := Tick(view)
	a, ok := s.past(pl, t0)
	if !ok {
		e := s.w.Get(pl.ent)
		return float64(e.X), float64(e.Y), e.Flags&FlagDead == 0
	}
	x, y = float64(a.x), float64(a.y)
	if f := view - float64(t0); f > 0 {
		if b, ok := s.past(pl, t0+1); ok && b.alive {
			x += (float64(b.x) - x) * f
			y += (float64(b.y) - y) * f
		}
	}
	return x, y, a.alive
}

func (s *arenaSim) past(pl *arenaPlayer, t Tick) (arenaPast, bool) {
	p := pl.past[int(t)%len(pl.past)]
	return p, p.tick == t && t != 0
}

// trace returns the index of the avatar nearest to shooter i along its aim
// ray within range and hit radius, judged where the targets stood at view
// (lag compensation) and from where the shooter stands now, or -1. A
// target must be alive both then and now.
func (s *arenaSim) trace(i int, view float64) int {
	from := s.w.Get(s.players[i].ent)
	a := float64(s.players[i].shot.Aim)
	dirX, dirY := math.Cos(a), math.Sin(a)
	ox, oy := float64(from.X), float64(from.Y)
	best, bestAlong := -1, math.Inf(1)
	for j := range s.players {
		if j == i {
			continue
		}
		if s.w.Get(s.players[j].ent).Flags&FlagDead != 0 {
			continue
		}
		tx, ty, alive := s.posAt(j, view)
		if !alive {
			continue
		}
		rx, ry := tx-ox, ty-oy
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
	tp.queued, tp.fire = tp.queued[:0], false
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
