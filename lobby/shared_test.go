package lobby

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// The in-memory implementations of the shared-state interfaces are what a
// single lobby process runs on; storetest runs its contract suite over them
// from outside the package. These tests pin the edges (expiry instants,
// final states, capacity) from inside it, on a settable clock.

func TestNodeSpareAndFinalStates(t *testing.T) {
	for _, c := range []struct {
		n    NodeInfo
		want int
	}{
		{NodeInfo{Capacity: 8, Players: 3}, 5},
		{NodeInfo{Capacity: 8, Players: 8}, 0},
		{NodeInfo{Capacity: 8, Players: 10}, 0}, // over capacity (a shrunk node): none, never negative
		{NodeInfo{Capacity: 8, Players: 3, Draining: true}, 0},
	} {
		if got := c.n.Spare(); got != c.want {
			t.Errorf("%+v.Spare() = %d, want %d", c.n, got, c.want)
		}
	}
	for s, final := range map[string]bool{MatchPlacing: false, MatchRunning: false, MatchFailed: true, MatchEnded: true, MatchLost: true} {
		if MatchStateFinal(s) != final {
			t.Errorf("MatchStateFinal(%q) = %v", s, !final)
		}
	}
}

func TestMemoryLeasesExpiry(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := NewMemoryLeases().(*memLeases)
	s.clock = clk.Now
	if _, err := s.TryLock(ctx, "mm", "a", 0); err == nil {
		t.Fatal("a zero ttl was accepted")
	}
	if held, err := s.TryLock(ctx, "mm", "a", time.Second); !held || err != nil {
		t.Fatalf("free lease: %v %v", held, err)
	}
	if held, _ := s.TryLock(ctx, "mm", "b", time.Second); held {
		t.Fatal("b took a's lease")
	}
	clk.Advance(999 * time.Millisecond)
	if held, _ := s.TryLock(ctx, "mm", "b", time.Second); held {
		t.Fatal("b took a's lease 1 ms before it lapsed")
	}
	if held, _ := s.TryLock(ctx, "mm", "a", time.Second); !held { // renews until +1999ms
		t.Fatal("a could not renew")
	}
	clk.Advance(999 * time.Millisecond)
	if held, _ := s.TryLock(ctx, "mm", "b", time.Second); held {
		t.Fatal("b took a renewed lease")
	}
	if err := s.Unlock(ctx, "mm", "b"); err != nil { // not b's: nothing happens
		t.Fatal(err)
	}
	if held, _ := s.TryLock(ctx, "mm", "b", time.Second); held {
		t.Fatal("b's Unlock freed a's lease")
	}
	clk.Advance(time.Millisecond) // exactly at the end of a's renewed lease
	if held, _ := s.TryLock(ctx, "mm", "b", time.Second); !held {
		t.Fatal("b could not take a lapsed lease")
	}
	if err := s.Unlock(ctx, "mm", "b"); err != nil {
		t.Fatal(err)
	}
	if held, _ := s.TryLock(ctx, "mm", "a", time.Second); !held {
		t.Fatal("a could not take a released lease")
	}
}

func TestMemoryUsedTokensForgetExpired(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryUsedTokens().(*memUsedTokens)
	past := time.Now().Add(-time.Minute)
	// A jti whose token expired may be "used" again (its token is refused
	// for its expiry anyway), and the prune pass forgets it.
	for i := range 2 {
		if first, err := s.UseOnce(ctx, "old", past); !first || err != nil {
			t.Fatalf("expired jti, use %d: %v %v", i, first, err)
		}
	}
	s.mu.Lock()
	s.lastPrune = time.Now().Add(-31 * time.Second)
	s.mu.Unlock()
	if first, _ := s.UseOnce(ctx, "new", time.Now().Add(time.Minute)); !first {
		t.Fatal("new jti refused")
	}
	s.mu.Lock()
	_, kept := s.used["old"]
	s.mu.Unlock()
	if kept {
		t.Fatal("the prune pass kept an expired jti")
	}
	if first, _ := s.UseOnce(ctx, "new", time.Now().Add(time.Minute)); first {
		t.Fatal("a live jti was accepted twice")
	}
}

func TestMemoryNodeRegistryEdges(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := NewMemoryNodeRegistry().(*memNodes)
	s.clock = clk.Now
	if err := s.Heartbeat(ctx, NodeInfo{}, time.Second); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("empty id: %v", err)
	}
	if err := s.Heartbeat(ctx, NodeInfo{ID: "n"}, 0); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("zero ttl: %v", err)
	}
	sent := clk.Now().Add(-time.Millisecond)
	for _, n := range []NodeInfo{{ID: "n2", Seen: sent}, {ID: "n1"}} {
		if err := s.Heartbeat(ctx, n, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	nodes, _ := s.Nodes(ctx)
	if len(nodes) != 2 || nodes[0].ID != "n1" || nodes[1].ID != "n2" {
		t.Fatalf("nodes %+v, want n1, n2", nodes)
	}
	if !nodes[0].Seen.Equal(clk.Now()) || !nodes[1].Seen.Equal(sent) {
		t.Fatalf("seen %v, %v: want the registry's clock when unset, the sender's otherwise", nodes[0].Seen, nodes[1].Seen)
	}
	if claimed, _ := s.ReapNode(ctx, "n1"); claimed {
		t.Fatal("reaped a live node")
	}
	clk.Advance(999 * time.Millisecond)
	if dead, _ := s.DeadNodes(ctx); len(dead) != 0 {
		t.Fatalf("dead %v before the ttl", dead)
	}
	if err := s.Heartbeat(ctx, NodeInfo{ID: "n2"}, time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Millisecond) // n1's ttl is over to the instant
	if nodes, _ := s.Nodes(ctx); len(nodes) != 1 || nodes[0].ID != "n2" {
		t.Fatalf("live %+v, want n2", nodes)
	}
	if dead, _ := s.DeadNodes(ctx); !slices.Equal(dead, []string{"n1"}) {
		t.Fatalf("dead %v, want [n1]", dead)
	}
	if claimed, _ := s.ReapNode(ctx, "n2"); claimed {
		t.Fatal("reaped a live node")
	}
	if claimed, _ := s.ReapNode(ctx, "n1"); !claimed {
		t.Fatal("could not reap a dead node")
	}
	if claimed, _ := s.ReapNode(ctx, "n1"); claimed {
		t.Fatal("reaped a node twice")
	}
	if dead, _ := s.DeadNodes(ctx); len(dead) != 0 {
		t.Fatalf("dead %v after the reap", dead)
	}
	if err := s.Deregister(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := s.Nodes(ctx); len(nodes) != 0 {
		t.Fatalf("nodes %+v after deregistering", nodes)
	}
}

func TestMemoryMatchStoreEdges(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	if s := NewMemoryMatchStore(0).(*memMatches); s.retention != 10*time.Minute {
		t.Fatalf("default retention %v", s.retention)
	}
	s := NewMemoryMatchStore(time.Minute).(*memMatches)
	s.clock = clk.Now
	if err := s.PutMatch(ctx, MatchRecord{}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("empty id: %v", err)
	}
	players := []PlayerID{1, 2}
	for _, m := range []MatchRecord{
		{ID: "b", Node: "n1", State: MatchRunning, Players: players},
		{ID: "a", Node: "n2", State: MatchPlacing},
		{ID: "c", Node: "n1", State: MatchPlacing},
	} {
		if err := s.PutMatch(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	players[0] = 99 // the store kept its own copy
	ids := func(ms []MatchRecord) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	if live, _ := s.LiveMatches(ctx); !slices.Equal(ids(live), []string{"a", "b", "c"}) {
		t.Fatalf("live %v", ids(live))
	}
	if on, _ := s.MatchesOnNode(ctx, "n1"); !slices.Equal(ids(on), []string{"b", "c"}) {
		t.Fatalf("on n1 %v", ids(on))
	}
	m, ok, _ := s.MatchRecord(ctx, "b")
	if !ok || !slices.Equal(m.Players, []PlayerID{1, 2}) {
		t.Fatalf("record b %+v %v", m, ok)
	}
	m.Players[0] = 98
	if _, _, err := s.SetMatchState(ctx, "zz", MatchEnded); !errors.Is(err, ErrMatchNotFound) {
		t.Fatalf("unknown match: %v", err)
	}
	if m, changed, _ := s.SetMatchState(ctx, "b", MatchRunning); changed || m.State != MatchRunning {
		t.Fatalf("same state: changed %v, %+v", changed, m)
	}
	if m, changed, _ := s.SetMatchState(ctx, "b", MatchEnded); !changed || m.State != MatchEnded || m.Players[0] != 1 {
		t.Fatalf("ended: changed %v, %+v", changed, m)
	}
	if m, changed, _ := s.SetMatchState(ctx, "b", MatchRunning); changed || m.State != MatchEnded {
		t.Fatalf("left a final state: changed %v, %+v", changed, m)
	}
	if on, _ := s.MatchesOnNode(ctx, "n1"); !slices.Equal(ids(on), []string{"c"}) {
		t.Fatalf("on n1 after b ended: %v", ids(on))
	}
	clk.Advance(time.Minute - time.Millisecond)
	if _, ok, _ := s.MatchRecord(ctx, "b"); !ok {
		t.Fatal("an ended match vanished before its retention")
	}
	clk.Advance(time.Millisecond)
	if _, ok, _ := s.MatchRecord(ctx, "b"); ok {
		t.Fatal("an ended match outlived its retention")
	}
	if _, _, err := s.SetMatchState(ctx, "b", MatchLost); !errors.Is(err, ErrMatchNotFound) {
		t.Fatalf("forgotten match: %v", err)
	}
	if err := s.PutMatch(ctx, MatchRecord{ID: "d", State: MatchRunning}); err != nil { // prunes b
		t.Fatal(err)
	}
	s.mu.Lock()
	_, kept := s.byID["b"]
	s.mu.Unlock()
	if kept {
		t.Fatal("PutMatch kept a match past its retention")
	}
	if _, ok, _ := s.MatchRecord(ctx, "a"); !ok {
		t.Fatal("a live match was forgotten")
	}
}

func TestMemoryPlacementsWait(t *testing.T) {
	ctx := context.Background()
	p := NewMemoryPlacements()
	if got, err := p.NextPlacements(ctx, "n1", time.Millisecond); len(got) != 0 || err != nil {
		t.Fatalf("nothing queued: %v %v", got, err)
	}
	got := make(chan []MatchRecord, 1)
	go func() {
		ms, _ := p.NextPlacements(ctx, "n1", time.Minute)
		got <- ms
	}()
	players := []PlayerID{7}
	if err := p.SendPlacement(ctx, "n2", MatchRecord{ID: "other"}); err != nil {
		t.Fatal(err)
	}
	if err := p.SendPlacement(ctx, "n1", MatchRecord{ID: "m1", Players: players}); err != nil {
		t.Fatal(err)
	}
	players[0] = 0
	select {
	case ms := <-got:
		if len(ms) != 1 || ms[0].ID != "m1" || ms[0].Players[0] != 7 {
			t.Fatalf("n1 got %+v", ms)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting node did not get its order")
	}
	if ms, _ := p.NextPlacements(ctx, "n2", time.Minute); len(ms) != 1 || ms[0].ID != "other" {
		t.Fatalf("n2 got %+v", ms)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.NextPlacements(cctx, "n1", time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestMemoryTicketEventsFanOut(t *testing.T) {
	e := NewMemoryTicketEvents()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan TicketID, 4)
	done := make(chan struct{})
	go func() {
		_ = e.SubscribeTickets(ctx, func(id TicketID) { got <- id })
		close(done)
	}()
	testkitWait(t, "the subscription", func() bool {
		m := e.(*memTicketEvents)
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.subs) == 1
	})
	if err := e.PublishTicket(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if id := <-got; id != "t1" {
		t.Fatalf("got %q", id)
	}
	cancel()
	<-done
	_ = e.PublishTicket(context.Background(), "t2")
	if len(got) != 0 {
		t.Fatal("an ended subscription still gets events")
	}
}

// TestMemoryQueueOrder: the in-memory queue keeps arrival order per mode,
// a requeue with its Seq keeps its place, and a player queues once.
func TestMemoryQueueOrder(t *testing.T) {
	ctx := context.Background()
	q := NewMemoryQueue()
	var seqs []uint64
	for i, id := range []TicketID{"a", "b", "c"} {
		e, err := q.Enqueue(ctx, QueueEntry{ID: id, Player: PlayerID(i + 1), Mode: "duel"})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	if !(seqs[0] < seqs[1] && seqs[1] < seqs[2]) {
		t.Fatalf("arrival numbers %v do not grow", seqs)
	}
	if _, err := q.Enqueue(ctx, QueueEntry{ID: "d", Player: 1, Mode: "duel"}); !errors.Is(err, ErrAlreadyQueued) {
		t.Fatalf("second entry of a player: %v", err)
	}
	if ok, _ := q.Dequeue(ctx, "a"); !ok {
		t.Fatal("dequeue a")
	}
	if _, err := q.Enqueue(ctx, QueueEntry{ID: "a", Player: 1, Mode: "duel", Seq: seqs[0]}); err != nil {
		t.Fatal(err)
	}
	if pos, n, ok, _ := q.QueuePosition(ctx, "c"); !ok || pos != 3 || n != 3 {
		t.Fatalf("c at %d of %d (%v), want 3 of 3", pos, n, ok)
	}
	all, _ := q.QueueEntries(ctx)
	var ids []TicketID
	for _, e := range all {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []TicketID{"a", "b", "c"}) {
		t.Fatalf("queue %v, want a b c", ids)
	}
}

// TestTicketStorePruneReopened: a ticket that finished, was stored queued
// again and finished again is pruned once, and the pruning list is left
// empty (it does not grow with such tickets).
func TestTicketStorePruneReopened(t *testing.T) {
	s := NewMemoryTicketStore().(*memTickets)
	t0 := time.Unix(1_800_000_000, 0)
	for _, st := range []TicketStatus{StatusQueued, StatusCancelled, StatusQueued, StatusCancelled} {
		if err := s.PutTicket(Ticket{ID: "t", Player: 1, Status: st, Closed: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutTicket(Ticket{ID: "u", Player: 2, Status: StatusExpired, Closed: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PruneTickets(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ticket("t"); !errors.Is(err, ErrTicketNotFound) {
		t.Fatalf("t after the prune: %v", err)
	}
	if _, err := s.Ticket("u"); err != nil {
		t.Fatalf("u, closed after the cut-off, was pruned: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Equal(s.closed, []TicketID{"u"}) {
		t.Fatalf("pruning list %v, want [u]", s.closed)
	}
}
