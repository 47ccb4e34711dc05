// Package app wires Rallypoint's services into one HTTP handler: the lobby
// (tokens, matchmaking, SSE) and the game server (matches and the game
// WebSocket), meeting only through the small adapters in this file. The
// server binary and the end-to-end tests build the same App.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// Config configures an App.
type Config struct {
	// Lobby configures tokens, queues and the HTTP API.
	Lobby lobby.Config
	// Game configures the game server. Its Auth, Hooks and Logger are
	// filled in by New.
	Game netcode.Config
	// Games is the game config of matches the lobby places, per mode (a
	// shorter arena time limit, say). A mode not listed uses its defaults.
	Games map[string]game.Config
	// NewBrain makes server-side bots (bot fill, steering). If nil, matches
	// the lobby fills with bots fail to place.
	NewBrain func(mode string, hz int, seed uint64) game.Brain
	// Web serves everything outside the API (the browser SDK and demo).
	// If nil, those paths answer 404. A game node (RoleNode) serves no web
	// files.
	Web http.Handler
	// HookQueue bounds the seat releases waiting for the lobby's store in
	// the hook queue (match goroutines only queue seat and match events;
	// one goroutine delivers them to the lobby). Past it, seat releases are
	// coalesced per match until the queue has room, and Ready fails with
	// ErrHooksBacklogged; match results are never dropped. If zero, 4096.
	HookQueue int

	// Role is what this process serves (see docs/scaling.md): RoleAll (the
	// default when empty) the lobby API and the game socket, RoleLobby the
	// lobby API without /v1/ws, RoleNode the game socket without the lobby
	// API. /healthz and /readyz are served in every role.
	Role Role
	// Placer, if set, creates the matches the lobby forms instead of this
	// process's game server (a cluster placer picks a game node).
	Placer lobby.Placer
	// Directory, if set, answers the lobby's match listings instead of this
	// process's game server (the cluster's match directory).
	Directory lobby.MatchDirectory
}

// Role is what an App serves.
type Role string

// Roles.
const (
	RoleAll   Role = "all"
	RoleLobby Role = "lobby"
	RoleNode  Role = "node"
)

// ParseRole returns the role named s ("" is RoleAll).
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case "", RoleAll:
		return RoleAll, nil
	case RoleLobby, RoleNode:
		return r, nil
	}
	return "", fmt.Errorf("app: unknown role %q (want all, lobby or node)", s)
}

// App is the whole server.
type App struct {
	lobby *lobby.Lobby
	game  *netcode.Server
	mux   *http.ServeMux
	log   *zap.Logger
	games map[string]game.Config // Config.Games
	hooks *hooks                 // the game server's hooks and their queue to the lobby

	draining atomic.Bool // set by SetDraining; /readyz answers 503 while set

	sessMu    sync.Mutex               // guards the fields below
	sessions  map[game.PlayerID]string // the session each player's latest socket was opened with
	nextPrune int                      // prune sessions of players with no seat when it grows past this
}

// ErrDraining is Ready's answer while the App is draining.
var ErrDraining = errors.New("app: draining")

// New builds the game server and the lobby and wires them together.
func New(cfg Config, log *zap.Logger) (*App, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.HookQueue < 0 {
		return nil, errors.New("app: HookQueue is negative")
	}
	a := &App{log: log, games: cfg.Games, hooks: newHooks(log.Named("hooks"))}
	gc := cfg.Game
	gc.Logger = log.Named("game")
	gc.Auth = netcode.AuthenticatorFunc(a.authenticate)
	if gc.ClientAddr == nil {
		// The socket caps key clients as the lobby's rate limits do.
		res, err := lobby.NewClientAddrs(cfg.Lobby.TrustedProxies)
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		gc.ClientAddr = res.Addr
	}
	if cfg.NewBrain != nil {
		gc.NewBrain = cfg.NewBrain
	}
	// The hooks run on match goroutines: they only queue the events, and
	// the hook queue's goroutine hands them to the lobby, so a slow store
	// never stretches a tick.
	gc.Hooks = a.hooks.netcode()
	srv, err := netcode.New(gc)
	if err != nil {
		return nil, err
	}
	a.game = srv
	role, err := ParseRole(string(cfg.Role))
	if err != nil {
		return nil, err
	}
	var pl lobby.Placer = placer{srv: srv, games: cfg.Games}
	if cfg.Placer != nil {
		pl = cfg.Placer
	}
	var dir lobby.MatchDirectory = directory{srv, a.hooks}
	if cfg.Directory != nil {
		dir = cfg.Directory
	}
	lc := cfg.Lobby
	if role == RoleNode {
		// A game node's lobby only verifies socket tokens and records
		// seats and results in the shared stores: it forms no matches.
		lc.NoMatchmaker = true
	}
	lob, err := lobby.New(lc, pl, dir, log.Named("lobby"))
	if err != nil {
		return nil, errors.Join(err, srv.Shutdown(context.Background()))
	}
	a.lobby = lob
	if err := a.hooks.start(lob, cfg.HookQueue); err != nil {
		return nil, errors.Join(err, lob.Shutdown(context.Background()))
	}

	a.mux = http.NewServeMux()
	if role != RoleLobby {
		a.mux.Handle("GET /v1/ws", srv.Handler())
	}
	if role != RoleNode {
		a.mux.Handle("/v1/", lob.Handler())
	}
	a.mux.HandleFunc("GET /healthz", a.Healthz)
	a.mux.HandleFunc("GET /readyz", a.Readyz)
	if cfg.Web != nil && role != RoleNode {
		a.mux.Handle("/", cfg.Web)
	} else if role == RoleNode {
		a.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"a game node serves only /v1/ws, /healthz and /readyz"}}` + "\n"))
		})
	}
	return a, nil
}

// Handler serves the lobby API, the game WebSocket, /healthz, /readyz and
// the web files.
func (a *App) Handler() http.Handler { return a.mux }

// Lobby returns the lobby service.
func (a *App) Lobby() *lobby.Lobby { return a.lobby }

// Games returns the game config of placed matches per mode (Config.Games).
func (a *App) Games() map[string]game.Config { return a.games }

// Game returns the game server.
func (a *App) Game() *netcode.Server { return a.game }

// Shutdown stops matchmaking and event streams, then every match and
// socket. Every result and seat release is delivered to the lobby's stores
// before it returns nil; if ctx ends first, what is left is logged at
// error level (results in full) and counted in HookStats.Lost. It is
// idempotent.
func (a *App) Shutdown(ctx context.Context) error {
	// The game first: matches still running end with a "shutdown" result;
	// then the hook queue delivers every result, and only then do the
	// lobby's stores close.
	gerr := a.game.Shutdown(ctx)
	herr := a.hooks.q.Close(ctx)
	if herr != nil {
		herr = fmt.Errorf("app: delivering results and seat releases: %w", herr)
	}
	return errors.Join(gerr, herr, a.lobby.Shutdown(ctx))
}

// HookStats returns the hook queue's counters.
func (a *App) HookStats() HookStats { return a.hooks.stats() }

// Drain is the first step of a graceful shutdown: the lobby stops taking
// tickets and placing matches, the game server creates no match, and the
// running ones play on until they end or ctx is done (then Drain returns
// ctx.Err(), and Shutdown ends them with a "shutdown" result). Reconnects,
// socket tokens and results keep working meanwhile. When Drain returns
// nil, the results of the matches that ended are stored.
func (a *App) Drain(ctx context.Context) error {
	a.SetDraining(true) // /readyz: not ready
	a.lobby.Drain()
	if err := a.game.Drain(ctx); err != nil {
		return err
	}
	return a.hooks.q.Flush(ctx)
}

// matchResult is the results log's record of a match that ended.
func matchResult(info netcode.MatchInfo, res game.Result, err error) lobby.MatchResult {
	r := lobby.MatchResult{ID: info.ID, Mode: info.Mode, Reason: res.Reason, Started: info.Started, Ticks: info.Tick}
	for _, p := range res.Players {
		r.Players = append(r.Players, lobby.ResultEntry{Player: lobby.PlayerID(p.Player), Entity: uint32(p.Entity),
			Score: p.Score, Rank: p.Rank, Bot: p.Player >= netcode.FirstBotPlayer})
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// SetDraining marks the App as draining (true) or not: while draining,
// Ready fails and /readyz answers 503 so load balancers send new players
// elsewhere; matches in progress are not touched. Drain sets it.
func (a *App) SetDraining(on bool) { a.draining.Store(on) }

// Draining reports whether the App is draining: SetDraining(true) or Drain.
func (a *App) Draining() bool { return a.draining.Load() || a.game.Draining() }

// Ready returns nil when the App accepts new players: it is not draining,
// the lobby's store keeps up with the hook queue, and the lobby is open
// with a store that answers. Otherwise the error says why (ErrDraining,
// ErrHooksBacklogged, or the lobby's, which wraps lobby.ErrClosed when the
// lobby or its store is closed).
func (a *App) Ready(ctx context.Context) error {
	if a.Draining() {
		return ErrDraining
	}
	if a.hooks.backlogged() {
		return ErrHooksBacklogged
	}
	return a.lobby.Ready(ctx)
}

// Readyz serves GET /readyz: 200 {"status":"ready"} when Ready returns
// nil, else 503 {"status":"not_ready","reason":...}.
func (a *App) Readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := a.Ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "not_ready", "reason": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ready"})
}

// Healthz serves GET /healthz: the process is alive and serving. It
// always answers 200 with a few live figures (see docs/lobby-api.md).
func (a *App) Healthz(w http.ResponseWriter, _ *http.Request) {
	st := a.game.Stats()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status":      "ok",
		"matches":     len(a.game.Matches()),
		"connections": st.ConnsOpen.Load(),
		"queued":      a.lobby.Metrics().QueueLength,
	})
}

// authenticate checks a socket token with the lobby and translates its
// errors into the game server's.
func (a *App) authenticate(ctx context.Context, token string) (netcode.Grant, error) {
	g, err := a.lobby.VerifySocketToken(ctx, token)
	switch {
	case err == nil:
		a.noteSession(game.PlayerID(g.Player), g.SID)
		return netcode.Grant{Player: game.PlayerID(g.Player), Match: g.Match, Name: g.Name}, nil
	case errors.Is(err, lobby.ErrTokenExpired):
		return netcode.Grant{}, errors.Join(netcode.ErrAuthExpired, err)
	case errors.Is(err, lobby.ErrTokenRevoked):
		return netcode.Grant{}, errors.Join(netcode.ErrAuthRevoked, err)
	case errors.Is(err, lobby.ErrStoreUnavailable):
		// The shared store did not answer: the token may be good. The game
		// server closes with 1013 (try again later) for a handshake that
		// ran out of time, so the client retries with backoff.
		return netcode.Grant{}, errors.Join(context.DeadlineExceeded, err)
	default:
		return netcode.Grant{}, errors.Join(netcode.ErrAuthInvalid, err)
	}
}

// noteSession records the session of a player's socket, for SessionOf.
// Players with no seat left are forgotten whenever the book doubles.
func (a *App) noteSession(p game.PlayerID, sid string) {
	a.sessMu.Lock()
	defer a.sessMu.Unlock()
	if a.sessions == nil {
		a.sessions = make(map[game.PlayerID]string)
	}
	a.sessions[p] = sid
	if len(a.sessions) < a.nextPrune {
		return
	}
	seated := make(map[game.PlayerID]bool)
	for _, m := range a.game.Matches() {
		for _, q := range m.Players {
			seated[q] = true
		}
	}
	for q := range a.sessions {
		if !seated[q] && q != p {
			delete(a.sessions, q)
		}
	}
	a.nextPrune = 2*len(a.sessions) + 1024
}

// SessionOf returns the session the player's latest game socket on this
// process was opened with (a game node re-checks seated players'
// sessions when it may have missed a revocation).
func (a *App) SessionOf(p game.PlayerID) (sid string, ok bool) {
	a.sessMu.Lock()
	defer a.sessMu.Unlock()
	sid, ok = a.sessions[p]
	return sid, ok
}

// placer creates the matches the lobby forms.
type placer struct {
	srv   *netcode.Server
	games map[string]game.Config
}

func (p placer) Place(_ context.Context, req lobby.PlaceRequest) (lobby.Placement, error) {
	players := make([]game.PlayerID, len(req.Players))
	for i, id := range req.Players {
		players[i] = game.PlayerID(id)
	}
	info, err := p.srv.CreateMatch(netcode.MatchSpec{Mode: req.Mode, Players: players, Bots: req.Bots, Game: p.games[req.Mode]})
	if err != nil {
		return lobby.Placement{}, err
	}
	return lobby.Placement{MatchID: info.ID}, nil
}

// directory lists the game server's matches for the lobby API, and the
// matches that ended but whose result the hook queue has not stored yet
// (state "over"), so GET /v1/matches/{id} never loses sight of a match.
type directory struct {
	srv   *netcode.Server
	hooks *hooks
}

func summary(m netcode.MatchInfo) lobby.MatchSummary {
	s := lobby.MatchSummary{ID: m.ID, Mode: m.Mode, State: m.State, Bots: m.Bots, Tick: m.Tick, MaxPlayers: m.MaxPlayers}
	s.Players = make([]lobby.PlayerID, len(m.Players))
	for i, p := range m.Players {
		s.Players[i] = lobby.PlayerID(p)
	}
	return s
}

func (d directory) Matches() []lobby.MatchSummary {
	ms := d.srv.Matches()
	out := make([]lobby.MatchSummary, len(ms))
	seen := make(map[string]bool, len(ms))
	for i, m := range ms {
		out[i] = summary(m)
		seen[m.ID] = true
	}
	for _, m := range d.hooks.endingMatches() {
		if !seen[m.ID] {
			out = append(out, summary(m))
		}
	}
	return out
}

// KickPlayer implements lobby.Kicker: a logout closes the player's live
// sockets with 4003.
func (d directory) KickPlayer(p lobby.PlayerID, reason string) int {
	return d.srv.KickPlayer(game.PlayerID(p), wire.CodeTokenRevoked, reason)
}

func (d directory) Match(id string) (lobby.MatchSummary, bool) {
	m, ok := d.srv.Match(id)
	if !ok {
		if m, ok = d.hooks.endingMatch(id); !ok {
			return lobby.MatchSummary{}, false
		}
	}
	return summary(m), true
}
