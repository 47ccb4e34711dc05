package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// NodeConfig configures a game node's agent.
type NodeConfig struct {
	// ID names the node in the registry; unique per process (a restarted
	// node registers as a new one). Required.
	ID string
	// WSURL is the node's public game socket URL, such as
	// "wss://node-3.example.com/v1/ws": clients connect straight to it.
	// Required.
	WSURL string
	// Capacity is the most players (humans and bots) the node takes. If
	// zero, 2000 is used.
	Capacity int
	// Heartbeat is how often the node reports itself. If zero, 1 second.
	Heartbeat time.Duration
	// TTL is how long a heartbeat keeps the node alive: a node silent for
	// TTL is dead and its matches are lost. If zero, 3 seconds is used; it
	// must exceed Heartbeat.
	TTL time.Duration
	// Registry, Matches and Placements are the shared stores. Required.
	Registry   lobby.NodeRegistry
	Matches    lobby.MatchStore
	Placements lobby.Placements
	// Games is the game config of placed matches per mode.
	Games map[string]game.Config
	// Draining reports whether the node is draining (it then takes no new
	// placements). If nil, the server's Draining is used.
	Draining func() bool
	// StoreTimeout bounds each store call. If zero, 2 seconds is used.
	StoreTimeout time.Duration
	// Revocations, if set, brings revoked sessions from the lobbies: the
	// node closes their sockets with 4003 (as a logout does in one
	// process). Whenever the subscription (re)starts, the node re-checks
	// the sessions of its connected players with Sessions and Revoked, so
	// a revocation published while it was away still closes its sockets.
	Revocations lobby.Revocations
	// Sessions returns the session a player's socket on this node was
	// opened with (app.App.SessionOf). Revoked reports whether a session
	// was revoked (lobby.Store.Revoked). Both are needed for the re-check.
	Sessions func(game.PlayerID) (string, bool)
	Revoked  func(sid string) (bool, error)
	// Metrics, if set, counts the agent's work.
	Metrics *Metrics
}

// ErrConfig wraps every configuration error of this package.
var ErrConfig = errors.New("cluster: invalid config")

func (c *NodeConfig) setDefaults(srv *netcode.Server) error {
	if c.ID == "" || c.Registry == nil || c.Matches == nil || c.Placements == nil || srv == nil {
		return fmt.Errorf("%w: a node needs an ID, a server, Registry, Matches and Placements", ErrConfig)
	}
	if u, err := url.Parse(c.WSURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("%w: node WSURL %q is not a ws:// or wss:// URL", ErrConfig, c.WSURL)
	}
	if c.Capacity == 0 {
		c.Capacity = 2000
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = time.Second
	}
	if c.TTL == 0 {
		c.TTL = 3 * time.Second
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = 2 * time.Second
	}
	if c.Capacity < 0 || c.Heartbeat < 0 || c.TTL <= c.Heartbeat || c.StoreTimeout < 0 {
		return fmt.Errorf("%w: need Capacity >= 0 and 0 < Heartbeat < TTL (have %v, %v)", ErrConfig, c.Heartbeat, c.TTL)
	}
	if c.Draining == nil {
		c.Draining = srv.Draining
	}
	return nil
}

// Node is a game node's agent. Start it after the server listens; Shutdown
// stops it.
type Node struct {
	// immutable after NewNode
	cfg NodeConfig
	srv *netcode.Server
	log *zap.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex      // guards the fields below
	created map[string]bool // matches this process created and still marks running
	started bool
}

// NewNode returns the agent of srv. log may be nil.
func NewNode(cfg NodeConfig, srv *netcode.Server, log *zap.Logger) (*Node, error) {
	if err := cfg.setDefaults(srv); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	n := &Node{cfg: cfg, srv: srv, log: log.With(zap.String("node", cfg.ID)), created: make(map[string]bool)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// ErrNodeIDInUse is Start's error when the match directory still holds
// live matches of a node with this id: another process uses the id, or
// this node's previous process died and no lobby has reaped it yet (that
// takes the heartbeat TTL). Use a unique id, or start again later.
var ErrNodeIDInUse = errors.New("cluster: node id in use")

// Start checks that the node's id is free, sends the first heartbeat and
// starts the heartbeat and placement loops. The first heartbeat's error
// is returned (the node still retries).
func (n *Node) Start() error {
	n.mu.Lock()
	if n.started {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.StoreTimeout)
	live, err := n.cfg.Matches.MatchesOnNode(ctx, n.cfg.ID)
	cancel()
	if err != nil {
		return fmt.Errorf("cluster: read the node's matches: %w", err)
	}
	if len(live) > 0 {
		return fmt.Errorf("%w: %q has %d live matches in the directory (another process, or a dead one not yet reaped: wait %v)",
			ErrNodeIDInUse, n.cfg.ID, len(live), n.cfg.TTL)
	}
	n.mu.Lock()
	n.started = true
	n.mu.Unlock()
	err = n.heartbeat()
	n.wg.Add(2)
	go n.heartbeatLoop()
	go n.placementLoop()
	if n.cfg.Revocations != nil {
		n.wg.Add(1)
		go n.revocationLoop()
	}
	n.log.Info("game node registered", zap.String("ws_url", n.cfg.WSURL), zap.Int("capacity", n.cfg.Capacity),
		zap.Duration("heartbeat", n.cfg.Heartbeat), zap.Duration("ttl", n.cfg.TTL))
	return err
}

// Shutdown stops the loops and, if the node has no match left (it
// drained), deregisters it so no lobby waits for its heartbeat to lapse.
// With matches left it stays registered and expires: a lobby then reaps it
// and its matches are lost. It is idempotent.
func (n *Node) Shutdown(ctx context.Context) error {
	n.cancel()
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	n.mu.Lock()
	started := n.started
	n.mu.Unlock()
	if !started {
		return nil // never registered: the id may be another process's
	}
	n.markEnded() // what ended during the drain
	if len(n.srv.Matches()) > 0 {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, n.cfg.StoreTimeout)
	defer cancel()
	if err := n.cfg.Registry.Deregister(sctx, n.cfg.ID); err != nil {
		return fmt.Errorf("cluster: deregister: %w", err)
	}
	n.log.Info("game node deregistered")
	return nil
}

// info is the node's heartbeat now: every seat (humans and bots) of its
// matches counts against Capacity, and each running match's tick and
// players ride along for the lobbies' match listings.
func (n *Node) info() lobby.NodeInfo {
	ms := n.srv.Matches()
	seats := 0
	live := make([]lobby.MatchLoad, 0, len(ms))
	for _, m := range ms {
		seats += len(m.Players) + m.Bots
		l := lobby.MatchLoad{ID: m.ID, Tick: m.Tick, Players: make([]lobby.PlayerID, len(m.Players))}
		for i, p := range m.Players {
			l.Players[i] = lobby.PlayerID(p)
		}
		live = append(live, l)
	}
	return lobby.NodeInfo{ID: n.cfg.ID, WSURL: n.cfg.WSURL, Capacity: n.cfg.Capacity, Players: seats,
		Matches: len(ms), Draining: n.cfg.Draining(), Seen: time.Now(), Live: live}
}

func (n *Node) heartbeat() error {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.StoreTimeout)
	defer cancel()
	err := n.cfg.Registry.Heartbeat(ctx, n.info(), n.cfg.TTL)
	n.cfg.Metrics.heartbeat(err)
	return err
}

// revocationLoop closes the sockets of sessions the lobbies revoke, and
// re-checks every connected player's session whenever the subscription
// (re)starts.
func (n *Node) revocationLoop() {
	defer n.wg.Done()
	for n.ctx.Err() == nil {
		err := n.cfg.Revocations.SubscribeRevocations(n.ctx, func(r lobby.Revocation) {
			if r.SID == "" {
				n.recheckSessions()
				return
			}
			n.revoked(r)
		})
		if err != nil && n.ctx.Err() == nil {
			n.log.Warn("revocation subscription", zap.Error(err))
			select {
			case <-n.ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// revoked closes player r.Player's sockets unless they belong to another
// session (the player signed in again).
func (n *Node) revoked(r lobby.Revocation) {
	p := game.PlayerID(r.Player)
	if n.cfg.Sessions != nil {
		if sid, ok := n.cfg.Sessions(p); ok && sid != r.SID {
			return
		}
	}
	if k := n.srv.KickPlayer(p, wire.CodeTokenRevoked, "session revoked"); k > 0 {
		n.cfg.Metrics.kicked(k)
		n.log.Info("revoked session: sockets closed", zap.Uint32("player", uint32(p)), zap.Int("sockets", k))
	}
}

// recheckSessions closes the sockets of seated players whose session was
// revoked (while the subscription was away).
func (n *Node) recheckSessions() {
	if n.cfg.Sessions == nil || n.cfg.Revoked == nil {
		return
	}
	for _, m := range n.srv.Matches() {
		for _, p := range m.Players {
			sid, ok := n.cfg.Sessions(p)
			if !ok {
				continue
			}
			revoked, err := n.cfg.Revoked(sid)
			if err != nil {
				n.log.Warn("re-check sessions", zap.Error(err))
				return // the next (re)subscription checks again
			}
			if revoked {
				n.revoked(lobby.Revocation{Player: lobby.PlayerID(p), SID: sid})
			}
		}
	}
}

func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if err := n.heartbeat(); err != nil {
			if !failing && n.ctx.Err() == nil {
				n.log.Warn("heartbeat failed", zap.Error(err))
			}
			failing = true
		} else if failing {
			n.log.Info("heartbeat recovered")
			failing = false
		}
		n.markEnded()
	}
}

// markEnded marks the matches this process created that are over as
// ended in the match directory.
func (n *Node) markEnded() {
	n.mu.Lock()
	var gone []string
	for id := range n.created {
		if _, ok := n.srv.Match(id); !ok {
			gone = append(gone, id)
		}
	}
	n.mu.Unlock()
	for _, id := range gone {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.StoreTimeout)
		_, _, err := n.cfg.Matches.SetMatchState(ctx, id, lobby.MatchEnded)
		cancel()
		if err != nil && !errors.Is(err, lobby.ErrMatchNotFound) {
			n.log.Warn("mark match ended", zap.String("match", id), zap.Error(err))
			continue // next heartbeat tries again
		}
		n.mu.Lock()
		delete(n.created, id)
		n.mu.Unlock()
	}
}

func (n *Node) placementLoop() {
	defer n.wg.Done()
	for n.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.StoreTimeout+time.Second)
		recs, err := n.cfg.Placements.NextPlacements(ctx, n.cfg.ID, time.Second)
		cancel()
		if err != nil {
			if n.ctx.Err() != nil {
				return
			}
			n.log.Warn("read placements", zap.Error(err))
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		for _, rec := range recs {
			n.place(rec)
		}
	}
}

// place creates one placed match and acknowledges it.
func (n *Node) place(rec lobby.MatchRecord) {
	state := lobby.MatchRunning
	players := make([]game.PlayerID, len(rec.Players))
	for i, p := range rec.Players {
		players[i] = game.PlayerID(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.StoreTimeout)
	defer cancel()
	// A placement the lobby gave up on (its ack timed out) is not created.
	if cur, ok, err := n.cfg.Matches.MatchRecord(ctx, rec.ID); err == nil && (!ok || cur.State != lobby.MatchPlacing || cur.Node != n.cfg.ID) {
		n.log.Info("placement withdrawn", zap.String("match", rec.ID))
		n.cfg.Metrics.count(func(m *Metrics) *atomic.Uint64 { return &m.consumedWithdrawn }, 1)
		return
	}
	if n.cfg.Draining() {
		state = lobby.MatchFailed
	} else if _, err := n.srv.CreateMatch(netcode.MatchSpec{ID: rec.ID, Mode: rec.Mode, Players: players, Bots: rec.Bots, Game: n.cfg.Games[rec.Mode]}); err != nil {
		n.log.Warn("placement failed", zap.String("match", rec.ID), zap.Error(err))
		state = lobby.MatchFailed
	} else {
		n.mu.Lock()
		n.created[rec.ID] = true
		n.mu.Unlock()
	}
	if state == lobby.MatchRunning {
		n.cfg.Metrics.count(func(m *Metrics) *atomic.Uint64 { return &m.consumedCreated }, 1)
	} else {
		n.cfg.Metrics.count(func(m *Metrics) *atomic.Uint64 { return &m.consumedRefused }, 1)
	}
	if _, _, err := n.cfg.Matches.SetMatchState(ctx, rec.ID, state); err != nil {
		n.log.Warn("acknowledge placement", zap.String("match", rec.ID), zap.String("state", state), zap.Error(err))
	}
}
