package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode/client"
)

// gate holds the store calls that pass through it while it is shut, and
// tells the test which call waits.
type gate struct {
	entered chan string // one value per call that found the gate shut

	mu   sync.Mutex
	shut chan struct{} // nil while open; closed to open
}

func newGate() *gate { return &gate{entered: make(chan string, 256)} }

// close makes the calls from now on wait.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut == nil {
		g.shut = make(chan struct{})
	}
}

// open lets every waiting call and every later one through.
func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
}

func (g *gate) pass(what string) {
	g.mu.Lock()
	ch := g.shut
	g.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case g.entered <- what:
	default:
	}
	<-ch
}

// waitEntered returns the next call that found the gate shut.
func (g *gate) waitEntered(t *testing.T) string {
	t.Helper()
	select {
	case what := <-g.entered:
		return what
	case <-time.After(15 * time.Second):
		t.Fatal("timed out waiting for a store call")
		return ""
	}
}

// slowSeats is the in-memory assignment store whose releases wait at a
// gate: a networked store that stopped answering.
type slowSeats struct {
	lobby.AssignmentStore
	g *gate
}

func (s slowSeats) Release(m string, p lobby.PlayerID) (bool, error) {
	s.g.pass("release " + m)
	return s.AssignmentStore.Release(m, p)
}

func (s slowSeats) ReleaseMatch(m string) ([]lobby.PlayerID, error) {
	s.g.pass("release match " + m)
	return s.AssignmentStore.ReleaseMatch(m)
}

// slowResults is the in-memory result store whose appends wait at a gate,
// and fail while down is set: a store that is unavailable.
type slowResults struct {
	lobby.ResultStore
	g    *gate
	down *atomic.Bool
}

func (s slowResults) AppendResult(r lobby.MatchResult) error {
	s.g.pass("result " + r.ID)
	if s.down.Load() {
		return errors.New("results store unavailable")
	}
	return s.ResultStore.AppendResult(r)
}

// slowEnv is the whole server over stores that can be made to stall, with
// the bench queue set to start matches of exactly n humans and no bots.
type slowEnv struct {
	app     *app.App
	hs      *httptest.Server
	g       *gate
	results lobby.ResultStore // the store behind the gate
	down    atomic.Bool       // result writes fail while set
}

func newSlowEnv(t *testing.T, n int, cfg app.Config, log *zap.Logger) *slowEnv {
	t.Helper()
	e := &slowEnv{g: newGate(), results: lobby.NewMemoryResultStore()}
	cfg.Lobby = testkit.QuickLobby()
	cfg.Lobby.BotFillAfter = time.Hour
	cfg.Lobby.Modes = map[string]lobby.ModeRules{"bench": {MinPlayers: n, MaxPlayers: n}}
	cfg.Lobby.Assignments = slowSeats{lobby.NewMemoryAssignmentStore(), e.g}
	cfg.Lobby.Results = slowResults{e.results, e.g, &e.down}
	a, err := app.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	e.app, e.hs = a, httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		e.g.open() // whatever the test did, nothing stays stuck
		e.down.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		e.hs.Close()
	})
	return e
}

// match seats n guests in one bench match and connects them all.
func (e *slowEnv) match(t *testing.T, n int) ([]player, []*client.Client, string) {
	t.Helper()
	ps := make([]player, n)
	tickets := make([]string, n)
	for i := range ps {
		ps[i] = guest(t, e.hs.URL, "p")
		var tk struct {
			ID string `json:"ticket_id"`
		}
		if code := call(t, "POST", e.hs.URL+"/v1/tickets", ps[i].Session, map[string]string{"mode": "bench"}, &tk); code != 201 {
			t.Fatalf("ticket: %d", code)
		}
		tickets[i] = tk.ID
	}
	cs := make([]*client.Client, n)
	match := ""
	for i, p := range ps {
		var as assignment
		testkit.WaitFor(t, "matched", func() bool {
			var v struct {
				Status     string     `json:"status"`
				Assignment assignment `json:"assignment"`
			}
			call(t, "GET", e.hs.URL+"/v1/tickets/"+tickets[i], p.Session, nil, &v)
			as = v.Assignment
			return v.Status == "matched" && as.Token != ""
		})
		if match == "" {
			match = as.MatchID
		} else if as.MatchID != match {
			t.Fatalf("players placed in %s and %s", match, as.MatchID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, as.WSURL, as.Token)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		cs[i] = c
	}
	return ps, cs, match
}

// snapshotsWhile fails the test unless c receives n more snapshots, with
// ticks moving on, while the gate stays shut.
func snapshotsWhile(t *testing.T, c *client.Client, n uint64) {
	t.Helper()
	from, tick := c.Stats().Snapshots, c.Tick()
	testkit.WaitFor(t, "snapshots while the store is stuck", func() bool { return c.Stats().Snapshots >= from+n })
	if c.Tick() < tick+uint32(n)/2 {
		t.Fatalf("%d snapshots but ticks went from %d to %d", n, tick, c.Tick())
	}
}

// seated reports whether the lobby still holds p's seat in match.
func seated(t *testing.T, base string, p player, match string) bool {
	_, code := rejoinToken(t, base, p, match)
	switch code {
	case 200:
		return true
	case 403:
		return false
	}
	t.Fatalf("match token: %d", code)
	return false
}

// TestStuckStoreDoesNotStretchTicks: the lobby's store stops answering
// while a player leaves; the other player keeps receiving a snapshot every
// tick. The match then ends (abandoned) with the store still stuck, and
// once it recovers the seat and the result reach it: nothing is lost.
func TestStuckStoreDoesNotStretchTicks(t *testing.T) {
	e := newSlowEnv(t, 2, app.Config{}, nil)
	ps, cs, match := e.match(t, 2)
	testkit.WaitFor(t, "the first snapshots", func() bool { return cs[1].Stats().Snapshots > 0 })

	e.g.close()
	if err := cs[0].Leave(); err != nil {
		t.Fatal(err)
	}
	if got := e.g.waitEntered(t); got != "release "+match {
		t.Fatalf("store call %q", got)
	}
	// The release waits in the store; the match plays on: 90 snapshots
	// (3 s of play at 30 Hz) reach the player still in it.
	snapshotsWhile(t, cs[1], 90)
	if !seated(t, e.hs.URL, ps[0], match) {
		t.Fatal("the seat was released while the store was stuck")
	}

	// The last player leaves: the match ends while the store is stuck. The
	// lobby lists it as over until its result is stored.
	if err := cs[1].Leave(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the match to end", func() bool {
		_, ok := e.app.Game().Match(match)
		return !ok
	})
	var m lobby.MatchSummary
	if code := call(t, "GET", e.hs.URL+"/v1/matches/"+match, "", nil, &m); code != 200 || m.State != "over" {
		t.Fatalf("match while its result waits: %d %+v", code, m)
	}
	if _, ok, _ := e.results.Result(match); ok {
		t.Fatal("result stored while the store was stuck")
	}

	e.g.open()
	var res struct {
		lobby.MatchSummary
		Result lobby.MatchResult `json:"result"`
	}
	testkit.WaitFor(t, "the result", func() bool {
		return call(t, "GET", e.hs.URL+"/v1/matches/"+match, "", nil, &res) == 200 && res.Result.ID == match
	})
	if res.Result.Reason != "abandoned" || res.State != "over" {
		t.Fatalf("result %+v", res)
	}
	for _, p := range ps {
		if seated(t, e.hs.URL, p, match) {
			t.Fatalf("player %d still seated", p.ID)
		}
	}
	if code := call(t, "POST", e.hs.URL+"/v1/tickets", ps[0].Session, map[string]string{"mode": "bench"}, nil); code != 201 {
		t.Fatalf("queue again after the match: %d", code)
	}
}

// TestHookQueueOverflow: with room for one waiting event and the store
// stuck, a third seat release finds the queue full. It is coalesced, not
// dropped: counted, /readyz says the server is not keeping up, the match
// plays on, and once the store recovers every seat is released.
func TestHookQueueOverflow(t *testing.T) {
	e := newSlowEnv(t, 4, app.Config{HookQueue: 1}, nil)
	ps, cs, match := e.match(t, 4)
	testkit.WaitFor(t, "the first snapshots", func() bool { return cs[3].Stats().Snapshots > 0 })

	e.g.close()
	if err := cs[0].Leave(); err != nil {
		t.Fatal(err)
	}
	e.g.waitEntered(t) // the first release holds the queue's goroutine
	for _, c := range cs[1:3] {
		if err := c.Leave(); err != nil {
			t.Fatal(err)
		}
	}
	// One release waits in the queue, the other overflows.
	testkit.WaitFor(t, "a coalesced seat release", func() bool { return e.app.HookStats().Coalesced == 1 })
	if err := e.app.Ready(t.Context()); !errors.Is(err, app.ErrHooksBacklogged) {
		t.Fatalf("ready while backlogged: %v", err)
	}
	resp, err := http.Get(e.hs.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz while backlogged: %d", resp.StatusCode)
	}
	snapshotsWhile(t, cs[3], 60)

	e.g.open()
	testkit.WaitFor(t, "every seat released", func() bool {
		for _, p := range ps[:3] {
			if seated(t, e.hs.URL, p, match) {
				return false
			}
		}
		return true
	})
	if !seated(t, e.hs.URL, ps[3], match) {
		t.Fatal("the player still in the match lost their seat")
	}
	testkit.WaitFor(t, "ready again", func() bool { return e.app.Ready(t.Context()) == nil })
	if st := e.app.HookStats(); st.Coalesced != 1 || st.Lost != 0 || st.Pending != 0 || st.Handled < 3 {
		t.Fatalf("hook stats %+v", st)
	}
}

// TestShutdownStoresResults: Shutdown ends the running match and returns
// only once its result is in the store, however long the store stalls
// within Shutdown's deadline.
func TestShutdownStoresResults(t *testing.T) {
	e := newSlowEnv(t, 1, app.Config{}, nil)
	_, cs, match := e.match(t, 1)
	testkit.WaitFor(t, "the first snapshots", func() bool { return cs[0].Stats().Snapshots > 0 })

	e.g.close()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- e.app.Shutdown(ctx)
	}()
	for e.g.waitEntered(t) != "result "+match {
	}
	e.g.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r, ok, err := e.results.Result(match)
	if err != nil || !ok || r.Reason != "shutdown" || len(r.Players) != 1 {
		t.Fatalf("result after shutdown: %+v %v %v", r, ok, err)
	}
	if st := e.app.HookStats(); st.Lost != 0 || st.Pending != 0 {
		t.Fatalf("hook stats %+v", st)
	}
}

// TestDrainStoresResults: when Drain returns, the results of the matches
// that ended during it are stored.
func TestDrainStoresResults(t *testing.T) {
	e := newSlowEnv(t, 1, app.Config{}, nil)
	_, cs, match := e.match(t, 1)
	e.g.close()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- e.app.Drain(ctx)
	}()
	if err := cs[0].Leave(); err != nil { // the match is abandoned and ends
		t.Fatal(err)
	}
	e.g.waitEntered(t)
	e.g.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r, ok, err := e.results.Result(match); err != nil || !ok || r.Reason != "abandoned" {
		t.Fatalf("result after drain: %+v %v %v", r, ok, err)
	}
}

// TestShutdownDeadlineLogsLostResult: when Shutdown's context ends with
// the store still stuck, the result that could not be stored is logged in
// full at error level and counted; Shutdown says so.
func TestShutdownDeadlineLogsLostResult(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	e := newSlowEnv(t, 2, app.Config{}, zap.New(core))
	_, cs, match := e.match(t, 2)
	e.g.close()
	if err := cs[0].Leave(); err != nil {
		t.Fatal(err)
	}
	e.g.waitEntered(t) // the release holds the queue's goroutine

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.app.Shutdown(ctx) }()
	// The match ends ("shutdown") and its result waits behind the release.
	testkit.WaitFor(t, "the result queued", func() bool { return e.app.HookStats().PendingResults == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("shutdown: %v", err)
	}
	if st := e.app.HookStats(); st.Lost != 1 {
		t.Fatalf("hook stats %+v", st)
	}
	lost := logs.FilterMessageSnippet("match result lost").All()
	if len(lost) != 1 || lost[0].ContextMap()["match"] != match {
		t.Fatalf("lost result log: %+v", lost)
	}
	if res, ok := lost[0].ContextMap()["result"].(lobby.MatchResult); !ok || res.ID != match || res.Reason != "shutdown" || len(res.Players) != 1 {
		t.Fatalf("logged result %#v", lost[0].ContextMap()["result"])
	}
	if _, ok, _ := e.results.Result(match); ok {
		t.Fatal("the lost result was stored")
	}
}

// TestUnavailableStoreRetriesResult: the results store fails every write
// for a while; the match ends meanwhile and its result is tried again
// until the store is back, then stored. The match stays listed as over in
// between.
func TestUnavailableStoreRetriesResult(t *testing.T) {
	e := newSlowEnv(t, 1, app.Config{}, nil)
	_, cs, match := e.match(t, 1)
	e.down.Store(true)
	if err := cs[0].Leave(); err != nil { // the match is abandoned and ends
		t.Fatal(err)
	}
	testkit.WaitFor(t, "result writes tried again", func() bool { return e.app.HookStats().ResultRetries >= 2 })
	var m lobby.MatchSummary
	if code := call(t, "GET", e.hs.URL+"/v1/matches/"+match, "", nil, &m); code != 200 || m.State != "over" {
		t.Fatalf("match while its result is retried: %d %+v", code, m)
	}
	e.down.Store(false)
	testkit.WaitFor(t, "the result stored", func() bool {
		_, ok, _ := e.results.Result(match)
		return ok
	})
	if st := e.app.HookStats(); st.Lost != 0 || st.PendingResults != 0 {
		t.Fatalf("hook stats %+v", st)
	}
}
