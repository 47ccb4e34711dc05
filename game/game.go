// Package game is Rallypoint's pure simulation: the world of entities, the
// rules a game implements (Sim), the two games that ship (arena and bench),
// and the fixed-tick loop that owns a match.
//
// Nothing here touches the network, a logger, or package-level state, and
// nothing here imports the rest of the module. Given the same Config (seed
// included) and the same inputs in the same ticks, a Sim produces the same
// world, bit for bit.
package game

import (
	"errors"
	"math"
	"time"
)

// EntityID names an entity within one match. IDs start at 1 and stay within
// uint32 (clients in JavaScript read them as numbers).
type EntityID uint32

// PlayerID names a player. Zero means "no player".
type PlayerID uint32

// Tick counts fixed simulation steps since the match started; tick 0 is the
// initial world, the first Step produces tick 1.
type Tick uint32

// Kind says what an entity is.
type Kind uint8

// Entity kinds.
const (
	KindAvatar Kind = 1 // a player's (or bot's) avatar
	KindNPC    Kind = 2 // a non-player character driven by the rules
)

// Entity flags.
const (
	FlagDead uint8 = 1 << 0 // the entity is down and waiting to respawn
	FlagBot  uint8 = 1 << 1 // the avatar is steered by a server-side brain
)

// Entity is the whole replicated state of one entity. Every field is sent to
// clients; positions are in world units (clients receive them quantized).
type Entity struct {
	ID    EntityID
	Kind  Kind
	Flags uint8
	HP    uint8
	Owner PlayerID // the avatar's player; zero for NPCs
	Score uint32
	X, Y  float32
}

// Buttons held in an Input.
const (
	ButtonFire uint8 = 1 << 0
)

// Input is one player's command for exactly one tick: Sim.Apply queues it
// and the next Step applies it as that tick's movement (usercmd model), so
// a client that replays its unacknowledged inputs through the mode's Move
// gets the server's answer.
type Input struct {
	DX, DY  float32 // movement direction, each clamped to [-1, 1] by the rules
	Aim     float32 // aim direction in radians, 0 = +x, counter-clockwise
	Buttons uint8   // bit set of Button* values

	// ViewTick and ViewFrac are the tick, plus ViewFrac/256 of a tick, at
	// which the player saw the other entities when it made this input (its
	// interpolation time). Shots are judged against where targets were
	// then, within Config.MaxRewind. ViewTick 0 means now.
	ViewTick Tick
	ViewFrac uint8

	// Waited is set by the Loop, not by clients: how many ticks passed
	// between the newest tick the server had simulated when the input
	// arrived and the tick that applies it (1 when it is applied at the
	// first tick after its arrival, more when it waited in the server's
	// input buffer). The arena counts its rewind budget from that arrival,
	// not from the tick that applies the input.
	Waited uint8
}

// Clamped returns in with DX and DY clamped to [-1, 1] and NaN/Inf replaced
// by zero, so hostile values can never reach the rules.
func (in Input) Clamped() Input {
	in.DX = clampUnit(in.DX)
	in.DY = clampUnit(in.DY)
	if math.IsNaN(float64(in.Aim)) || math.IsInf(float64(in.Aim), 0) {
		in.Aim = 0
	}
	return in
}

func clampUnit(v float32) float32 {
	switch {
	case math.IsNaN(float64(v)):
		return 0
	case v < -1:
		return -1
	case v > 1:
		return 1
	}
	return v
}

// EventKind says what happened in an Event.
type EventKind uint8

// Event kinds. Events are reliable: they are delivered to every client of the
// match, in order, whether or not the entities are in view.
const (
	EventHit     EventKind = 1 // Source hit Target for Value hp
	EventKill    EventKind = 2 // Source brought Target down
	EventRespawn EventKind = 3 // Target came back at full hp
	EventScore   EventKind = 4 // Source's score is now Value
)

// Event is something that happened during a tick.
type Event struct {
	Kind   EventKind
	Tick   Tick
	Source EntityID
	Target EntityID
	Value  int32
}

// PlayerResult is one player's standing when a match ends.
type PlayerResult struct {
	Player PlayerID
	Entity EntityID
	Score  uint32
	Rank   int // 1 is best; equal scores share a rank
}

// Result is how a match ended.
type Result struct {
	Reason  string // e.g. "time", "score"
	Players []PlayerResult
}

// Errors returned by Sim implementations and the Loop.
var (
	ErrFull        = errors.New("game: match is full")
	ErrJoined      = errors.New("game: player already joined")
	ErrNotJoined   = errors.New("game: player not in match")
	ErrUnknownMode = errors.New("game: unknown mode")
	ErrStopped     = errors.New("game: loop stopped")
	ErrBadConfig   = errors.New("game: invalid config")
)

// Config configures a new Sim. The zero value of each field means its
// default.
type Config struct {
	// Seed makes the match reproducible. Zero is a valid seed.
	Seed uint64
	// Hz is the tick rate; dt = 1/Hz seconds. If zero, 30 is used.
	Hz int
	// MaxPlayers caps avatars. If zero, the mode's default is used.
	MaxPlayers int
	// Width and Height of the world in units. If zero, the mode's default.
	Width, Height float32
	// TimeLimitTicks ends the match after this many ticks. If zero, the
	// mode's default is used; a negative value means no limit.
	TimeLimitTicks int
	// MaxRewind caps lag compensation: how far back a shot may be judged
	// against the targets' past positions. If zero, 200 ms is used; a
	// negative value turns lag compensation off (shots are judged against
	// the present).
	MaxRewind time.Duration
}

// Sim is a game's rules over its own world. All methods are called from the
// one goroutine that owns the match.
type Sim interface {
	// World returns the live world; callers must not modify it.
	World() *World
	// Join adds a player and returns its avatar.
	Join(p PlayerID) (EntityID, error)
	// Leave removes a player and its avatar.
	Leave(p PlayerID)
	// Apply queues one tick of a player's input for the next Step. Calling
	// it n times before a Step applies n ticks of movement in that Step, in
	// order; not calling it means the player does not move that tick.
	Apply(p PlayerID, in Input)
	// Step advances one tick and appends what happened to events.
	Step(events []Event) []Event
	// Result reports whether the match is over, and how it ended.
	Result() (Result, bool)
}

// Mode is a game that can be played: everything the rest of Rallypoint
// needs to know about it (the lobby's queue bounds, the server's bots, the
// clients' prediction) is defined here, in one place.
type Mode struct {
	Name       string
	MinPlayers int // fewest players to start a match (bots count)
	MaxPlayers int // most players in one match
	New        func(Config) (Sim, error)
	// NewBrain makes a server-side bot (bot fill, steering a disconnected
	// player) for a match ticking at hz, deterministic from seed.
	NewBrain func(hz int, seed uint64) Brain
	// Move, if not nil, is the exact movement step an avatar takes for one
	// Input, which clients use to predict their own avatar; nil means the
	// mode's avatars cannot be predicted.
	Move MoveFunc
}

// MoveFunc moves an avatar at (x, y) by one tick of in, in a world of
// width x height ticking at hz, and returns the new position.
type MoveFunc func(x, y float32, in Input, hz int, width, height float32) (float32, float32)

// Brain decides a player's input from what that player can see. Server-side
// bots (bot fill, steering a disconnected player) and headless clients share
// brains through this interface.
type Brain interface {
	Think(self EntityID, seen []Entity, tick Tick) Input
}
