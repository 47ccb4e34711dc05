package lobby

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// What the lobby shows when a game node dies (docs/scaling.md, "A game node
// dies"): the node's matches are lost, their tickets say so, and their
// players' next tickets go to the front of the queue.
const (
	// StatusLost is a matched ticket whose match was lost with its game
	// node: the seat is gone, and the player's next ticket (within
	// Config.RequeuePriority) is placed at the front of its queue. It is
	// terminal; a ticket moves to it only from StatusMatched.
	StatusLost TicketStatus = "lost"
	// MatchStateLost is the "state" of GET /v1/matches/{id} for a match
	// lost with its node.
	MatchStateLost = "lost"
	// ReasonNodeLost is the result Reason recorded for a match lost with
	// its node.
	ReasonNodeLost = "node_lost"
)

// prioritySeq is the queue Seq of a ticket with requeue priority: arrival
// numbers start at 1, so it sorts ahead of every other ticket (and after
// the priority tickets already queued, which keep their order).
const prioritySeq = 1

// eventIDLost is the event id of a ticket stream's "lost" event: a stream
// resumed after the matched event (Last-Event-ID 2) still gets it.
const eventIDLost = "3"

// MatchLocator is what a MatchDirectory may also implement when matches
// run on several game nodes: the public game socket URL of the node that
// holds a match. The reconnect path (POST /v1/matches/{id}/token) answers
// with it, so a client resumes on the node that holds its seat.
type MatchLocator interface {
	// MatchWSURL returns the node's socket URL (without "?match="), and
	// false when the match is unknown or not running.
	MatchWSURL(matchID string) (string, bool)
}

// MatchChecker is what a MatchDirectory may also implement when seats and
// matches live in different processes: whether a match is over (ended,
// lost, failed, or gone from the directory). A player whose seat names
// such a match was left behind by a release that never arrived; POST
// /v1/tickets then frees the match's seats instead of answering
// already_in_match.
type MatchChecker interface {
	MatchOver(ctx context.Context, matchID string) (over bool, err error)
}

// RecoveryStore is what the lobby keeps to recover players from a game
// node that died: the tickets placed in each match (so the match's tickets
// can be marked lost), and the players whose match was lost, until their
// next ticket (or until the window ends), which goes to the front of its
// queue. Lobby processes sharing a queue share it.
type RecoveryStore interface {
	// PutMatchTickets records the tickets placed in match until the given
	// time.
	PutMatchTickets(ctx context.Context, match string, tickets []TicketID, until time.Time) error
	// MatchTickets returns the tickets recorded for match (none if unknown).
	MatchTickets(ctx context.Context, match string) ([]TicketID, error)
	// GrantPriority marks p until the given time.
	GrantPriority(ctx context.Context, p PlayerID, until time.Time) error
	// TakePriority reports whether p is marked, and clears the mark.
	TakePriority(ctx context.Context, p PlayerID) (bool, error)
}

// memRecovery is the in-memory RecoveryStore.
type memRecovery struct {
	now       func() time.Time
	mu        sync.Mutex
	prio      map[PlayerID]time.Time
	tickets   map[string]memMatchTickets
	lastPrune time.Time
}

type memMatchTickets struct {
	ids   []TicketID
	until time.Time
}

// NewMemoryRecoveryStore returns an in-memory [RecoveryStore] on the clock
// now (time.Now if nil).
func NewMemoryRecoveryStore(now func() time.Time) RecoveryStore {
	if now == nil {
		now = time.Now
	}
	return &memRecovery{now: now, prio: make(map[PlayerID]time.Time), tickets: make(map[string]memMatchTickets)}
}

func (s *memRecovery) pruneLocked(now time.Time) {
	if now.Sub(s.lastPrune) < 30*time.Second {
		return
	}
	s.lastPrune = now
	for p, u := range s.prio {
		if !u.After(now) {
			delete(s.prio, p)
		}
	}
	for m, t := range s.tickets {
		if !t.until.After(now) {
			delete(s.tickets, m)
		}
	}
}

func (s *memRecovery) PutMatchTickets(_ context.Context, match string, tickets []TicketID, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.pruneLocked(now)
	if until.After(now) {
		s.tickets[match] = memMatchTickets{ids: append([]TicketID(nil), tickets...), until: until}
	}
	return nil
}

func (s *memRecovery) MatchTickets(_ context.Context, match string) ([]TicketID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[match]
	if !ok || !t.until.After(s.now()) {
		return nil, nil
	}
	return append([]TicketID(nil), t.ids...), nil
}

func (s *memRecovery) GrantPriority(_ context.Context, p PlayerID, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.pruneLocked(now)
	if until.After(now) {
		s.prio[p] = until
	}
	return nil
}

func (s *memRecovery) TakePriority(_ context.Context, p PlayerID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.prio[p]
	delete(s.prio, p)
	return ok && u.After(s.now()), nil
}

// LostMatch describes a match lost with its game node.
type LostMatch struct {
	ID      string     // the match
	Players []PlayerID // its human players
}

// MatchLost tells the lobby that a match died with its game node (the
// cluster's dead-node monitor calls it, once per match): each of its
// tickets (as the placer recorded them with Recovery().PutMatchTickets)
// still matched to it moves to StatusLost, which their event
// streams and GET /v1/tickets/{id} show, and each player's next ticket
// within Config.RequeuePriority goes to the front of its queue. Seats and
// the result are the caller's: it releases the seats and records the
// ReasonNodeLost result. It returns how many tickets it marked.
func (l *Lobby) MatchLost(ctx context.Context, m LostMatch) int {
	now := l.cfg.Now()
	until := now.Add(l.cfg.RequeuePriority)
	for _, p := range m.Players {
		if err := l.recovery.GrantPriority(ctx, p, until); err != nil {
			l.log.Warn("requeue priority", zap.String("match", m.ID), zap.Uint32("player", uint32(p)), zap.Error(err))
		}
	}
	tickets, err := l.recovery.MatchTickets(ctx, m.ID)
	if err != nil {
		l.log.Warn("lost match: its tickets", zap.String("match", m.ID), zap.Error(err))
	}
	n := 0
	for _, id := range tickets {
		t, err := l.tickets.Ticket(id)
		if err != nil || t.MatchID != m.ID || t.Status != StatusMatched {
			continue
		}
		l.update(id, func(t *Ticket) {
			t.Status = StatusLost
			t.Closed = now
		})
		n++
	}
	l.log.Info("match lost with its node", zap.String("match", m.ID), zap.Int("tickets", n), zap.Int("players", len(m.Players)))
	return n
}

// Recovery returns the lobby's RecoveryStore (Config.Recovery, or its
// in-memory one).
func (l *Lobby) Recovery() RecoveryStore { return l.recovery }

// seqFor is the queue Seq of a new ticket: prioritySeq with requeue
// priority, else 0 (the next arrival number).
func seqFor(priority bool) uint64 {
	if priority {
		return prioritySeq
	}
	return 0
}
