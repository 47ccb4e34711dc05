package netcode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// Grant is what a verified join token says: who the player is and which
// match the socket may join.
type Grant struct {
	Player game.PlayerID
	Match  string
	Name   string
}

// Authenticator checks the token a socket presents in its Hello. The lobby
// implements it (cmd/server adapts). Errors should wrap ErrAuthExpired,
// ErrAuthRevoked or ErrAuthInvalid so the client gets the matching close
// code; any other error is treated as ErrAuthInvalid.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Grant, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (Grant, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (Grant, error) {
	return f(ctx, token)
}

// Errors an Authenticator returns (wrapped) and the server reports.
var (
	ErrAuthInvalid   = errors.New("netcode: invalid token")
	ErrAuthExpired   = errors.New("netcode: token expired")
	ErrAuthRevoked   = errors.New("netcode: token revoked")
	ErrMatchNotFound = errors.New("netcode: match not found")
	ErrNoSeat        = errors.New("netcode: no seat for this player")
	ErrSeatExpired   = errors.New("netcode: seat released")
	ErrServerClosed  = errors.New("netcode: server closed")
	ErrNoBrain       = errors.New("netcode: bots requested but no brain configured")
	ErrDraining      = errors.New("netcode: draining: no new matches")
)

// Hooks tell the outside world (the lobby) about seats and matches. Each
// func may be nil. They are called from match goroutines and must not
// block: a hook that waits for a store (a file sync, a network round trip)
// stretches the tick it runs in. Queue the event and return; internal/app
// hands its events to the lobby through a bounded queue (internal/hookq)
// drained by a goroutine of its own.
type Hooks struct {
	// MatchStarted is called once a match is running.
	MatchStarted func(info MatchInfo)
	// SeatReleased is called when a player's seat ends: the player left,
	// their grace period ran out, or they never came. It runs on the
	// match goroutine, between the match's ticks.
	SeatReleased func(match string, p game.PlayerID, reason string)
	// MatchEnded is called once when a match is over, crashed or stopped,
	// with its result (Reason "aborted" after a crash, with err the panic;
	// "shutdown" when the server stopped it; "abandoned" when every human
	// left), after the clients were sent it and before the match is
	// forgotten; every seat in it is released. It runs on the match's own
	// goroutine once its loop has stopped, after every SeatReleased of the
	// match: blocking there delays no tick, but keeps the match listed and
	// delays Drain and Shutdown, which wait for every match goroutine.
	MatchEnded func(info MatchInfo, result game.Result, err error)
}

// Config configures a Server. The zero value of every field but Auth means
// its default.
type Config struct {
	// Auth verifies socket tokens. Required.
	Auth Authenticator
	// Logger receives the server's logs. If nil, logs are discarded.
	Logger *zap.Logger
	// Hz is the default tick rate of new matches. If zero, 30 is used.
	Hz int
	// Interest is the default area-of-interest radius in world units;
	// zero means every client sees the whole world.
	Interest float32
	// Grace is how long a dropped player's seat and entity are held for a
	// reconnect. If zero, 30s is used.
	Grace time.Duration
	// HandshakeTimeout bounds the time between the upgrade and a valid
	// Hello. If zero, 5s is used.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sent nothing (no message, no
	// pong) for this long. Pings are sent every IdleTimeout/3. If zero, 15s.
	IdleTimeout time.Duration
	// WriteTimeout bounds one socket write. If zero, 5s is used.
	WriteTimeout time.Duration
	// SlowTimeout closes a client whose snapshots have been dropped or
	// paused for this long. If zero, 5s is used.
	SlowTimeout time.Duration
	// MaxInFlight pauses snapshots to a client that has this many ticks of
	// snapshots unacknowledged. If zero, Hz (one second) is used.
	MaxInFlight int
	// MessageRate is the sustained rate of client messages per second a
	// connection may send; a connection over it is closed with
	// wire.CodeRateLimited. If zero, 4 per tick (4*Hz) but at least 120 is
	// used.
	MessageRate float64
	// MessageBurst is the burst allowed over MessageRate. If zero, 120.
	MessageBurst int
	// NewBrain makes the brain of a server-side bot in a match of the given
	// mode and tick rate (bot fill, and disconnected players when
	// SteerDisconnected is set). If nil, the mode's own game.Mode.NewBrain
	// is used; a mode without one cannot have bots.
	NewBrain func(mode string, hz int, seed uint64) game.Brain
	// SteerDisconnected lets a brain steer a dropped player's entity during
	// the grace period instead of leaving it idle.
	SteerDisconnected bool
	// Hooks receive seat and match lifecycle events.
	Hooks Hooks
	// MaxPendingPerAddr caps the sockets from one client address that have
	// not completed their Hello yet; one more is refused with HTTP 429
	// before the upgrade. Honest clients send their Hello at once, so this
	// only bites on sockets opened and left silent. If zero, 256 is used.
	MaxPendingPerAddr int
	// MaxPending caps such sockets in all (HTTP 503 past it). If zero,
	// 4096 is used.
	MaxPending int
	// MaxConnsPerAddr caps the open sockets from one client address (HTTP
	// 429 past it). It must leave room for players behind one NAT and for
	// a bots process: if zero, 5000 is used.
	MaxConnsPerAddr int
	// MaxConns caps the open sockets in all (HTTP 503 past it). If zero,
	// 50000 is used.
	MaxConns int
	// ClientAddr returns the client address of an upgrade request, the key
	// of the per-address caps. If nil, the TCP peer's IP is used; behind a
	// reverse proxy, pass one that reads X-Forwarded-For from trusted
	// proxies only.
	ClientAddr func(*http.Request) string
	// Modes lists the playable games. If nil, game.Modes() is used.
	Modes []game.Mode
	// TickObserver, if set, is called once when a match starts, with its
	// mode; the function it returns, if not nil, becomes the match loop's
	// game.LoopConfig.Observe: it is called on the match goroutine after
	// every tick, so it must not block, lock or allocate. Metrics
	// exporters (internal/ops) feed their tick histograms from it.
	TickObserver func(mode string) func(game.TickTiming)

	// ReadPath chooses how seated sockets are read: ReadPathTick (the
	// match goroutine reads each socket once per tick, without blocking,
	// and writes each client's messages of a tick in one write) or
	// ReadPathLoop (gws's ReadLoop, a goroutine per connection, and a
	// writer goroutine per connection with work). If empty, the
	// environment variable RALLYPOINT_READ_PATH is used when set (tests
	// run both paths with it), else DefaultReadPath. A socket without a
	// file descriptor (TLS served by the process), and every socket on a
	// system that is not unix, takes the loop path; the tick path takes
	// seated sockets out of Go's network poller on Linux only.
	ReadPath string
	// NullSnapshot, when positive, makes every match a null game for
	// benchmarks: the handshake, seating and read path are the real ones,
	// but the game is not stepped and nothing is encoded; every tick each
	// client is sent the same NullSnapshot-byte message, a valid keyframe
	// Snapshot (only its tick changes), and inputs are read and dropped.
	// It must be at least MinNullSnapshot. Benchmark only.
	NullSnapshot int

	// housekeep is how often a match runs its housekeeping (grace periods,
	// idle sockets, pings). If zero, 1s is used. Only tests change it.
	housekeep time.Duration
}

func (c *Config) setDefaults() error {
	if c.Auth == nil {
		return fmt.Errorf("netcode: Config.Auth is required")
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Hz == 0 {
		c.Hz = 30
	}
	if c.Hz < 1 || c.Hz > 240 {
		return fmt.Errorf("netcode: Hz %d out of range 1..240", c.Hz)
	}
	if c.Interest < 0 {
		return fmt.Errorf("netcode: Interest %v is negative", c.Interest)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Grace, 30*time.Second)
	def(&c.HandshakeTimeout, 5*time.Second)
	def(&c.IdleTimeout, 15*time.Second)
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&c.MaxPendingPerAddr, 256)
	defInt(&c.MaxPending, 4096)
	defInt(&c.MaxConnsPerAddr, 5000)
	defInt(&c.MaxConns, 50000)
	if c.ClientAddr == nil {
		c.ClientAddr = peerAddr
	}
	def(&c.WriteTimeout, 5*time.Second)
	def(&c.SlowTimeout, 5*time.Second)
	def(&c.housekeep, time.Second)
	if c.MessageRate == 0 {
		c.MessageRate = max(120, 4*float64(c.Hz))
	}
	if c.MessageBurst == 0 {
		c.MessageBurst = int(c.MessageRate)
	}
	if c.Modes == nil {
		c.Modes = game.Modes()
	}
	if c.ReadPath == "" {
		c.ReadPath = os.Getenv("RALLYPOINT_READ_PATH")
	}
	if c.ReadPath == "" {
		c.ReadPath = DefaultReadPath
	}
	if c.ReadPath != ReadPathLoop && c.ReadPath != ReadPathTick {
		return fmt.Errorf("netcode: ReadPath %q is neither %q nor %q", c.ReadPath, ReadPathLoop, ReadPathTick)
	}
	if c.NullSnapshot != 0 && (c.NullSnapshot < MinNullSnapshot || c.NullSnapshot > MaxNullSnapshot) {
		return fmt.Errorf("netcode: NullSnapshot %d out of range %d..%d", c.NullSnapshot, MinNullSnapshot, MaxNullSnapshot)
	}
	return nil
}

// Read paths (Config.ReadPath).
const (
	ReadPathLoop    = "loop" // gws's ReadLoop: a read goroutine per connection
	ReadPathTick    = "tick" // the match goroutine reads every socket once per tick
	DefaultReadPath = ReadPathTick
)

// MatchSpec describes a match to create.
type MatchSpec struct {
	// ID names the match. If empty, a random id is used.
	ID string
	// Mode is the game to play (see game.Modes).
	Mode string
	// Players reserves seats. Only these players may join, unless Open.
	Players []game.PlayerID
	// Open lets any authenticated player whose grant names this match take
	// a free seat.
	Open bool
	// Bots adds this many server-side bot players.
	Bots int
	// Seed makes the match reproducible. If zero, a random seed is used.
	Seed uint64
	// Hz overrides Config.Hz for this match when non-zero.
	Hz int
	// Interest overrides Config.Interest when non-zero; a negative value
	// means the whole world.
	Interest float32
	// Config is passed to the game; its Seed and Hz are filled in.
	Game game.Config
}

// MatchInfo is a published summary of a match, safe to read from any
// goroutine.
type MatchInfo struct {
	ID         string          `json:"id"`
	Mode       string          `json:"mode"`
	State      string          `json:"state"` // "running" or "over"
	Players    []game.PlayerID `json:"players"`
	Bots       int             `json:"bots"`
	Tick       uint32          `json:"tick"`
	MaxPlayers int             `json:"max_players"`
	Hz         int             `json:"hz"`
	Started    time.Time       `json:"started"`
	// Held counts the human seats without a socket that the match still
	// holds: reserved and not yet taken, or dropped and within the grace
	// period.
	Held int `json:"held"`
	// Loop timing, from the match's game.LoopStats: how long the last and
	// the slowest tick took, the worst lateness, and ticks dropped after
	// stalls.
	TickLastUs   int64  `json:"tick_last_us"`
	TickMaxUs    int64  `json:"tick_max_us"`
	LateMaxUs    int64  `json:"late_max_us"`
	DroppedTicks uint64 `json:"dropped_ticks"`
}

// codeFor maps an error from the handshake path to a close code.
func codeFor(err error) uint16 {
	switch {
	case errors.Is(err, ErrAuthExpired):
		return wire.CodeTokenExpired
	case errors.Is(err, ErrAuthRevoked):
		return wire.CodeTokenRevoked
	case errors.Is(err, ErrMatchNotFound), errors.Is(err, game.ErrStopped):
		return wire.CodeMatchNotFound
	case errors.Is(err, ErrSeatExpired):
		return wire.CodeSeatExpired
	case errors.Is(err, ErrNoSeat), errors.Is(err, game.ErrFull):
		return wire.CodeMatchFull
	case errors.Is(err, ErrServerClosed):
		return wire.CodeGoingAway
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return wire.CodeTryAgain
	default:
		return wire.CodeAuthFailed
	}
}

// peerAddr is the IP of the request's TCP peer.
func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
