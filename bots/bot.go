package bots

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// Bot is one headless player of a Swarm. It goes through exactly the path
// a human client does: guest sign-in, a ticket, the ticket's event stream
// until matched, the game socket with the assignment's token, then an
// input per tick decided by its brain from the client's mirror of the
// world. A dropped socket is resumed with a fresh token from
// POST /v1/matches/{id}/token; when the match ends the bot queues again
// (or stops, with Config.OneMatch).
//
// While it joins, a bot runs on a goroutine of its own; once it plays, it
// is ticked by its shard and owns no goroutine besides the client's reader.
type Bot struct {
	// immutable after newBot
	s     *Swarm
	idx   int
	name  string
	fault Fault
	shard *shard

	// owned by whoever drives the bot: its join goroutine, then its shard
	// (handed over through shard.add)
	match   string // the match joined last
	rejoin  bool   // the last socket ended while seated: try the held seat first
	over    bool   // the last match ended
	c       *client.Client
	brain   game.Brain
	self    game.EntityID
	buf     []game.Entity // reused for every Think
	joins   int           // matches joined
	faultAt time.Time     // when the fault fires (zero: not pending)
	rnd     rng
	last    client.Stats // client counters at the previous tick
	rttTick int

	smu  sync.Mutex // guards sess (the token source reads it from the client's goroutines)
	sess Session

	// shared with the client's goroutines
	up         atomic.Bool  // a socket is up
	conns      atomic.Int32 // sockets opened by the current client
	closing    atomic.Bool  // the bot is closing its client itself
	expectDown atomic.Bool  // an injected fault will take the socket down
	lastSnap   atomic.Int64 // unix nanos of the previous snapshot (0: none)
	stallUntil atomic.Int64 // unix nanos; the read goroutine stalls until then
	ended      atomic.Bool
}

func newBot(s *Swarm, i int) *Bot {
	return &Bot{
		s:     s,
		idx:   i,
		name:  s.cfg.NamePrefix + strconv.Itoa(i),
		fault: s.cfg.faultOf(i),
		shard: s.shards[i%len(s.shards)],
		rnd:   newRNG(s.cfg.Seed ^ uint64(i)*0x9e3779b97f4a7c15),
	}
}

// Name returns the bot's player name.
func (b *Bot) Name() string { return b.name }

// end notes, once, that the bot will not play again.
func (b *Bot) end() {
	if b.ended.CompareAndSwap(false, true) {
		b.s.botDone()
	}
}

// joinLoop gets the bot into a match, retrying with backoff; each failed
// attempt is a connect error.
func (b *Bot) joinLoop() {
	defer b.s.wg.Done()
	ctx := b.s.ctx
	for attempt := 0; ; attempt++ {
		err := b.join(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			b.end()
			return
		}
		b.s.stats.connectErrors.Add(1)
		b.s.noteError("join", err)
		d := time.Duration(min(attempt+1, 10)) * 200 * time.Millisecond
		if sleep(ctx, d/2+rand.N(d)) != nil {
			b.end()
			return
		}
	}
}

// join signs in (once), gets an assignment (the held seat first when the
// last socket ended while seated, otherwise a ticket and its event
// stream) and dials it.
func (b *Bot) join(ctx context.Context) error {
	lc := b.s.lobby
	b.smu.Lock()
	signedIn := b.sess.SessionToken != ""
	b.smu.Unlock()
	if !signedIn {
		sess, err := lc.Guest(ctx, b.name)
		if err != nil {
			return err
		}
		b.smu.Lock()
		b.sess = sess
		b.smu.Unlock()
	}
	var as Assignment
	if b.rejoin && b.match != "" {
		err := b.withSession(ctx, func(tok string) (err error) {
			as, err = lc.MatchToken(ctx, tok, b.match)
			return err
		})
		switch code := lobbyCode(err); {
		case err == nil:
		case code == "not_seated" || code == "match_not_found":
			as = Assignment{}
		default:
			return err
		}
		b.rejoin = false
	}
	if as.Token == "" {
		var ticket string
		var err error
		// Right after a match ends the lobby may not have released the
		// seat yet: a short wait, not an error.
		for try := 0; ; try++ {
			err = b.withSession(ctx, func(tok string) (err error) {
				ticket, err = lc.Queue(ctx, tok, b.s.cfg.Mode)
				return err
			})
			if lobbyCode(err) != "already_in_match" || try >= 20 {
				break
			}
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
		if lobbyCode(err) == "already_in_match" && b.match != "" {
			b.rejoin = true
		}
		if err != nil {
			return err
		}
		b.smu.Lock()
		tok := b.sess.SessionToken
		b.smu.Unlock()
		if as, err = lc.WaitMatched(ctx, tok, ticket); err != nil {
			return err
		}
	}
	return b.dial(ctx, as)
}

// withSession calls f with the session token, refreshing the session once
// if f reports it expired.
func (b *Bot) withSession(ctx context.Context, f func(token string) error) error {
	b.smu.Lock()
	tok := b.sess.SessionToken
	b.smu.Unlock()
	err := f(tok)
	if lobbyCode(err) != "token_expired" {
		return err
	}
	b.smu.Lock()
	if b.sess.SessionToken == tok { // nobody refreshed it meanwhile
		ns, rerr := b.s.lobby.Refresh(ctx, b.sess)
		if rerr != nil {
			b.smu.Unlock()
			return errors.Join(err, rerr)
		}
		b.sess = ns
	}
	tok = b.sess.SessionToken
	b.smu.Unlock()
	return f(tok)
}

// tokenFor is the client's TokenSource for match: a fresh socket token for
// the held seat.
func (b *Bot) tokenFor(match string) client.TokenSource {
	return func(ctx context.Context) (string, error) {
		var a Assignment
		err := b.withSession(ctx, func(tok string) (err error) {
			a, err = b.s.lobby.MatchToken(ctx, tok, match)
			return err
		})
		if code := lobbyCode(err); code == "not_seated" || code == "match_not_found" {
			// The match is over or was lost with its node: stop retrying
			// the socket and queue again (with priority after a loss).
			err = errors.Join(client.ErrSeatGone, err)
		}
		return a.Token, err
	}
}

// dial connects to the assignment and hands the bot to its shard.
func (b *Bot) dial(ctx context.Context, as Assignment) error {
	cfg := &b.s.cfg
	b.match, b.over = as.MatchID, false
	b.conns.Store(0)
	b.lastSnap.Store(0)
	b.stallUntil.Store(0)
	b.expectDown.Store(false)
	c, err := client.Dial(ctx, as.WSURL, as.Token,
		client.WithReadBufferSize(cfg.ReadBufferSize),
		client.WithOnSnapshot(b.onSnapshot),
		client.WithOnState(b.onState),
		client.WithOnMatchOver(b.onMatchOver),
		client.WithTokenSource(b.tokenFor(as.MatchID)),
		// Every attempt asks the lobby for a fresh token first, so a dead
		// node is noticed as soon as the lobby has reaped it (not_seated:
		// ErrSeatGone ends the retries); the 1 s cap keeps that within a
		// second of the reap without hammering the lobby.
		client.WithAutoReconnect(100*time.Millisecond, time.Second, 10),
	)
	if err != nil {
		return err
	}
	w := c.Welcome()
	seed := cfg.Seed*0x100000001b3 + uint64(b.idx)<<16 + uint64(b.joins)
	var brain game.Brain
	switch mode, merr := game.FindMode(w.Mode); {
	case cfg.NewBrain != nil:
		brain, err = cfg.NewBrain(b.idx, seed, int(w.Hz))
	case cfg.Brain == "" && merr == nil && mode.NewBrain != nil:
		brain = mode.NewBrain(int(w.Hz), seed) // what the server's own bots play
	case cfg.Brain == "":
		brain, err = newBrainHz(KindWander, seed, int(w.Hz))
	default:
		brain, err = newBrainHz(cfg.Brain, seed, int(w.Hz))
	}
	if err != nil {
		b.closing.Store(true)
		_ = c.Leave()
		b.closing.Store(false)
		return err
	}
	b.s.noteMatch(as.MatchID)
	b.c, b.brain, b.self = c, brain, game.EntityID(w.Entity)
	b.last = client.Stats{}
	b.joins++
	b.faultAt = time.Time{}
	if b.fault != FaultNone {
		d := cfg.Faults.FaultDelay
		b.faultAt = time.Now().Add(d + time.Duration(b.rnd.float()*float32(d)))
	}
	if b.buf == nil {
		b.buf = make([]game.Entity, 0, 48)
	}
	b.s.stats.inMatch.Add(1)
	if !b.shard.add(b) {
		b.close()
	}
	return nil
}

// onSnapshot runs on the client's read goroutine after each snapshot.
func (b *Bot) onSnapshot(*client.Client, wire.Snapshot, bool) {
	if until := b.stallUntil.Load(); until != 0 {
		b.stall(until)
	}
	now := time.Now().UnixNano()
	prev := b.lastSnap.Swap(now)
	if prev != 0 && b.s.measuring(now) {
		b.shard.gaps.add(time.Duration(now - prev))
	}
}

// stall blocks the read goroutine until the stall is over or the swarm
// stops: the socket is not read and no acks advance.
func (b *Bot) stall(until int64) {
	t := time.NewTimer(time.Until(time.Unix(0, until)))
	select {
	case <-t.C:
	case <-b.s.ctx.Done():
		t.Stop()
	}
	b.stallUntil.Store(0)
	b.lastSnap.Store(0) // the gap was self-inflicted
}

// onState runs when the client's socket goes up or down.
func (b *Bot) onState(_ *client.Client, connected bool, err error) {
	st := &b.s.stats
	if connected {
		if !b.up.Swap(true) {
			n := st.connected.Add(1)
			for p := st.peakConnected.Load(); n > p && !st.peakConnected.CompareAndSwap(p, n); p = st.peakConnected.Load() {
			}
		}
		if b.conns.Add(1) > 1 {
			st.reconnects.Add(1)
		}
		return
	}
	if !b.up.Swap(false) {
		return // a handshake that failed: the dial reports it
	}
	st.connected.Add(-1)
	b.lastSnap.Store(0)
	expected := b.expectDown.Swap(false)
	if b.closing.Load() || b.s.ctx.Err() != nil {
		return
	}
	var code uint16
	var ce *client.CloseError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	switch {
	case code == wire.CodeNormal: // match over, or left
	case code == wire.CodeMalformed && b.fault == FaultGarbage:
		st.garbageCloses.Add(1)
	case code == wire.CodeSlowConsumer && b.fault == FaultStall:
		st.stallCloses.Add(1)
	case expected && b.fault == FaultDrop:
	default:
		st.disconnects.Add(1)
		b.s.noteError("disconnect", err)
	}
}

func (b *Bot) onMatchOver(c *client.Client, m wire.MatchOver) {
	if f := b.s.cfg.OnMatchOver; f != nil {
		f(b.idx, c.Welcome().Player, m)
	}
}

// step is the bot's turn in a shard tick: think, send an input, account.
// It reports false once the client is finished.
func (b *Bot) step(now time.Time, measuring bool, acc *tickAcc) bool {
	c := b.c
	select {
	case <-c.Done():
		return false
	default:
	}
	if !b.faultAt.IsZero() && now.After(b.faultAt) {
		b.faultAt = time.Time{}
		// No new faults in the last second of a timed run, so every
		// injected fault gets the server's answer before the bots stop.
		if d := b.s.cfg.Duration; d == 0 || now.Before(b.s.start.Add(d-time.Second)) {
			b.inject(now)
		}
	}
	tick := game.Tick(c.Tick())
	b.buf = c.Entities(b.buf[:0])
	in := b.brain.Think(b.self, b.buf, tick)
	_ = c.SendInput(in) // fails only while the socket is down (resuming)
	st := c.Stats()
	b.account(st, measuring, acc)
	if b.rttTick++; b.rttTick >= b.s.cfg.Hz {
		b.rttTick = 0
		if measuring && st.LastRTT > 0 {
			b.shard.rtts.add(st.LastRTT)
		}
	}
	return true
}

// account adds the client's counters since the previous tick to acc.
func (b *Bot) account(st client.Stats, measuring bool, acc *tickAcc) {
	l := &b.last
	acc.snapshots += st.Snapshots - l.Snapshots
	acc.inputs += st.Inputs - l.Inputs
	if measuring {
		in, frames := st.BytesIn-l.BytesIn, st.FramesIn-l.FramesIn
		out, inputs := st.BytesOut-l.BytesOut, st.Inputs-l.Inputs
		acc.bytesIn += in
		acc.bytesOut += out
		if frames > 0 {
			acc.wireIn += in + frames*frameHeader(in/frames, false)
		}
		if inputs > 0 {
			acc.wireOut += out + inputs*frameHeader(out/inputs, true)
		}
	}
	*l = st
}

// frameHeader is the WebSocket frame header size for a payload of n bytes
// (RFC 6455 section 5.2); client frames carry a 4-byte mask.
func frameHeader(n uint64, masked bool) uint64 {
	h := uint64(2)
	switch {
	case n >= 1<<16:
		h = 10
	case n >= 126:
		h = 4
	}
	if masked {
		h += 4
	}
	return h
}

// inject fires the bot's fault.
func (b *Bot) inject(now time.Time) {
	st := &b.s.stats
	switch b.fault {
	case FaultDrop:
		if b.c.Connected() {
			st.drops.Add(1)
			b.expectDown.Store(true)
			b.c.Drop()
		}
	case FaultStall:
		st.stalls.Add(1)
		b.stallUntil.Store(now.Add(b.s.cfg.Faults.StallFor).UnixNano())
	case FaultGarbage:
		if b.c.Connected() {
			st.garbage.Add(1)
			b.expectDown.Store(true)
			// 0xc1 is never valid msgpack: the frame cannot decode.
			g := [8]byte{0xc1}
			for i := 1; i < len(g); i++ {
				g[i] = byte(b.rnd.pcg.Uint64())
			}
			_ = b.c.SendRaw(g[:])
		}
	}
}

// finish runs on the shard once the client is finished: the match ended,
// or the socket is gone for good. The bot queues again, rejoins its held
// seat, or stops.
func (b *Bot) finish() {
	c := b.c
	st := c.Stats()
	var acc tickAcc
	b.account(st, false, &acc)
	b.s.stats.snapshots.Add(acc.snapshots)
	b.s.stats.inputs.Add(acc.inputs)
	_, over := c.MatchOver()
	b.closing.Store(true)
	_ = c.Close()
	b.closing.Store(false)
	b.c, b.brain = nil, nil
	b.s.stats.inMatch.Add(-1)
	b.over = over
	if over {
		b.s.stats.matchesOver.Add(1)
		b.rejoin = false
		if b.s.cfg.OneMatch {
			b.end()
			return
		}
	} else {
		b.rejoin = true // the seat may still be held
	}
	if b.s.ctx.Err() != nil {
		b.end()
		return
	}
	b.s.wg.Add(1)
	go b.joinLoop()
}

// close leaves the match for good (the swarm is stopping).
func (b *Bot) close() {
	if b.c == nil {
		return
	}
	b.closing.Store(true)
	_ = b.c.Leave()
	b.c = nil
	b.s.stats.inMatch.Add(-1)
	b.end()
}
