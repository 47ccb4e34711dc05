package lobby

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/time/rate"
)

// TestRecoveryStoreForgetsExpired: the in-memory RecoveryStore works on
// time.Now when given no clock, and its pruning pass (every 30 s of its
// clock) forgets lapsed priorities and match tickets, so a long-running
// lobby does not keep every lost match forever.
func TestRecoveryStoreForgetsExpired(t *testing.T) {
	ctx := context.Background()
	r := NewMemoryRecoveryStore(nil)
	if err := r.GrantPriority(ctx, 1, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.TakePriority(ctx, 1); !ok {
		t.Fatal("priority lost on the default clock")
	}

	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := NewMemoryRecoveryStore(clk.Now).(*memRecovery)
	sizes := func() (int, int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.prio), len(s.tickets)
	}
	t0 := clk.Now()
	_ = s.GrantPriority(ctx, 1, t0.Add(time.Second)) // prunes (first pass)
	_ = s.PutMatchTickets(ctx, "m1", []TicketID{"a"}, t0.Add(time.Second))
	clk.Advance(29 * time.Second)
	_ = s.GrantPriority(ctx, 2, t0.Add(time.Hour))
	if p, m := sizes(); p != 2 || m != 1 {
		t.Fatalf("pruned %d priorities, %d match tickets left 29 s after the last pass; want no pass yet", p, m)
	}
	clk.Advance(time.Second)
	_ = s.PutMatchTickets(ctx, "m2", []TicketID{"b"}, t0.Add(time.Hour))
	if p, m := sizes(); p != 1 || m != 1 {
		t.Fatalf("%d priorities, %d match tickets 30 s after the last pass, want 1 and 1", p, m)
	}
	if ok, _ := s.TakePriority(ctx, 2); !ok {
		t.Fatal("a live priority was pruned")
	}
	if ids, _ := s.MatchTickets(ctx, "m2"); len(ids) != 1 || ids[0] != "b" {
		t.Fatalf("m2 tickets %v", ids)
	}
}

// TestMatchLostUnknownMatch: a lost match the lobby has no tickets for
// still gives its players requeue priority, marks nothing, and logs no
// warning (nothing failed).
func TestMatchLostUnknownMatch(t *testing.T) {
	e, logs := observedEnv(t, testConfig(), nil)
	if n := e.l.MatchLost(context.Background(), LostMatch{ID: "gone", Players: []PlayerID{7}}); n != 0 {
		t.Fatalf("marked %d tickets", n)
	}
	if ok, _ := e.l.Recovery().TakePriority(context.Background(), 7); !ok {
		t.Fatal("no requeue priority for the lost match's player")
	}
	for _, entry := range logs.All() {
		if entry.Level >= zap.WarnLevel {
			t.Errorf("%s: %s %v", entry.Level, entry.Message, entry.ContextMap())
		}
	}
}

// TestLeaseReleasedOnDrainAndShutdown: a lobby that drains or shuts down
// gives the matchmaker lease back at once, so another lobby process takes
// over without waiting for it to lapse (an hour here).
func TestLeaseReleasedOnDrainAndShutdown(t *testing.T) {
	for _, how := range []string{"drain", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			leases := NewMemoryLeases()
			cfg := testConfig()
			cfg.Leases, cfg.LeaseTTL = leases, time.Hour
			e, logs := observedEnv(t, cfg, nil)
			testkitWait(t, "the lease", e.l.LeaseHeld)
			if how == "drain" {
				e.l.Drain()
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := e.l.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
			}
			testkitWait(t, "another lobby to take the lease", func() bool {
				held, err := leases.TryLock(context.Background(), matchmakerLease, "other", time.Hour)
				return held && err == nil
			})
			if e.l.LeaseHeld() {
				t.Fatal("LeaseHeld after giving the lease back")
			}
			if n := logs.FilterMessage("matchmaker lease: release").Len(); n != 0 {
				t.Fatalf("%d warnings for a release that worked", n)
			}
		})
	}
}

// TestTicketStoreLiveIndex: storing an old, finished ticket again does not
// drop the player's newer live ticket from the index (which would let the
// player hold two).
func TestTicketStoreLiveIndex(t *testing.T) {
	s := NewMemoryTicketStore()
	old := Ticket{ID: "t1", Player: 5, Status: StatusQueued}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutTicket(old))
	old.Status = StatusCancelled
	must(s.PutTicket(old))
	must(s.PutTicket(Ticket{ID: "t2", Player: 5, Status: StatusQueued}))
	must(s.PutTicket(old))
	if id, ok, _ := s.LiveTicket(5); !ok || id != "t2" {
		t.Fatalf("live ticket %q %v, want t2", id, ok)
	}
	must(s.PutTicket(Ticket{ID: "t2", Player: 5, Status: StatusMatched}))
	if id, ok, _ := s.LiveTicket(5); ok {
		t.Fatalf("live ticket %q after it was matched", id)
	}
}

// TestOrphanedPlacingTicket: without a MatchmakerStore, a ticket left
// "placing" by a lobby that died mid-placement is expired once no
// placement can still finish it (its expiry + PlaceTimeout + 4
// StoreTimeouts + LeaseTTL, 21 s here with the defaults), so its player
// may queue again; until then the player is still queued.
func TestOrphanedPlacingTicket(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	tickets := NewMemoryTicketStore()
	cfg := testConfig()
	cfg.Now, cfg.Tickets, cfg.PlaceTimeout = clk.Now, tickets, 10*time.Second
	e := newEnv(t, cfg)
	a := e.guest("a")
	orphan := Ticket{ID: TicketID(randomID(16)), Player: a.PlayerID, Mode: "arena", Status: StatusQueued, Placing: true,
		Created: clk.Now(), Expires: clk.Now().Add(time.Minute)}
	if err := tickets.PutTicket(orphan); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute + 21*time.Second - time.Millisecond)
	e.expectError("POST", "/v1/tickets", a.SessionToken, map[string]any{"mode": "arena"}, http.StatusConflict, "already_queued")
	if got, _ := tickets.Ticket(orphan.ID); got.Status != StatusQueued {
		t.Fatalf("orphan %s before its placement could have ended", got.Status)
	}
	clk.Advance(time.Millisecond)
	e.ticket(a.SessionToken, "arena")
	if got, _ := tickets.Ticket(orphan.ID); got.Status != StatusExpired || got.Placing {
		t.Fatalf("orphan: %s, placing %v; want expired", got.Status, got.Placing)
	}
	if n := e.l.Metrics().TicketsExpired; n != 1 {
		t.Fatalf("%d expired, want 1", n)
	}
}

// TestStreamCapsCount: the caps count open streams exactly: the server
// cap refuses the stream over it, a released slot can be taken again, a
// stream released on an address still counts the others there, and no
// entry is kept for an address or ticket with no stream.
func TestStreamCapsCount(t *testing.T) {
	c := newStreamCaps(2, 2, 2)
	r1, why := c.acquire("a", "t1")
	if why != "" {
		t.Fatal(why)
	}
	r2, _ := c.acquire("a", "t2")
	if _, why := c.acquire("b", "t3"); why != "server" {
		t.Fatalf("third stream: %q, want the server cap", why)
	}
	r1()
	r3, why := c.acquire("a", "t1")
	if why != "" {
		t.Fatalf("after a release: %q", why)
	}
	r3()
	r2()
	c2 := newStreamCaps(10, 2, 2)
	ra, _ := c2.acquire("x", "t")
	c2.acquire("x", "t")
	ra()
	c2.acquire("x", "t")
	if _, why := c2.acquire("x", "u"); why != "address" {
		t.Fatalf("third stream from one address: %q", why)
	}
	if _, why := c2.acquire("y", "t"); why != "ticket" {
		t.Fatalf("third stream of one ticket: %q", why)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total != 0 || len(c.byAddr) != 0 || len(c.byTicket) != 0 {
		t.Fatalf("after every release: total %d, %v, %v", c.total, c.byAddr, c.byTicket)
	}
}

// TestStreamRateByTicket: event stream requests (an EventSource sends no
// Authorization header) are rate limited per ticket, not per address, so
// players behind one address each have their own budget.
func TestStreamRateByTicket(t *testing.T) {
	cfg := testConfig()
	cfg.SessionRateLimit, cfg.SessionRateBurst = rate.Limit(1e-6), 2
	e := newEnv(t, cfg)
	get := func(id TicketID) int {
		resp, err := e.srv.Client().Get(e.srv.URL + "/v1/tickets/" + string(id) + "/events")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 4 {
		if code := get(TicketID(randomID(16))); code == http.StatusTooManyRequests {
			t.Fatal("streams of different tickets from one address share a budget")
		}
	}
	id := TicketID(randomID(16))
	get(id)
	get(id)
	if code := get(id); code != http.StatusTooManyRequests {
		t.Fatalf("third request for one ticket over a burst of 2: %d", code)
	}
}

// TestStreamOutlivesSiblingStream: when one of two event streams of a
// ticket ends, the other still wakes at the ticket's next change (its
// periodic re-read is an hour away here).
func TestStreamOutlivesSiblingStream(t *testing.T) {
	cfg := testConfig()
	cfg.SSEUpdateInterval = time.Hour
	cfg.Modes = map[string]ModeRules{"duel": {MinPlayers: 2, MaxPlayers: 2}}
	e := newEnv(t, cfg)
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "duel")
	s1, s2 := e.openStream(ta.TicketID, ""), e.openStream(ta.TicketID, "")
	s1.until(t, "queued")
	s2.until(t, "queued")
	s1.close()
	testkitWait(t, "the first stream to end", func() bool {
		e.l.streams.mu.Lock()
		defer e.l.streams.mu.Unlock()
		return e.l.streams.total == 1
	})
	e.ticket(b.SessionToken, "duel")
	s2.until(t, "matched")
}

// errKeysStore is a Store whose signing keys cannot be read.
type errKeysStore struct{ Store }

func (errKeysStore) SigningKeys() ([]SigningKey, error) { return nil, errors.New("disk on fire") }

// TestFailedNewClosesFiles: a New that fails after opening the results
// log in DataDir closes it: retrying leaks no file descriptors.
func TestFailedNewClosesFiles(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	cfg := testConfig()
	cfg.DataDir, cfg.Store = t.TempDir(), errKeysStore{NewMemoryStore()}
	before := fds()
	for range 50 {
		if _, err := New(cfg, &fakeGame{}, &fakeGame{}, nil); err == nil {
			t.Fatal("New succeeded without signing keys")
		}
	}
	if n := fds(); n >= before+50 {
		t.Fatalf("%d file descriptors open after 50 failed News, %d before", n, before)
	}
}

// TestResultIndexBound: the in-memory result index keeps exactly the
// newest maxIndexedResults results.
func TestResultIndexBound(t *testing.T) {
	m := NewMemoryResultStore()
	for i := range maxIndexedResults + 1 {
		_ = m.AppendResult(MatchResult{ID: strconv.Itoa(i)})
	}
	if _, ok, _ := m.Result("0"); ok {
		t.Fatal("the oldest result outlived the bound")
	}
	for _, id := range []string{"1", strconv.Itoa(maxIndexedResults)} {
		if _, ok, _ := m.Result(id); !ok {
			t.Fatalf("result %s forgotten within the bound", id)
		}
	}
}

// TestResultsLogClose: a closed results log refuses results with
// ErrClosed, closing it twice is fine, and RecordResult logs an error only
// for a result that was really lost (not for one stored, nor after
// shutdown).
func TestResultsLogClose(t *testing.T) {
	s, err := OpenFileResultStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendResult(MatchResult{ID: "m1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendResult(MatchResult{ID: "m2"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	cfg := testConfig()
	cfg.Results = s
	e, logs := observedEnv(t, cfg, nil)
	if err := e.l.RecordResult(MatchResult{ID: "m3"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("record on a closed log: %v", err)
	}
	cfg.Results = NewMemoryResultStore()
	e2, logs2 := observedEnv(t, cfg, nil)
	if err := e2.l.RecordResult(MatchResult{ID: "m4"}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*observer.ObservedLogs{logs, logs2} {
		if n := l.FilterLevelExact(zap.ErrorLevel).Len(); n != 0 {
			t.Fatalf("%d error lines", n)
		}
	}
}

// pruneCounter is a Store that counts its pruning passes.
type pruneCounter struct {
	Store
	n atomic.Int32
}

func (s *pruneCounter) Prune(now time.Time) error {
	s.n.Add(1)
	return s.Store.Prune(now)
}

// TestNoMatchmakerPrunes: a lobby without a matchmaker (a game node's)
// still runs the pruning pass every 30 s of its clock, forgetting finished
// tickets after their retention.
func TestNoMatchmakerPrunes(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	store := &pruneCounter{Store: NewMemoryStore()}
	tickets := NewMemoryTicketStore()
	cfg := testConfig()
	var reads atomic.Int32 // clock reads: one per tick of the idle run loop
	now := func() time.Time {
		reads.Add(1)
		return clk.Now()
	}
	cfg.Now, cfg.Store, cfg.Tickets, cfg.NoMatchmaker = now, store, tickets, true
	cfg.TicketRetention = time.Minute
	done := Ticket{ID: "t1", Player: 1, Status: StatusCancelled, Closed: clk.Now()}
	if err := tickets.PutTicket(done); err != nil {
		t.Fatal(err)
	}
	newEnv(t, cfg)
	clk.Advance(29 * time.Second)
	from := reads.Load()
	testkitWait(t, "20 ticks", func() bool { return reads.Load() >= from+20 })
	if n := store.n.Load(); n != 0 {
		t.Fatalf("%d pruning passes 29 s after the start", n)
	}
	clk.Advance(time.Second)
	testkitWait(t, "a pruning pass", func() bool { return store.n.Load() == 1 })
	if _, err := tickets.Ticket("t1"); err != nil {
		t.Fatalf("a ticket within its retention was pruned: %v", err)
	}
	clk.Advance(31 * time.Second)
	testkitWait(t, "the ticket pruned", func() bool {
		_, err := tickets.Ticket("t1")
		return errors.Is(err, ErrTicketNotFound)
	})
}
