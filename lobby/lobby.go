package lobby

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Placer creates matches. The game server implements it (through an adapter
// in cmd/server); a multi-node placer can pick a node later.
type Placer interface {
	// Place creates a match for the players, plus Bots server-side bot
	// players, and returns its id. The lobby bounds the call with
	// Config.PlaceTimeout.
	Place(ctx context.Context, req PlaceRequest) (Placement, error)
}

// PlaceRequest asks for a match.
type PlaceRequest struct {
	Mode    string     // a key of Config.Modes
	Players []PlayerID // the humans, in queue order
	Tickets []TicketID // their tickets, in the same order
	Bots    int        // server-side bots to add (bot fill)
	// Key identifies this placement: the same key is never used for two
	// groups. A Placer that implements PlacementFinder answers for it.
	Key string
}

// Placement is a created match.
type Placement struct {
	MatchID string // non-empty; the ?match= of the socket URL
	// WSURL is the public game socket URL of the node that holds the match,
	// such as "wss://node-3.example.com/v1/ws" ("?match=<id>" is appended).
	// If empty, Config.PublicWSURL or the request's own host is used (one
	// process serving everything).
	WSURL string
}

// MatchDirectory lists running matches. The game server implements it.
type MatchDirectory interface {
	// Matches returns a summary of every running match.
	Matches() []MatchSummary
	// Match returns one match.
	Match(id string) (MatchSummary, bool)
}

// MatchSummary describes a running match for GET /v1/matches.
type MatchSummary struct {
	ID         string     `json:"id"`          // match id
	Mode       string     `json:"mode"`        // game mode
	State      string     `json:"state"`       // game-defined, such as "running"
	Players    []PlayerID `json:"players"`     // seated humans
	Bots       int        `json:"bots"`        // bot players
	Tick       uint32     `json:"tick"`        // current simulation tick
	MaxPlayers int        `json:"max_players"` // seats
}

// SocketGrant is what a verified socket token allows: Player may take its
// seat in Match.
type SocketGrant struct {
	Player PlayerID // the token's player
	Match  string   // the match the seat is in
	Name   string   // display name
	SID    string   // the session the token was minted for
}

// CheckMatch returns an error wrapping ErrWrongMatch unless the grant is
// for matchID (the ?match= of the socket URL).
func (g SocketGrant) CheckMatch(matchID string) error {
	if g.Match != matchID {
		return fmt.Errorf("%w: token for %q, socket for %q", ErrWrongMatch, g.Match, matchID)
	}
	return nil
}

// Metrics is a snapshot of the lobby's counters (monotonic unless noted).
type Metrics struct {
	TicketsQueued    uint64
	TicketsMatched   uint64
	TicketsCancelled uint64
	TicketsExpired   uint64
	TokensIssued     uint64 // session, refresh and socket tokens minted
	TokensRefused    uint64 // tokens that failed verification
	PlacementsFailed uint64
	RateLimited      uint64 // requests answered 429
	BotsRequested    uint64
	StreamsRefused   uint64 // event streams refused by a cap (429/503)
	SSEStreamsOpen   int64  // gauge
	QueueLength      int    // gauge: tickets waiting, all modes
}

type counters struct {
	ticketsQueued, ticketsMatched, ticketsCancelled, ticketsExpired atomic.Uint64
	tokensIssued, tokensRefused, placementsFailed, rateLimited      atomic.Uint64
	botsRequested, streamsRefused                                   atomic.Uint64
	sseOpen                                                         atomic.Int64
}

// LeaseHeld reports whether this lobby holds the matchmaker lease (runs
// the matchmaker over the shared queue). Without shared Leases it reports
// whether its matchmaker has run a step.
func (l *Lobby) LeaseHeld() bool { return l.leaseHeld.Load() }

// Lobby is the lobby service. Create it with New, serve Handler, and call
// Shutdown.
type Lobby struct {
	// Immutable after New.
	cfg          Config
	log          *zap.Logger
	placer       Placer
	dir          MatchDirectory
	store        Store
	ownStore     bool
	results      ResultStore
	ownRes       bool
	tickets      TicketStore
	seats        AssignmentStore
	recovery     RecoveryStore   // match tickets and requeue priority (MatchLost)
	queue        Queue           // the matchmaking queue (shared or in memory)
	leases       Leases          // nil: this process always runs the matchmaker
	events       TicketEvents    // nil: ticket changes reach this process's streams only
	mms          MatchmakerStore // nil: the matchmaker writes through queue and tickets
	fleases      FencedLeases    // nil: the matchmaker's writes are not fenced
	used         UsedTokens
	holder       string // this process's lease holder id
	leaseTTL     time.Duration
	storeTimeout time.Duration
	rules        mmRules
	tok          *tokens
	limits       *limiter // anonymous requests, by client address
	sessLim      *limiter // authenticated requests, by session; event streams, by ticket
	realIP       ClientAddrs
	streams      streamCaps
	handler      http.Handler
	origins      map[string]bool
	anyOrig      bool
	stats        counters

	runCtx    context.Context // cancelled by Shutdown
	cancelRun context.CancelFunc
	done      chan struct{} // closed by Shutdown
	wg        sync.WaitGroup

	// Owned by the run goroutine.
	mm        *matchmaker  // the matching algorithm over a queue snapshot
	leading   bool         // this process held the matchmaker lease at the last step
	leaseHeld atomic.Bool  // leading, for LeaseHeld (any goroutine)
	fence     Fence        // the lease epoch of this step (0: unfenced)
	queueDown bool         // the last queue read failed (logged once per outage)
	snap      []QueueEntry // the last queue snapshot (QueueSnapshotter)
	snapVer   uint64       // its version
	snapAt    time.Time    // when it was read in full
	snapOK    bool         // snap is usable

	creating [64]sync.Mutex // by player: one ticket creation at a time

	closeOnce sync.Once
	closeErr  error

	mu        sync.Mutex // guards the fields below
	closed    bool
	watchers  map[TicketID]chan struct{} // closed and dropped when the ticket changes
	draining  bool                       // Drain was called: no new tickets, no placements
	lastPrune time.Time
	qlen      map[string]int // queue lengths at the last successful read
}

// New builds a lobby and starts its matchmaker. placer and dir are the game
// server's; log may be nil.
func New(cfg Config, placer Placer, dir MatchDirectory, log *zap.Logger) (*Lobby, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if placer == nil || dir == nil {
		return nil, fmt.Errorf("%w: nil Placer or MatchDirectory", ErrInvalidConfig)
	}
	if log == nil {
		log = zap.NewNop()
	}
	l := &Lobby{
		cfg:      cfg,
		log:      log,
		placer:   placer,
		dir:      dir,
		store:    cfg.Store,
		tickets:  cfg.Tickets,
		seats:    cfg.Assignments,
		queue:    cfg.Queue,
		leases:   cfg.Leases,
		events:   cfg.TicketEvents,
		used:     cfg.UsedTokens,
		holder:   randomID(8),
		origins:  make(map[string]bool),
		done:     make(chan struct{}),
		watchers: make(map[TicketID]chan struct{}),
		qlen:     make(map[string]int),
	}
	if l.leaseTTL = cfg.LeaseTTL; l.leaseTTL == 0 {
		l.leaseTTL = 3 * time.Second
	}
	if l.storeTimeout = cfg.StoreTimeout; l.storeTimeout == 0 {
		l.storeTimeout = 2 * time.Second
	}
	if l.queue == nil {
		l.queue = NewMemoryQueue()
	}
	l.mms, _ = l.queue.(MatchmakerStore)
	l.fleases, _ = l.leases.(FencedLeases)
	l.fence.Lease = matchmakerLease
	if l.used == nil {
		l.used = NewMemoryUsedTokens()
	}
	if l.store == nil {
		if cfg.DataDir != "" {
			if l.store, err = OpenBoltStore(cfg.DataDir); err != nil {
				return nil, err
			}
		} else {
			l.store = NewMemoryStore()
		}
		l.ownStore = true
	}
	if l.results = cfg.Results; l.results == nil {
		if cfg.DataDir != "" {
			if l.results, err = OpenFileResultStore(cfg.DataDir); err != nil {
				l.closeStore()
				return nil, err
			}
		} else {
			l.results = NewMemoryResultStore()
		}
		l.ownRes = true
	}
	if l.tickets == nil {
		l.tickets = NewMemoryTicketStore()
	}
	if l.seats == nil {
		l.seats = NewMemoryAssignmentStore()
	}
	if l.recovery = cfg.Recovery; l.recovery == nil {
		l.recovery = NewMemoryRecoveryStore(cfg.Now)
	}
	keys := cfg.SigningKeys
	if len(keys) == 0 {
		if keys, err = l.store.SigningKeys(); err != nil {
			l.closeStore()
			return nil, fmt.Errorf("lobby: signing keys: %w", err)
		}
	}
	kr, err := newKeyring(keys)
	if err != nil {
		l.closeStore()
		return nil, err
	}
	l.tok = newTokens(kr, cfg.Issuer, cfg.Now)
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			l.anyOrig = true
		}
		l.origins[o] = true
	}
	l.limits = newLimiter(cfg.RateLimit, cfg.RateBurst)
	l.sessLim = newLimiter(cfg.SessionRateLimit, cfg.SessionRateBurst)
	l.realIP, _ = NewClientAddrs(cfg.TrustedProxies) // validated by withDefaults
	l.streams = newStreamCaps(cfg.MaxStreams, cfg.MaxStreamsPerAddr, cfg.MaxStreamsPerTicket)
	l.rules = mmRules{
		Modes:        cfg.Modes,
		WindowBase:   cfg.WindowBase,
		WindowGrowth: cfg.WindowGrowth,
		WindowMax:    cfg.WindowMax,
		FillWait:     cfg.FillWait,
		BotFillAfter: cfg.BotFillAfter,
	}
	l.mm = newMatchmaker(l.rules)
	l.handler = l.routes()
	l.runCtx, l.cancelRun = context.WithCancel(context.Background())
	l.lastPrune = cfg.Now()
	l.wg.Add(1)
	go l.run()
	if l.events != nil {
		l.wg.Add(1)
		go l.subscribe()
	}
	log.Info("lobby started",
		zap.String("data_dir", cfg.DataDir), zap.String("kid", kr.active.ID),
		zap.Duration("session_ttl", cfg.SessionTTL), zap.Duration("bot_fill_after", cfg.BotFillAfter))
	return l, nil
}

func (l *Lobby) closeStore() {
	if l.ownStore {
		_ = l.store.Close()
	}
	if l.ownRes && l.results != nil {
		_ = l.results.Close()
	}
}

// Shutdown stops the matchmaker, ends every event stream, waits for them,
// and closes the store the lobby opened. It is idempotent; if ctx ends
// first it returns ctx.Err() and may be called again.
func (l *Lobby) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
		l.cancelRun()
	}
	l.mu.Unlock()
	finished := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.closeOnce.Do(func() {
		if l.ownStore {
			l.closeErr = l.store.Close()
		}
		if l.ownRes {
			l.closeErr = errors.Join(l.closeErr, l.results.Close())
		}
		l.log.Info("lobby stopped")
	})
	return l.closeErr
}

// Metrics returns a snapshot of the counters.
func (l *Lobby) Metrics() Metrics {
	n := 0
	for _, q := range l.QueueLengths() {
		n += q
	}
	s := &l.stats
	return Metrics{
		TicketsQueued:    s.ticketsQueued.Load(),
		TicketsMatched:   s.ticketsMatched.Load(),
		TicketsCancelled: s.ticketsCancelled.Load(),
		TicketsExpired:   s.ticketsExpired.Load(),
		TokensIssued:     s.tokensIssued.Load(),
		TokensRefused:    s.tokensRefused.Load(),
		PlacementsFailed: s.placementsFailed.Load(),
		RateLimited:      s.rateLimited.Load(),
		BotsRequested:    s.botsRequested.Load(),
		StreamsRefused:   s.streamsRefused.Load(),
		SSEStreamsOpen:   s.sseOpen.Load(),
		QueueLength:      n,
	}
}

// QueueLengths returns how many tickets wait in each mode's queue; every
// configured mode is listed, idle ones with 0. It reads the queue (one
// round trip to a shared store); if the store does not answer, it returns
// the lengths it read last.
func (l *Lobby) QueueLengths() map[string]int {
	out := make(map[string]int, len(l.cfg.Modes))
	for mode := range l.cfg.Modes {
		out[mode] = 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.storeTimeout)
	entries, err := l.queue.QueueEntries(ctx)
	cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		for mode, n := range l.qlen {
			out[mode] = n
		}
		return out
	}
	for _, e := range entries {
		if _, ok := out[e.Mode]; ok {
			out[e.Mode]++
		}
	}
	clear(l.qlen)
	for mode, n := range out {
		l.qlen[mode] = n
	}
	return out
}

// Ready returns nil when the lobby can take new players: it is not shut
// down and its store answers a read. Otherwise the error says why (it
// wraps ErrClosed once the lobby or its store is closed).
func (l *Lobby) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.isClosed() {
		return ErrClosed
	}
	if _, err := l.store.Revoked("readiness-probe"); err != nil {
		return fmt.Errorf("lobby: store unusable: %w", err)
	}
	return nil
}

// VerifySocketToken checks a socket token presented in a WebSocket hello.
// Errors wrap ErrTokenExpired, ErrTokenInvalid (malformed, forged, wrong
// type) or ErrTokenRevoked (the session logged out). The caller must also
// check the grant's match against the socket's (SocketGrant.CheckMatch).
func (l *Lobby) VerifySocketToken(ctx context.Context, token string) (SocketGrant, error) {
	c, err := l.verify(token, kindSocket)
	if err != nil {
		return SocketGrant{}, err
	}
	uctx, cancel := context.WithTimeout(ctx, l.storeTimeout)
	first, err := l.used.UseOnce(uctx, c.ID, c.ExpiresAt.Time)
	cancel()
	if err != nil {
		return SocketGrant{}, fmt.Errorf("lobby: socket token: %w", err)
	}
	if !first {
		l.stats.tokensRefused.Add(1)
		return SocketGrant{}, ErrTokenReused
	}
	p, _ := c.player()
	return SocketGrant{Player: p, Match: c.Match, Name: c.Name, SID: c.SID}, nil
}

// KickPlayer is what a Directory may also implement: close a player's live
// game sockets (after a logout). It returns how many it closed.
type Kicker interface {
	KickPlayer(p PlayerID, reason string) int
}

// SessionKicker is what a Directory may implement instead of Kicker when
// the player's sockets live in other processes: close the sockets that
// session sid of player p opened, wherever they are. It returns how many
// it closed here, or -1 when they are closed elsewhere (a cluster
// publishes the revocation to its game nodes).
type SessionKicker interface {
	KickSession(p PlayerID, sid, reason string) int
}

// verify parses a token of the given kind and checks its session is not
// revoked.
func (l *Lobby) verify(raw string, kind tokenKind) (*claims, error) {
	c, err := l.tok.parse(raw, kind)
	if err == nil {
		var revoked bool
		revoked, err = l.store.Revoked(c.SID)
		if err == nil && revoked {
			err = fmt.Errorf("%w: session logged out", ErrTokenRevoked)
		}
	}
	if err != nil {
		l.stats.tokensRefused.Add(1)
		if ce := l.log.Check(zap.DebugLevel, "token refused"); ce != nil {
			ce.Write(zap.String("kind", string(kind)), zap.Error(err))
		}
		return nil, err
	}
	return c, nil
}

// SeatReleased tells the lobby that p's seat in matchID ended (the player
// left, or its reconnect grace expired): the player may queue again.
func (l *Lobby) SeatReleased(matchID string, p PlayerID) {
	ok, err := l.seats.Release(matchID, p)
	if err != nil {
		l.log.Warn("release seat", zap.String("match", matchID), zap.Uint32("player", uint32(p)), zap.Error(err))
		return
	}
	if ok {
		l.log.Debug("seat released", zap.String("match", matchID), zap.Uint32("player", uint32(p)))
	}
}

// MatchEnded tells the lobby that every seat of matchID is released.
func (l *Lobby) MatchEnded(matchID string) {
	players, err := l.seats.ReleaseMatch(matchID)
	if err != nil {
		l.log.Warn("release match", zap.String("match", matchID), zap.Error(err))
		return
	}
	l.log.Debug("match ended", zap.String("match", matchID), zap.Int("seats", len(players)))
}

// run is the matchmaker goroutine. Owned by the Lobby; Shutdown waits for
// it. It gives the matchmaker lease back when it stops, so another lobby
// process takes over at once. With Config.NoMatchmaker it only prunes.
func (l *Lobby) run() {
	defer l.wg.Done()
	defer l.unlockLease()
	t := time.NewTicker(l.cfg.MatchInterval)
	defer t.Stop()
	for {
		select {
		case <-l.runCtx.Done():
			return
		case <-t.C:
			if !l.cfg.NoMatchmaker {
				l.step(l.runCtx)
			} else if now := l.cfg.Now(); now.Sub(l.lastPrune) >= 30*time.Second {
				// On Config.Now, as lastPrune and step's pruning are.
				l.lastPrune = now
				l.prune(now)
			}
		}
	}
}

// matchmakerLease is the name of the lease the matchmaking lobby holds.
const matchmakerLease = "matchmaker"

// lead takes or renews the matchmaker lease and reports whether this
// process runs this step. Without shared Leases it always does.
func (l *Lobby) lead(ctx context.Context) bool {
	if l.leases == nil {
		l.leaseHeld.Store(true)
		return true
	}
	lctx, cancel := context.WithTimeout(ctx, l.storeTimeout)
	var held bool
	var err error
	if l.fleases != nil {
		var epoch uint64
		epoch, err = l.fleases.AcquireLease(lctx, matchmakerLease, l.holder, l.leaseTTL)
		held = epoch > 0
		if held && epoch != l.fence.Epoch {
			l.log.Info("matchmaker lease epoch", zap.Uint64("epoch", epoch))
		}
		l.fence.Epoch = epoch
	} else {
		held, err = l.leases.TryLock(lctx, matchmakerLease, l.holder, l.leaseTTL)
	}
	cancel()
	if err != nil {
		held = false
		if l.leading && ctx.Err() == nil {
			l.log.Warn("matchmaker lease: store unusable; not matching", zap.Error(err))
		}
	}
	l.leaseHeld.Store(held)
	if held != l.leading {
		l.leading = held
		l.log.Info("matchmaker lease", zap.Bool("held", held), zap.String("holder", l.holder))
	}
	return held
}

func (l *Lobby) unlockLease() {
	if l.leases == nil || !l.leading {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.storeTimeout)
	defer cancel()
	if err := l.leases.Unlock(ctx, matchmakerLease, l.holder); err != nil {
		l.log.Warn("matchmaker lease: release", zap.Error(err))
	}
	l.leading = false
	l.leaseHeld.Store(false)
}

// subscribe forwards ticket changes announced by any lobby process to this
// process's event streams. Owned by the Lobby; Shutdown waits for it.
func (l *Lobby) subscribe() {
	defer l.wg.Done()
	for l.runCtx.Err() == nil {
		if err := l.events.SubscribeTickets(l.runCtx, l.wake); err != nil && l.runCtx.Err() == nil {
			l.log.Warn("ticket events: subscription ended; retrying", zap.Error(err))
			select {
			case <-time.After(time.Second):
			case <-l.runCtx.Done():
			}
		}
	}
}

// storeCtx bounds one store call.
func (l *Lobby) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.storeTimeout)
}

// step runs one matchmaking round over a snapshot of the queue and places
// the groups it forms. Each group is taken out of the queue atomically
// (Queue.Dequeue), so a ticket cancelled meanwhile, or taken by another
// process, is never placed twice.
func (l *Lobby) step(ctx context.Context) {
	now := l.cfg.Now()
	l.mu.Lock()
	draining := l.draining
	prune := now.Sub(l.lastPrune) >= 30*time.Second
	if prune && !draining {
		l.lastPrune = now
	}
	l.mu.Unlock()
	if draining {
		l.unlockLease()
		return // no new matches: queued tickets wait
	}
	if !l.lead(ctx) {
		if prune {
			l.prune(now)
		}
		return
	}
	if l.mms != nil {
		l.stepShared(ctx, now)
		if prune {
			l.prune(now)
		}
		return
	}
	entries, err := l.snapshot(ctx, now)
	if !l.queueRead(ctx, err) {
		return
	}
	l.mm.load(entries)
	groups, expired := l.mm.step(now)
	for _, e := range expired {
		if l.dequeue(ctx, e.ID) {
			l.finish(e.ID, now, func(t *Ticket) { t.Status = StatusExpired })
			l.stats.ticketsExpired.Add(1)
		}
	}
	claimed := groups[:0]
	for _, g := range groups {
		ids := make([]TicketID, len(g.Entries))
		for i, e := range g.Entries {
			ids[i] = e.ID
		}
		if !l.dequeue(ctx, ids...) {
			continue // changed meanwhile; the next step sees the queue as it is
		}
		for _, e := range g.Entries {
			l.update(e.ID, func(t *Ticket) { t.Placing = true })
		}
		claimed = append(claimed, g)
	}
	for _, g := range claimed {
		l.place(ctx, g)
	}
	if prune {
		l.prune(now)
	}
}

// dequeue takes tickets out of the queue, all or none, and reports whether
// this call did.
func (l *Lobby) dequeue(ctx context.Context, ids ...TicketID) bool {
	qctx, cancel := l.storeCtx(ctx)
	ok, err := l.queue.Dequeue(qctx, ids...)
	cancel()
	if err != nil {
		l.log.Warn("matchmaker: dequeue", zap.Int("tickets", len(ids)), zap.Error(err))
		return false
	}
	return ok
}

// place asks the Placer for a match for g and records the outcome.
func (l *Lobby) place(ctx context.Context, g mmGroup) {
	players := make([]PlayerID, len(g.Entries))
	tickets := make([]TicketID, len(g.Entries))
	for i, e := range g.Entries {
		players[i], tickets[i] = e.Player, e.ID
	}
	pctx, cancel := context.WithTimeout(ctx, l.cfg.PlaceTimeout)
	pl, err := l.placer.Place(pctx, PlaceRequest{Mode: g.Mode, Players: players, Tickets: tickets, Bots: g.Bots})
	cancel()
	if err == nil && pl.MatchID == "" {
		err = errors.New("placer returned an empty match id")
	}
	now := l.cfg.Now()
	if err == nil {
		err = l.seats.Assign(pl.MatchID, players)
	}
	if err != nil {
		l.stats.placementsFailed.Add(1)
		l.log.Warn("placement failed; tickets requeued",
			zap.String("mode", g.Mode), zap.Int("players", len(players)), zap.Int("bots", g.Bots), zap.Error(err))
		for _, e := range g.Entries {
			qctx, cancel := l.storeCtx(ctx)
			_, qerr := l.queue.Enqueue(qctx, e) // keeps its Seq: its place in line
			cancel()
			if qerr != nil {
				// Out of the queue for good: end the ticket so its player
				// can queue again.
				l.log.Warn("requeue failed; ticket expired", zap.String("ticket", string(e.ID)), zap.Error(qerr))
				l.finish(e.ID, now, func(t *Ticket) { t.Status = StatusExpired })
				l.stats.ticketsExpired.Add(1)
				continue
			}
			l.update(e.ID, func(t *Ticket) { t.Placing = false })
		}
		return
	}
	l.stats.botsRequested.Add(uint64(g.Bots))
	for _, e := range g.Entries {
		l.finish(e.ID, now, func(t *Ticket) {
			t.Status = StatusMatched
			t.MatchID = pl.MatchID
			t.WSURL = pl.WSURL
			t.Bots = g.Bots
		})
		l.stats.ticketsMatched.Add(1)
		if h := l.cfg.OnMatched; h != nil {
			h(g.Mode, now.Sub(e.Enqueued))
		}
	}
	l.log.Info("match placed", zap.String("match", pl.MatchID), zap.String("mode", g.Mode),
		zap.Int("players", len(players)), zap.Int("bots", g.Bots))
}

// update applies fn to a stored ticket, stores it and wakes its event
// streams in every lobby process. Only the process that owns the ticket's
// next transition calls it (the one that took it out of the queue, or
// created it), so read-modify-write is safe without a lock.
func (l *Lobby) update(id TicketID, fn func(t *Ticket)) {
	t, err := l.tickets.Ticket(id)
	if err != nil {
		l.log.Warn("ticket vanished", zap.String("ticket", string(id)), zap.Error(err))
		return
	}
	fn(&t)
	if err := l.tickets.PutTicket(t); err != nil {
		l.log.Warn("store ticket", zap.String("ticket", string(id)), zap.Error(err))
	}
	l.changed(id)
}

// changed wakes id's event streams here and announces the change to the
// other lobby processes.
func (l *Lobby) changed(id TicketID) {
	l.wake(id)
	if l.events != nil {
		ctx, cancel := l.storeCtx(context.Background())
		err := l.events.PublishTicket(ctx, id)
		cancel()
		if err != nil {
			l.log.Debug("ticket events: publish", zap.String("ticket", string(id)), zap.Error(err))
		}
	}
}

// wake closes id's watcher channel, if any; an empty id wakes every
// stream (changes may have been missed).
func (l *Lobby) wake(id TicketID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id == "" {
		for id, ch := range l.watchers {
			close(ch)
			delete(l.watchers, id)
		}
		return
	}
	if ch, ok := l.watchers[id]; ok {
		close(ch)
		delete(l.watchers, id)
	}
}

// ticket loads a ticket. Without a MatchmakerStore, a ticket left
// "placing" by a lobby process that died while placing it (nobody else can
// finish it: it is out of the queue) is expired once its placement must
// have ended, so its player can queue again. With one, the matchmaker
// leader resolves such tickets (resolvePlacing).
func (l *Lobby) ticket(id TicketID) (Ticket, error) {
	t, err := l.tickets.Ticket(id)
	if err != nil || t.Status != StatusQueued || !t.Placing || l.mms != nil {
		return t, err // with a MatchmakerStore, the leader resolves placings
	}
	now := l.cfg.Now()
	if now.Before(t.Expires.Add(l.cfg.PlaceTimeout + 4*l.storeTimeout + l.leaseTTL)) {
		return t, nil
	}
	l.log.Warn("ticket orphaned while placing (its lobby died?); expired", zap.String("ticket", string(id)))
	l.finish(id, now, func(t *Ticket) { t.Status = StatusExpired })
	l.stats.ticketsExpired.Add(1)
	return l.tickets.Ticket(id)
}

// finish moves a ticket to a terminal state set by fn.
func (l *Lobby) finish(id TicketID, now time.Time, fn func(t *Ticket)) {
	l.update(id, func(t *Ticket) {
		fn(t)
		t.Placing = false
		t.Closed = now
	})
}

// watch returns a channel closed at the ticket's next change.
func (l *Lobby) watch(id TicketID) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch, ok := l.watchers[id]
	if !ok {
		ch = make(chan struct{})
		l.watchers[id] = ch
	}
	return ch
}

// Drain stops placing matches and accepting tickets (new tickets get 503
// "draining"); sessions, reconnect tokens, event streams and results keep
// working while the running matches finish. It is the first step of a
// graceful shutdown; Shutdown follows.
func (l *Lobby) Drain() {
	l.mu.Lock()
	l.draining = true
	l.mu.Unlock()
	l.log.Info("draining: no new tickets or matches")
}

// unwatch drops id's watcher entry once nobody can need it: the ticket is
// gone or final. A stream that ends leaves no entry behind, and streams
// still open on the same ticket notice the end at their next update tick.
func (l *Lobby) unwatch(id TicketID) {
	t, err := l.tickets.Ticket(id)
	if err == nil && !t.Status.Terminal() {
		return
	}
	l.mu.Lock()
	delete(l.watchers, id)
	l.mu.Unlock()
}

// watching reports how many tickets have a watcher entry (for tests).
func (l *Lobby) watching() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.watchers)
}

func (l *Lobby) prune(now time.Time) {
	if err := l.tickets.PruneTickets(now.Add(-l.cfg.TicketRetention)); err != nil {
		l.log.Warn("prune tickets", zap.Error(err))
	}
	if err := l.store.Prune(now); err != nil && !errors.Is(err, ErrClosed) {
		l.log.Warn("prune store", zap.Error(err))
	}
	l.limits.prune(now)
	l.sessLim.prune(now)
}

// enter registers a request-scoped goroutine (an event stream) that
// Shutdown must wait for. It reports false once the lobby is closed.
func (l *Lobby) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	return true
}

func (l *Lobby) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}
