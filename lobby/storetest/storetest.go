// Package storetest is the contract every implementation of package
// lobby's storage interfaces passes: the in-memory stores, the bbolt Store
// and package lobby/redisstore run the same tests (happy paths, races
// between two clients, expiry, and errors while the backend is down).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
)

// Client is one connection to a backend. A nil field is an interface the
// backend does not implement; its tests are skipped.
type Client struct {
	Store        lobby.Store
	Tickets      lobby.TicketStore
	Assignments  lobby.AssignmentStore
	Results      lobby.ResultStore
	UsedTokens   lobby.UsedTokens
	Leases       lobby.Leases
	Queue        lobby.Queue
	TicketEvents lobby.TicketEvents
	Nodes        lobby.NodeRegistry
	Matches      lobby.MatchStore
	Placements   lobby.Placements
}

// Backend describes an implementation under test.
type Backend struct {
	// Open makes fresh, empty state for one test and returns a function
	// that opens a client onto it. Every call of that function is another
	// client of the same state (another connection pool for a networked
	// store; in memory, the same objects).
	Open func(t *testing.T) func() Client
	// TicketRetention is the retention Open's ticket stores keep finished
	// tickets for (keep it short: the expiry test waits for it).
	TicketRetention time.Duration
	// MatchRetention is the retention of final match records (short).
	MatchRetention time.Duration
	// Down, if set, makes the backend unreachable; Up brings it back with
	// its data.
	Down, Up func(t *testing.T)
}

// Run runs the whole contract.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func() Client)
	}{
		{"Revocations", testRevocations},
		{"Refresh", testRefresh},
		{"Players", testPlayers},
		{"SigningKeys", testSigningKeys},
		{"Tickets", testTickets},
		{"TicketExpiry", func(t *testing.T, open func() Client) { testTicketExpiry(t, open, b.TicketRetention) }},
		{"Assignments", testAssignments},
		{"AssignRace", testAssignRace},
		{"Results", testResults},
		{"UsedTokens", testUsedTokens},
		{"Leases", testLeases},
		{"Queue", testQueue},
		{"QueueRace", testQueueRace},
		{"TicketEvents", testTicketEvents},
		{"Nodes", testNodes},
		{"Matches", func(t *testing.T, open func() Client) { testMatches(t, open, b.MatchRetention) }},
		{"Placements", testPlacements},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b.Open(t)) })
	}
	if b.Down != nil {
		t.Run("Unavailable", func(t *testing.T) { testUnavailable(t, b) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually polls cond until it holds, failing after 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// race runs fn n times concurrently, alternating the two clients, and
// returns how many calls reported true.
func race(t *testing.T, n int, a, b Client, fn func(i int, c Client) (bool, error)) int {
	t.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := fn(i, c)
			if err != nil {
				errs <- err
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("racing call: %v", err)
	}
	return int(wins.Load())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testRevocations(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Store == nil {
		t.Skip("no Store")
	}
	if r, err := b.Store.Revoked("s1"); err != nil || r {
		t.Fatalf("fresh session revoked: %v %v", r, err)
	}
	must(t, a.Store.Revoke("s1", time.Now().Add(time.Hour)))
	if r, err := b.Store.Revoked("s1"); err != nil || !r {
		t.Fatalf("revoked session seen by the other client: %v %v", r, err)
	}
	if r, _ := b.Store.Revoked("s2"); r {
		t.Fatal("another session revoked")
	}
	// A revocation ends at its time (after Prune, for stores that prune).
	must(t, a.Store.Revoke("short", time.Now().Add(300*time.Millisecond)))
	if r, _ := a.Store.Revoked("short"); !r {
		t.Fatal("short revocation not recorded")
	}
	eventually(t, "the short revocation to end", func() bool {
		must(t, a.Store.Prune(time.Now()))
		r, err := b.Store.Revoked("short")
		must(t, err)
		return !r
	})
	if r, _ := b.Store.Revoked("s1"); !r {
		t.Fatal("Prune dropped a live revocation")
	}
}

func testRefresh(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Store == nil {
		t.Skip("no Store")
	}
	until := time.Now().Add(time.Hour)
	must(t, a.Store.SetRefresh("s", "j1", until))
	if ok, err := b.Store.RotateRefresh("s", "j1", "j2", until); err != nil || !ok {
		t.Fatalf("rotate j1->j2: %v %v", ok, err)
	}
	if ok, _ := a.Store.RotateRefresh("s", "j1", "j3", until); ok {
		t.Fatal("a used refresh token rotated again")
	}
	if ok, _ := a.Store.RotateRefresh("other", "j2", "j3", until); ok {
		t.Fatal("rotated another session's token")
	}
	// Racing rotations of the same token: exactly one wins.
	wins := race(t, 8, a, b, func(i int, c Client) (bool, error) {
		return c.Store.RotateRefresh("s", "j2", fmt.Sprintf("r%d", i), until)
	})
	if wins != 1 {
		t.Fatalf("%d racing rotations won, want 1", wins)
	}
	// Revoke drops the refresh record.
	must(t, a.Store.SetRefresh("s", "k1", until))
	must(t, b.Store.Revoke("s", until))
	if ok, _ := a.Store.RotateRefresh("s", "k1", "k2", until); ok {
		t.Fatal("rotated a revoked session's token")
	}
	// A refresh record ends at its time. Rotating x1 to itself with the
	// same end leaves the record as it was, so polling does not extend it.
	short := time.Now().Add(300 * time.Millisecond)
	must(t, a.Store.SetRefresh("t", "x1", short))
	eventually(t, "the refresh record to expire", func() bool {
		must(t, a.Store.Prune(time.Now()))
		ok, err := b.Store.RotateRefresh("t", "x1", "x1", short)
		must(t, err)
		return !ok
	})
}

func testPlayers(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Store == nil {
		t.Skip("no Store")
	}
	var mu sync.Mutex
	seen := map[lobby.PlayerID]bool{}
	race(t, 40, a, b, func(i int, c Client) (bool, error) {
		id, err := c.Store.NewPlayer()
		if err != nil {
			return false, err
		}
		mu.Lock()
		defer mu.Unlock()
		if id < 1 || id > lobby.MaxPlayerID || seen[id] {
			return false, fmt.Errorf("player id %d reused or out of range", id)
		}
		seen[id] = true
		return true, nil
	})
	ids := make([]lobby.PlayerID, 16)
	race(t, 16, a, b, func(i int, c Client) (bool, error) {
		id, err := c.Store.PlayerForSubject("studio:user-1")
		ids[i] = id
		return true, err
	})
	for _, id := range ids {
		if id != ids[0] || seen[id] {
			t.Fatalf("subject ids %v (or reused a guest id)", ids)
		}
	}
	other, err := b.Store.PlayerForSubject("studio:user-2")
	must(t, err)
	if other == ids[0] {
		t.Fatal("two subjects share an id")
	}
	again, err := a.Store.PlayerForSubject("studio:user-2")
	if err != nil || again != other {
		t.Fatalf("subject id not stable: %d then %d (%v)", other, again, err)
	}
}

func testSigningKeys(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Store == nil {
		t.Skip("no Store")
	}
	keys := make([][]lobby.SigningKey, 6)
	race(t, 6, a, b, func(i int, c Client) (bool, error) {
		k, err := c.Store.SigningKeys()
		keys[i] = k
		return true, err
	})
	for _, k := range keys {
		if len(k) == 0 || len(k[0].Secret) < 32 || k[0].ID == "" {
			t.Fatalf("bad keys %v", k)
		}
		if k[0].ID != keys[0][0].ID || string(k[0].Secret) != string(keys[0][0].Secret) {
			t.Fatalf("clients got different keys: %v vs %v", k, keys[0])
		}
	}
}

func ticket(id string, p lobby.PlayerID, status lobby.TicketStatus) lobby.Ticket {
	now := time.Now().Round(time.Millisecond)
	t := lobby.Ticket{ID: lobby.TicketID(id), Player: p, Name: "ann", SID: "sid", Mode: "arena", Rating: 1500,
		Status: status, Created: now, Expires: now.Add(2 * time.Minute), Sequence: 7}
	if status.Terminal() {
		t.Closed = now
		t.MatchID = "m1"
		t.Bots = 2
	}
	return t
}

func sameTicket(a, b lobby.Ticket) bool {
	return a.ID == b.ID && a.Player == b.Player && a.Name == b.Name && a.SID == b.SID && a.Mode == b.Mode &&
		a.Rating == b.Rating && a.Status == b.Status && a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires) &&
		a.Closed.Equal(b.Closed) && a.MatchID == b.MatchID && a.Bots == b.Bots && a.Placing == b.Placing &&
		a.Sequence == b.Sequence
}

func testTickets(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Tickets == nil {
		t.Skip("no TicketStore")
	}
	if _, err := b.Tickets.Ticket("missing"); !errors.Is(err, lobby.ErrTicketNotFound) {
		t.Fatalf("missing ticket: %v", err)
	}
	tk := ticket("t1", 5, lobby.StatusQueued)
	must(t, a.Tickets.PutTicket(tk))
	got, err := b.Tickets.Ticket("t1")
	if err != nil || !sameTicket(got, tk) {
		t.Fatalf("ticket round trip:\n got %+v\nwant %+v (%v)", got, tk, err)
	}
	if id, ok, err := b.Tickets.LiveTicket(5); err != nil || !ok || id != "t1" {
		t.Fatalf("live ticket: %q %v %v", id, ok, err)
	}
	if _, ok, _ := b.Tickets.LiveTicket(6); ok {
		t.Fatal("live ticket for another player")
	}
	tk.Placing = true
	must(t, b.Tickets.PutTicket(tk))
	if got, _ := a.Tickets.Ticket("t1"); !got.Placing {
		t.Fatal("update not seen")
	}
	done := ticket("t1", 5, lobby.StatusMatched)
	must(t, a.Tickets.PutTicket(done))
	if _, ok, _ := b.Tickets.LiveTicket(5); ok {
		t.Fatal("a matched ticket is still live")
	}
	if got, _ := b.Tickets.Ticket("t1"); !sameTicket(got, done) {
		t.Fatalf("matched ticket: %+v", got)
	}
	// Finishing an old ticket leaves the player's newer live ticket alone.
	must(t, a.Tickets.PutTicket(ticket("t2", 5, lobby.StatusQueued)))
	must(t, a.Tickets.PutTicket(ticket("t1", 5, lobby.StatusCancelled)))
	if id, ok, _ := b.Tickets.LiveTicket(5); !ok || id != "t2" {
		t.Fatalf("live ticket after closing an older one: %q %v", id, ok)
	}
}

func testTicketExpiry(t *testing.T, open func() Client, retention time.Duration) {
	a, b := open(), open()
	if a.Tickets == nil {
		t.Skip("no TicketStore")
	}
	if retention <= 0 {
		t.Fatal("Backend.TicketRetention not set")
	}
	done := ticket("old", 9, lobby.StatusExpired)
	must(t, a.Tickets.PutTicket(done))
	live := ticket("live", 10, lobby.StatusQueued)
	must(t, a.Tickets.PutTicket(live))
	eventually(t, "a finished ticket to be pruned after its retention", func() bool {
		must(t, a.Tickets.PruneTickets(time.Now().Add(-retention)))
		_, err := b.Tickets.Ticket("old")
		return errors.Is(err, lobby.ErrTicketNotFound)
	})
	if _, err := b.Tickets.Ticket("live"); err != nil {
		t.Fatalf("a queued ticket was pruned: %v", err)
	}
}

func testAssignments(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Assignments == nil {
		t.Skip("no AssignmentStore")
	}
	must(t, a.Assignments.Assign("m1", []lobby.PlayerID{1, 2}))
	if m, ok, err := b.Assignments.Assignment(1); err != nil || !ok || m != "m1" {
		t.Fatalf("assignment: %q %v %v", m, ok, err)
	}
	err := b.Assignments.Assign("m2", []lobby.PlayerID{3, 2})
	if !errors.Is(err, lobby.ErrAlreadyInMatch) {
		t.Fatalf("overlapping assign: %v", err)
	}
	if _, ok, _ := a.Assignments.Assignment(3); ok {
		t.Fatal("a failed Assign seated some players (not all-or-none)")
	}
	if ok, _ := b.Assignments.Release("m2", 1); ok {
		t.Fatal("released a seat of another match")
	}
	if ok, err := b.Assignments.Release("m1", 1); err != nil || !ok {
		t.Fatalf("release: %v %v", ok, err)
	}
	if ok, _ := a.Assignments.Release("m1", 1); ok {
		t.Fatal("released twice")
	}
	must(t, a.Assignments.Assign("m3", []lobby.PlayerID{1, 4}))
	ps, err := b.Assignments.ReleaseMatch("m1")
	if err != nil || !slices.Equal(ps, []lobby.PlayerID{2}) {
		t.Fatalf("release match m1: %v %v", ps, err)
	}
	if _, ok, _ := a.Assignments.Assignment(2); ok {
		t.Fatal("seat held after ReleaseMatch")
	}
	if m, ok, _ := a.Assignments.Assignment(1); !ok || m != "m3" {
		t.Fatal("ReleaseMatch freed another match's seat")
	}
	ps, _ = a.Assignments.ReleaseMatch("m3")
	slices.Sort(ps)
	if !slices.Equal(ps, []lobby.PlayerID{1, 4}) {
		t.Fatalf("release match m3: %v", ps)
	}
	if ps, err := a.Assignments.ReleaseMatch("m3"); err != nil || len(ps) != 0 {
		t.Fatalf("second ReleaseMatch: %v %v", ps, err)
	}
}

func testAssignRace(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Assignments == nil {
		t.Skip("no AssignmentStore")
	}
	// Match i wants players i and i+1: neighbours overlap, so at most every
	// other one succeeds, and a seat belongs to exactly one winner.
	const n = 12
	won := make([]bool, n)
	race(t, n, a, b, func(i int, c Client) (bool, error) {
		err := c.Assignments.Assign(fmt.Sprintf("m%d", i), []lobby.PlayerID{lobby.PlayerID(i + 1), lobby.PlayerID(i + 2)})
		if errors.Is(err, lobby.ErrAlreadyInMatch) {
			return false, nil
		}
		won[i] = err == nil
		return err == nil, err
	})
	for i := range n {
		if !won[i] {
			continue
		}
		if i > 0 && won[i-1] {
			t.Fatalf("overlapping matches m%d and m%d both seated player %d", i-1, i, i+1)
		}
		for _, p := range []lobby.PlayerID{lobby.PlayerID(i + 1), lobby.PlayerID(i + 2)} {
			if m, ok, _ := a.Assignments.Assignment(p); !ok || m != fmt.Sprintf("m%d", i) {
				t.Fatalf("player %d of winner m%d seated in %q", p, i, m)
			}
		}
	}
	// Racing ReleaseMatch calls report each player once.
	for i := range n {
		if !won[i] {
			continue
		}
		var mu sync.Mutex
		var all []lobby.PlayerID
		race(t, 4, a, b, func(_ int, c Client) (bool, error) {
			ps, err := c.Assignments.ReleaseMatch(fmt.Sprintf("m%d", i))
			mu.Lock()
			all = append(all, ps...)
			mu.Unlock()
			return true, err
		})
		if len(all) != 2 {
			t.Fatalf("racing ReleaseMatch of m%d reported %v", i, all)
		}
	}
}

func testResults(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Results == nil {
		t.Skip("no ResultStore")
	}
	if _, ok, err := b.Results.Result("nope"); err != nil || ok {
		t.Fatalf("missing result: %v %v", ok, err)
	}
	now := time.Now().Round(time.Millisecond)
	r := lobby.MatchResult{ID: "m1", Mode: "arena", Reason: "time", Started: now.Add(-time.Minute), Ended: now,
		DurationMS: 60000, Ticks: 1800, Players: []lobby.ResultEntry{{Player: 1, Entity: 3, Score: 7, Rank: 1}, {Player: 1 << 31, Bot: true, Rank: 2}}}
	must(t, a.Results.AppendResult(r))
	got, ok, err := b.Results.Result("m1")
	if err != nil || !ok || got.Reason != "time" || got.Ticks != 1800 || len(got.Players) != 2 || !got.Players[1].Bot || !got.Ended.Equal(now) {
		t.Fatalf("result round trip: %+v %v %v", got, ok, err)
	}
}

func testUsedTokens(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.UsedTokens == nil {
		t.Skip("no UsedTokens")
	}
	c := ctx(t)
	exp := time.Now().Add(time.Minute)
	if ok, err := a.UsedTokens.UseOnce(c, "j1", exp); err != nil || !ok {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, _ := b.UsedTokens.UseOnce(c, "j1", exp); ok {
		t.Fatal("second use allowed by the other client")
	}
	if wins := race(t, 16, a, b, func(_ int, cl Client) (bool, error) { return cl.UsedTokens.UseOnce(c, "j2", exp) }); wins != 1 {
		t.Fatalf("%d racing uses won, want 1", wins)
	}
	// Once the token has expired its jti may be forgotten.
	if ok, _ := a.UsedTokens.UseOnce(c, "short", time.Now().Add(200*time.Millisecond)); !ok {
		t.Fatal("first use of short")
	}
	eventually(t, "a used jti to be forgotten after its expiry", func() bool {
		ok, err := b.UsedTokens.UseOnce(c, "short", time.Now().Add(200*time.Millisecond))
		must(t, err)
		return ok
	})
}

func testLeases(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Leases == nil {
		t.Skip("no Leases")
	}
	c := ctx(t)
	if ok, err := a.Leases.TryLock(c, "mm", "A", time.Minute); err != nil || !ok {
		t.Fatalf("A lock: %v %v", ok, err)
	}
	if ok, _ := b.Leases.TryLock(c, "mm", "B", time.Minute); ok {
		t.Fatal("B took A's lease")
	}
	if ok, _ := a.Leases.TryLock(c, "mm", "A", time.Minute); !ok {
		t.Fatal("A could not renew")
	}
	if ok, _ := b.Leases.TryLock(c, "other", "B", time.Minute); !ok {
		t.Fatal("leases are not independent by name")
	}
	must(t, b.Leases.Unlock(c, "mm", "B")) // not B's: no effect
	if ok, _ := b.Leases.TryLock(c, "mm", "B", time.Minute); ok {
		t.Fatal("B's Unlock freed A's lease")
	}
	must(t, a.Leases.Unlock(c, "mm", "A"))
	if ok, _ := b.Leases.TryLock(c, "mm", "B", 300*time.Millisecond); !ok {
		t.Fatal("B could not take a freed lease")
	}
	eventually(t, "B's lease to expire without renewal", func() bool {
		ok, err := a.Leases.TryLock(c, "mm", "A", time.Minute)
		must(t, err)
		return ok
	})
	must(t, a.Leases.Unlock(c, "mm", "A"))
	if wins := race(t, 8, a, b, func(i int, cl Client) (bool, error) {
		return cl.Leases.TryLock(c, "mm", fmt.Sprintf("h%d", i), time.Minute)
	}); wins != 1 {
		t.Fatalf("%d racing holders got the lease, want 1", wins)
	}
}

func entry(id string, p lobby.PlayerID, mode string) lobby.QueueEntry {
	now := time.Now().Round(time.Millisecond)
	return lobby.QueueEntry{ID: lobby.TicketID(id), Player: p, Mode: mode, Rating: 1000 + int(p), Enqueued: now, Expires: now.Add(time.Minute)}
}

func testQueue(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Queue == nil {
		t.Skip("no Queue")
	}
	c := ctx(t)
	var got []lobby.QueueEntry
	for i, e := range []lobby.QueueEntry{entry("a", 1, "arena"), entry("b", 2, "bench"), entry("c", 3, "arena")} {
		cl := a
		if i == 1 {
			cl = b
		}
		q, err := cl.Queue.Enqueue(c, e)
		must(t, err)
		if q.Seq == 0 || (len(got) > 0 && q.Seq <= got[len(got)-1].Seq) {
			t.Fatalf("seq %d after %v", q.Seq, got)
		}
		got = append(got, q)
	}
	if _, err := b.Queue.Enqueue(c, entry("d", 1, "bench")); !errors.Is(err, lobby.ErrAlreadyQueued) {
		t.Fatalf("second ticket of a player: %v", err)
	}
	if _, err := b.Queue.Enqueue(c, entry("a", 9, "arena")); !errors.Is(err, lobby.ErrAlreadyQueued) {
		t.Fatalf("same ticket twice: %v", err)
	}
	all, err := b.Queue.QueueEntries(c)
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("entries %+v", all)
	}
	for i := range all {
		w := got[i]
		if all[i].ID != w.ID || all[i].Player != w.Player || all[i].Mode != w.Mode || all[i].Rating != w.Rating ||
			all[i].Seq != w.Seq || !all[i].Enqueued.Equal(w.Enqueued) || !all[i].Expires.Equal(w.Expires) {
			t.Fatalf("entry %d: %+v, want %+v", i, all[i], w)
		}
	}
	if pos, n, ok, err := a.Queue.QueuePosition(c, "c"); err != nil || !ok || pos != 2 || n != 2 {
		t.Fatalf("position of c: %d/%d %v %v", pos, n, ok, err)
	}
	if _, _, ok, _ := a.Queue.QueuePosition(c, "zz"); ok {
		t.Fatal("position of an unknown ticket")
	}
	if ok, _ := a.Queue.Dequeue(c, "a", "zz"); ok {
		t.Fatal("Dequeue with a missing id removed something")
	}
	if ok, _ := a.Queue.Dequeue(c, "a", "a"); ok {
		t.Fatal("Dequeue with a repeated id")
	}
	if ok, err := b.Queue.Dequeue(c, "a", "b"); err != nil || !ok {
		t.Fatalf("dequeue a, b: %v %v", ok, err)
	}
	if ok, _ := a.Queue.Dequeue(c, "a"); ok {
		t.Fatal("dequeued twice")
	}
	if pos, n, ok, _ := a.Queue.QueuePosition(c, "c"); !ok || pos != 1 || n != 1 {
		t.Fatalf("position of c after a left: %d/%d", pos, n)
	}
	// A requeue keeps its place in line; the player may queue again.
	if _, err := a.Queue.Enqueue(c, got[0]); err != nil {
		t.Fatal(err)
	}
	if pos, n, _, _ := b.Queue.QueuePosition(c, "a"); pos != 1 || n != 2 {
		t.Fatalf("requeued a at %d/%d, want 1/2", pos, n)
	}
	if all, _ := a.Queue.QueueEntries(c); len(all) != 2 || all[0].ID != "a" {
		t.Fatalf("entries after requeue: %+v", all)
	}
}

func testQueueRace(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Queue == nil {
		t.Skip("no Queue")
	}
	c := ctx(t)
	for i := range 4 {
		if _, err := a.Queue.Enqueue(c, entry(fmt.Sprintf("t%d", i), lobby.PlayerID(i+1), "arena")); err != nil {
			t.Fatal(err)
		}
	}
	// Two matchmakers and a canceller racing for the same tickets: each
	// ticket is taken once.
	if wins := race(t, 8, a, b, func(i int, cl Client) (bool, error) {
		if i%2 == 0 {
			return cl.Queue.Dequeue(c, "t0", "t1")
		}
		return cl.Queue.Dequeue(c, "t1")
	}); wins != 1 {
		t.Fatalf("%d racing dequeues of t1 won, want 1", wins)
	}
	// Racing enqueues of one player: one wins.
	if wins := race(t, 8, a, b, func(i int, cl Client) (bool, error) {
		_, err := cl.Queue.Enqueue(c, entry(fmt.Sprintf("p%d", i), 99, "arena"))
		if errors.Is(err, lobby.ErrAlreadyQueued) {
			return false, nil
		}
		return err == nil, err
	}); wins != 1 {
		t.Fatalf("%d racing enqueues of one player won, want 1", wins)
	}
}

func testTicketEvents(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.TicketEvents == nil {
		t.Skip("no TicketEvents")
	}
	c, cancel := context.WithCancel(ctx(t))
	got := make(chan lobby.TicketID, 64)
	done := make(chan error, 1)
	go func() {
		done <- b.TicketEvents.SubscribeTickets(c, func(id lobby.TicketID) {
			select {
			case got <- id:
			default:
			}
		})
	}()
	// The subscription may take a moment: publish until it is seen.
	deadline := time.Now().Add(20 * time.Second)
	for seen := false; !seen; {
		must(t, a.TicketEvents.PublishTicket(c, "tk1"))
		select {
		case id := <-got:
			if id != "tk1" {
				t.Fatalf("got %q", id)
			}
			seen = true
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("published change never seen by the subscriber")
			}
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SubscribeTickets: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("SubscribeTickets did not return after its context ended")
	}
}

func testNodes(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Nodes == nil {
		t.Skip("no NodeRegistry")
	}
	c := ctx(t)
	n1 := lobby.NodeInfo{ID: "n1", WSURL: "ws://n1/v1/ws", Capacity: 100, Players: 30, Matches: 3}
	must(t, a.Nodes.Heartbeat(c, n1, time.Minute))
	must(t, b.Nodes.Heartbeat(c, lobby.NodeInfo{ID: "n2", WSURL: "ws://n2/v1/ws", Capacity: 50, Draining: true}, 400*time.Millisecond))
	if err := a.Nodes.Heartbeat(c, lobby.NodeInfo{}, time.Minute); err == nil {
		t.Fatal("heartbeat without an id")
	}
	nodes, err := b.Nodes.Nodes(c)
	must(t, err)
	if len(nodes) == 0 || nodes[0].ID != "n1" || nodes[0].WSURL != n1.WSURL || nodes[0].Spare() != 70 || nodes[0].Seen.IsZero() {
		t.Fatalf("nodes %+v", nodes)
	}
	eventually(t, "n2's heartbeat to lapse", func() bool {
		dead, err := a.Nodes.DeadNodes(c)
		must(t, err)
		return slices.Equal(dead, []string{"n2"})
	})
	if nodes, _ := a.Nodes.Nodes(c); len(nodes) != 1 || nodes[0].ID != "n1" {
		t.Fatalf("live nodes with n2 dead: %+v", nodes)
	}
	if ok, _ := a.Nodes.ReapNode(c, "n1"); ok {
		t.Fatal("reaped a live node")
	}
	if wins := race(t, 8, a, b, func(_ int, cl Client) (bool, error) { return cl.Nodes.ReapNode(c, "n2") }); wins != 1 {
		t.Fatalf("%d reapers claimed n2, want 1", wins)
	}
	if dead, _ := b.Nodes.DeadNodes(c); len(dead) != 0 {
		t.Fatalf("dead after reaping: %v", dead)
	}
	if ok, _ := b.Nodes.ReapNode(c, "n2"); ok {
		t.Fatal("reaped twice")
	}
	must(t, a.Nodes.Deregister(c, "n1"))
	if nodes, _ := b.Nodes.Nodes(c); len(nodes) != 0 {
		t.Fatalf("nodes after deregister: %+v", nodes)
	}
	if dead, _ := b.Nodes.DeadNodes(c); len(dead) != 0 {
		t.Fatalf("a deregistered node counts as dead: %v", dead)
	}
}

func testMatches(t *testing.T, open func() Client, retention time.Duration) {
	a, b := open(), open()
	if a.Matches == nil {
		t.Skip("no MatchStore")
	}
	c := ctx(t)
	now := time.Now().Round(time.Millisecond)
	m1 := lobby.MatchRecord{ID: "m1", Mode: "arena", Node: "n1", WSURL: "ws://n1/v1/ws", Players: []lobby.PlayerID{1, 2}, Bots: 1, State: lobby.MatchPlacing, Created: now}
	must(t, a.Matches.PutMatch(c, m1))
	must(t, a.Matches.PutMatch(c, lobby.MatchRecord{ID: "m2", Mode: "arena", Node: "n2", State: lobby.MatchRunning, Created: now}))
	got, ok, err := b.Matches.MatchRecord(c, "m1")
	if err != nil || !ok || got.Node != "n1" || !slices.Equal(got.Players, m1.Players) || got.State != lobby.MatchPlacing || !got.Created.Equal(now) || got.Bots != 1 {
		t.Fatalf("match round trip: %+v %v %v", got, ok, err)
	}
	if _, ok, _ := b.Matches.MatchRecord(c, "nope"); ok {
		t.Fatal("unknown match found")
	}
	ids := func(ms []lobby.MatchRecord, err error) []string {
		must(t, err)
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	if got := ids(b.Matches.LiveMatches(c)); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("live %v", got)
	}
	if got := ids(b.Matches.MatchesOnNode(c, "n1")); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("on n1 %v", got)
	}
	if m, changed, err := b.Matches.SetMatchState(c, "m1", lobby.MatchRunning); err != nil || !changed || m.State != lobby.MatchRunning || m.Node != "n1" {
		t.Fatalf("set running: %+v %v %v", m, changed, err)
	}
	if _, _, err := a.Matches.SetMatchState(c, "nope", lobby.MatchRunning); !errors.Is(err, lobby.ErrMatchNotFound) {
		t.Fatalf("state of an unknown match: %v", err)
	}
	// Two dead-node monitors mark the match lost: one changes it.
	if wins := race(t, 8, a, b, func(_ int, cl Client) (bool, error) {
		_, changed, err := cl.Matches.SetMatchState(c, "m1", lobby.MatchLost)
		return changed, err
	}); wins != 1 {
		t.Fatalf("%d callers changed m1 to lost, want 1", wins)
	}
	if m, changed, _ := a.Matches.SetMatchState(c, "m1", lobby.MatchRunning); changed || m.State != lobby.MatchLost {
		t.Fatalf("a final state was left: %+v", m)
	}
	if got := ids(b.Matches.LiveMatches(c)); !slices.Equal(got, []string{"m2"}) {
		t.Fatalf("live after m1 lost %v", got)
	}
	if got := ids(b.Matches.MatchesOnNode(c, "n1")); len(got) != 0 {
		t.Fatalf("on n1 after m1 lost %v", got)
	}
	if retention <= 0 {
		t.Fatal("Backend.MatchRetention not set")
	}
	eventually(t, "a final match to vanish after its retention", func() bool {
		_, ok, err := b.Matches.MatchRecord(c, "m1")
		must(t, err)
		return !ok
	})
	if _, ok, _ := b.Matches.MatchRecord(c, "m2"); !ok {
		t.Fatal("a live match vanished")
	}
}

func testPlacements(t *testing.T, open func() Client) {
	a, b := open(), open()
	if a.Placements == nil {
		t.Skip("no Placements")
	}
	c := ctx(t)
	if got, err := b.Placements.NextPlacements(c, "n1", 50*time.Millisecond); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	must(t, a.Placements.SendPlacement(c, "n1", lobby.MatchRecord{ID: "m1", Players: []lobby.PlayerID{1}}))
	must(t, a.Placements.SendPlacement(c, "n1", lobby.MatchRecord{ID: "m2"}))
	must(t, a.Placements.SendPlacement(c, "n2", lobby.MatchRecord{ID: "x"}))
	got, err := b.Placements.NextPlacements(c, "n1", time.Second)
	if err != nil || len(got) != 2 || got[0].ID != "m1" || got[1].ID != "m2" || !slices.Equal(got[0].Players, []lobby.PlayerID{1}) {
		t.Fatalf("orders: %+v %v", got, err)
	}
	// A waiting node gets an order sent while it waits.
	res := make(chan []lobby.MatchRecord, 1)
	go func() {
		got, err := b.Placements.NextPlacements(c, "n3", 20*time.Second)
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		res <- got
	}()
	deadline := time.Now().Add(20 * time.Second)
	for sent := false; ; {
		if !sent {
			must(t, a.Placements.SendPlacement(c, "n3", lobby.MatchRecord{ID: "late"}))
			sent = true
		}
		select {
		case got := <-res:
			if len(got) != 1 || got[0].ID != "late" {
				t.Fatalf("late order: %+v", got)
			}
			if got, _ := b.Placements.NextPlacements(c, "n2", 0); len(got) != 1 || got[0].ID != "x" {
				t.Fatalf("n2's orders: %+v", got)
			}
			return
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("a waiting node never got its order")
			}
		}
	}
}

// testUnavailable stops the backend: every call fails with an error
// wrapping lobby.ErrStoreUnavailable, and none hangs; once the backend is
// back, calls succeed again without anything being reopened.
func testUnavailable(t *testing.T, b Backend) {
	open := b.Open(t)
	a := open()
	c := ctx(t)
	must(t, a.Store.Revoke("kept", time.Now().Add(time.Hour)))
	must(t, a.Tickets.PutTicket(ticket("kept", 1, lobby.StatusQueued)))
	// A subscription made before the outage works after it.
	sctx, stop := context.WithCancel(c)
	defer stop()
	got := make(chan lobby.TicketID, 64)
	go func() {
		_ = open().TicketEvents.SubscribeTickets(sctx, func(id lobby.TicketID) {
			select {
			case got <- id:
			default:
			}
		})
	}()
	waitEvent(t, a, got, "before")
	b.Down(t)
	calls := map[string]func() error{
		"Revoked":       func() error { _, err := a.Store.Revoked("x"); return err },
		"NewPlayer":     func() error { _, err := a.Store.NewPlayer(); return err },
		"Ticket":        func() error { _, err := a.Tickets.Ticket("kept"); return err },
		"PutTicket":     func() error { return a.Tickets.PutTicket(ticket("y", 2, lobby.StatusQueued)) },
		"Assign":        func() error { return a.Assignments.Assign("m", []lobby.PlayerID{1}) },
		"Assignment":    func() error { _, _, err := a.Assignments.Assignment(1); return err },
		"AppendResult":  func() error { return a.Results.AppendResult(lobby.MatchResult{ID: "m"}) },
		"UseOnce":       func() error { _, err := a.UsedTokens.UseOnce(c, "j", time.Now().Add(time.Minute)); return err },
		"TryLock":       func() error { _, err := a.Leases.TryLock(c, "mm", "A", time.Second); return err },
		"Enqueue":       func() error { _, err := a.Queue.Enqueue(c, entry("q", 1, "arena")); return err },
		"QueueEntries":  func() error { _, err := a.Queue.QueueEntries(c); return err },
		"PublishTicket": func() error { return a.TicketEvents.PublishTicket(c, "t") },
		"Heartbeat":     func() error { return a.Nodes.Heartbeat(c, lobby.NodeInfo{ID: "n"}, time.Second) },
		"PutMatch":      func() error { return a.Matches.PutMatch(c, lobby.MatchRecord{ID: "m"}) },
		"SendPlacement": func() error { return a.Placements.SendPlacement(c, "n", lobby.MatchRecord{ID: "m"}) },
	}
	type result struct {
		name string
		err  error
	}
	res := make(chan result, len(calls))
	for name, call := range calls {
		go func() { res <- result{name, call()} }()
	}
	timeout := time.After(30 * time.Second)
	for range calls {
		select {
		case r := <-res:
			if !errors.Is(r.err, lobby.ErrStoreUnavailable) {
				t.Errorf("%s with the backend down: %v, want ErrStoreUnavailable", r.name, r.err)
			}
		case <-timeout:
			t.Fatal("a call hangs with the backend down")
		}
	}
	b.Up(t)
	eventually(t, "the store to answer again", func() bool {
		r, err := a.Store.Revoked("kept")
		return err == nil && r
	})
	if _, err := a.Tickets.Ticket("kept"); err != nil {
		t.Fatalf("ticket written before the outage: %v", err)
	}
	waitEvent(t, a, got, "after")
}

// waitEvent publishes id until the subscription feeding got reports it.
func waitEvent(t *testing.T, a Client, got <-chan lobby.TicketID, id lobby.TicketID) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_ = a.TicketEvents.PublishTicket(context.Background(), id)
		timeout := time.After(100 * time.Millisecond)
	drain:
		for {
			select {
			case g := <-got:
				if g == id {
					return
				}
			case <-timeout:
				break drain
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %q never seen by the subscriber", id)
		}
	}
}
