package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/redisstore"
)

// startWith starts a lobby process with its own placer.
func (c *cluster) startWith(p lobby.Placer, edit func(*lobby.Config, *redisstore.Store)) *node {
	t := c.t
	t.Helper()
	s, err := redisstore.Open(context.Background(), c.redis.URL, redisstore.Options{Prefix: c.prefix, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := quickConfig()
	s.Configure(&cfg)
	if edit != nil {
		edit(&cfg, s)
	}
	l, err := lobby.New(cfg, p, c.game, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, store: s, l: l, srv: httptest.NewServer(l.Handler())}
	t.Cleanup(n.stop)
	return n
}

// frozenPlacer creates its match (recorded under the request's Key, as a
// cluster placer records a MatchRecord), then freezes until released,
// like a lobby process paused (or killed) in the middle of a placement.
type frozenPlacer struct {
	reg     *placements
	id      string
	entered chan lobby.PlaceRequest
	release chan struct{}
	once    sync.Once
}

func newFrozenPlacer(reg *placements, id string) *frozenPlacer {
	return &frozenPlacer{reg: reg, id: id, entered: make(chan lobby.PlaceRequest, 1), release: make(chan struct{})}
}

func (p *frozenPlacer) Place(ctx context.Context, req lobby.PlaceRequest) (lobby.Placement, error) {
	p.reg.put(req.Key, p.id, req.Players)
	select {
	case p.entered <- req:
	default:
	}
	<-p.release
	return lobby.Placement{MatchID: p.id}, nil
}

func (p *frozenPlacer) wake() { p.once.Do(func() { close(p.release) }) }

// placements records matches by placement key, for every placer of a test.
type placements struct {
	mu    sync.Mutex
	byKey map[string]string
	made  map[string][]lobby.PlayerID
}

func newPlacements() *placements {
	return &placements{byKey: map[string]string{}, made: map[string][]lobby.PlayerID{}}
}

func (r *placements) put(key, match string, ps []lobby.PlayerID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[key] = match
	r.made[match] = append([]lobby.PlayerID(nil), ps...)
}

// finder places through fakeGame and records its matches in the
// registry; findingPlacer also answers FindPlacement from it.
type finder struct {
	reg  *placements
	game *fakeGame
}

func (f *finder) Place(ctx context.Context, req lobby.PlaceRequest) (lobby.Placement, error) {
	pl, err := f.game.Place(ctx, req)
	if err == nil {
		f.reg.put(req.Key, pl.MatchID, req.Players)
	}
	return pl, err
}

type findingPlacer struct{ *finder }

func (f findingPlacer) FindPlacement(ctx context.Context, key string) (lobby.Placement, bool, error) {
	f.reg.mu.Lock()
	defer f.reg.mu.Unlock()
	m, ok := f.reg.byKey[key]
	return lobby.Placement{MatchID: m}, ok, nil
}

// freezeLeader starts lobby A with placer p, queues two duel tickets on
// it and waits until A froze placing them. It returns A and the tickets.
func freezeLeader(t *testing.T, c *cluster, p *frozenPlacer) (*node, [2]auth, [2]ticketView) {
	t.Helper()
	a := c.startWith(p, nil)
	t.Cleanup(p.wake) // before A's stop (cleanups run last first)
	var ps [2]auth
	var ts [2]ticketView
	for i := range ps {
		ps[i] = a.guest(fmt.Sprint("p", i))
		ts[i] = a.ticket(ps[i].SessionToken, "duel")
	}
	select {
	case <-p.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("A never placed the group")
	}
	return a, ps, ts
}

// seatOf reads a player's seat straight from Redis.
func seatOf(t *testing.T, s *redisstore.Store, p lobby.PlayerID) string {
	t.Helper()
	m, ok, err := s.Assignment(p)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return m
}

// TestFencedLeaderWakesLate: leader A freezes inside a placement past its
// lease; B takes the lease over, puts A's group back in line and places
// it. When A wakes, its placer answers with a match, but A's writes
// carry a stale lease epoch and are refused: the players stay in B's
// match, A's match gets no seat, and nobody is placed twice or lost.
func TestFencedLeaderWakesLate(t *testing.T) {
	c := newCluster(t)
	reg := newPlacements()
	fp := newFrozenPlacer(reg, "late-a")
	a, ps, ts := freezeLeader(t, c, fp)
	b := c.startWith(&finder{reg: reg, game: c.game}, nil)
	v0 := b.waitStatus(ps[0].SessionToken, ts[0].TicketID, "matched")
	v1 := b.waitStatus(ps[1].SessionToken, ts[1].TicketID, "matched")
	if v0.Assignment == nil || v1.Assignment == nil || v0.Assignment.MatchID != v1.Assignment.MatchID || v0.Assignment.MatchID == "late-a" {
		t.Fatalf("B's placement: %+v %+v", v0.Assignment, v1.Assignment)
	}
	bm := v0.Assignment.MatchID
	fp.wake()
	a.stop() // waits for A's matchmaker: its late writes are done (or refused)
	for i, p := range ps {
		if v := b.get(p.SessionToken, ts[i].TicketID); v.Status != "matched" || v.Assignment.MatchID != bm {
			t.Fatalf("ticket %d after A woke: %+v %+v", i, v, v.Assignment)
		}
		if m := seatOf(t, b.store, p.PlayerID); m != bm {
			t.Fatalf("player %d seated in %q, want %q", p.PlayerID, m, bm)
		}
	}
	if got, err := b.store.ReleaseMatch("late-a"); err != nil || len(got) != 0 {
		t.Fatalf("A's late match has seats: %v %v", got, err)
	}
	if gs, err := b.store.PlacingGroups(context.Background()); err != nil || len(gs) != 0 {
		t.Fatalf("placing groups left: %+v %v", gs, err)
	}
	c.game.mu.Lock()
	defer c.game.mu.Unlock()
	if len(c.game.placed) != 1 {
		t.Fatalf("B placed %v", c.game.placed)
	}
}

// TestLeaderKilledMidPlaceRequeuesInPlace: leader A dies in the middle of
// placing the two oldest tickets while a third waits behind them. The next
// leader puts them back at their places in line, so they (not the third)
// form the next match.
func TestLeaderKilledMidPlaceRequeuesInPlace(t *testing.T) {
	c := newCluster(t)
	reg := newPlacements()
	fp := newFrozenPlacer(reg, "never")
	a, ps, ts := freezeLeader(t, c, fp)
	p3 := a.guest("third")
	t3 := a.ticket(p3.SessionToken, "duel") // queued behind the frozen group
	if v := a.get(ps[0].SessionToken, ts[0].TicketID); v.Status != "queued" {
		t.Fatalf("frozen ticket: %+v", v)
	}
	b := c.startWith(&finder{reg: reg, game: c.game}, nil)
	v0 := b.waitStatus(ps[0].SessionToken, ts[0].TicketID, "matched")
	v1 := b.waitStatus(ps[1].SessionToken, ts[1].TicketID, "matched")
	if v0.Assignment.MatchID != v1.Assignment.MatchID {
		t.Fatalf("the requeued pair was split: %+v %+v", v0.Assignment, v1.Assignment)
	}
	if v := b.get(p3.SessionToken, t3.TicketID); v.Status != "queued" || v.Position != 1 {
		t.Fatalf("third ticket: %+v (it jumped the line)", v)
	}
}

// TestLeaderKilledAfterMatchCreated: leader A's placement created a match
// and A died before recording it. The next leader learns of the match from
// its Placer (PlacementFinder) and marks the tickets matched with it: no
// second match is made.
func TestLeaderKilledAfterMatchCreated(t *testing.T) {
	c := newCluster(t)
	reg := newPlacements()
	fp := newFrozenPlacer(reg, "made-by-a")
	_, ps, ts := freezeLeader(t, c, fp)
	b := c.startWith(findingPlacer{&finder{reg: reg, game: c.game}}, nil)
	for i, p := range ps {
		v := b.waitStatus(p.SessionToken, ts[i].TicketID, "matched")
		if v.Assignment == nil || v.Assignment.MatchID != "made-by-a" {
			t.Fatalf("ticket %d: %+v", i, v.Assignment)
		}
		if m := seatOf(t, b.store, p.PlayerID); m != "made-by-a" {
			t.Fatalf("player %d seated in %q", p.PlayerID, m)
		}
	}
	c.game.mu.Lock()
	defer c.game.mu.Unlock()
	if len(c.game.placed) != 0 {
		t.Fatalf("a second match was made: %v", c.game.placed)
	}
}

// TestSamePlayerRaceAcrossLobbies: one player creates tickets on two
// lobbies at the same moment (several at once on each), many times over.
// Exactly one creation wins (201), the others get 409 already_queued, and
// the player's live-ticket index names the winner.
func TestSamePlayerRaceAcrossLobbies(t *testing.T) {
	c := newCluster(t)
	idle := func(cfg *lobby.Config, s *redisstore.Store) { cfg.Leases = neverLead{s} } // nobody matches
	lobbies := [2]*node{c.start(idle), c.start(idle)}
	const perLobby = 3 // requests per lobby per round, all at once
	for round := range 30 {
		p := lobbies[0].guest(fmt.Sprint("p", round))
		var codes [2 * perLobby]int
		var bodies [2 * perLobby]string
		var views [2 * perLobby]ticketView
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range codes {
			n := lobbies[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i], bodies[i] = n.do("POST", "/v1/tickets", p.SessionToken, map[string]any{"mode": "duel"}, &views[i])
			}()
		}
		close(start)
		wg.Wait()
		win := -1
		for i := range codes {
			switch {
			case codes[i] == http.StatusCreated && win < 0:
				win = i
			case codes[i] == http.StatusConflict && strings.Contains(bodies[i], `"already_queued"`):
			default:
				t.Fatalf("round %d: answers %v %q", round, codes, bodies)
			}
		}
		if win < 0 {
			t.Fatalf("round %d: no creation won: %v %q", round, codes, bodies)
		}
		id, ok, err := lobbies[0].store.LiveTicket(p.PlayerID)
		if err != nil || !ok || string(id) != views[win].TicketID {
			t.Fatalf("round %d: live ticket %q %v %v, want %s", round, id, ok, err, views[win].TicketID)
		}
		if pos, _, ok, err := lobbies[1].store.QueuePosition(context.Background(), id); err != nil || !ok || pos < 1 {
			t.Fatalf("round %d: winner not queued: %v %v", round, ok, err)
		}
	}
}

// TestFenceRefusesStaleEpoch: every fenced write fails with ErrFenced once
// the lease was taken again, and changes nothing.
func TestFenceRefusesStaleEpoch(t *testing.T) {
	srv := testkit.Redis(t)
	s := open(t, srv, redisstore.Options{Prefix: "f:"})
	ctx := context.Background()
	e1, err := s.AcquireLease(ctx, "matchmaker", "a", time.Minute)
	if err != nil || e1 == 0 {
		t.Fatalf("A's epoch %d %v", e1, err)
	}
	if e, _ := s.AcquireLease(ctx, "matchmaker", "b", time.Minute); e != 0 {
		t.Fatalf("B took a held lease: %d", e)
	}
	if e, _ := s.AcquireLease(ctx, "matchmaker", "a", time.Minute); e != e1 {
		t.Fatalf("renewal changed the epoch: %d -> %d", e1, e)
	}
	now := time.Now()
	mk := func(i int) (lobby.Ticket, lobby.QueueEntry) {
		tk := lobby.Ticket{ID: lobby.TicketID(fmt.Sprintf("t%d", i)), Player: lobby.PlayerID(10 + i), Mode: "duel",
			Status: lobby.StatusQueued, Created: now, Expires: now.Add(time.Minute)}
		e := lobby.QueueEntry{ID: tk.ID, Player: tk.Player, Mode: "duel", Enqueued: now, Expires: tk.Expires}
		e, err := s.CreateTicket(ctx, tk, e)
		if err != nil {
			t.Fatal(err)
		}
		tk.Sequence = e.Seq
		return tk, e
	}
	t1, q1 := mk(1)
	t2, q2 := mk(2)
	old := lobby.Fence{Lease: "matchmaker", Epoch: e1}
	g := lobby.PlacingGroup{Key: "g1", Epoch: e1, Mode: "duel", Entries: []lobby.QueueEntry{q1, q2}, Claimed: now}
	if ok, err := s.ClaimGroup(ctx, old, g, []lobby.Ticket{t1, t2}); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	// A's lease lapses (given back here) and B takes it.
	if err := s.Unlock(ctx, "matchmaker", "a"); err != nil {
		t.Fatal(err)
	}
	e2, err := s.AcquireLease(ctx, "matchmaker", "b", time.Minute)
	if err != nil || e2 <= e1 {
		t.Fatalf("B's epoch %d after %d: %v", e2, e1, err)
	}
	t3, q3 := mk(3)
	matched := []lobby.Ticket{t1, t2}
	for i := range matched {
		matched[i].Status, matched[i].MatchID, matched[i].Closed = lobby.StatusMatched, "stale", now
	}
	expired := t3
	expired.Status, expired.Closed = lobby.StatusExpired, now
	for name, err := range map[string]error{
		"complete": s.CompleteGroup(ctx, old, "g1", "stale", []lobby.PlayerID{t1.Player, t2.Player}, matched),
		"requeue":  s.RequeueGroup(ctx, old, g, []lobby.Ticket{t1, t2}),
		"expire":   func() error { _, err := s.ExpireQueued(ctx, old, expired); return err }(),
		"claim": func() error {
			_, err := s.ClaimGroup(ctx, old, lobby.PlacingGroup{Key: "g2", Epoch: e1, Mode: "duel", Entries: []lobby.QueueEntry{q3}}, []lobby.Ticket{t3})
			return err
		}(),
	} {
		if !errors.Is(err, lobby.ErrFenced) {
			t.Errorf("%s with a stale epoch: %v", name, err)
		}
	}
	if m, ok, _ := s.Assignment(t1.Player); ok {
		t.Fatalf("stale complete seated a player in %s", m)
	}
	if got, _ := s.Ticket(t3.ID); got.Status != lobby.StatusQueued {
		t.Fatalf("stale expire: %+v", got)
	}
	if _, _, ok, _ := s.QueuePosition(ctx, t3.ID); !ok {
		t.Fatal("stale claim dequeued t3")
	}
	// B resolves A's group: back in line at their places, ahead of t3.
	cur := lobby.Fence{Lease: "matchmaker", Epoch: e2}
	gs, err := s.PlacingGroups(ctx)
	if err != nil || len(gs) != 1 || gs[0].Key != "g1" || gs[0].Epoch != e1 {
		t.Fatalf("placing groups: %+v %v", gs, err)
	}
	if err := s.RequeueGroup(ctx, cur, gs[0], []lobby.Ticket{t1, t2}); err != nil {
		t.Fatal(err)
	}
	entries, err := s.QueueEntries(ctx)
	if err != nil || len(entries) != 3 || entries[0].ID != t1.ID || entries[1].ID != t2.ID || entries[2].ID != t3.ID {
		t.Fatalf("queue after requeue: %+v %v", entries, err)
	}
	if err := s.RequeueGroup(ctx, cur, gs[0], []lobby.Ticket{t1, t2}); err == nil {
		t.Fatal("a group was resolved twice")
	}
}

// TestQueueSnapshotVersion: an unchanged queue reads as unchanged; every
// change moves the version.
func TestQueueSnapshotVersion(t *testing.T) {
	srv := testkit.Redis(t)
	s := open(t, srv, redisstore.Options{Prefix: "v:"})
	ctx := context.Background()
	_, v0, changed, err := s.QueueSnapshot(ctx, ^uint64(0))
	if err != nil || !changed {
		t.Fatalf("first snapshot: %v %v", changed, err)
	}
	e, err := s.Enqueue(ctx, lobby.QueueEntry{ID: "a", Player: 1, Mode: "duel", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	got, v1, changed, err := s.QueueSnapshot(ctx, v0)
	if err != nil || !changed || v1 == v0 || len(got) != 1 || got[0].ID != "a" || got[0].Seq != e.Seq {
		t.Fatalf("after enqueue: %+v %d %v %v", got, v1, changed, err)
	}
	if got, v, changed, err := s.QueueSnapshot(ctx, v1); err != nil || changed || v != v1 || got != nil {
		t.Fatalf("unchanged queue: %+v %d %v %v", got, v, changed, err)
	}
	if ok, err := s.Dequeue(ctx, "a"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if got, v, changed, err := s.QueueSnapshot(ctx, v1); err != nil || !changed || v == v1 || len(got) != 0 {
		t.Fatalf("after dequeue: %+v %d %v %v", got, v, changed, err)
	}
}

// gatedTickets holds the first store of a new queued ticket until gate
// closes, widening the window between a lobby's check for a live ticket
// and its writes (the old two-step creation raced there).
type gatedTickets struct {
	*redisstore.Store
	entered chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func (g *gatedTickets) PutTicket(t lobby.Ticket) error {
	if t.Status == lobby.StatusQueued && t.Sequence == 0 {
		g.once.Do(func() {
			close(g.entered)
			select {
			case <-g.gate:
			case <-time.After(30 * time.Second):
			}
		})
	}
	return g.Store.PutTicket(t)
}

// TestSamePlayerRaceWidened: lobby B checks that the player has no live
// ticket, then stalls before its writes while lobby A creates the
// player's ticket. Whatever B does next, exactly one ticket is live and
// the live-ticket index names it.
func TestSamePlayerRaceWidened(t *testing.T) {
	c := newCluster(t)
	gt := &gatedTickets{entered: make(chan struct{}), gate: make(chan struct{})}
	a := c.start(func(cfg *lobby.Config, s *redisstore.Store) { cfg.Leases = neverLead{s} })
	b := c.start(func(cfg *lobby.Config, s *redisstore.Store) {
		cfg.Leases = neverLead{s}
		gt.Store = s
		cfg.Tickets = gt
	})
	p := a.guest("racer")
	var bCode int
	var bBody string
	var bView ticketView
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		bCode, bBody = b.do("POST", "/v1/tickets", p.SessionToken, map[string]any{"mode": "duel"}, &bView)
	}()
	select {
	case <-gt.entered: // B is between its check and its writes
	case <-bDone: // B created the ticket in one atomic step
	case <-time.After(30 * time.Second):
		t.Fatal("B's creation never progressed")
	}
	var aView ticketView
	aCode, aBody := a.do("POST", "/v1/tickets", p.SessionToken, map[string]any{"mode": "duel"}, &aView)
	close(gt.gate)
	<-bDone
	var win ticketView
	switch {
	case aCode == http.StatusCreated && bCode == http.StatusConflict:
		win = aView
	case bCode == http.StatusCreated && aCode == http.StatusConflict:
		win = bView
	default:
		t.Fatalf("A %d %s, B %d %s", aCode, aBody, bCode, bBody)
	}
	id, ok, err := a.store.LiveTicket(p.PlayerID)
	if err != nil || !ok || string(id) != win.TicketID {
		t.Fatalf("live ticket %q %v %v, want %s", id, ok, err, win.TicketID)
	}
}
