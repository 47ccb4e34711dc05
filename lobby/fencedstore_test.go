package lobby

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fencedStore is an in-memory shared store for the matchmaker's fenced
// write path: a Queue with a version (QueueSnapshotter), a
// MatchmakerStore and FencedLeases, over a TicketStore and an
// AssignmentStore that the lobbies sharing it are given too. It follows
// the contracts in shared.go as package lobby/redisstore implements them
// (each method is one atomic step, like one Lua script there): a fenced
// write checks the lease's current epoch, a zero epoch writes unfenced.
// Tests in this package run the lobby's shared-store code on it; the Redis
// implementation has its own tests in lobby/redisstore.
type fencedStore struct {
	tickets TicketStore
	seats   AssignmentStore

	mu      sync.Mutex
	clock   func() time.Time // lease expiry
	entries map[TicketID]QueueEntry
	players map[PlayerID]TicketID
	seq     uint64
	ver     uint64
	leases  map[string]memLease
	epochs  map[string]uint64
	placing map[string]PlacingGroup

	down      bool // queue reads fail as from an unreachable store
	leaseDown bool // lease requests fail

	beforeDequeue func() // if set, runs at the start of Dequeue (set before use)
	groupReads    int    // PlacingGroups calls: one per matchmaker step
	fullReads     int    // QueueSnapshot calls that returned the queue
	leaseCalls    int    // AcquireLease calls: one per matchmaker step
	versionOK     bool
}

func newFencedStore(clock func() time.Time) *fencedStore {
	return &fencedStore{
		tickets:   NewMemoryTicketStore(),
		seats:     NewMemoryAssignmentStore(),
		clock:     clock,
		entries:   make(map[TicketID]QueueEntry),
		players:   make(map[PlayerID]TicketID),
		leases:    make(map[string]memLease),
		epochs:    make(map[string]uint64),
		placing:   make(map[string]PlacingGroup),
		versionOK: true,
	}
}

// config gives a lobby this store as its queue, leases, tickets and seats.
func (s *fencedStore) config(cfg Config) Config {
	cfg.Queue, cfg.Leases, cfg.Tickets, cfg.Assignments = s, s, s.tickets, s.seats
	return cfg
}

var (
	_ Queue            = (*fencedStore)(nil)
	_ QueueSnapshotter = (*fencedStore)(nil)
	_ MatchmakerStore  = (*fencedStore)(nil)
	_ FencedLeases     = (*fencedStore)(nil)
)

func (s *fencedStore) fencedLocked(f Fence) error {
	if f.Epoch != 0 && s.epochs[f.Lease] != f.Epoch {
		return fmt.Errorf("%w: lease %q epoch %d is stale", ErrFenced, f.Lease, f.Epoch)
	}
	return nil
}

// bump changes the queue's version, unless a test "lost" the counter.
func (s *fencedStore) bumpLocked() {
	if s.versionOK {
		s.ver++
	}
}

func (s *fencedStore) queueLocked(e QueueEntry) {
	s.entries[e.ID] = e
	s.players[e.Player] = e.ID
}

func (s *fencedStore) unqueueLocked(id TicketID) {
	e := s.entries[id]
	delete(s.entries, id)
	if s.players[e.Player] == id {
		delete(s.players, e.Player)
	}
}

func (s *fencedStore) Enqueue(ctx context.Context, e QueueEntry) (QueueEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[e.ID]; ok {
		return e, fmt.Errorf("%w: ticket %s already queued", ErrAlreadyQueued, e.ID)
	}
	if id, ok := s.players[e.Player]; ok {
		return e, fmt.Errorf("%w: ticket %s", ErrAlreadyQueued, id)
	}
	if e.Seq == 0 {
		s.seq++
		e.Seq = s.seq
	}
	s.queueLocked(e)
	s.bumpLocked()
	return e, nil
}

func (s *fencedStore) Dequeue(ctx context.Context, ids ...TicketID) (bool, error) {
	if s.beforeDequeue != nil {
		s.beforeDequeue()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		if _, ok := s.entries[id]; !ok || slices.Contains(ids[:i], id) {
			return false, nil
		}
	}
	for _, id := range ids {
		s.unqueueLocked(id)
	}
	s.bumpLocked()
	return true, nil
}

func (s *fencedStore) sortedLocked() []QueueEntry {
	out := make([]QueueEntry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b QueueEntry) int { return cmpU64(a.Seq, b.Seq) })
	return out
}

func (s *fencedStore) QueueEntries(ctx context.Context) ([]QueueEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, fmt.Errorf("%w: queue entries", ErrStoreUnavailable)
	}
	return s.sortedLocked(), nil
}

func (s *fencedStore) QueuePosition(ctx context.Context, id TicketID) (int, int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok {
		return 0, 0, false, nil
	}
	pos, n := 0, 0
	for _, o := range s.entries {
		if o.Mode == e.Mode {
			n++
			if o.Seq <= e.Seq {
				pos++
			}
		}
	}
	return pos, n, true, nil
}

func (s *fencedStore) QueueSnapshot(ctx context.Context, since uint64) ([]QueueEntry, uint64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, 0, false, fmt.Errorf("%w: queue snapshot", ErrStoreUnavailable)
	}
	if since == s.ver {
		return nil, s.ver, false, nil
	}
	s.fullReads++
	return s.sortedLocked(), s.ver, true, nil
}

func (s *fencedStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (uint64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("lease ttl %v must be positive", ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaseCalls++
	if s.leaseDown {
		return 0, fmt.Errorf("%w: acquire lease", ErrStoreUnavailable)
	}
	now := s.clock()
	l, ok := s.leases[name]
	live := ok && now.Before(l.until)
	if live && l.holder != holder {
		return 0, nil
	}
	if !live {
		s.epochs[name]++ // taken anew: a new epoch
	}
	s.leases[name] = memLease{holder: holder, until: now.Add(ttl)}
	return s.epochs[name], nil
}

func (s *fencedStore) TryLock(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	epoch, err := s.AcquireLease(ctx, name, holder, ttl)
	return epoch > 0, err
}

func (s *fencedStore) Unlock(ctx context.Context, name, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok && l.holder == holder {
		delete(s.leases, name)
	}
	return nil
}

func checkGroup(g PlacingGroup, tickets []Ticket) error {
	if g.Key == "" || len(g.Entries) == 0 || len(tickets) != len(g.Entries) {
		return fmt.Errorf("%w: placing group %q: %d entries, %d tickets", ErrBadRequest, g.Key, len(g.Entries), len(tickets))
	}
	for i, e := range g.Entries {
		if tickets[i].ID != e.ID {
			return fmt.Errorf("%w: placing group %q: entry %d is %s, ticket %s", ErrBadRequest, g.Key, i, e.ID, tickets[i].ID)
		}
	}
	return nil
}

func (s *fencedStore) ClaimGroup(ctx context.Context, f Fence, g PlacingGroup, tickets []Ticket) (bool, error) {
	if err := checkGroup(g, tickets); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fencedLocked(f); err != nil {
		return false, err
	}
	for _, e := range g.Entries {
		if q, ok := s.entries[e.ID]; !ok || q.Seq != e.Seq {
			return false, nil
		}
	}
	for i, e := range g.Entries {
		s.unqueueLocked(e.ID)
		if err := s.tickets.PutTicket(tickets[i]); err != nil {
			return false, err
		}
	}
	s.bumpLocked()
	g.Entries = slices.Clone(g.Entries)
	s.placing[g.Key] = g
	return true, nil
}

func (s *fencedStore) CompleteGroup(ctx context.Context, f Fence, key, matchID string, players []PlayerID, tickets []Ticket) error {
	if key == "" || matchID == "" {
		return fmt.Errorf("%w: complete group %q: empty key or match id", ErrBadRequest, key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fencedLocked(f); err != nil {
		return err
	}
	if _, ok := s.placing[key]; !ok {
		return fmt.Errorf("complete group %q: no longer placing", key)
	}
	var seat []PlayerID
	for _, p := range players {
		m, ok, err := s.seats.Assignment(p)
		switch {
		case err != nil:
			return err
		case ok && m != matchID:
			return fmt.Errorf("%w: player %d in %s", ErrAlreadyInMatch, p, m)
		case !ok:
			seat = append(seat, p)
		}
	}
	if err := s.seats.Assign(matchID, seat); err != nil {
		return err
	}
	for _, t := range tickets {
		if err := s.tickets.PutTicket(t); err != nil {
			return err
		}
	}
	delete(s.placing, key)
	return nil
}

func (s *fencedStore) RequeueGroup(ctx context.Context, f Fence, g PlacingGroup, tickets []Ticket) error {
	if err := checkGroup(g, tickets); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fencedLocked(f); err != nil {
		return err
	}
	if _, ok := s.placing[g.Key]; !ok {
		return fmt.Errorf("requeue group %q: no longer placing", g.Key)
	}
	for i, e := range g.Entries {
		if e.Seq == 0 {
			return fmt.Errorf("%w: requeue %s without its seq", ErrBadRequest, e.ID)
		}
		_, queued := s.entries[e.ID]
		_, playerQueued := s.players[e.Player]
		if !tickets[i].Status.Terminal() && !queued && !playerQueued {
			s.queueLocked(e)
		}
		if err := s.tickets.PutTicket(tickets[i]); err != nil {
			return err
		}
	}
	s.bumpLocked()
	delete(s.placing, g.Key)
	return nil
}

func (s *fencedStore) ExpireQueued(ctx context.Context, f Fence, t Ticket) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fencedLocked(f); err != nil {
		return false, err
	}
	if _, ok := s.entries[t.ID]; !ok {
		return false, nil
	}
	s.unqueueLocked(t.ID)
	s.bumpLocked()
	return true, s.tickets.PutTicket(t)
}

func (s *fencedStore) PlacingGroups(ctx context.Context) ([]PlacingGroup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groupReads++
	if s.down {
		return nil, fmt.Errorf("%w: placing groups", ErrStoreUnavailable)
	}
	out := make([]PlacingGroup, 0, len(s.placing))
	for _, g := range s.placing {
		g.Entries = slices.Clone(g.Entries)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b PlacingGroup) int {
		if c := a.Claimed.Compare(b.Claimed); c != 0 {
			return c
		}
		return cmpString(a.Key, b.Key)
	})
	return out, nil
}

func (s *fencedStore) CreateTicket(ctx context.Context, t Ticket, e QueueEntry) (QueueEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok, err := s.tickets.LiveTicket(t.Player); err != nil {
		return e, err
	} else if ok {
		return e, fmt.Errorf("%w: ticket %s", ErrAlreadyQueued, id)
	}
	if id, ok := s.players[e.Player]; ok {
		return e, fmt.Errorf("%w: ticket %s", ErrAlreadyQueued, id)
	}
	if _, ok := s.entries[e.ID]; ok {
		return e, fmt.Errorf("%w: ticket %s already queued", ErrAlreadyQueued, e.ID)
	}
	s.seq++
	e.Seq = s.seq
	t.Sequence = e.Seq
	if err := s.tickets.PutTicket(t); err != nil {
		return e, err
	}
	s.queueLocked(e)
	s.bumpLocked()
	return e, nil
}

// placingKeys returns the keys of the recorded placing groups.
func (s *fencedStore) placingKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.placing {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// steps returns how many matchmaker steps ran so far: lease requests
// when the store is the lobby's FencedLeases, reads of the placing groups
// otherwise.
func (s *fencedStore) steps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.leaseCalls, s.groupReads)
}

func (s *fencedStore) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// waitSteps waits until n more matchmaker steps have run.
func (s *fencedStore) waitSteps(t *testing.T, n int) {
	t.Helper()
	from := s.steps()
	testkitWait(t, fmt.Sprintf("%d matchmaker steps", n), func() bool { return s.steps() >= from+n })
}
