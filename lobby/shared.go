package lobby

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// This file holds the interfaces that let several processes share the
// lobby's state (package lobby/redisstore implements them on Redis), and
// their in-memory implementations, which the lobby uses when Config leaves
// them nil. Every method takes a context: a networked implementation bounds
// each call by it (and by its own timeout), and reports an unreachable
// backend with an error wrapping ErrStoreUnavailable.

// UsedTokens records single-use socket tokens by their jti.
type UsedTokens interface {
	// UseOnce records jti until exp and reports whether this was its first
	// use. Exactly one of several concurrent callers with the same jti gets
	// true.
	UseOnce(ctx context.Context, jti string, exp time.Time) (first bool, err error)
}

// Leases are named, expiring locks: one holder at a time. The lobby holds
// the "matchmaker" lease while it runs a matchmaking step over a shared
// queue.
type Leases interface {
	// TryLock takes the lease name for holder for ttl if it is free (or
	// expired), or extends it if holder already has it, and reports whether
	// holder has it now.
	TryLock(ctx context.Context, name, holder string, ttl time.Duration) (held bool, err error)
	// Unlock frees the lease if holder has it; otherwise it does nothing.
	Unlock(ctx context.Context, name, holder string) error
}

// QueueEntry is a queued ticket as the matchmaker sees it.
type QueueEntry struct {
	ID       TicketID  `json:"id"`
	Player   PlayerID  `json:"player"`
	Mode     string    `json:"mode"`
	Rating   int       `json:"rating"`
	Enqueued time.Time `json:"enqueued"`
	Expires  time.Time `json:"expires"`
	Seq      uint64    `json:"seq"` // arrival order; smaller is earlier
}

// Queue is the matchmaking queue: waiting tickets per mode in arrival
// order, shared by every lobby process.
type Queue interface {
	// Enqueue adds e. A zero Seq is assigned the next arrival number; a
	// non-zero Seq (a requeue) keeps its place in line. It fails with an
	// error wrapping ErrAlreadyQueued if e.Player already has a queued
	// entry.
	Enqueue(ctx context.Context, e QueueEntry) (QueueEntry, error)
	// Dequeue removes all of ids from the queue, or none if any of them is
	// not queued, and reports whether it removed them. Of several callers
	// racing for the same ticket, exactly one wins.
	Dequeue(ctx context.Context, ids ...TicketID) (bool, error)
	// QueueEntries returns every queued entry of every mode, in Seq order.
	QueueEntries(ctx context.Context) ([]QueueEntry, error)
	// QueuePosition returns the 1-based place of a ticket in its mode's
	// queue and that queue's length; ok is false if it is not queued.
	QueuePosition(ctx context.Context, id TicketID) (pos, length int, ok bool, err error)
}

// TicketEvents carries "this ticket changed" notices between lobby
// processes, so an event stream served by one lobby sees a match made by
// another. Delivery is best effort: streams also re-read their ticket every
// Config.SSEUpdateInterval.
type TicketEvents interface {
	// PublishTicket announces that ticket id changed.
	PublishTicket(ctx context.Context, id TicketID) error
	// SubscribeTickets calls fn for every announced change (from any
	// process, this one included) until ctx ends, re-subscribing after a
	// connection loss; it returns when ctx ends. fn("") means changes may
	// have been missed (after a reconnect): every ticket may have changed.
	// fn must be quick.
	SubscribeTickets(ctx context.Context, fn func(TicketID)) error
}

// NodeInfo is a game node's heartbeat.
type NodeInfo struct {
	ID       string    `json:"id"`       // unique node id
	WSURL    string    `json:"ws_url"`   // public WebSocket URL, such as wss://node-3.example.com/v1/ws
	Capacity int       `json:"capacity"` // most players the node takes
	Players  int       `json:"players"`  // players seated now
	Matches  int       `json:"matches"`  // matches running now
	Draining bool      `json:"draining"` // finishing its matches; place nothing new
	Seen     time.Time `json:"seen"`     // when the heartbeat was sent
	// Live is each running match's tick and seated players at Seen, so
	// match listings show them without a write per tick (stale by up to
	// one heartbeat interval).
	Live []MatchLoad `json:"live,omitempty"`
}

// MatchLoad is one running match's progress in a node's heartbeat.
type MatchLoad struct {
	ID      string     `json:"id"`
	Tick    uint32     `json:"tick"`
	Players []PlayerID `json:"players"` // seated players (connected, or within their reconnect grace)
}

// Spare returns how many more players the node takes (0 when draining).
func (n NodeInfo) Spare() int {
	if n.Draining {
		return 0
	}
	return max(0, n.Capacity-n.Players)
}

// NodeRegistry is the live set of game nodes.
type NodeRegistry interface {
	// Heartbeat records n as alive for ttl. A node that was reaped comes
	// back as a new registration.
	Heartbeat(ctx context.Context, n NodeInfo, ttl time.Duration) error
	// Nodes returns the live nodes (heartbeat within its ttl), by ID.
	Nodes(ctx context.Context) ([]NodeInfo, error)
	// DeadNodes returns the ids of registered nodes whose heartbeat lapsed
	// and that nobody reaped yet, sorted.
	DeadNodes(ctx context.Context) ([]string, error)
	// ReapNode claims dead node id for the caller: of several callers
	// exactly one gets true, and only while the node is dead and registered.
	// The node leaves the registry.
	ReapNode(ctx context.Context, id string) (claimed bool, err error)
	// Deregister removes a node that leaves cleanly (after draining).
	Deregister(ctx context.Context, id string) error
}

// Revocation is a revoked session, published to the game nodes so they
// close its sockets.
type Revocation struct {
	Player PlayerID `json:"player"`
	SID    string   `json:"sid"`
}

// Revocations carries session revocations from the lobbies to the game
// nodes (Redis pub/sub). A revocation is stored (SessionStore.Revoke)
// before it is published, so a node that missed a message re-checks its
// seated players' sessions whenever its subscription (re)starts.
type Revocations interface {
	// PublishRevocation tells every subscribed node.
	PublishRevocation(ctx context.Context, r Revocation) error
	// SubscribeRevocations calls fn with each revocation until ctx ends,
	// and with the zero Revocation whenever the subscription starts or
	// starts again (messages may have been missed: re-check). It returns
	// nil when ctx ends.
	SubscribeRevocations(ctx context.Context, fn func(Revocation)) error
}

// Match states of a MatchRecord.
const (
	MatchPlacing = "placing" // sent to a node, not yet acknowledged
	MatchRunning = "running" // the node created it
	MatchFailed  = "failed"  // the node could not create it
	MatchEnded   = "ended"   // finished normally
	MatchLost    = "lost"    // its node died
)

// MatchStateFinal reports whether a match state is terminal (failed, ended,
// lost).
func MatchStateFinal(s string) bool {
	return s == MatchFailed || s == MatchEnded || s == MatchLost
}

// MatchRecord is a match in the cluster's match directory.
type MatchRecord struct {
	ID      string     `json:"id"`
	Mode    string     `json:"mode"`
	Node    string     `json:"node"`   // the node that runs it
	WSURL   string     `json:"ws_url"` // that node's public WebSocket URL
	Players []PlayerID `json:"players"`
	Bots    int        `json:"bots"`
	State   string     `json:"state"` // MatchPlacing, MatchRunning, ...
	Created time.Time  `json:"created"`
}

// MatchStore is the cluster's match directory. Live matches (placing or
// running) are kept until they reach a final state; final ones stay
// readable for the store's retention, then vanish.
type MatchStore interface {
	// PutMatch inserts or replaces m.
	PutMatch(ctx context.Context, m MatchRecord) error
	// MatchRecord returns match id.
	MatchRecord(ctx context.Context, id string) (MatchRecord, bool, error)
	// LiveMatches returns the matches placing or running, by ID.
	LiveMatches(ctx context.Context) ([]MatchRecord, error)
	// MatchesOnNode returns the live matches of one node, by ID.
	MatchesOnNode(ctx context.Context, node string) ([]MatchRecord, error)
	// SetMatchState changes a match's state and returns the updated record;
	// an unknown id gives an error wrapping ErrMatchNotFound. A final state
	// is never left: setting another state on a final match changes nothing
	// and reports changed false.
	SetMatchState(ctx context.Context, id, state string) (m MatchRecord, changed bool, err error)
}

// Placements carry "create this match" orders from the lobby to a node.
// The node acknowledges through MatchStore.SetMatchState (running or
// failed).
type Placements interface {
	// SendPlacement queues m for node.
	SendPlacement(ctx context.Context, node string, m MatchRecord) error
	// NextPlacements returns the orders queued for node, oldest first,
	// waiting up to wait for one if there are none (an empty result then).
	NextPlacements(ctx context.Context, node string, wait time.Duration) ([]MatchRecord, error)
}

// --- in-memory implementations ---

// memUsedTokens is the in-memory UsedTokens.
type memUsedTokens struct {
	mu        sync.Mutex
	used      map[string]time.Time // jti -> expiry
	lastPrune time.Time
}

// NewMemoryUsedTokens returns an in-memory [UsedTokens]: a restarted
// process forgets it.
func NewMemoryUsedTokens() UsedTokens { return &memUsedTokens{used: make(map[string]time.Time)} }

func (s *memUsedTokens) UseOnce(ctx context.Context, jti string, exp time.Time) (bool, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastPrune) > 30*time.Second {
		s.lastPrune = now
		for k, e := range s.used {
			if now.After(e) {
				delete(s.used, k)
			}
		}
	}
	if e, used := s.used[jti]; used && now.Before(e) {
		return false, nil
	}
	s.used[jti] = exp
	return true, nil
}

// memLeases is the in-memory Leases.
type memLeases struct {
	mu    sync.Mutex
	held  map[string]memLease
	clock func() time.Time
}

type memLease struct {
	holder string
	until  time.Time
}

// NewMemoryLeases returns in-memory [Leases], for one process.
func NewMemoryLeases() Leases { return &memLeases{held: make(map[string]memLease), clock: time.Now} }

func (s *memLeases) TryLock(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("lobby: lease ttl %v must be positive", ttl)
	}
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.held[name]; ok && l.holder != holder && now.Before(l.until) {
		return false, nil
	}
	s.held[name] = memLease{holder: holder, until: now.Add(ttl)}
	return true, nil
}

func (s *memLeases) Unlock(ctx context.Context, name, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.held[name]; ok && l.holder == holder {
		delete(s.held, name)
	}
	return nil
}

// memQueue is the in-memory Queue.
type memQueue struct {
	mu     sync.Mutex
	byMode map[string][]QueueEntry // in Seq order
	where  map[TicketID]string
	player map[PlayerID]TicketID
	seq    uint64
}

// NewMemoryQueue returns an in-memory [Queue].
func NewMemoryQueue() Queue {
	return &memQueue{byMode: make(map[string][]QueueEntry), where: make(map[TicketID]string), player: make(map[PlayerID]TicketID)}
}

func (q *memQueue) Enqueue(ctx context.Context, e QueueEntry) (QueueEntry, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.where[e.ID]; ok {
		return e, fmt.Errorf("%w: ticket %s already queued", ErrAlreadyQueued, e.ID)
	}
	if id, ok := q.player[e.Player]; ok {
		return e, fmt.Errorf("%w: ticket %s", ErrAlreadyQueued, id)
	}
	if e.Seq == 0 {
		q.seq++
		e.Seq = q.seq
	}
	l := q.byMode[e.Mode]
	i := sort.Search(len(l), func(i int) bool { return l[i].Seq > e.Seq })
	q.byMode[e.Mode] = slices.Insert(l, i, e)
	q.where[e.ID] = e.Mode
	q.player[e.Player] = e.ID
	return e, nil
}

func (q *memQueue) Dequeue(ctx context.Context, ids ...TicketID) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, id := range ids {
		if _, ok := q.where[id]; !ok || slices.Contains(ids[:i], id) {
			return false, nil
		}
	}
	for _, id := range ids {
		mode := q.where[id]
		l := q.byMode[mode]
		for i := range l {
			if l[i].ID == id {
				delete(q.player, l[i].Player)
				l = slices.Delete(l, i, i+1)
				break
			}
		}
		if len(l) == 0 {
			delete(q.byMode, mode)
		} else {
			q.byMode[mode] = l
		}
		delete(q.where, id)
	}
	return true, nil
}

func (q *memQueue) QueueEntries(ctx context.Context) ([]QueueEntry, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]QueueEntry, 0, len(q.where))
	for _, l := range q.byMode {
		out = append(out, l...)
	}
	slices.SortFunc(out, func(a, b QueueEntry) int { return cmpU64(a.Seq, b.Seq) })
	return out, nil
}

func (q *memQueue) QueuePosition(ctx context.Context, id TicketID) (int, int, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	mode, ok := q.where[id]
	if !ok {
		return 0, 0, false, nil
	}
	l := q.byMode[mode]
	for i := range l {
		if l[i].ID == id {
			return i + 1, len(l), true, nil
		}
	}
	return 0, 0, false, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// memTicketEvents is the in-process TicketEvents.
type memTicketEvents struct {
	mu   sync.Mutex
	subs map[int]func(TicketID)
	next int
}

// NewMemoryTicketEvents returns in-process [TicketEvents]: PublishTicket
// calls the subscribers before it returns.
func NewMemoryTicketEvents() TicketEvents {
	return &memTicketEvents{subs: make(map[int]func(TicketID))}
}

func (e *memTicketEvents) PublishTicket(ctx context.Context, id TicketID) error {
	e.mu.Lock()
	fns := make([]func(TicketID), 0, len(e.subs))
	for _, fn := range e.subs {
		fns = append(fns, fn)
	}
	e.mu.Unlock()
	for _, fn := range fns {
		fn(id)
	}
	return nil
}

func (e *memTicketEvents) SubscribeTickets(ctx context.Context, fn func(TicketID)) error {
	e.mu.Lock()
	k := e.next
	e.next++
	e.subs[k] = fn
	e.mu.Unlock()
	<-ctx.Done()
	e.mu.Lock()
	delete(e.subs, k)
	e.mu.Unlock()
	return nil
}

// memNodes is the in-memory NodeRegistry.
type memNodes struct {
	mu    sync.Mutex
	nodes map[string]memNode
	clock func() time.Time
}

type memNode struct {
	info  NodeInfo
	until time.Time
}

// NewMemoryNodeRegistry returns an in-memory [NodeRegistry], for one
// process.
func NewMemoryNodeRegistry() NodeRegistry {
	return &memNodes{nodes: make(map[string]memNode), clock: time.Now}
}

func (s *memNodes) Heartbeat(ctx context.Context, n NodeInfo, ttl time.Duration) error {
	if n.ID == "" {
		return fmt.Errorf("%w: node id is empty", ErrBadRequest)
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: heartbeat ttl %v must be positive", ErrBadRequest, ttl)
	}
	now := s.clock()
	if n.Seen.IsZero() {
		n.Seen = now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[n.ID] = memNode{info: n, until: now.Add(ttl)}
	return nil
}

func (s *memNodes) Nodes(ctx context.Context) ([]NodeInfo, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []NodeInfo
	for _, n := range s.nodes {
		if now.Before(n.until) {
			out = append(out, n.info)
		}
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return cmpString(a.ID, b.ID) })
	return out, nil
}

func (s *memNodes) DeadNodes(ctx context.Context) ([]string, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, n := range s.nodes {
		if !now.Before(n.until) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (s *memNodes) ReapNode(ctx context.Context, id string) (bool, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if !ok || now.Before(n.until) {
		return false, nil
	}
	delete(s.nodes, id)
	return true, nil
}

func (s *memNodes) Deregister(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.nodes, id)
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// memMatches is the in-memory MatchStore.
type memMatches struct {
	mu        sync.Mutex
	byID      map[string]memMatch
	retention time.Duration
	clock     func() time.Time
}

type memMatch struct {
	rec   MatchRecord
	until time.Time // for final matches: when it is forgotten
}

// NewMemoryMatchStore returns an in-memory [MatchStore] that keeps final
// matches for retention (if zero, 10 minutes).
func NewMemoryMatchStore(retention time.Duration) MatchStore {
	if retention <= 0 {
		retention = 10 * time.Minute
	}
	return &memMatches{byID: make(map[string]memMatch), retention: retention, clock: time.Now}
}

func (s *memMatches) pruneLocked(now time.Time) {
	for id, m := range s.byID {
		if MatchStateFinal(m.rec.State) && !now.Before(m.until) {
			delete(s.byID, id)
		}
	}
}

func (s *memMatches) PutMatch(ctx context.Context, m MatchRecord) error {
	if m.ID == "" {
		return fmt.Errorf("%w: match id is empty", ErrBadRequest)
	}
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	m.Players = slices.Clone(m.Players)
	s.byID[m.ID] = memMatch{rec: m, until: now.Add(s.retention)}
	return nil
}

func (s *memMatches) MatchRecord(ctx context.Context, id string) (MatchRecord, bool, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byID[id]
	if !ok || (MatchStateFinal(m.rec.State) && !now.Before(m.until)) {
		return MatchRecord{}, false, nil
	}
	m.rec.Players = slices.Clone(m.rec.Players)
	return m.rec, true, nil
}

func (s *memMatches) list(node string, all bool) []MatchRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []MatchRecord
	for _, m := range s.byID {
		if MatchStateFinal(m.rec.State) || (!all && m.rec.Node != node) {
			continue
		}
		m.rec.Players = slices.Clone(m.rec.Players)
		out = append(out, m.rec)
	}
	slices.SortFunc(out, func(a, b MatchRecord) int { return cmpString(a.ID, b.ID) })
	return out
}

func (s *memMatches) LiveMatches(ctx context.Context) ([]MatchRecord, error) {
	return s.list("", true), nil
}

func (s *memMatches) MatchesOnNode(ctx context.Context, node string) ([]MatchRecord, error) {
	return s.list(node, false), nil
}

func (s *memMatches) SetMatchState(ctx context.Context, id, state string) (MatchRecord, bool, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byID[id]
	if !ok || (MatchStateFinal(m.rec.State) && !now.Before(m.until)) {
		return MatchRecord{}, false, fmt.Errorf("%w: %q", ErrMatchNotFound, id)
	}
	if MatchStateFinal(m.rec.State) || m.rec.State == state {
		m.rec.Players = slices.Clone(m.rec.Players)
		return m.rec, false, nil
	}
	m.rec.State = state
	m.until = now.Add(s.retention)
	s.byID[id] = m
	m.rec.Players = slices.Clone(m.rec.Players)
	return m.rec, true, nil
}

// memPlacements is the in-memory Placements.
type memPlacements struct {
	mu     sync.Mutex
	queued map[string][]MatchRecord
	wake   map[string]chan struct{} // closed when node gets an order
}

// NewMemoryPlacements returns in-memory [Placements], for one process.
func NewMemoryPlacements() Placements {
	return &memPlacements{queued: make(map[string][]MatchRecord), wake: make(map[string]chan struct{})}
}

func (p *memPlacements) SendPlacement(ctx context.Context, node string, m MatchRecord) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m.Players = slices.Clone(m.Players)
	p.queued[node] = append(p.queued[node], m)
	if ch, ok := p.wake[node]; ok {
		close(ch)
		delete(p.wake, node)
	}
	return nil
}

func (p *memPlacements) NextPlacements(ctx context.Context, node string, wait time.Duration) ([]MatchRecord, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if q := p.queued[node]; len(q) > 0 {
			delete(p.queued, node)
			p.mu.Unlock()
			return q, nil
		}
		ch, ok := p.wake[node]
		if !ok {
			ch = make(chan struct{})
			p.wake[node] = ch
		}
		p.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// --- fenced matchmaking (shared stores) ---

// Fence names the matchmaker lease epoch a write is made under. A shared
// store refuses the write (with an error wrapping ErrFenced) once the lease
// has been acquired again since (by another lobby, or anew after it
// lapsed), so a leader that froze past its lease and woke up cannot finish
// work the new leader already took over.
type Fence struct {
	Lease string // the lease name ("matchmaker")
	Epoch uint64 // the epoch MatchmakerStore.AcquireLease returned
}

// PlacingGroup is a group of tickets the matchmaker took out of the queue
// to place, recorded until its placement is resolved, so that a new
// leader can resolve the groups a dead (or frozen) one left behind.
type PlacingGroup struct {
	Key     string       `json:"key"`   // unique; also PlaceRequest.Key
	Epoch   uint64       `json:"epoch"` // lease epoch of the lobby that claimed it
	Mode    string       `json:"mode"`
	Bots    int          `json:"bots"`
	Entries []QueueEntry `json:"entries"` // with their Seq: their places in line
	Claimed time.Time    `json:"claimed"`
}

// FencedLeases are Leases with a fencing token. When Config.Leases
// implements it (package lobby/redisstore does), the matchmaker's writes
// through a MatchmakerStore carry the epoch as their Fence.
type FencedLeases interface {
	Leases
	// AcquireLease takes the lease name for holder for ttl if it is free
	// (or lapsed), or extends it if holder has it, and returns its epoch:
	// a number that grows every time the lease is taken (not when it is
	// extended). It returns 0 when another holder has the lease.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (epoch uint64, err error)
}

// MatchmakerStore is what a shared store implements so that several lobby
// processes run one matchmaker safely (package lobby/redisstore does). When
// Config.Queue implements it, the lobby uses it instead of Queue.Dequeue,
// Queue.Enqueue and the TicketStore for the matchmaker's writes and for
// ticket creation. Each fenced write checks the fence inside the store,
// atomically with the write, and fails with an error wrapping ErrFenced
// when the fence is stale; a zero Fence.Epoch writes unfenced (Leases that
// are not FencedLeases, or none).
type MatchmakerStore interface {
	// ClaimGroup takes every entry of g out of the queue and records g as
	// placing, and stores tickets (the group's tickets, marked Placing),
	// all or nothing; claimed is false if any entry is no longer queued.
	ClaimGroup(ctx context.Context, f Fence, g PlacingGroup, tickets []Ticket) (claimed bool, err error)
	// CompleteGroup seats players in matchID (failing with an error
	// wrapping ErrAlreadyInMatch, and changing nothing, if one holds a
	// seat), stores tickets (matched) and forgets group key, all or
	// nothing.
	CompleteGroup(ctx context.Context, f Fence, key, matchID string, players []PlayerID, tickets []Ticket) error
	// RequeueGroup puts g's entries back in the queue with their Seq (their
	// places in line), stores tickets and forgets g, all or nothing. An
	// entry whose ticket is in tickets with a terminal status is not
	// requeued.
	RequeueGroup(ctx context.Context, f Fence, g PlacingGroup, tickets []Ticket) error
	// ExpireQueued takes t out of the queue and stores t (expired), and
	// reports false (storing nothing) if t was not queued.
	ExpireQueued(ctx context.Context, f Fence, t Ticket) (bool, error)
	// PlacingGroups returns every recorded placing group, oldest first.
	PlacingGroups(ctx context.Context) ([]PlacingGroup, error)
	// CreateTicket stores t (queued), makes it its player's live ticket and
	// queues e, atomically: it fails with an error wrapping
	// ErrAlreadyQueued, storing nothing, if the player has a live ticket
	// or a queued entry. It returns e with its Seq.
	CreateTicket(ctx context.Context, t Ticket, e QueueEntry) (QueueEntry, error)
}

// QueueSnapshotter is what a Queue may implement so the matchmaker reads
// the queue only when it changed.
type QueueSnapshotter interface {
	// QueueSnapshot returns the queue's version, a number that changes with
	// every Enqueue and Dequeue, and, if it differs from since, every
	// queued entry in Seq order (changed true); otherwise no entries.
	QueueSnapshot(ctx context.Context, since uint64) (entries []QueueEntry, version uint64, changed bool, err error)
}

// PlacementFinder is what a Placer may implement so a new matchmaker
// leader can learn whether a placement its dead predecessor started
// created a match (PlaceRequest.Key identifies the placement).
type PlacementFinder interface {
	// FindPlacement returns the match created for key, if any.
	FindPlacement(ctx context.Context, key string) (Placement, bool, error)
}
