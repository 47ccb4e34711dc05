package lobby

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// These tests run the matchmaker's shared-store path (fencedmm.go) on
// fencedStore, the in-memory MatchmakerStore in fencedstore_test.go.

// duelConfig is testConfig with one mode of exactly two players, so that
// which two of three queued players are matched shows the queue order.
func duelConfig(s *fencedStore) Config {
	cfg := s.config(testConfig())
	cfg.Modes = map[string]ModeRules{"duel": {MinPlayers: 2, MaxPlayers: 2}}
	return cfg
}

func (e *env) setFail(err error) {
	e.game.mu.Lock()
	e.game.fail = err
	e.game.mu.Unlock()
}

// TestSharedStoreRequeuesInPlace: over a MatchmakerStore, a ticket is
// created in one atomic write (a player's second live ticket is refused),
// a group whose placement fails goes back to the queue in its place (ahead
// of a later ticket), and once placements work it is matched, with its
// seats taken and no placing group left behind.
func TestSharedStoreRequeuesInPlace(t *testing.T) {
	s := newFencedStore(time.Now)
	e, logs := observedEnv(t, duelConfig(s), nil)
	e.setFail(errors.New("no node"))
	a, b, c := e.guest("a"), e.guest("b"), e.guest("c")
	ta := e.ticket(a.SessionToken, "duel")
	e.expectError("POST", "/v1/tickets", a.SessionToken, map[string]any{"mode": "duel"}, http.StatusConflict, "already_queued")
	tb := e.ticket(b.SessionToken, "duel")
	testkitWait(t, "a failed placement", func() bool { return e.l.Metrics().PlacementsFailed >= 1 })
	tc := e.ticket(c.SessionToken, "duel")
	from := e.l.Metrics().PlacementsFailed
	testkitWait(t, "two more failed placements", func() bool { return e.l.Metrics().PlacementsFailed >= from+2 })
	e.setFail(nil)
	ga := e.waitStatus(a.SessionToken, ta.TicketID, "matched")
	gb := e.waitStatus(b.SessionToken, tb.TicketID, "matched")
	if ga.Assignment == nil || gb.Assignment == nil || ga.Assignment.MatchID != gb.Assignment.MatchID {
		t.Fatalf("a %+v, b %+v: want one match", ga.Assignment, gb.Assignment)
	}
	s.waitSteps(t, 3)
	var gc ticketResp
	e.do("GET", "/v1/tickets/"+tc.TicketID, c.SessionToken, nil, &gc)
	if gc.Status != "queued" || gc.Position != 1 {
		t.Fatalf("c: %+v, want queued first (a and b were ahead of it)", gc)
	}
	for _, p := range []PlayerID{a.PlayerID, b.PlayerID} {
		if m, ok, _ := s.seats.Assignment(p); !ok || m != ga.Assignment.MatchID {
			t.Fatalf("player %d seated in %q (%v), want %s", p, m, ok, ga.Assignment.MatchID)
		}
	}
	if k := s.placingKeys(); len(k) != 0 {
		t.Fatalf("placing groups %v left", k)
	}
	reqs := e.game.requests()
	if len(reqs) != 1 || reqs[0].Key == "" || !slices.Equal(reqs[0].Players, []PlayerID{a.PlayerID, b.PlayerID}) {
		t.Fatalf("placements %+v", reqs)
	}
	if m := e.l.Metrics(); m.TicketsMatched != 2 || m.TicketsQueued != 3 {
		t.Fatalf("metrics %+v", m)
	}
	if n := logs.FilterMessage("matchmaker: requeue group").Len(); n != 0 {
		t.Fatalf("%d requeue warnings for requeues that worked", n)
	}
}

// TestSharedStoreExpires: over a MatchmakerStore, a ticket whose time runs
// out leaves the queue and its player may queue again.
func TestSharedStoreExpires(t *testing.T) {
	s := newFencedStore(time.Now)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	cfg := duelConfig(s)
	cfg.Now, cfg.TicketTTL = clk.Now, time.Minute
	e := newEnv(t, cfg)
	a := e.guest("a")
	ta := e.ticket(a.SessionToken, "duel")
	s.waitSteps(t, 3)
	clk.Advance(time.Minute)
	e.waitStatus(a.SessionToken, ta.TicketID, "expired")
	if n := e.l.Metrics().TicketsExpired; n != 1 {
		t.Fatalf("%d tickets expired, want 1", n)
	}
	if q, _ := s.QueueEntries(context.Background()); len(q) != 0 {
		t.Fatalf("queue %+v after the expiry", q)
	}
	e.ticket(a.SessionToken, "duel")
}

// TestSnapshotReadsOnlyChanges: with a QueueSnapshotter the matchmaker
// reads the whole queue only when its version changed, and, as a safety
// net against a version counter lost with the store's data, at least
// every snapshotRefresh of its clock (or when the clock went back).
func TestSnapshotReadsOnlyChanges(t *testing.T) {
	s := newFencedStore(time.Now)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	cfg := duelConfig(s)
	cfg.Now = clk.Now
	cfg.TicketTTL = time.Hour
	e := newEnv(t, cfg)
	s.waitSteps(t, 2)
	reads := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.fullReads
	}
	s.waitSteps(t, 10)
	if n := reads(); n != 1 {
		t.Fatalf("%d full reads of an unchanged queue, want 1", n)
	}
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "duel")
	s.waitSteps(t, 3)
	if n := reads(); n != 2 {
		t.Fatalf("%d full reads after one change, want 2", n)
	}

	// The counter is lost: b's ticket does not change the version, and
	// the matchmaker does not see it until its next full read.
	s.mu.Lock()
	s.versionOK = false
	s.mu.Unlock()
	tb := e.ticket(b.SessionToken, "duel")
	clk.Advance(snapshotRefresh - time.Millisecond)
	s.waitSteps(t, 5)
	var gb ticketResp
	if e.do("GET", "/v1/tickets/"+tb.TicketID, b.SessionToken, nil, &gb); gb.Status != "queued" {
		t.Fatalf("b: %q before the refresh", gb.Status)
	}
	clk.Advance(time.Millisecond)
	e.waitStatus(a.SessionToken, ta.TicketID, "matched")
	e.waitStatus(b.SessionToken, tb.TicketID, "matched")

	// The clock went back: the snapshot's age means nothing; read again.
	c, d := e.guest("c"), e.guest("d")
	tc, td := e.ticket(c.SessionToken, "duel"), e.ticket(d.SessionToken, "duel")
	s.waitSteps(t, 5)
	clk.Advance(-time.Second) // (tokens minted "in the future" are refused: read the store)
	testkitWait(t, "c and d matched", func() bool {
		gc, _ := s.tickets.Ticket(TicketID(tc.TicketID))
		gd, _ := s.tickets.Ticket(TicketID(td.TicketID))
		return gc.Status == StatusMatched && gd.Status == StatusMatched
	})
}

// clusterGame is a Placer (and PlacementFinder) shared by several lobbies:
// it remembers which match it created for each placement key. While hold
// is set, Place records the match (or not, with holdBefore) and then waits
// for release.
type clusterGame struct {
	fakeGame
	mu2        sync.Mutex
	byKey      map[string]Placement
	hold       bool
	holdBefore bool          // hold before creating the match
	held       chan struct{} // closed when a Place call is held
	release    chan struct{}
	calls      int
}

func newClusterGame() *clusterGame {
	return &clusterGame{byKey: make(map[string]Placement), held: make(chan struct{}), release: make(chan struct{})}
}

func (g *clusterGame) Place(ctx context.Context, req PlaceRequest) (Placement, error) {
	g.mu2.Lock()
	g.calls++
	hold, before := g.hold, g.holdBefore
	g.hold = false
	g.mu2.Unlock()
	wait := func() error {
		close(g.held)
		select {
		case <-g.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if hold && before {
		if err := wait(); err != nil {
			return Placement{}, err
		}
		return Placement{}, errors.New("node died")
	}
	pl, err := g.fakeGame.Place(ctx, req)
	if err != nil {
		return pl, err
	}
	pl.WSURL = "ws://node-1.test/v1/ws"
	g.mu2.Lock()
	g.byKey[req.Key] = pl
	g.mu2.Unlock()
	if hold {
		_ = wait()
	}
	return pl, nil
}

func (g *clusterGame) FindPlacement(ctx context.Context, key string) (Placement, bool, error) {
	g.mu2.Lock()
	defer g.mu2.Unlock()
	pl, ok := g.byKey[key]
	return pl, ok, nil
}

// TestLeaderFrozenMidPlacement: a leader whose lease lapsed while it was
// placing a group (frozen, or cut off) cannot finish: the new leader
// resolves the group (completing it with the match the placement created,
// or requeueing it in its place when there is none), and the old leader's
// late writes are refused by the fence, so nobody is placed twice.
func TestLeaderFrozenMidPlacement(t *testing.T) {
	for _, created := range []bool{true, false} {
		name := map[bool]string{true: "match created", false: "no match"}[created]
		t.Run(name, func(t *testing.T) {
			leaseClk := &clock{t: time.Unix(1_800_000_000, 0)}
			s := newFencedStore(leaseClk.Now)
			game := newClusterGame()
			game.hold, game.holdBefore = true, !created
			cfg := duelConfig(s)
			cfg.LeaseTTL = time.Second
			cfg.PlaceTimeout = time.Minute
			cfg.Store = NewMemoryStore() // shared: the same signing keys and players
			la, err := New(cfg, game, game, zaptest.NewLogger(t).Named("a"))
			if err != nil {
				t.Fatal(err)
			}
			ea := &env{t: t, l: la, game: &game.fakeGame}
			ea.srv = newServer(la)
			t.Cleanup(ea.close)
			p1, p2 := ea.guest("p1"), ea.guest("p2")
			t1, t2 := ea.ticket(p1.SessionToken, "duel"), ea.ticket(p2.SessionToken, "duel")
			select {
			case <-game.held:
			case <-time.After(10 * time.Second):
				t.Fatal("lobby a never placed the group")
			}
			if k := s.placingKeys(); len(k) != 1 {
				t.Fatalf("placing groups %v, want one", k)
			}

			// a is frozen in Place; its lease lapses and b takes over.
			leaseClk.Advance(2 * time.Second)
			core, logsB := observer.New(zap.InfoLevel)
			lb, err := New(cfg, game, game, zap.New(core))
			if err != nil {
				t.Fatal(err)
			}
			eb := &env{t: t, l: lb, game: &game.fakeGame}
			eb.srv = newServer(lb)
			t.Cleanup(eb.close)
			g1 := eb.waitStatus(p1.SessionToken, t1.TicketID, "matched")
			g2 := eb.waitStatus(p2.SessionToken, t2.TicketID, "matched")
			if g1.Assignment == nil || g2.Assignment == nil || g1.Assignment.MatchID != g2.Assignment.MatchID {
				t.Fatalf("p1 %+v, p2 %+v: want one match", g1.Assignment, g2.Assignment)
			}
			if !lb.LeaseHeld() {
				t.Fatal("b matched without the lease")
			}
			want := "m1" // a's match, or (when a created none) b's own placement
			if g1.Assignment.MatchID != want || g1.Assignment.WSURL != "ws://node-1.test/v1/ws?match="+want {
				t.Fatalf("assignment %+v, want %s on node-1", g1.Assignment, want)
			}

			// a wakes up: its completion (or requeue) is fenced off.
			close(game.release)
			s.waitSteps(t, 6)
			testkitWait(t, "a to see it lost the lease", func() bool { return !la.LeaseHeld() })
			if k := s.placingKeys(); len(k) != 0 {
				t.Fatalf("placing groups %v left", k)
			}
			if q, _ := s.QueueEntries(context.Background()); len(q) != 0 {
				t.Fatalf("queue %+v: a requeued a group b placed", q)
			}
			for _, tr := range []ticketResp{t1, t2} {
				got, _ := s.tickets.Ticket(TicketID(tr.TicketID))
				if got.Status != StatusMatched || got.MatchID != want {
					t.Fatalf("ticket %s: %s in %q after a woke up", tr.TicketID, got.Status, got.MatchID)
				}
			}
			game.mu2.Lock()
			calls := game.calls
			game.mu2.Unlock()
			if wantCalls := map[bool]int{true: 1, false: 2}[created]; calls != wantCalls {
				t.Fatalf("%d Place calls, want %d", calls, wantCalls)
			}
			if n := la.Metrics().TicketsMatched; n != 0 {
				t.Fatalf("a counted %d matched tickets after its write was fenced", n)
			}
			// a's placement failed only where it created no match.
			if n, want := la.Metrics().PlacementsFailed, map[bool]uint64{true: 0, false: 1}[created]; n != want {
				t.Fatalf("a counted %d failed placements, want %d", n, want)
			}
			if n := logsB.FilterMessage("matchmaker lease epoch").FilterField(zap.Uint64("epoch", 2)).Len(); n != 1 {
				t.Fatalf("b logged its lease epoch 2 %d times, want once", n)
			}
			// b resolved the group once: no write after it finished it.
			if n := logsB.FilterMessage("matchmaker: requeue group").Len(); n != 0 {
				t.Fatalf("b tried %d requeues of a resolved group", n)
			}
		})
	}
}

// lossyEvents is TicketEvents that can lose messages, as a pub/sub
// subscription does across a reconnect: while drop is set, PublishTicket
// delivers nothing, and resync tells every subscriber that changes may
// have been missed (fn("")), as the contract says a subscription does when
// it starts again.
type lossyEvents struct {
	TicketEvents
	mu       sync.Mutex
	drop     bool
	failSubs int // subscriptions to fail (a lost connection)
	fns      []func(TicketID)
}

func (e *lossyEvents) PublishTicket(ctx context.Context, id TicketID) error {
	e.mu.Lock()
	drop := e.drop
	e.mu.Unlock()
	if drop {
		return nil
	}
	return e.TicketEvents.PublishTicket(ctx, id)
}

func (e *lossyEvents) SubscribeTickets(ctx context.Context, fn func(TicketID)) error {
	e.mu.Lock()
	if e.failSubs > 0 {
		e.failSubs--
		e.mu.Unlock()
		return fmt.Errorf("%w: connection reset", ErrStoreUnavailable)
	}
	e.fns = append(e.fns, fn)
	e.mu.Unlock()
	return e.TicketEvents.SubscribeTickets(ctx, fn)
}

func (e *lossyEvents) subscribers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.fns)
}

func (e *lossyEvents) resync() {
	e.mu.Lock()
	fns := slices.Clone(e.fns)
	e.mu.Unlock()
	for _, fn := range fns {
		fn("")
	}
}

// TestTicketEventsAcrossLobbies: an event stream served by one lobby sees
// a match made by another at once, through TicketEvents (the streams'
// periodic re-read is an hour away here), and, when messages were lost,
// at the subscription's "may have missed changes" notice.
func TestTicketEventsAcrossLobbies(t *testing.T) {
	s := newFencedStore(time.Now)
	events := &lossyEvents{TicketEvents: NewMemoryTicketEvents()}
	cfg := duelConfig(s)
	cfg.Store, cfg.TicketEvents, cfg.SSEUpdateInterval = NewMemoryStore(), events, time.Hour
	front := cfg
	front.NoMatchmaker = true // a lobby that only serves requests
	ea := newEnv(t, front)
	eb := newEnv(t, cfg)
	testkitWait(t, "both lobbies subscribed", func() bool { return events.subscribers() == 2 })

	p1, p2 := ea.guest("p1"), ea.guest("p2")
	t1 := ea.ticket(p1.SessionToken, "duel")
	st := ea.openStream(t1.TicketID, "")
	st.until(t, "queued")
	eb.ticket(p2.SessionToken, "duel")
	if ev := st.until(t, "matched"); !strings.Contains(ev.data, `"match_id":"m1"`) {
		t.Fatalf("matched event %+v", ev)
	}

	events.mu.Lock()
	events.drop = true
	events.mu.Unlock()
	p3, p4 := ea.guest("p3"), ea.guest("p4")
	t3 := ea.ticket(p3.SessionToken, "duel")
	st3 := ea.openStream(t3.TicketID, "")
	st3.until(t, "queued")
	eb.ticket(p4.SessionToken, "duel")
	testkitWait(t, "p3 matched", func() bool {
		got, _ := s.tickets.Ticket(TicketID(t3.TicketID))
		return got.Status == StatusMatched
	})
	events.resync()
	if ev := st3.until(t, "matched"); !strings.Contains(ev.data, `"match_id":"m2"`) {
		t.Fatalf("matched event %+v", ev)
	}
}

// seedGroup stores queued tickets for players and claims them as one
// placing group, unfenced, at claimed: the state a lobby process that died
// while placing them leaves behind.
func seedGroup(t *testing.T, s *fencedStore, claimed time.Time, players ...PlayerID) []TicketID {
	t.Helper()
	ctx := context.Background()
	var entries []QueueEntry
	var tickets []Ticket
	for _, p := range players {
		tk := Ticket{ID: TicketID(randomID(16)), Player: p, Mode: "duel", Rating: 1500, Status: StatusQueued,
			Created: claimed, Expires: claimed.Add(time.Hour)}
		e, err := s.CreateTicket(ctx, tk, QueueEntry{ID: tk.ID, Player: p, Mode: "duel", Rating: 1500, Enqueued: claimed, Expires: tk.Expires})
		if err != nil {
			t.Fatal(err)
		}
		tk.Placing, tk.Sequence = true, e.Seq
		entries, tickets = append(entries, e), append(tickets, tk)
	}
	ok, err := s.ClaimGroup(ctx, Fence{Lease: matchmakerLease}, PlacingGroup{Key: "dead-" + randomID(4), Mode: "duel", Entries: entries, Claimed: claimed}, tickets)
	if !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	ids := make([]TicketID, len(tickets))
	for i, tk := range tickets {
		ids[i] = tk.ID
	}
	return ids
}

// TestUnfencedResolvesOnlyOldGroups: with Leases that give no fencing
// token, a leader cannot tell a dead lobby's placing group from one whose
// placement is still running elsewhere, so it leaves a group alone until
// no placement can still be running (PlaceTimeout + 4 StoreTimeouts +
// LeaseTTL after the claim, 21 s here), then puts it back in the queue in
// its place.
func TestUnfencedResolvesOnlyOldGroups(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newFencedStore(time.Now)
	ids := seedGroup(t, s, clk.Now(), 1001, 1002)
	cfg := duelConfig(s)
	cfg.Leases = NewMemoryLeases()
	cfg.Now = clk.Now
	cfg.PlaceTimeout = 10 * time.Second // StoreTimeout 2 s and LeaseTTL 3 s by default
	e := newEnv(t, cfg)
	age := 21 * time.Second
	for _, d := range []time.Duration{0, age - time.Millisecond} {
		clk.Advance(d)
		s.waitSteps(t, 3)
		if k := s.placingKeys(); len(k) != 1 || len(e.game.requests()) != 0 {
			t.Fatalf("%v later: placing %v, placements %+v", d, k, e.game.requests())
		}
	}
	clk.Advance(time.Millisecond)
	testkitWait(t, "the group requeued and placed", func() bool {
		for _, id := range ids {
			if tk, _ := s.tickets.Ticket(id); tk.Status != StatusMatched {
				return false
			}
		}
		return true
	})
	if reqs := e.game.requests(); len(reqs) != 1 || !slices.Equal(reqs[0].Players, []PlayerID{1001, 1002}) {
		t.Fatalf("placements %+v", reqs)
	}
}

// TestLostLeaseStopsPlacing: a leader that claimed several groups in one
// step and lost its lease while placing the first places no more of them
// (its writes would be fenced anyway, and the placements would be
// duplicates); they stay recorded for the new leader.
func TestLostLeaseStopsPlacing(t *testing.T) {
	leaseClk := &clock{t: time.Unix(1_800_000_000, 0)}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newFencedStore(leaseClk.Now)
	game := newClusterGame()
	game.hold = true
	cfg := duelConfig(s)
	cfg.Now, cfg.TicketTTL, cfg.LeaseTTL, cfg.PlaceTimeout = clk.Now, time.Hour, time.Second, time.Minute
	core, logs := observer.New(zap.WarnLevel)
	l, err := New(cfg, game, game, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, l: l, srv: newServer(l), game: &game.fakeGame}
	t.Cleanup(e.close)
	s.waitSteps(t, 2)
	// Four tickets the matchmaker sees in one read: two groups in one step.
	s.mu.Lock()
	s.versionOK = false
	s.mu.Unlock()
	for _, name := range []string{"a", "b", "c", "d"} {
		e.ticket(e.guest(name).SessionToken, "duel")
	}
	clk.Advance(snapshotRefresh)
	select {
	case <-game.held:
	case <-time.After(10 * time.Second):
		t.Fatal("no placement")
	}
	if k := s.placingKeys(); len(k) != 2 {
		t.Fatalf("placing groups %v, want two", k)
	}
	leaseClk.Advance(2 * time.Second)
	if epoch, err := s.AcquireLease(context.Background(), matchmakerLease, "other", time.Hour); epoch == 0 || err != nil {
		t.Fatalf("another lobby could not take the lapsed lease: %d %v", epoch, err)
	}
	close(game.release)
	s.waitSteps(t, 5)
	game.mu2.Lock()
	calls := game.calls
	game.mu2.Unlock()
	if calls != 1 {
		t.Fatalf("%d placements after the lease was lost, want 1", calls)
	}
	if k := s.placingKeys(); len(k) != 2 {
		t.Fatalf("placing groups %v, want both left to the new leader", k)
	}
	if l.LeaseHeld() {
		t.Fatal("lease held after another lobby took it")
	}
	if m := l.Metrics(); m.PlacementsFailed != 0 || m.TicketsMatched != 0 {
		t.Fatalf("metrics %+v: a fenced write is neither a failed placement nor a match", m)
	}
	if n := logs.FilterMessage("matchmaker: lease lost meanwhile; the new leader takes over this work").Len(); n != 1 {
		t.Fatalf("%d 'lease lost' warnings, want 1", n)
	}
}

// TestQueueOutageLoggedOnce: while the shared queue (or the lease) cannot
// be read the matchmaker logs the outage once (not at every step), the end
// of a queue outage once, and then matches again.
func TestQueueOutageLoggedOnce(t *testing.T) {
	s := newFencedStore(time.Now)
	e, logs := observedEnv(t, duelConfig(s), nil)
	s.waitSteps(t, 2)
	s.setDown(true)
	s.waitSteps(t, 5)
	s.setDown(false)
	s.mu.Lock()
	s.leaseDown = true
	s.mu.Unlock()
	s.waitSteps(t, 5)
	if e.l.LeaseHeld() {
		t.Fatal("lease held while the lease store fails")
	}
	s.mu.Lock()
	s.leaseDown = false
	s.mu.Unlock()
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "duel")
	e.ticket(b.SessionToken, "duel")
	e.waitStatus(a.SessionToken, ta.TicketID, "matched")
	if n := logs.FilterMessage("matchmaker: cannot read the queue; not matching until it answers").Len(); n != 1 {
		t.Errorf("%d outage warnings, want 1", n)
	}
	if n := logs.FilterMessage("matchmaker: queue readable again").Len(); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
	if n := logs.FilterMessage("matchmaker lease: store unusable; not matching").Len(); n != 1 {
		t.Errorf("%d lease store warnings, want 1", n)
	}
}

// TestResolveFailureDoesNotStallQueue: a left-behind group that cannot be
// completed with the match its placement created (one of its players was
// seated elsewhere meanwhile) goes back to the queue, and the step goes on:
// the other queued players are matched.
func TestResolveFailureDoesNotStallQueue(t *testing.T) {
	s := newFencedStore(time.Now)
	seedGroup(t, s, time.Now(), 1001, 1002)
	game := newClusterGame()
	for _, g := range func() []PlacingGroup { g, _ := s.PlacingGroups(context.Background()); return g }() {
		game.byKey[g.Key] = Placement{MatchID: "lost-1"}
	}
	if err := s.seats.Assign("elsewhere", []PlayerID{1001}); err != nil {
		t.Fatal(err)
	}
	cfg := duelConfig(s)
	l, err := New(cfg, game, game, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, l: l, srv: newServer(l), game: &game.fakeGame}
	t.Cleanup(e.close)
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "duel")
	e.ticket(b.SessionToken, "duel")
	e.waitStatus(a.SessionToken, ta.TicketID, "matched")
}

// TestTicketEventsResubscribe: a ticket-event subscription that fails is
// logged and started again, and then carries changes.
func TestTicketEventsResubscribe(t *testing.T) {
	s := newFencedStore(time.Now)
	events := &lossyEvents{TicketEvents: NewMemoryTicketEvents(), failSubs: 1}
	cfg := duelConfig(s)
	cfg.TicketEvents, cfg.SSEUpdateInterval = events, time.Hour
	e, logs := observedEnv(t, cfg, nil)
	testkitWait(t, "the second subscription", func() bool { return events.subscribers() == 1 })
	if n := logs.FilterMessage("ticket events: subscription ended; retrying").Len(); n != 1 {
		t.Fatalf("%d subscription warnings, want 1", n)
	}
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "duel")
	st := e.openStream(ta.TicketID, "")
	st.until(t, "queued")
	e.ticket(b.SessionToken, "duel")
	st.until(t, "matched")
}

// TestCancelRacesMatchmaker: a cancel that loses the race for the ticket
// to another lobby's matchmaker answers with the outcome: ticket_closed
// once that lobby stored it (here: matched), ticket_placing while it is
// still being placed.
func TestCancelRacesMatchmaker(t *testing.T) {
	s := newFencedStore(time.Now)
	cfg := duelConfig(s)
	cfg.NoMatchmaker = true // the matchmaker is "another lobby": the test
	e := newEnv(t, cfg)
	for _, outcome := range []TicketStatus{StatusMatched, StatusQueued} {
		a := e.guest("a")
		ta := e.ticket(a.SessionToken, "duel")
		id := TicketID(ta.TicketID)
		s.beforeDequeue = func() {
			s.mu.Lock()
			s.unqueueLocked(id) // taken by the other lobby's matchmaker
			s.mu.Unlock()
			tk, _ := s.tickets.Ticket(id)
			tk.Status = outcome
			_ = s.tickets.PutTicket(tk)
		}
		code := map[TicketStatus]string{StatusMatched: "ticket_closed", StatusQueued: "ticket_placing"}[outcome]
		e.expectError("DELETE", "/v1/tickets/"+ta.TicketID, a.SessionToken, nil, http.StatusConflict, code)
		s.beforeDequeue = nil
	}
}
