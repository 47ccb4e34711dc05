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

// PriorityStore remembers the players whose match was lost with its node,
// until their next ticket (or until the window ends): that ticket goes to
// the front of its queue. Lobby processes sharing a queue share it.
type PriorityStore interface {
	// GrantPriority marks p until the given time.
	GrantPriority(ctx context.Context, p PlayerID, until time.Time) error
	// TakePriority reports whether p is marked, and clears the mark.
	TakePriority(ctx context.Context, p PlayerID) (bool, error)
}

// memPriority is the in-memory PriorityStore.
type memPriority struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[PlayerID]time.Time
}

// NewMemoryPriorityStore returns an in-memory [PriorityStore] on the clock
// now (time.Now if nil).
func NewMemoryPriorityStore(now func() time.Time) PriorityStore {
	if now == nil {
		now = time.Now
	}
	return &memPriority{now: now, m: make(map[PlayerID]time.Time)}
}

func (s *memPriority) GrantPriority(_ context.Context, p PlayerID, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for q, u := range s.m { // a handful at most: prune as we go
		if !u.After(now) {
			delete(s.m, q)
		}
	}
	if until.After(now) {
		s.m[p] = until
	}
	return nil
}

func (s *memPriority) TakePriority(_ context.Context, p PlayerID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[p]
	delete(s.m, p)
	return ok && u.After(s.now()), nil
}

// LostMatch describes a match lost with its game node.
type LostMatch struct {
	ID      string     // the match
	Tickets []TicketID // the tickets placed in it (PlaceRequest.Tickets)
	Players []PlayerID // its human players
}

// MatchLost tells the lobby that a match died with its game node (the
// cluster's dead-node monitor calls it, once per match): each of its
// tickets still matched to it moves to StatusLost, which their event
// streams and GET /v1/tickets/{id} show, and each player's next ticket
// within Config.RequeuePriority goes to the front of its queue. Seats and
// the result are the caller's: it releases the seats and records the
// ReasonNodeLost result. It returns how many tickets it marked.
func (l *Lobby) MatchLost(ctx context.Context, m LostMatch) int {
	now := l.cfg.Now()
	until := now.Add(l.cfg.RequeuePriority)
	for _, p := range m.Players {
		if err := l.priority.GrantPriority(ctx, p, until); err != nil {
			l.log.Warn("requeue priority", zap.String("match", m.ID), zap.Uint32("player", uint32(p)), zap.Error(err))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, id := range m.Tickets {
		t, err := l.tickets.Ticket(id)
		if err != nil || t.MatchID != m.ID || t.Status != StatusMatched {
			continue
		}
		l.updateLocked(id, func(t *Ticket) {
			t.Status = StatusLost
			t.Closed = now
		})
		n++
	}
	l.log.Info("match lost with its node", zap.String("match", m.ID), zap.Int("tickets", n), zap.Int("players", len(m.Players)))
	return n
}
