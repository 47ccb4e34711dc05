package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/lobby"
)

// Lobby is what the monitor tells about lost matches; *lobby.Lobby
// implements it.
type Lobby interface {
	// RecordResult stores a match's result (here: ReasonNodeLost).
	RecordResult(r lobby.MatchResult) error
	// MatchEnded releases every seat of a match.
	MatchEnded(matchID string)
	// MatchLost marks the match's tickets lost and gives its players
	// requeue priority.
	MatchLost(ctx context.Context, m lobby.LostMatch) int
}

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	// Registry and Matches are the shared stores. Required.
	Registry lobby.NodeRegistry
	Matches  lobby.MatchStore
	// Lobby is told about each lost match. Required.
	Lobby Lobby
	// Interval is how often dead nodes are looked for. If zero, 500 ms.
	Interval time.Duration
	// StoreTimeout bounds each round's store calls. If zero, 5 seconds.
	StoreTimeout time.Duration
	// Grace is how long the monitor reaps nothing after the store failed
	// to answer (a Redis restart or a network cut): every live node's
	// heartbeat lapses while the store is away, so each gets this long to
	// heartbeat again. Set it to the nodes' heartbeat TTL. If zero, 3
	// seconds is used.
	Grace time.Duration
	// OnReaped, if set, is called after a node was reaped, with its lost
	// matches (tests and metrics).
	OnReaped func(node string, lost []lobby.MatchRecord)
	// Seats, if set, is swept every SweepEvery for seats left behind: a
	// match that holds seats but is over (ended, lost, failed, gone from
	// the directory, or running on a node that is no longer registered,
	// which then marks it ended) at two sweeps in a row has its seats released,
	// so its players can queue again. That happens when a seat release
	// never arrived (a node that died before its hook queue delivered, or
	// a shutdown whose deadline passed with the store away).
	Seats SeatSweeper
	// SweepEvery is how often Seats is swept. If zero, 10 seconds.
	SweepEvery time.Duration
	// Leader, if set, limits the sweep to the lobby for which it reports
	// true (the matchmaker lease holder); otherwise every monitor sweeps.
	Leader func() bool
	// Metrics, if set, counts reaped nodes, lost matches, requeued
	// players and swept seats, and keeps the live nodes' load.
	Metrics *Metrics
}

// SeatSweeper lists the matches that hold seats and frees them;
// *redisstore.Store implements it.
type SeatSweeper interface {
	SeatedMatches(ctx context.Context) ([]string, error)
	ReleaseMatch(matchID string) ([]lobby.PlayerID, error)
}

// Monitor reaps dead game nodes. Every lobby process runs one; ReapNode
// makes exactly one of them act on each dead node.
type Monitor struct {
	cfg MonitorConfig
	log *zap.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu       sync.Mutex // guards lastFail
	lastFail time.Time  // when a store call last failed

	// owned by the loop
	lastSweep time.Time
	overSeen  map[string]bool // matches found over with seats at the last sweep
}

// NewMonitor returns a Monitor; Start runs it. log may be nil.
func NewMonitor(cfg MonitorConfig, log *zap.Logger) (*Monitor, error) {
	if cfg.Registry == nil || cfg.Matches == nil || cfg.Lobby == nil {
		return nil, fmt.Errorf("%w: a monitor needs Registry, Matches and Lobby", ErrConfig)
	}
	if cfg.Interval == 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.StoreTimeout == 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.Grace == 0 {
		cfg.Grace = 3 * time.Second
	}
	if cfg.SweepEvery == 0 {
		cfg.SweepEvery = 10 * time.Second
	}
	if cfg.Interval < 0 || cfg.StoreTimeout < 0 || cfg.Grace < 0 || cfg.SweepEvery < 0 {
		return nil, fmt.Errorf("%w: negative monitor durations", ErrConfig)
	}
	if log == nil {
		log = zap.NewNop()
	}
	m := &Monitor{cfg: cfg, log: log}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Start runs the monitor's loop until Shutdown.
func (m *Monitor) Start() {
	m.once.Do(func() {
		m.wg.Add(1)
		go m.loop()
	})
}

// Shutdown stops the loop and waits for it. It is idempotent.
func (m *Monitor) Shutdown(ctx context.Context) error {
	m.cancel()
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Monitor) loop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			m.Round()
			if m.cfg.Seats != nil && now.Sub(m.lastSweep) >= m.cfg.SweepEvery && (m.cfg.Leader == nil || m.cfg.Leader()) {
				m.lastSweep = now
				m.Sweep()
			}
		}
	}
}

// Sweep looks for seats left behind once: the seats of a match found over
// at this sweep and at the one before are released. It returns how many
// seats it released. Call it from one goroutine at a time (the loop does).
func (m *Monitor) Sweep() int {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.StoreTimeout)
	defer cancel()
	ids, err := m.cfg.Seats.SeatedMatches(ctx)
	if err != nil {
		if m.ctx.Err() == nil {
			m.log.Warn("seat sweep: list seated matches", zap.Error(err))
		}
		return 0
	}
	if len(ids) == 0 {
		m.overSeen = nil
		return 0
	}
	// The registered nodes, live or not yet reaped: a running match on a
	// node that is neither (it deregistered without marking the match
	// ended) is over too.
	registered := make(map[string]bool)
	live, err := m.cfg.Registry.Nodes(ctx)
	if err == nil {
		var dead []string
		dead, err = m.cfg.Registry.DeadNodes(ctx)
		for _, n := range live {
			registered[n.ID] = true
		}
		for _, id := range dead {
			registered[id] = true
		}
	}
	if err != nil {
		m.log.Warn("seat sweep: list nodes", zap.Error(err))
		return 0
	}
	over := make(map[string]bool)
	freed := 0
	for _, id := range ids {
		rec, ok, err := m.cfg.Matches.MatchRecord(ctx, id)
		if err != nil {
			m.log.Warn("seat sweep: read match", zap.String("match", id), zap.Error(err))
			return freed // the store is away: the next sweep starts over
		}
		orphan := ok && !lobby.MatchStateFinal(rec.State) && !registered[rec.Node]
		if ok && !lobby.MatchStateFinal(rec.State) && !orphan {
			continue
		}
		if !m.overSeen[id] {
			over[id] = true // released at the next sweep if still seated
			continue
		}
		if orphan {
			// Its node left the registry without saying: the match ended
			// with it.
			if _, _, err := m.cfg.Matches.SetMatchState(ctx, id, lobby.MatchEnded); err != nil {
				m.log.Warn("seat sweep: end a match of a gone node", zap.String("match", id), zap.Error(err))
				over[id] = true
				continue
			}
			rec.State = "running on gone node " + rec.Node
		}
		players, err := m.cfg.Seats.ReleaseMatch(id)
		if err != nil {
			m.log.Warn("seat sweep: release", zap.String("match", id), zap.Error(err))
			over[id] = true
			continue
		}
		if len(players) > 0 {
			freed += len(players)
			state := "gone"
			if ok {
				state = rec.State
			}
			m.log.Warn("seat sweep: released seats left behind", zap.String("match", id), zap.String("state", state), zap.Int("seats", len(players)))
		}
	}
	m.overSeen = over
	m.cfg.Metrics.count(func(x *Metrics) *atomic.Uint64 { return &x.seatsSwept }, freed)
	return freed
}

// Round looks for dead nodes once and reaps those this lobby claims. It
// returns the ids it reaped.
func (m *Monitor) Round() []string {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.StoreTimeout)
	defer cancel()
	if m.cfg.Metrics != nil {
		if nodes, err := m.cfg.Registry.Nodes(ctx); err == nil {
			m.cfg.Metrics.setNodes(nodes)
		}
	}
	dead, err := m.cfg.Registry.DeadNodes(ctx)
	now := time.Now()
	m.mu.Lock()
	if err != nil {
		m.lastFail = now
	}
	waiting := now.Sub(m.lastFail) < m.cfg.Grace
	m.mu.Unlock()
	if err != nil {
		if m.ctx.Err() == nil {
			m.log.Warn("list dead nodes", zap.Error(err))
		}
		return nil
	}
	if waiting && len(dead) > 0 {
		m.log.Info("store back after a failure: waiting for heartbeats before reaping", zap.Strings("silent", dead))
		return nil
	}
	var reaped []string
	for _, id := range dead {
		claimed, err := m.cfg.Registry.ReapNode(ctx, id)
		if err != nil {
			m.log.Warn("reap node", zap.String("node", id), zap.Error(err))
			m.mu.Lock()
			m.lastFail = time.Now()
			m.mu.Unlock()
			return reaped
		}
		if !claimed {
			continue // another lobby has it
		}
		reaped = append(reaped, id)
		lost := m.reap(ctx, id)
		m.cfg.Metrics.count(func(x *Metrics) *atomic.Uint64 { return &x.reaped }, 1)
		m.cfg.Metrics.count(func(x *Metrics) *atomic.Uint64 { return &x.matchesLost }, len(lost))
		if m.cfg.OnReaped != nil {
			m.cfg.OnReaped(id, lost)
		}
	}
	return reaped
}

// reap marks the dead node's running matches lost: a "node_lost" result,
// the seats released, the tickets and players told. Placements it never
// acknowledged fail (their placer requeues the tickets).
func (m *Monitor) reap(ctx context.Context, node string) []lobby.MatchRecord {
	recs, err := m.cfg.Matches.MatchesOnNode(ctx, node)
	if err != nil {
		// The node is claimed already: log loudly; its matches stay live
		// in the directory until an operator looks (never on a live node).
		m.log.Error("dead node: list its matches", zap.String("node", node), zap.Error(err))
		return nil
	}
	var lost []lobby.MatchRecord
	now := time.Now()
	for _, rec := range recs {
		if rec.State == lobby.MatchPlacing {
			// Never acknowledged: nobody was told of it. Failing it makes
			// the placer waiting for it requeue its tickets elsewhere.
			_, _, _ = m.cfg.Matches.SetMatchState(ctx, rec.ID, lobby.MatchFailed)
			continue
		}
		cur, changed, err := m.cfg.Matches.SetMatchState(ctx, rec.ID, lobby.MatchLost)
		if err != nil || !changed {
			continue
		}
		lost = append(lost, cur)
		res := lobby.MatchResult{ID: cur.ID, Mode: cur.Mode, Reason: lobby.ReasonNodeLost, Started: cur.Created, Ended: now,
			Error: "game node " + node + " stopped sending heartbeats"}
		for _, p := range cur.Players {
			res.Players = append(res.Players, lobby.ResultEntry{Player: p})
		}
		_ = m.cfg.Lobby.RecordResult(res) // logged by the lobby
		m.cfg.Lobby.MatchEnded(cur.ID)
		n := m.cfg.Lobby.MatchLost(ctx, lobby.LostMatch{ID: cur.ID, Players: cur.Players})
		m.cfg.Metrics.count(func(x *Metrics) *atomic.Uint64 { return &x.playersRequeued }, n)
	}
	m.log.Warn("game node dead: its matches are lost", zap.String("node", node), zap.Int("matches", len(lost)))
	return lost
}
