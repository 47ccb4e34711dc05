package lobby

import (
	"context"
	"errors"
	"math"
	"time"

	"go.uber.org/zap"
)

// This file is the matchmaker's write path over a MatchmakerStore (a store
// shared by several lobby processes): every write is fenced by the lease
// epoch, each group taken out of the queue is recorded until it is placed
// or requeued, and the leader resolves groups that a dead or frozen leader
// left behind. All of it runs on the run goroutine.

// snapshotRefresh is how often the matchmaker reads the whole queue even
// when its version did not change (a safety net against a version counter
// lost with Redis's data).
const snapshotRefresh = 5 * time.Second

// snapshot returns the queued entries in Seq order. With a
// QueueSnapshotter it reads them only when the queue changed since the
// last read; the caller must not modify the result.
func (l *Lobby) snapshot(ctx context.Context, now time.Time) ([]QueueEntry, error) {
	qctx, cancel := l.storeCtx(ctx)
	defer cancel()
	qs, ok := l.queue.(QueueSnapshotter)
	if !ok {
		return l.queue.QueueEntries(qctx)
	}
	since := l.snapVer
	if !l.snapOK || now.Sub(l.snapAt) >= snapshotRefresh || now.Before(l.snapAt) {
		since = math.MaxUint64 // never a version: read everything
	}
	entries, v, changed, err := qs.QueueSnapshot(qctx, since)
	if err != nil {
		l.snapOK = false
		return nil, err
	}
	if changed {
		l.snap, l.snapVer, l.snapAt, l.snapOK = entries, v, now, true
	}
	return l.snap, nil
}

// queueRead logs the first failure of an outage and the recovery.
func (l *Lobby) queueRead(ctx context.Context, err error) bool {
	if err != nil {
		if ctx.Err() == nil && !l.queueDown {
			l.log.Warn("matchmaker: cannot read the queue; not matching until it answers", zap.Error(err))
		}
		l.queueDown = true
		return false
	}
	if l.queueDown {
		l.queueDown = false
		l.log.Info("matchmaker: queue readable again")
	}
	return true
}

// stepShared is step over a MatchmakerStore. The caller holds the lease.
func (l *Lobby) stepShared(ctx context.Context, now time.Time) {
	if !l.resolvePlacing(ctx, now) {
		return
	}
	entries, err := l.snapshot(ctx, now)
	if !l.queueRead(ctx, err) {
		return
	}
	l.mm.load(entries)
	groups, expired := l.mm.step(now)
	for _, e := range expired {
		if !l.expireShared(ctx, e, now) {
			return
		}
	}
	type claim struct {
		g       PlacingGroup
		tickets []Ticket
	}
	var claimed []claim
	for _, g := range groups {
		pg := PlacingGroup{Key: randomID(16), Epoch: l.fence.Epoch, Mode: g.Mode, Bots: g.Bots, Entries: g.Entries, Claimed: now}
		tickets, ok := l.loadTickets(g.Entries)
		if !ok {
			continue
		}
		for i := range tickets {
			tickets[i].Placing = true
		}
		cctx, cancel := l.storeCtx(ctx)
		ok, err := l.mms.ClaimGroup(cctx, l.fence, pg, tickets)
		cancel()
		if err != nil {
			l.storeFailed("claim group", err)
			if errors.Is(err, ErrFenced) {
				return
			}
			continue
		}
		if !ok {
			continue // changed meanwhile; the next step sees the queue as it is
		}
		for _, t := range tickets {
			l.changed(t.ID)
		}
		claimed = append(claimed, claim{pg, tickets})
	}
	for i, c := range claimed {
		// A placement may be slow: renew the lease before each one, and
		// leave the rest to the next leader if it is gone.
		if i > 0 && !l.lead(ctx) {
			return
		}
		l.placeShared(ctx, c.g, c.tickets)
	}
}

// storeFailed logs a failed matchmaker write.
func (l *Lobby) storeFailed(op string, err error) {
	if errors.Is(err, ErrFenced) {
		l.log.Warn("matchmaker: lease lost meanwhile; the new leader takes over this work", zap.String("op", op), zap.Error(err))
		return
	}
	l.log.Warn("matchmaker: "+op, zap.Error(err))
}

// loadTickets reads the tickets of entries, in order.
func (l *Lobby) loadTickets(entries []QueueEntry) ([]Ticket, bool) {
	out := make([]Ticket, 0, len(entries))
	for _, e := range entries {
		t, err := l.tickets.Ticket(e.ID)
		if err != nil {
			l.log.Warn("matchmaker: read ticket", zap.String("ticket", string(e.ID)), zap.Error(err))
			return nil, false
		}
		out = append(out, t)
	}
	return out, true
}

// expireShared ends a ticket whose time ran out; it reports false when the
// step must stop (the lease is gone).
func (l *Lobby) expireShared(ctx context.Context, e QueueEntry, now time.Time) bool {
	t, err := l.tickets.Ticket(e.ID)
	if err != nil {
		l.log.Warn("matchmaker: read ticket", zap.String("ticket", string(e.ID)), zap.Error(err))
		return true
	}
	t.Status, t.Closed, t.Placing = StatusExpired, now, false
	xctx, cancel := l.storeCtx(ctx)
	ok, err := l.mms.ExpireQueued(xctx, l.fence, t)
	cancel()
	if err != nil {
		l.storeFailed("expire ticket", err)
		return !errors.Is(err, ErrFenced)
	}
	if ok {
		l.changed(t.ID)
		l.stats.ticketsExpired.Add(1)
	}
	return true
}

// placeShared places a claimed group: the match's seats and the matched
// tickets are stored in one fenced write; on failure the group goes back
// to the queue in its place. A fenced write leaves the group to the new
// leader.
func (l *Lobby) placeShared(ctx context.Context, g PlacingGroup, tickets []Ticket) {
	players := make([]PlayerID, len(g.Entries))
	ids := make([]TicketID, len(g.Entries))
	for i, e := range g.Entries {
		players[i], ids[i] = e.Player, e.ID
	}
	pctx, cancel := context.WithTimeout(ctx, l.cfg.PlaceTimeout)
	pl, err := l.placer.Place(pctx, PlaceRequest{Mode: g.Mode, Players: players, Tickets: ids, Bots: g.Bots, Key: g.Key})
	cancel()
	if err == nil && pl.MatchID == "" {
		err = errors.New("placer returned an empty match id")
	}
	if err == nil {
		if err = l.completeShared(ctx, g, pl, tickets); errors.Is(err, ErrFenced) {
			return
		}
	}
	if err != nil {
		l.stats.placementsFailed.Add(1)
		l.log.Warn("placement failed; tickets requeued",
			zap.String("mode", g.Mode), zap.Int("players", len(players)), zap.Int("bots", g.Bots), zap.Error(err))
		l.requeueShared(ctx, g, tickets)
	}
}

// completeShared records a placed group as matched, with the node's
// socket URL on each ticket (the assignment keeps naming the node after
// the match directory forgot the match).
func (l *Lobby) completeShared(ctx context.Context, g PlacingGroup, pl Placement, tickets []Ticket) error {
	now, matchID := l.cfg.Now(), pl.MatchID
	players := make([]PlayerID, len(g.Entries))
	done := make([]Ticket, len(tickets))
	for i, t := range tickets {
		players[i] = g.Entries[i].Player
		t.Status, t.MatchID, t.Bots, t.Placing, t.Closed = StatusMatched, matchID, g.Bots, false, now
		t.WSURL = pl.WSURL
		done[i] = t
	}
	cctx, cancel := l.storeCtx(ctx)
	err := l.mms.CompleteGroup(cctx, l.fence, g.Key, matchID, players, done)
	cancel()
	if err != nil {
		l.storeFailed("complete placement", err)
		return err
	}
	l.stats.botsRequested.Add(uint64(g.Bots))
	for _, e := range g.Entries {
		l.changed(e.ID)
		l.stats.ticketsMatched.Add(1)
		if h := l.cfg.OnMatched; h != nil {
			h(g.Mode, now.Sub(e.Enqueued))
		}
	}
	l.log.Info("match placed", zap.String("match", matchID), zap.String("mode", g.Mode),
		zap.Int("players", len(players)), zap.Int("bots", g.Bots))
	return nil
}

// requeueShared puts a group back in the queue in its place. If the store
// refuses, the group stays recorded and the next step (of this leader or
// the next) resolves it.
func (l *Lobby) requeueShared(ctx context.Context, g PlacingGroup, tickets []Ticket) {
	back := make([]Ticket, len(tickets))
	for i, t := range tickets {
		t.Placing = false
		back[i] = t
	}
	rctx, cancel := l.storeCtx(ctx)
	err := l.mms.RequeueGroup(rctx, l.fence, g, back)
	cancel()
	if err != nil {
		l.storeFailed("requeue group", err)
		return
	}
	for _, t := range back {
		l.changed(t.ID)
	}
}

// resolvePlacing resolves the placing groups no placement is running for:
// with fenced leases every recorded group (this leader places
// synchronously, so a group left at the start of its step belongs to a
// leader that lost the lease, or to a write of its own that failed);
// otherwise those older than any placement can last. A group whose
// placement created a match (the Placer implements PlacementFinder and
// knows it) is completed with that match; any other goes back to the
// queue in its place. It reports false when the step must stop.
func (l *Lobby) resolvePlacing(ctx context.Context, now time.Time) bool {
	gctx, cancel := l.storeCtx(ctx)
	groups, err := l.mms.PlacingGroups(gctx)
	cancel()
	if !l.queueRead(ctx, err) {
		return false
	}
	unfencedAge := l.cfg.PlaceTimeout + 4*l.storeTimeout + l.leaseTTL
	for _, g := range groups {
		if l.fence.Epoch == 0 && l.leases != nil && now.Sub(g.Claimed) < unfencedAge {
			continue
		}
		tickets, ok := l.loadTickets(g.Entries)
		if !ok {
			continue
		}
		l.log.Warn("matchmaker: resolving a placement left unfinished", zap.String("key", g.Key),
			zap.Uint64("epoch", g.Epoch), zap.Int("players", len(g.Entries)))
		if f, ok := l.placer.(PlacementFinder); ok {
			fctx, cancel := context.WithTimeout(ctx, l.cfg.PlaceTimeout)
			pl, found, err := f.FindPlacement(fctx, g.Key)
			cancel()
			if err != nil {
				l.log.Warn("matchmaker: find placement", zap.String("key", g.Key), zap.Error(err))
				continue // try again next step
			}
			if found && pl.MatchID != "" {
				if err := l.completeShared(ctx, g, pl, tickets); err == nil {
					continue
				} else if errors.Is(err, ErrFenced) {
					return false
				}
			}
		}
		l.requeueShared(ctx, g, tickets)
	}
	return true
}
