package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/lobby"
)

var (
	_ lobby.Placer          = (*Placer)(nil)
	_ lobby.PlacementFinder = (*Placer)(nil)
	_ lobby.MatchDirectory  = Directory{}
	_ lobby.MatchLocator    = Directory{}
	_ lobby.SessionKicker   = Directory{}
	_ lobby.MatchChecker    = Directory{}
)

// ErrNoNode is Place's error when no live game node has room: the lobby
// requeues the tickets and tries again at its next step.
var ErrNoNode = errors.New("cluster: no live game node with room")

// PlacerConfig configures a Placer.
type PlacerConfig struct {
	// Registry, Matches and Placements are the shared stores; Recovery
	// keeps each match's tickets for the dead-node monitor. Required.
	Registry   lobby.NodeRegistry
	Matches    lobby.MatchStore
	Placements lobby.Placements
	Recovery   lobby.RecoveryStore
	// AckTimeout bounds the wait for one node's acknowledgement; then the
	// placement is withdrawn and the next node is tried (within the
	// lobby's PlaceTimeout). If zero, 2 seconds is used.
	AckTimeout time.Duration
	// Avoid is how long a node that failed or ignored a placement is
	// passed over. If zero, 10 seconds is used.
	Avoid time.Duration
	// TicketRetention is how long a match's tickets are kept for the
	// monitor. If zero, 24 hours (longer than any match) is used.
	TicketRetention time.Duration
	// Poll is how often the acknowledgement is read. If zero, 10 ms.
	Poll time.Duration
	// Metrics, if set, counts the placements by outcome.
	Metrics *Metrics
}

// Placer is the lobby's lobby.Placer over game nodes: the least-loaded
// live node that is not draining and has room gets the match.
type Placer struct {
	// immutable after NewPlacer
	cfg PlacerConfig
	log *zap.Logger

	mu      sync.Mutex           // guards the fields below
	pending []pendingSeats       // placed since the node's last heartbeat
	avoid   map[string]time.Time // node -> until
}

type pendingSeats struct {
	node  string
	seats int
	at    time.Time
}

// NewPlacer returns a Placer. log may be nil.
func NewPlacer(cfg PlacerConfig, log *zap.Logger) (*Placer, error) {
	if cfg.Registry == nil || cfg.Matches == nil || cfg.Placements == nil || cfg.Recovery == nil {
		return nil, fmt.Errorf("%w: a placer needs Registry, Matches, Placements and Recovery", ErrConfig)
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 2 * time.Second
	}
	if cfg.Avoid == 0 {
		cfg.Avoid = 10 * time.Second
	}
	if cfg.TicketRetention == 0 {
		cfg.TicketRetention = 24 * time.Hour
	}
	if cfg.Poll == 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	if cfg.AckTimeout < 0 || cfg.Avoid < 0 || cfg.TicketRetention < 0 || cfg.Poll < 0 {
		return nil, fmt.Errorf("%w: negative placer durations", ErrConfig)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Placer{cfg: cfg, log: log, avoid: make(map[string]time.Time)}, nil
}

// maxAttempts bounds the nodes one Place tries.
const maxAttempts = 8

// matchIDFor is the match id of attempt i of the placement with key (the
// lobby's PlaceRequest.Key): FindPlacement finds it again from the key. A
// request without a key gets a random id.
func matchIDFor(key string, i int) string {
	if key == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	return fmt.Sprintf("%.16s-%d", key, i)
}

// candidates returns the live nodes with room for seats, least loaded
// first (most spare seats, counting seats placed since their heartbeat).
func (p *Placer) candidates(nodes []lobby.NodeInfo, seats int, now time.Time) []lobby.NodeInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := p.pending[:0]
	for _, ps := range p.pending {
		if now.Sub(ps.at) < 30*time.Second {
			keep = append(keep, ps)
		}
	}
	p.pending = keep
	type cand struct {
		n     lobby.NodeInfo
		spare int
	}
	var cs []cand
	for _, n := range nodes {
		if until, ok := p.avoid[n.ID]; ok {
			if now.Before(until) {
				continue
			}
			delete(p.avoid, n.ID)
		}
		spare := n.Spare()
		for _, ps := range p.pending {
			if ps.node == n.ID && ps.at.After(n.Seen) {
				spare -= ps.seats
			}
		}
		if spare >= seats {
			cs = append(cs, cand{n, spare})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].spare != cs[j].spare {
			return cs[i].spare > cs[j].spare
		}
		if cs[i].n.Matches != cs[j].n.Matches {
			return cs[i].n.Matches < cs[j].n.Matches
		}
		return cs[i].n.ID < cs[j].n.ID
	})
	out := make([]lobby.NodeInfo, len(cs))
	for i, c := range cs {
		out[i] = c.n
	}
	return out
}

// Place implements lobby.Placer.
func (p *Placer) Place(ctx context.Context, req lobby.PlaceRequest) (lobby.Placement, error) {
	seats := len(req.Players) + req.Bots
	nodes, err := p.cfg.Registry.Nodes(ctx)
	if err != nil {
		return lobby.Placement{}, fmt.Errorf("cluster: list nodes: %w", err)
	}
	var errs []error
	for i, n := range p.candidates(nodes, seats, time.Now()) {
		if ctx.Err() != nil || i == maxAttempts {
			break
		}
		pl, err := p.placeOn(ctx, n, req, matchIDFor(req.Key, i))
		if err == nil {
			p.cfg.Metrics.count(func(m *Metrics) *atomic.Uint64 { return &m.placedOK }, 1)
			return pl, nil
		}
		if errors.Is(err, errNoAck) {
			p.cfg.Metrics.count(func(m *Metrics) *atomic.Uint64 { return &m.placedWithdrawn }, 1)
		} else {
			p.cfg.Metrics.count(func(m *Metrics) *atomic.Uint64 { return &m.placedFailed }, 1)
		}
		errs = append(errs, fmt.Errorf("node %s: %w", n.ID, err))
		p.mu.Lock()
		p.avoid[n.ID] = time.Now().Add(p.cfg.Avoid)
		p.mu.Unlock()
	}
	if len(errs) == 0 {
		return lobby.Placement{}, fmt.Errorf("%w (%d nodes live, %d seats wanted)", ErrNoNode, len(nodes), seats)
	}
	return lobby.Placement{}, errors.Join(append([]error{ErrNoNode}, errs...)...)
}

// errNoAck is placeOn's error when the node did not acknowledge in time.
var errNoAck = errors.New("no acknowledgement")

// placeOn sends the match to node n and waits for its acknowledgement.
func (p *Placer) placeOn(ctx context.Context, n lobby.NodeInfo, req lobby.PlaceRequest, id string) (lobby.Placement, error) {
	rec := lobby.MatchRecord{ID: id, Mode: req.Mode, Node: n.ID, WSURL: n.WSURL,
		Players: req.Players, Bots: req.Bots, State: lobby.MatchPlacing, Created: time.Now()}
	if err := p.cfg.Matches.PutMatch(ctx, rec); err != nil {
		return lobby.Placement{}, err
	}
	if err := p.cfg.Recovery.PutMatchTickets(ctx, rec.ID, req.Tickets, time.Now().Add(p.cfg.TicketRetention)); err != nil {
		return lobby.Placement{}, err
	}
	p.mu.Lock()
	p.pending = append(p.pending, pendingSeats{node: n.ID, seats: len(req.Players) + req.Bots, at: time.Now()})
	p.mu.Unlock()
	if err := p.cfg.Placements.SendPlacement(ctx, n.ID, rec); err != nil {
		p.withdraw(rec.ID)
		return lobby.Placement{}, err
	}
	actx, cancel := context.WithTimeout(ctx, p.cfg.AckTimeout)
	defer cancel()
	t := time.NewTicker(p.cfg.Poll)
	defer t.Stop()
	for {
		cur, ok, err := p.cfg.Matches.MatchRecord(actx, rec.ID)
		if err == nil && ok && cur.State != lobby.MatchPlacing {
			if cur.State == lobby.MatchRunning {
				return lobby.Placement{MatchID: rec.ID, WSURL: n.WSURL}, nil
			}
			return lobby.Placement{}, fmt.Errorf("the node answered %q", cur.State)
		}
		select {
		case <-actx.Done():
			// Withdraw; the node may have acknowledged meanwhile.
			if st := p.withdraw(rec.ID); st == lobby.MatchRunning {
				return lobby.Placement{MatchID: rec.ID, WSURL: n.WSURL}, nil
			}
			return lobby.Placement{}, fmt.Errorf("%w within %v", errNoAck, p.cfg.AckTimeout)
		case <-t.C:
		}
	}
}

// FindPlacement implements lobby.PlacementFinder: the running match a
// placement with key created, if any (a lobby that took over from one that
// died mid-placement completes the group with it). A placement still
// waiting for its node is withdrawn first; a match that already ended or
// was lost counts as none, so the group is requeued.
func (p *Placer) FindPlacement(ctx context.Context, key string) (lobby.Placement, bool, error) {
	if key == "" {
		return lobby.Placement{}, false, nil
	}
	for i := range maxAttempts {
		m, ok, err := p.cfg.Matches.MatchRecord(ctx, matchIDFor(key, i))
		if err != nil {
			return lobby.Placement{}, false, err
		}
		if !ok {
			continue
		}
		state := m.State
		if state == lobby.MatchPlacing {
			state = p.withdraw(m.ID)
		}
		if state == lobby.MatchRunning {
			return lobby.Placement{MatchID: m.ID, WSURL: m.WSURL}, true, nil
		}
	}
	return lobby.Placement{}, false, nil
}

// withdraw marks a placement failed unless the node already took it, and
// returns the match's final state.
func (p *Placer) withdraw(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, _, err := p.cfg.Matches.SetMatchState(ctx, id, lobby.MatchFailed)
	if err != nil {
		p.log.Warn("withdraw placement", zap.String("match", id), zap.Error(err))
		return ""
	}
	return m.State
}

// Directory is the lobby's lobby.MatchDirectory and lobby.MatchLocator
// over the cluster's match directory. Matches that ended or were lost are
// not listed: the lobby then serves their results (a lost match shows
// state "lost"). With Registry set, running matches show the tick and
// players of their node's last heartbeat (stale by up to one heartbeat
// interval). With Revocations set it is a lobby.SessionKicker: a revoked
// session is published to the game nodes, which close its sockets.
type Directory struct {
	Store       lobby.MatchStore
	Registry    lobby.NodeRegistry
	Revocations lobby.Revocations
	// Timeout bounds each store call. If zero, 2 seconds is used.
	Timeout time.Duration
	// OnStoreError, if set, is called for each failed store call (metrics).
	OnStoreError func(op string, err error)
}

func (d Directory) ctx() (context.Context, context.CancelFunc) {
	t := d.Timeout
	if t == 0 {
		t = 2 * time.Second
	}
	return context.WithTimeout(context.Background(), t)
}

func (d Directory) failed(op string, err error) {
	if err != nil && d.OnStoreError != nil {
		d.OnStoreError(op, err)
	}
}

func summary(m lobby.MatchRecord, live map[string]lobby.MatchLoad) lobby.MatchSummary {
	s := lobby.MatchSummary{ID: m.ID, Mode: m.Mode, State: m.State, Players: append([]lobby.PlayerID{}, m.Players...), Bots: m.Bots,
		MaxPlayers: len(m.Players) + m.Bots}
	if l, ok := live[m.ID]; ok {
		s.Tick = l.Tick
		s.Players = append([]lobby.PlayerID{}, l.Players...)
	}
	return s
}

// live returns the running matches' progress from the nodes' heartbeats
// (nil without a Registry).
func (d Directory) live(ctx context.Context) map[string]lobby.MatchLoad {
	if d.Registry == nil {
		return nil
	}
	nodes, err := d.Registry.Nodes(ctx)
	if err != nil {
		d.failed("nodes", err)
		return nil
	}
	live := make(map[string]lobby.MatchLoad)
	for _, n := range nodes {
		for _, l := range n.Live {
			live[l.ID] = l
		}
	}
	return live
}

// Matches implements lobby.MatchDirectory: the running matches.
func (d Directory) Matches() []lobby.MatchSummary {
	ctx, cancel := d.ctx()
	defer cancel()
	ms, err := d.Store.LiveMatches(ctx)
	if err != nil {
		d.failed("live matches", err)
		return nil
	}
	live := d.live(ctx)
	out := make([]lobby.MatchSummary, 0, len(ms))
	for _, m := range ms {
		if m.State == lobby.MatchRunning {
			out = append(out, summary(m, live))
		}
	}
	return out
}

// Match implements lobby.MatchDirectory.
func (d Directory) Match(id string) (lobby.MatchSummary, bool) {
	ctx, cancel := d.ctx()
	defer cancel()
	m, ok, err := d.Store.MatchRecord(ctx, id)
	d.failed("match record", err)
	if err != nil || !ok || m.State != lobby.MatchRunning {
		return lobby.MatchSummary{}, false
	}
	return summary(m, d.live(ctx)), true
}

// MatchWSURL implements lobby.MatchLocator.
func (d Directory) MatchWSURL(id string) (string, bool) {
	ctx, cancel := d.ctx()
	defer cancel()
	m, ok, err := d.Store.MatchRecord(ctx, id)
	d.failed("match record", err)
	if err != nil || !ok || lobby.MatchStateFinal(m.State) || m.WSURL == "" {
		return "", false
	}
	return m.WSURL, true
}

// MatchOver implements lobby.MatchChecker: a match whose record is final
// or gone (records of finished matches expire after an hour; seats are
// only given in matches whose record exists) is over.
func (d Directory) MatchOver(ctx context.Context, id string) (bool, error) {
	m, ok, err := d.Store.MatchRecord(ctx, id)
	if err != nil {
		d.failed("match record", err)
		return false, err
	}
	return !ok || lobby.MatchStateFinal(m.State), nil
}

// KickSession implements lobby.SessionKicker: it publishes the revocation
// to the game nodes (each closes the session's sockets with 4003) and
// returns -1, or 0 without Revocations. A node that misses the message
// re-checks its players' sessions when its subscription comes back, and
// the revocation itself is stored, so the session's tokens are refused
// everywhere regardless.
func (d Directory) KickSession(p lobby.PlayerID, sid, _ string) int {
	if d.Revocations == nil {
		return 0
	}
	ctx, cancel := d.ctx()
	defer cancel()
	if err := d.Revocations.PublishRevocation(ctx, lobby.Revocation{Player: p, SID: sid}); err != nil {
		d.failed("publish revocation", err)
		return 0
	}
	return -1
}
