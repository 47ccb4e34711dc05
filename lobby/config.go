package lobby

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/rallypoint/rallypoint/game"
)

// Config configures a [Lobby]. The zero value is a working lobby with an
// in-memory store and an ephemeral signing key; every field documents its
// default. New applies the defaults and validates.
type Config struct {
	// DataDir is where signing keys, revocations, refresh-token rotation and
	// studio identities persist (in DataDir/lobby.db, a bbolt file). If
	// empty, an in-memory store and an ephemeral key are used: sessions do
	// not survive a restart (tests, throwaway servers).
	DataDir string
	// SigningKeys, if set, are the HS256 keys for all lobby tokens: the
	// first signs, all verify (list the new key first and keep the old one
	// for a refresh lifetime to rotate). If empty, the key persisted in
	// DataDir is used, created on first run.
	SigningKeys []SigningKey
	// Issuer is the "iss" claim of lobby tokens. If empty, "rallypoint-lobby"
	// is used.
	Issuer string

	// SessionTTL is the lifetime of a session token. If zero, 15 minutes is
	// used: short enough that a leaked bearer token is useful only briefly,
	// long enough that a client refreshes a few times an hour.
	SessionTTL time.Duration
	// RefreshTTL is the lifetime of a refresh token. If zero, 7 days is used:
	// a guest keeps its player id across a week of absence.
	RefreshTTL time.Duration
	// SocketTokenTTL is the lifetime of a socket token. If zero, 2 minutes is
	// used: it is presented once, in the first WebSocket message, usually
	// within seconds; a fresh one is minted for every reconnect.
	SocketTokenTTL time.Duration
	// ReconnectGrace is informational: the grace period the game server holds
	// a dropped player's seat, reported to clients in the assignment
	// ("reconnect_grace_ms"). The lobby keeps the assignment until
	// SeatReleased/MatchEnded regardless. If zero, 30 seconds is used.
	ReconnectGrace time.Duration

	// Modes are the queues. If nil, every mode in game.Modes() is a queue,
	// with that mode's player bounds (arena: 2 to 16, bench: 1 to 8).
	Modes map[string]ModeRules
	// DefaultRating is the rating of a ticket that gives none. If zero, 1500
	// is used.
	DefaultRating int
	// MaxRating bounds ticket ratings to [0, MaxRating]. If zero, 10000 is
	// used.
	MaxRating int
	// WindowBase is the initial rating window (a ticket accepts opponents
	// within ±WindowBase). If zero, 100 is used.
	WindowBase float64
	// WindowGrowth widens the window by this many rating points per second
	// of waiting. If zero, 50 is used.
	WindowGrowth float64
	// WindowMax caps the window. If zero, 1000 is used.
	WindowMax float64
	// FillWait is how long a group that already has MinPlayers waits for
	// more players before it starts (a full group starts at once). If zero,
	// 2 seconds is used.
	FillWait time.Duration
	// BotFillAfter is how long a ticket waits before its group is started
	// with bots filling up to MinPlayers. If zero, 2 seconds is used (a
	// newcomer is playing within about 3 s of pressing Play); if
	// negative, bot fill is off.
	BotFillAfter time.Duration
	// TicketTTL is how long a ticket may wait in the queue before it
	// expires. If zero, 2 minutes is used.
	TicketTTL time.Duration
	// TicketRetention is how long a finished ticket (matched, cancelled,
	// expired) stays readable, so a late SSE reconnect still gets its
	// outcome (an EventSource resumes within seconds). If zero, 2 minutes
	// is used.
	TicketRetention time.Duration
	// MatchInterval is how often the matchmaker runs. If zero, 100
	// milliseconds is used.
	MatchInterval time.Duration
	// PlaceTimeout bounds one Placer.Place call. If zero, 5 seconds is used.
	PlaceTimeout time.Duration
	// RequeuePriority is how long after a match was lost with its game
	// node (MatchLost) its players' next ticket goes to the front of the
	// queue. If zero, 2 minutes is used.
	RequeuePriority time.Duration

	// SSEKeepAlive is the interval of keep-alive comments on event streams
	// (proxies close idle connections). If zero, 15 seconds is used.
	SSEKeepAlive time.Duration
	// SSEUpdateInterval is how often a queued stream re-sends its position
	// when it changed. If zero, 2 seconds is used.
	SSEUpdateInterval time.Duration
	// SSERetry is the reconnection delay suggested to EventSource clients.
	// If zero, 2 seconds is used.
	SSERetry time.Duration

	// AllowedOrigins is the CORS allowlist, as exact origins such as
	// "http://localhost:5173", or "*" for any. If empty, no cross-origin
	// browser access is allowed (same-origin needs nothing).
	AllowedOrigins []string
	// RateLimit is the sustained rate of anonymous requests (sign-in,
	// refresh) per client address, in requests per second. Players behind
	// one NAT and a bots process share it, so it is generous: if zero, 10
	// is used.
	RateLimit rate.Limit
	// RateBurst is the burst allowed per client address: enough for a
	// hundred bots or a LAN party to sign in at once. If zero, 200 is used.
	RateBurst int
	// SessionRateLimit is the sustained rate of authenticated requests
	// (tickets, socket tokens, logout) per session, and of ticket event
	// streams per ticket. If zero, 5 is used.
	SessionRateLimit rate.Limit
	// SessionRateBurst is the burst allowed per session. If zero, 20.
	SessionRateBurst int
	// TrustedProxies are the reverse proxies (CIDR prefixes or addresses)
	// whose X-Forwarded-For names the client address; requests from any
	// other peer are keyed by the peer's own address. If empty, no proxy is
	// trusted.
	TrustedProxies []string
	// MaxStreams caps the open ticket event streams (SSE) in all. If zero,
	// 20000 is used.
	MaxStreams int
	// MaxStreamsPerAddr caps the open event streams from one client
	// address. If zero, 2000 is used (a bots process opens one per bot).
	MaxStreamsPerAddr int
	// MaxStreamsPerTicket caps the open event streams of one ticket (a
	// client needs one; a reconnecting one briefly two). If zero, 4.
	MaxStreamsPerTicket int
	// MaxBodyBytes limits request bodies. If zero, 8 KiB is used.
	MaxBodyBytes int64

	// PublicWSURL is the game socket URL handed to clients, such as
	// "wss://play.example.com/v1/ws"; "?match=<id>" is appended. If empty, it
	// is derived from each request: ws://<Host>/v1/ws (wss when the request
	// came over TLS).
	PublicWSURL string
	// Authenticators are extra sign-in methods served at
	// POST /v1/auth/{name}, such as {"studio": &StudioJWT{...}}. Guest
	// sign-in is served at /v1/auth/guest unless DisableGuest is set.
	Authenticators map[string]Authenticator
	// DisableGuest turns off POST /v1/auth/guest.
	DisableGuest bool

	// Store persists keys, revocations, refresh rotation and player ids. If
	// nil, a bbolt store in DataDir (or an in-memory store when DataDir is
	// empty) is opened and closed by the lobby.
	Store Store
	// Tickets holds tickets. If nil, an in-memory store is used.
	Tickets TicketStore
	// Assignments records which player holds a seat in which match. If nil,
	// an in-memory store is used.
	Assignments AssignmentStore
	// Recovery keeps each match's tickets and the players whose match was
	// lost with its node (MatchLost). If nil, an in-memory store is used.
	Recovery RecoveryStore
	// Results keeps finished matches' results. If nil, a JSON-lines log in
	// DataDir/results.jsonl (fsynced per result), or an in-memory store
	// when DataDir is empty, is opened and closed by the lobby.
	Results ResultStore

	// Queue is the matchmaking queue. If nil, an in-memory queue is used.
	// Give several lobby processes the same shared Queue (with shared
	// Tickets, Assignments, Leases, TicketEvents, UsedTokens and Store) and
	// they serve the same queues: one of them at a time, the holder of the
	// "matchmaker" lease, runs each matchmaking step.
	Queue Queue
	// Leases elects the process that runs the matchmaker over a shared
	// Queue. If nil, in-memory leases are used (this process always leads).
	Leases Leases
	// LeaseTTL is how long the matchmaker lease lasts without renewal: when
	// the leading lobby dies, another takes over within LeaseTTL. The leader
	// renews it at every step. If zero, 3 seconds is used.
	LeaseTTL time.Duration
	// TicketEvents carries ticket changes to the event streams of every
	// lobby process. If nil, changes reach this process's streams only.
	TicketEvents TicketEvents
	// UsedTokens records used socket tokens (each works once). If nil, an
	// in-memory set is used: a restarted process forgets it, which lets a
	// token captured in its last SocketTokenTTL be replayed once more.
	UsedTokens UsedTokens
	// StoreTimeout bounds each call the lobby makes to a shared store
	// (Queue, Leases, TicketEvents, UsedTokens) so a slow or unreachable
	// backend fails the request with 503 "store_unavailable" instead of
	// hanging it. If zero, 2 seconds is used.
	StoreTimeout time.Duration

	// NoMatchmaker turns the matchmaker off: this lobby forms and places no
	// matches (queued tickets wait for another lobby process sharing the
	// stores). A game node's lobby instance, which only verifies socket
	// tokens and records seats and results, sets it.
	NoMatchmaker bool

	// Now is the clock. If nil, time.Now is used.
	Now func() time.Time

	// OnMatched, if set, is called once for every ticket placed in a match,
	// with its mode and how long it waited in the queue (time to match).
	// It runs on the matchmaker goroutine: it must be quick and must not
	// call back into the lobby. Metrics exporters (internal/ops) use it.
	OnMatched func(mode string, waited time.Duration)
}

// ModeRules are the player bounds of a game mode.
type ModeRules struct {
	// MinPlayers is the fewest players (humans plus bots) a match starts
	// with.
	MinPlayers int
	// MaxPlayers is the most humans a match starts with.
	MaxPlayers int
}

var providerName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// withDefaults returns cfg with defaults applied, or an error wrapping
// ErrInvalidConfig.
func (cfg Config) withDefaults() (Config, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "rallypoint-lobby"
	}
	def(&cfg.SessionTTL, 15*time.Minute)
	def(&cfg.RefreshTTL, 7*24*time.Hour)
	def(&cfg.SocketTokenTTL, 2*time.Minute)
	def(&cfg.ReconnectGrace, 30*time.Second)
	if cfg.Modes == nil {
		cfg.Modes = make(map[string]ModeRules)
		for _, m := range game.Modes() {
			cfg.Modes[m.Name] = ModeRules{MinPlayers: m.MinPlayers, MaxPlayers: m.MaxPlayers}
		}
	}
	if cfg.DefaultRating == 0 {
		cfg.DefaultRating = 1500
	}
	if cfg.MaxRating == 0 {
		cfg.MaxRating = 10000
	}
	if cfg.WindowBase == 0 {
		cfg.WindowBase = 100
	}
	if cfg.WindowGrowth == 0 {
		cfg.WindowGrowth = 50
	}
	if cfg.WindowMax == 0 {
		cfg.WindowMax = 1000
	}
	def(&cfg.FillWait, 2*time.Second)
	def(&cfg.BotFillAfter, 2*time.Second)
	def(&cfg.TicketTTL, 2*time.Minute)
	def(&cfg.TicketRetention, 2*time.Minute)
	def(&cfg.MatchInterval, 100*time.Millisecond)
	def(&cfg.PlaceTimeout, 5*time.Second)
	def(&cfg.RequeuePriority, 2*time.Minute)
	def(&cfg.SSEKeepAlive, 15*time.Second)
	def(&cfg.SSEUpdateInterval, 2*time.Second)
	def(&cfg.SSERetry, 2*time.Second)
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 10
	}
	if cfg.SessionRateLimit == 0 {
		cfg.SessionRateLimit = 5
	}
	if cfg.SessionRateBurst == 0 {
		cfg.SessionRateBurst = 20
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 20000
	}
	if cfg.MaxStreamsPerAddr == 0 {
		cfg.MaxStreamsPerAddr = 2000
	}
	if cfg.MaxStreamsPerTicket == 0 {
		cfg.MaxStreamsPerTicket = 4
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = 200
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 8 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"SessionTTL", cfg.SessionTTL}, {"RefreshTTL", cfg.RefreshTTL}, {"SocketTokenTTL", cfg.SocketTokenTTL},
		{"ReconnectGrace", cfg.ReconnectGrace}, {"FillWait", cfg.FillWait}, {"TicketTTL", cfg.TicketTTL},
		{"TicketRetention", cfg.TicketRetention}, {"MatchInterval", cfg.MatchInterval}, {"PlaceTimeout", cfg.PlaceTimeout}, {"LeaseTTL", cfg.LeaseTTL}, {"StoreTimeout", cfg.StoreTimeout},
		{"RequeuePriority", cfg.RequeuePriority},
		{"SSEKeepAlive", cfg.SSEKeepAlive}, {"SSEUpdateInterval", cfg.SSEUpdateInterval}, {"SSERetry", cfg.SSERetry},
	} {
		if d.v < 0 {
			return bad("%s must not be negative", d.name)
		}
	}
	if cfg.RefreshTTL < cfg.SessionTTL {
		return bad("RefreshTTL (%v) shorter than SessionTTL (%v)", cfg.RefreshTTL, cfg.SessionTTL)
	}
	if len(cfg.Modes) == 0 {
		return bad("no modes")
	}
	for name, m := range cfg.Modes {
		if name == "" || len(name) > 32 {
			return bad("mode name %q", name)
		}
		if m.MinPlayers < 1 || m.MaxPlayers < m.MinPlayers || m.MaxPlayers > 1024 {
			return bad("mode %q: need 1 <= MinPlayers <= MaxPlayers <= 1024, have %d..%d", name, m.MinPlayers, m.MaxPlayers)
		}
	}
	if cfg.MaxRating < 0 || cfg.DefaultRating < 0 || cfg.DefaultRating > cfg.MaxRating {
		return bad("DefaultRating %d outside [0, MaxRating %d]", cfg.DefaultRating, cfg.MaxRating)
	}
	if cfg.WindowBase < 0 || cfg.WindowGrowth < 0 || cfg.WindowMax < cfg.WindowBase {
		return bad("rating window: need 0 <= WindowBase <= WindowMax and WindowGrowth >= 0")
	}
	if cfg.RateLimit < 0 || cfg.RateBurst < 1 || cfg.SessionRateLimit < 0 || cfg.SessionRateBurst < 1 {
		return bad("rate limit: need RateLimit, SessionRateLimit >= 0 and RateBurst, SessionRateBurst >= 1")
	}
	if cfg.MaxStreams < 0 || cfg.MaxStreamsPerAddr < 0 || cfg.MaxStreamsPerTicket < 0 {
		return bad("stream caps must not be negative")
	}
	if _, err := NewClientAddrs(cfg.TrustedProxies); err != nil {
		return bad(err.Error())
	}
	if cfg.MaxBodyBytes < 256 {
		return bad("MaxBodyBytes %d < 256", cfg.MaxBodyBytes)
	}
	for _, k := range cfg.SigningKeys {
		if err := k.validate(); err != nil {
			return bad("%v", err)
		}
	}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || strings.HasSuffix(o, "/") {
			return bad("AllowedOrigins: %q is not an origin like https://example.com:8443", o)
		}
	}
	if cfg.PublicWSURL != "" {
		u, err := url.Parse(cfg.PublicWSURL)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return bad("PublicWSURL %q is not a ws:// or wss:// URL", cfg.PublicWSURL)
		}
	}
	for name, a := range cfg.Authenticators {
		if !providerName.MatchString(name) || name == "refresh" || name == "logout" || name == "guest" {
			return bad("authenticator name %q (need [a-z][a-z0-9_-]*, not guest/refresh/logout)", name)
		}
		if a == nil {
			return bad("authenticator %q is nil", name)
		}
	}
	return cfg, nil
}
