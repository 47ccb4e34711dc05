package netcode

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// seat is a player's place in a match: it outlives the player's sockets.
type seat struct {
	player game.PlayerID
	name   string
	entity game.EntityID
	joined bool       // the player's entity exists in the sim
	bot    game.Brain // non-nil for a server-side bot
	steer  game.Brain // steers the entity while disconnected (optional)
	seen   bool       // a socket has been seated here before (next one resumes)
	conn   *conn      // nil while disconnected
	since  time.Time  // when the grace period started (reserved or dropped)
	view   view
}

// Why a keyframe is sent (Stats.KeyframesBy).
const (
	keyJoin   uint8 = iota // the connection is new (a join or a resume)
	keyDrop                // a snapshot was dropped and the base the client holds was not kept
	keyResync              // the client was paused and the base it holds was not kept
)

// KeyframeReasons names the indexes of Stats.KeyframesBy.
func KeyframeReasons() [3]string { return [3]string{"join", "drop", "resync"} }

// view is what a connected client has been sent: the base of its next delta.
type view struct {
	known      []uint32 // sorted ids the client holds (interest mode)
	next       []uint32 // scratch for the next known set
	wholeWorld bool     // interest off: the client holds exactly the previous tick's world
	needKey    bool     // next snapshot must be a keyframe
	keyReason  uint8    // why: keyJoin, keyDrop or keyResync
	paused     bool     // too many unacknowledged snapshots; waiting for acks
	lastSent   uint32   // tick of the last snapshot queued (the next base)
	stalledAt  time.Time
	gap        *baseWorld // after a drop or pause: the world of lastSent, which the client holds
}

// baseWorld is the quantized world of one past tick, kept while some
// client's next snapshot must be a delta against it: a client that missed
// snapshots (dropped, or paused) holds exactly the world of the last one
// it was sent, since TCP delivers everything queued before it, so its next
// snapshot is a delta from that world to the current one instead of a
// keyframe. The world is copied once, when the first client's gap starts
// (it is the previous tick's, tickFrame.prev), and shared.
type baseWorld struct {
	tick uint32
	ents []wire.EntityState // sorted by ID
	ids  []uint32           // their ids: what a whole-world client holds
	refs int
}

// maxBaseWorlds bounds the past worlds a match keeps for gaps; a client
// whose gap starts when that many are held gets a keyframe instead. Gaps
// end within SlowTimeout (the client catches up or is closed).
const maxBaseWorlds = 8

// room is one running match.
type room struct {
	// immutable after newRoom
	srv      *Server
	id       string
	mode     game.Mode
	hz       int
	started  time.Time
	interest float32 // 0: whole world
	inFlight uint32  // ticks of lag that pause a client (Config.MaxInFlight, or hz)
	open     bool
	log      *zap.Logger
	loop     *game.Loop
	sim      game.Sim
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}

	tick   atomic.Uint32 // current tick, for pongs from read goroutines
	houses atomic.Uint64 // housekeeping passes run (tests watch it)

	// owned by the match goroutine
	seats      map[game.PlayerID]*seat
	order      []*seat // seats in join order: deterministic fan-out
	released   map[game.PlayerID]string
	frame      tickFrame
	grid       grid
	visible    []int32
	scratch    []byte
	bases      []*baseWorld // worlds some clients' next deltas are made against
	spareBases []*baseWorld
	evBuf      []byte
	evEnds     []int
	rbuf       []byte  // tick path: the read buffer every socket is read into (borrowed per tick)
	rbufp      *[]byte // its pool entry
	wbuf       []byte  // tick path: one client's framed messages of a tick
	null       []byte  // Config.NullSnapshot: the fixed snapshot (nil: a real game)
	lastHouse  time.Time
	lastPing   time.Time
	hadHumans  bool
	abandoned  bool

	mu   sync.Mutex
	info MatchInfo // guarded by mu
}

func newRoom(s *Server, spec MatchSpec, mode game.Mode) (*room, error) {
	hz := spec.Hz
	if hz == 0 {
		hz = s.cfg.Hz
	}
	interest := s.cfg.Interest
	switch {
	case spec.Interest < 0:
		interest = 0
	case spec.Interest > 0:
		interest = spec.Interest
	}
	gc := spec.Game
	gc.Seed, gc.Hz = spec.Seed, hz
	sim, err := mode.New(gc)
	if err != nil {
		return nil, err
	}
	if s.cfg.NullSnapshot > 0 {
		sim = nullSim{sim}
	}
	inFlight := uint32(s.cfg.MaxInFlight)
	if inFlight == 0 {
		inFlight = uint32(hz)
	}
	r := &room{
		srv:      s,
		inFlight: inFlight,
		id:       spec.ID,
		mode:     mode,
		hz:       hz,
		interest: interest,
		open:     spec.Open,
		log:      s.log.With(zap.String("match", spec.ID), zap.String("mode", mode.Name)),
		sim:      sim,
		done:     make(chan struct{}),
		seats:    make(map[game.PlayerID]*seat),
		released: make(map[game.PlayerID]string),
	}
	lc := game.LoopConfig{Hz: hz}
	if s.cfg.ReadPath == ReadPathTick {
		lc.BeforeTick = r.readTicks
	}
	if s.cfg.NullSnapshot > 0 {
		r.null = nullSnapshot(s.cfg.NullSnapshot)
	}
	if obs := s.cfg.TickObserver; obs != nil {
		lc.Observe = obs(mode.Name)
	}
	r.loop, err = game.NewLoop(sim, lc, r.onTick)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, p := range spec.Players {
		r.addSeat(&seat{player: p, since: now})
		r.hadHumans = true
	}
	for i := 0; i < spec.Bots; i++ {
		if s.brain(mode) == nil {
			return nil, ErrNoBrain
		}
		p := FirstBotPlayer + game.PlayerID(i)
		eid, err := sim.Join(p)
		if err != nil {
			return nil, err
		}
		r.addSeat(&seat{player: p, entity: eid, joined: true, bot: s.brain(mode)(hz, spec.Seed+uint64(i)+1)})
	}
	r.ctx, r.cancel = context.WithCancel(s.ctx)
	r.started = time.Now()
	r.publish("running")
	return r, nil
}

// ackFreshness is how recent a client's last input must be for its ack to
// count as evidence that it is falling behind.
const ackFreshness = 500 * time.Millisecond

// FirstBotPlayer is the first player id given to server-side bots; lobby
// player ids stay below it.
const FirstBotPlayer game.PlayerID = 1 << 31

func (r *room) addSeat(s *seat) {
	r.seats[s.player] = s
	r.order = append(r.order, s)
}

func (r *room) removeSeat(s *seat) {
	delete(r.seats, s.player)
	for i, o := range r.order {
		if o == s {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}

func (r *room) humans() int {
	n := 0
	for _, s := range r.order {
		if s.bot == nil {
			n++
		}
	}
	return n
}

// run owns the match goroutine until the match ends.
func (r *room) run() {
	defer r.srv.wg.Done()
	defer close(r.done)
	if h := r.srv.cfg.Hooks.MatchStarted; h != nil {
		h(r.Info())
	}
	res, err := r.loop.Run(r.ctx)
	// The loop has stopped: this goroutine now owns the room alone, and
	// Exec calls from connections fail with game.ErrStopped.
	code, text := wire.CodeNormal, "match over"
	switch {
	case err == nil:
	case r.abandoned:
		res, err = game.Result{Reason: "abandoned"}, nil
		code, text = wire.CodeNormal, "match abandoned"
	case errors.Is(err, context.Canceled):
		// The server is shutting down (after its drain timeout): the
		// players get the standings so far, then a going-away close.
		res, err = r.standings("shutdown"), nil
		code, text = wire.CodeGoingAway, "server shutting down"
	default:
		// A panic in the rules ends this match only: the players get the
		// standings so far as an aborted result, and the panic goes to
		// the log and the MatchEnded hook.
		r.srv.stats.MatchCrashes.Add(1)
		r.log.Error("match crashed", zap.Error(err))
		res = r.standings("aborted")
	}
	{
		over := wire.MatchOver{Tick: r.tick.Load(), Reason: res.Reason}
		for _, p := range res.Players {
			over.Results = append(over.Results, wire.Result{Player: uint32(p.Player), Entity: uint32(p.Entity), Score: p.Score, Rank: uint16(p.Rank)})
		}
		for _, s := range r.order {
			if s.conn != nil {
				s.conn.out.push(wire.AppendMatchOver(s.conn.out.buf(), over), kindControl, wire.CodeSlowConsumer)
			}
		}
	}
	for _, s := range r.order {
		if c := s.conn; c != nil {
			c.closeQuiet(code, text)
			if c.tick != nil {
				r.release2Writer(c) // nobody reads it any more: a writer closes it
			}
		}
	}
	r.publish("over")
	if h := r.srv.cfg.Hooks.MatchEnded; h != nil {
		h(r.Info(), res, err)
	}
	r.srv.removeRoom(r)
	r.log.Info("match ended", zap.String("reason", res.Reason), zap.Uint32("tick", r.tick.Load()), zap.Error(err))
}

// standings is the result of a match stopped from outside its rules (a
// crash, a shutdown): every seated player's avatar score, ranked. It runs
// after the loop stopped; a world left broken by a panic yields what can
// be read.
func (r *room) standings(reason string) (res game.Result) {
	res.Reason = reason
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("reading standings", zap.Any("panic", v))
		}
	}()
	w := r.sim.World()
	for _, s := range r.order {
		if !s.joined {
			continue
		}
		pr := game.PlayerResult{Player: s.player, Entity: s.entity}
		if e := w.Get(s.entity); e != nil {
			pr.Score = e.Score
		}
		res.Players = append(res.Players, pr)
	}
	game.RankResults(res.Players)
	return res
}

// exec runs fn on the match goroutine.
func (r *room) exec(ctx context.Context, fn func()) error {
	if err := r.loop.Exec(ctx, fn); err != nil {
		if errors.Is(err, game.ErrStopped) {
			return ErrMatchNotFound
		}
		return err
	}
	return nil
}

// attach seats c for its grant: a first join, a resume after a drop, or a
// takeover from another socket of the same player.
func (r *room) attach(ctx context.Context, c *conn, g Grant) error {
	var result error
	if err := r.exec(ctx, func() { result = r.attachOnLoop(c, g) }); err != nil {
		return err
	}
	return result
}

func (r *room) attachOnLoop(c *conn, g Grant) error {
	if s := r.seats[g.Player]; s != nil && s.conn != nil && s.conn.tick != nil && s.conn.state.Load() == stateAttached {
		// On the tick path a dead socket is noticed by the next tick's
		// read: read it now, so a reconnect right after a drop resumes the
		// seat (settled) instead of replacing a live connection.
		r.borrowReadBuf()
		r.readTick(s, s.conn, time.Now().UnixNano())
		r.returnReadBuf()
	}
	s := r.seats[g.Player]
	if s == nil {
		if reason, ok := r.released[g.Player]; ok {
			return fmt.Errorf("%w (%s)", ErrSeatExpired, reason)
		}
		if !r.open || r.humans() >= r.mode.MaxPlayers {
			return ErrNoSeat
		}
		s = &seat{player: g.Player}
		r.addSeat(s)
		r.hadHumans = true
	}
	if s.bot != nil {
		return ErrNoSeat
	}
	if !s.joined {
		eid, err := r.sim.Join(g.Player)
		if err != nil {
			if r.open {
				r.removeSeat(s)
			}
			return err
		}
		s.entity, s.joined = eid, true
	}
	s.name = g.Name
	resumed := s.seen
	if old := s.conn; old != nil {
		r.srv.stats.Replaced.Add(1)
		old.fail(wire.CodeReplaced, "replaced by a newer connection for this player")
		old.pushMu.Lock() // wait out an input the old socket is pushing right now
		old.pushMu.Unlock()
		if old.tick != nil {
			r.release2Writer(old)
		}
	} else if resumed {
		r.srv.stats.Resumes.Add(1)
	}
	s.conn, s.seen, s.since = c, true, time.Time{}
	if c.tick != nil {
		c.tick.seated.Store(true)
		c.out.setDirect(true) // the welcome goes out with the first snapshot, in one write
	}
	r.endGap(&s.view)
	s.view.needKey, s.view.paused, s.view.wholeWorld = true, false, false
	s.view.keyReason = keyJoin
	s.view.lastSent, s.view.stalledAt = 0, time.Time{}
	c.ack.Store(0)
	w := r.sim.World()
	welcome := wire.Welcome{
		Version:  c.version,
		Player:   uint32(g.Player),
		Entity:   uint32(s.entity),
		Match:    r.id,
		Mode:     r.mode.Name,
		Hz:       uint16(r.hz),
		Tick:     uint32(w.Tick),
		LastSeq:  r.loop.LastAccepted(g.Player),
		Resumed:  resumed,
		Width:    w.Width,
		Height:   w.Height,
		Interest: r.interest,
		PosScale: wire.PosScale,
	}
	c.out.push(wire.AppendWelcome(c.out.buf(), welcome), kindControl, wire.CodeSlowConsumer)
	r.publish("running")
	return nil
}

// detach notes that c's socket is gone: the seat waits out the grace
// period, or is released at once if c left or was closed for abuse. If the
// match goroutine cannot take the news within 2 s (a stalled tick), the
// next housekeeping pass finds the dead connection and settles the seat
// then, so a seat is never left bound to a socket that is gone.
func (r *room) detach(c *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.exec(ctx, func() {
		if s := r.seats[c.player]; s != nil && s.conn == c {
			r.settle(s)
		}
		r.publish("running")
	})
}

// leave frees c's seat for good (the client sent Leave).
func (r *room) leave(c *conn) {
	c.leaving.Store(true)
	r.detach(c)
}

// settle ends s's binding to its connection, which is gone. On the match
// goroutine.
func (r *room) settle(s *seat) {
	c := s.conn
	s.conn, s.since = nil, time.Now()
	r.endGap(&s.view)
	switch {
	case c.leaving.Load():
		r.release(s, "left")
		return
	case c.abusive.Load() != 0:
		r.release(s, fmt.Sprintf("closed for abuse (%d)", c.abusive.Load()))
		return
	}
	if s.joined {
		r.sim.Apply(s.player, game.Input{}) // idle until back (or steered)
	}
	if newBrain := r.srv.brain(r.mode); s.joined && r.srv.cfg.SteerDisconnected && newBrain != nil && s.steer == nil {
		s.steer = newBrain(r.hz, uint64(s.player))
	}
}

// release ends a seat and tells the lobby.
func (r *room) release(s *seat, reason string) {
	if s.joined {
		r.sim.Leave(s.player)
		r.loop.ForgetPlayer(s.player)
	}
	r.removeSeat(s)
	if s.bot == nil {
		r.released[s.player] = reason
		if h := r.srv.cfg.Hooks.SeatReleased; h != nil {
			h(r.id, s.player, reason)
		}
	}
	r.publish("running")
}

// onTick runs on the match goroutine after every Step: encode once, fan out.
func (r *room) onTick(events []game.Event) {
	w := r.sim.World()
	tick := uint32(w.Tick)
	r.tick.Store(tick)
	if r.null != nil {
		r.nullTick(tick)
		return
	}
	r.frame.build(tick, w.Entities())
	if r.interest > 0 {
		r.grid.build(r.frame.cur, r.interest, w.Width, w.Height)
	}
	r.encodeEvents(events)
	now := time.Now()
	for _, s := range r.order {
		switch {
		case s.conn != nil:
			r.sendSnapshot(s, tick, now)
			r.sendEvents(s)
		case !s.joined:
		case s.bot != nil:
			r.sim.Apply(s.player, s.bot.Think(s.entity, w.Entities(), w.Tick))
		case s.steer != nil:
			r.sim.Apply(s.player, s.steer.Think(s.entity, w.Entities(), w.Tick))
		}
	}
	if now.Sub(r.lastHouse) >= r.srv.cfg.housekeep {
		r.housekeep(now)
	}
	r.flushTicks()
}

func (r *room) encodeEvents(events []game.Event) {
	r.evBuf, r.evEnds = r.evBuf[:0], r.evEnds[:0]
	for _, e := range events {
		r.evBuf = wire.AppendEvent(r.evBuf, wire.Event{Tick: uint32(e.Tick), Kind: uint8(e.Kind), Source: uint32(e.Source), Target: uint32(e.Target), Value: e.Value})
		r.evEnds = append(r.evEnds, len(r.evBuf))
	}
}

func (r *room) sendEvents(s *seat) {
	start := 0
	for _, end := range r.evEnds {
		b := append(s.conn.out.buf(), r.evBuf[start:end]...)
		start = end
		if s.conn.out.push(b, kindControl, wire.CodeSlowConsumer) == pushOverrun {
			r.srv.stats.SlowDisconnects.Add(1)
			return
		}
	}
}

// sendSnapshot queues this tick's snapshot for s, or notes why it cannot.
func (r *room) sendSnapshot(s *seat, tick uint32, now time.Time) {
	c, v := s.conn, &s.view
	// Acks only tell how far behind a client is while it keeps sending
	// inputs: one that stopped (idle, throttled tab) keeps getting deltas,
	// bounded by the outbox and the idle timeout instead. The lag is taken
	// when each input arrives, so it does not grow while a client is quiet.
	fresh := now.UnixNano()-c.ackAt.Load() < int64(ackFreshness)
	switch {
	case v.paused && fresh && c.ack.Load() < v.lastSent: // still working through what it has
		r.stalled(s, now)
		return
	case v.paused: // caught up, or gone quiet: resume, a delta against lastSent if it was kept
		v.paused = false
		r.srv.stats.Resyncs.Add(1)
	case fresh && v.lastSent != 0 && c.lag.Load() > r.inFlight:
		v.paused = true
		r.srv.stats.Paused.Add(1)
		r.startGap(v, tick, keyResync)
		r.stalled(s, now)
		return
	}
	gap := v.gap != nil && !v.needKey
	key := v.needKey || (r.interest == 0 && !v.wholeWorld && !gap)
	base := v.lastSent
	if key {
		base = 0
	}
	var ops []byte
	switch {
	case gap:
		known, visible := v.gap.ids, []int32(nil)
		if r.interest > 0 {
			known = v.known
			r.visible = r.grid.query(r.visible[:0], r.frame.cur, s.entity, known)
			visible = r.visible
		} else {
			visible = r.frame.allIndices()
		}
		var ok bool
		r.scratch, v.next, ok = r.frame.appendOpsFrom(r.scratch[:0], v.gap.ents, known, visible, v.next[:0])
		if !ok { // cannot happen: what a client knows was in the world it was sent
			r.endGap(v)
			v.needKey, v.keyReason = true, keyDrop
			r.sendSnapshot(s, tick, now)
			return
		}
		ops = r.scratch
	case r.interest == 0 && key:
		ops = r.frame.allKeyOps()
	case r.interest == 0:
		ops = r.frame.allDeltaOps()
	default:
		known := v.known
		if key {
			known = nil
		}
		r.visible = r.grid.query(r.visible[:0], r.frame.cur, s.entity, known)
		r.scratch, v.next = r.frame.appendOps(r.scratch[:0], known, r.visible, v.next[:0])
		ops = r.scratch
	}
	b := wire.AppendSnapshotHeader(c.out.buf(), tick, base, r.loop.LastSeq(s.player), len(ops))
	b = append(b, ops...)
	switch c.out.push(b, kindSnapshot, wire.CodeSlowConsumer) {
	case pushed:
		v.lastSent, v.needKey, v.stalledAt = tick, false, time.Time{}
		if r.interest == 0 {
			v.wholeWorld = true
		} else {
			v.known, v.next = v.next, v.known
		}
		if gap {
			r.srv.stats.GapDeltas.Add(1)
		}
		r.endGap(v)
		r.srv.stats.Snapshots.Add(1)
		if key {
			r.srv.stats.Keyframes.Add(1)
			r.srv.stats.KeyframesBy[v.keyReason].Add(1)
		}
	case pushDropped:
		r.srv.stats.SnapshotsDropped.Add(1)
		r.startGap(v, tick, keyDrop)
		r.stalled(s, now)
	}
}

// startGap notes that the client will miss the snapshot of tick: its next
// one is a delta against the world of v.lastSent, kept from now on, or, if
// that world cannot be kept, a keyframe (for reason).
func (r *room) startGap(v *view, tick uint32, reason uint8) {
	if v.gap != nil || v.needKey {
		return
	}
	v.wholeWorld = false
	if v.lastSent == 0 || v.lastSent != tick-1 || r.frame.tick != tick {
		v.needKey, v.keyReason = true, reason
		return
	}
	for _, b := range r.bases {
		if b.tick == v.lastSent {
			b.refs++
			v.gap = b
			return
		}
	}
	if len(r.bases) >= maxBaseWorlds {
		v.needKey, v.keyReason = true, reason
		return
	}
	b := &baseWorld{tick: v.lastSent, refs: 1}
	if n := len(r.spareBases); n > 0 {
		b, r.spareBases = r.spareBases[n-1], r.spareBases[:n-1]
		b.tick, b.refs = v.lastSent, 1
	}
	b.ents = append(b.ents[:0], r.frame.prev...) // the world of tick-1 = lastSent
	b.ids = b.ids[:0]
	for i := range b.ents {
		b.ids = append(b.ids, b.ents[i].ID)
	}
	r.bases = append(r.bases, b)
	v.gap = b
}

// endGap lets go of v's base world, if it holds one.
func (r *room) endGap(v *view) {
	b := v.gap
	if b == nil {
		return
	}
	v.gap = nil
	if b.refs--; b.refs > 0 {
		return
	}
	for i, o := range r.bases {
		if o == b {
			r.bases = append(r.bases[:i], r.bases[i+1:]...)
			break
		}
	}
	if len(r.spareBases) < 1 && cap(b.ents) <= 4096 {
		r.spareBases = append(r.spareBases, b)
	}
}

// stalled closes a client whose snapshots have not flowed for SlowTimeout.
func (r *room) stalled(s *seat, now time.Time) {
	v := &s.view
	if v.stalledAt.IsZero() {
		v.stalledAt = now
		return
	}
	if now.Sub(v.stalledAt) > r.srv.cfg.SlowTimeout {
		r.srv.stats.SlowDisconnects.Add(1)
		s.conn.fail(wire.CodeSlowConsumer, "client cannot keep up with snapshots")
	}
}

// housekeep runs about once a second (Config.housekeep): grace periods,
// idle sockets, pings, abandoned matches, and the published MatchInfo.
func (r *room) housekeep(now time.Time) {
	r.lastHouse = now
	defer r.houses.Add(1)
	ping := now.Sub(r.lastPing) >= r.srv.cfg.IdleTimeout/3
	if ping {
		r.lastPing = now
	}
	idleBefore := now.Add(-r.srv.cfg.IdleTimeout).UnixNano()
	for i := 0; i < len(r.order); i++ {
		s := r.order[i]
		switch {
		case s.bot != nil:
		case s.conn != nil && s.conn.gone.Load():
			// Its detach timed out: settle the seat now.
			r.settle(s)
			if r.seats[s.player] != s {
				i--
			}
		case s.conn != nil:
			if s.conn.lastRecv.Load() < idleBefore {
				r.srv.stats.IdleDisconnects.Add(1)
				s.conn.fail(wire.CodeIdleTimeout, "nothing received for too long")
			} else if ping {
				s.conn.out.ping()
			}
		case now.Sub(s.since) > r.srv.cfg.Grace:
			reason := "grace expired"
			if !s.joined {
				reason = "never connected"
			}
			r.release(s, reason)
			i--
		}
	}
	if r.hadHumans && r.humans() == 0 {
		r.abandoned = true
		r.cancel()
	}
	r.publish("running")
}

func (r *room) publish(state string) {
	info := MatchInfo{ID: r.id, Mode: r.mode.Name, State: state, Tick: r.tick.Load(), MaxPlayers: r.mode.MaxPlayers, Hz: r.hz, Started: r.started}
	for _, s := range r.order {
		switch {
		case s.bot != nil:
			info.Bots++
		case s.conn == nil:
			info.Held++
			info.Players = append(info.Players, s.player)
		default:
			info.Players = append(info.Players, s.player)
		}
	}
	r.mu.Lock()
	r.info = info
	r.mu.Unlock()
}

// Info returns the match's published summary.
func (r *room) Info() MatchInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	info := r.info
	info.Tick = r.tick.Load()
	st := r.loop.Stats()
	info.TickLastUs = st.LastTickNanos.Load() / 1e3
	info.TickMaxUs = st.MaxTickNanos.Load() / 1e3
	info.LateMaxUs = st.MaxLateNanos.Load() / 1e3
	info.DroppedTicks = st.DroppedTicks.Load()
	info.Players = append([]game.PlayerID(nil), info.Players...)
	return info
}

// brain returns how server-side bots of mode are made: Config.NewBrain if
// set, else the mode's own, or nil if there is neither.
func (s *Server) brain(mode game.Mode) func(hz int, seed uint64) game.Brain {
	if nb := s.cfg.NewBrain; nb != nil {
		return func(hz int, seed uint64) game.Brain { return nb(mode.Name, hz, seed) }
	}
	return mode.NewBrain
}
