package game

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Names of the modes that ship with Rallypoint.
const (
	ModeArena = "arena" // the reference browser game
	ModeBench = "bench" // the arena-8x32 benchmark scenario
)

const (
	defaultHz = 30
	maxHz     = 1000
)

// Modes returns every mode that ships, in a new slice the caller may keep.
func Modes() []Mode {
	return []Mode{arenaMode(), benchMode()}
}

// FindMode returns the mode with the given name. If there is none, the
// error wraps ErrUnknownMode.
func FindMode(name string) (Mode, error) {
	modes := Modes()
	i := slices.IndexFunc(modes, func(m Mode) bool { return m.Name == name })
	if i < 0 {
		return Mode{}, fmt.Errorf("%w: %q", ErrUnknownMode, name)
	}
	return modes[i], nil
}

// modeDefaults are the values a mode uses for zero Config fields.
type modeDefaults struct {
	width, height  float32
	maxPlayers     int // also the most a Config may ask for
	timeLimitTicks func(hz int) int
}

// settings is a Config with defaults applied and validated.
type settings struct {
	seed           uint64
	hz             int
	maxPlayers     int
	width, height  float32
	timeLimitTicks int           // 0 means no limit
	maxRewind      time.Duration // 0 means lag compensation is off
}

// defaultMaxRewind caps lag compensation when Config.MaxRewind is zero.
const defaultMaxRewind = 200 * time.Millisecond

func (d modeDefaults) apply(name string, c Config) (settings, error) {
	s := settings{seed: c.Seed, hz: c.Hz, maxPlayers: c.MaxPlayers, width: c.Width, height: c.Height}
	if s.hz == 0 {
		s.hz = defaultHz
	}
	if s.hz < 0 || s.hz > maxHz {
		return settings{}, fmt.Errorf("%w: %s: Hz %d not in [1, %d]", ErrBadConfig, name, c.Hz, maxHz)
	}
	if s.maxPlayers == 0 {
		s.maxPlayers = d.maxPlayers
	}
	if s.maxPlayers < 0 || s.maxPlayers > d.maxPlayers {
		return settings{}, fmt.Errorf("%w: %s: MaxPlayers %d not in [1, %d]", ErrBadConfig, name, c.MaxPlayers, d.maxPlayers)
	}
	if s.width == 0 {
		s.width = d.width
	}
	if s.height == 0 {
		s.height = d.height
	}
	if !validSize(s.width) || !validSize(s.height) {
		return settings{}, fmt.Errorf("%w: %s: world size %gx%g", ErrBadConfig, name, c.Width, c.Height)
	}
	switch {
	case c.MaxRewind == 0:
		s.maxRewind = defaultMaxRewind
	case c.MaxRewind > 0:
		s.maxRewind = c.MaxRewind
	}
	switch {
	case c.TimeLimitTicks == 0 && d.timeLimitTicks != nil:
		s.timeLimitTicks = d.timeLimitTicks(s.hz)
	case c.TimeLimitTicks > 0:
		s.timeLimitTicks = c.TimeLimitTicks
	}
	return s, nil
}

func validSize(v float32) bool {
	return v > 0 && !math.IsInf(float64(v), 0) // NaN fails v > 0
}

// ticksFor returns the number of ticks in secs seconds at hz, rounded up and
// at least 1.
func ticksFor(secs float64, hz int) Tick {
	return Tick(max(1, int(math.Ceil(secs*float64(hz)))))
}

// RankResults sorts players by score and fills in their ranks, as a
// match's own Result does; for results made outside the rules (a match
// stopped by a crash or a shutdown).
func RankResults(players []PlayerResult) { rank(players) }

// rank fills in the ranks of players: sorted by score descending (then
// player ascending, so the order is deterministic), equal scores sharing a
// rank (1, 1, 3).
func rank(players []PlayerResult) {
	slices.SortFunc(players, func(a, b PlayerResult) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Player, b.Player)
	})
	for i := range players {
		if i > 0 && players[i].Score == players[i-1].Score {
			players[i].Rank = players[i-1].Rank
		} else {
			players[i].Rank = i + 1
		}
	}
}
