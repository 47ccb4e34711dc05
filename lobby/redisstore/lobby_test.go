package redisstore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/time/rate"

	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/redisstore"
)

// These tests run several lobby.Lobby instances over one real
// redis-server, each with its own connection pool, as separate lobby
// processes would.

// fakeGame is the Placer and MatchDirectory of every lobby in a test:
// match ids are unique across lobbies.
type fakeGame struct {
	n      *atomic.Int64
	mu     sync.Mutex
	placed map[string][]lobby.PlayerID
}

func newFakeGame() *fakeGame {
	return &fakeGame{n: new(atomic.Int64), placed: make(map[string][]lobby.PlayerID)}
}

func (g *fakeGame) Place(ctx context.Context, req lobby.PlaceRequest) (lobby.Placement, error) {
	id := fmt.Sprintf("m%d", g.n.Add(1))
	g.mu.Lock()
	g.placed[id] = append([]lobby.PlayerID(nil), req.Players...)
	g.mu.Unlock()
	return lobby.Placement{MatchID: id}, nil
}

func (g *fakeGame) Matches() []lobby.MatchSummary           { return nil }
func (g *fakeGame) Match(string) (lobby.MatchSummary, bool) { return lobby.MatchSummary{}, false }

// node is one lobby process: its own Redis client, lobby and HTTP server.
type node struct {
	t     *testing.T
	store *redisstore.Store
	l     *lobby.Lobby
	srv   *httptest.Server
	once  sync.Once
}

type cluster struct {
	t      *testing.T
	redis  *testkit.RedisServer
	prefix string
	game   *fakeGame
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, redis: testkit.Redis(t), prefix: "c:", game: newFakeGame()}
}

func quickConfig() lobby.Config {
	return lobby.Config{
		Modes:             map[string]lobby.ModeRules{"duel": {MinPlayers: 2, MaxPlayers: 2}, "solo": {MinPlayers: 1, MaxPlayers: 1}},
		MatchInterval:     10 * time.Millisecond,
		FillWait:          time.Nanosecond,
		BotFillAfter:      -1,
		LeaseTTL:          time.Second,
		StoreTimeout:      2 * time.Second,
		SSEUpdateInterval: time.Minute, // changes must arrive through TicketEvents
		RateLimit:         rate.Inf,
		RateBurst:         1 << 20,
		SessionRateLimit:  rate.Inf,
		SessionRateBurst:  1 << 20,
	}
}

// start starts a lobby process; edit may change its config.
func (c *cluster) start(edit func(*lobby.Config, *redisstore.Store)) *node {
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
	l, err := lobby.New(cfg, c.game, c.game, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, store: s, l: l, srv: httptest.NewServer(l.Handler())}
	t.Cleanup(n.stop)
	return n
}

// stop shuts the lobby down (it gives its lease back) and closes its
// client.
func (n *node) stop() {
	n.once.Do(func() {
		n.srv.CloseClientConnections()
		n.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.l.Shutdown(ctx); err != nil {
			n.t.Errorf("shutdown: %v", err)
		}
		_ = n.store.Close()
	})
}

func (n *node) do(method, path, token string, body, out any) (int, string) {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.srv.URL+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := n.srv.Client().Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode, string(raw)
}

type auth struct {
	PlayerID     lobby.PlayerID `json:"player_id"`
	SessionToken string         `json:"session_token"`
	RefreshToken string         `json:"refresh_token"`
}

func (n *node) guest(name string) auth {
	n.t.Helper()
	var a auth
	if code, body := n.do("POST", "/v1/auth/guest", "", map[string]string{"name": name}, &a); code != 200 || a.SessionToken == "" {
		n.t.Fatalf("guest: %d %s", code, body)
	}
	return a
}

type ticketView struct {
	TicketID   string `json:"ticket_id"`
	Status     string `json:"status"`
	Position   int    `json:"position"`
	Assignment *struct {
		MatchID string `json:"match_id"`
		Token   string `json:"token"`
	} `json:"assignment"`
}

func (n *node) ticket(token, mode string) ticketView {
	n.t.Helper()
	var v ticketView
	if code, body := n.do("POST", "/v1/tickets", token, map[string]any{"mode": mode}, &v); code != 201 {
		n.t.Fatalf("ticket: %d %s", code, body)
	}
	return v
}

func (n *node) get(token, id string) ticketView {
	n.t.Helper()
	var v ticketView
	if code, body := n.do("GET", "/v1/tickets/"+id, token, nil, &v); code != 200 {
		n.t.Fatalf("get ticket: %d %s", code, body)
	}
	return v
}

func (n *node) waitStatus(token, id, status string) ticketView {
	n.t.Helper()
	var v ticketView
	testkit.WaitFor(n.t, "ticket "+status, func() bool {
		v = n.get(token, id)
		return v.Status == status
	})
	return v
}

// stream is an open event stream.
type stream struct {
	resp   *http.Response
	sc     *bufio.Scanner
	cancel context.CancelFunc
}

func (n *node) stream(id, lastEventID string) *stream {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", n.srv.URL+"/v1/tickets/"+id+"/events", nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := n.srv.Client().Do(req)
	if err != nil {
		cancel()
		n.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		cancel()
		n.t.Fatalf("stream: %d", resp.StatusCode)
	}
	s := &stream{resp: resp, sc: bufio.NewScanner(resp.Body), cancel: cancel}
	n.t.Cleanup(func() { cancel(); resp.Body.Close() })
	return s
}

// next returns the next event's name and data.
func (s *stream) next(t *testing.T) (event, data string) {
	t.Helper()
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && event != "":
			return event, data
		}
	}
	t.Fatalf("stream ended: %v", s.sc.Err())
	return "", ""
}

// until reads events until one named want arrives.
func (s *stream) until(t *testing.T, want string) string {
	t.Helper()
	for {
		ev, data := s.next(t)
		if ev == want {
			return data
		}
		if ev != "queued" {
			t.Fatalf("event %q (%s), want %q", ev, data, want)
		}
	}
}

// TestTwoLobbiesServeOneQueue: tickets created on A and on B are matched
// together by whichever lobby holds the lease; the stream served by B sees
// the match; a stream resumed on B with Last-Event-ID gets the outcome of a
// ticket created on A; a socket token is single-use across both.
func TestTwoLobbiesServeOneQueue(t *testing.T) {
	c := newCluster(t)
	a, b := c.start(nil), c.start(nil)
	pa, pb := a.guest("ann"), b.guest("bob")
	if pa.PlayerID == pb.PlayerID {
		t.Fatalf("two lobbies gave out player id %d twice", pa.PlayerID)
	}
	ta := a.ticket(pa.SessionToken, "duel")
	if v := b.get(pa.SessionToken, ta.TicketID); v.Status != "queued" || v.Position != 1 {
		t.Fatalf("ticket from A seen on B: %+v", v) // session tokens verify on B: shared keys
	}
	sb := b.stream(ta.TicketID, "") // A's ticket, streamed by B
	if ev, _ := sb.next(t); ev != "queued" {
		t.Fatalf("first event %q", ev)
	}
	tb := b.ticket(pb.SessionToken, "duel")
	var matched struct {
		MatchID string `json:"match_id"`
	}
	var view struct {
		Assignment json.RawMessage `json:"assignment"`
	}
	_ = json.Unmarshal([]byte(sb.until(t, "matched")), &view)
	_ = json.Unmarshal(view.Assignment, &matched)
	vb := a.waitStatus(pb.SessionToken, tb.TicketID, "matched")
	if matched.MatchID == "" || vb.Assignment == nil || vb.Assignment.MatchID != matched.MatchID {
		t.Fatalf("A's and B's tickets not in one match: %q vs %+v", matched.MatchID, vb.Assignment)
	}
	c.game.mu.Lock()
	players := c.game.placed[matched.MatchID]
	c.game.mu.Unlock()
	if len(players) != 2 {
		t.Fatalf("match %s placed with %v", matched.MatchID, players)
	}
	// Resume on B after seeing "queued" on A: the outcome comes at once.
	resumed := b.stream(ta.TicketID, "1")
	if ev, _ := resumed.next(t); ev != "matched" {
		t.Fatalf("resumed stream: %q", ev)
	}
	// Seen the outcome: 204, on either lobby.
	for _, n := range []*node{a, b} {
		req, _ := http.NewRequest("GET", n.srv.URL+"/v1/tickets/"+ta.TicketID+"/events", nil)
		req.Header.Set("Last-Event-ID", "2")
		resp, err := n.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("stream after the outcome: %d", resp.StatusCode)
		}
	}
	// The seat is shared: B re-issues a socket token for the match A or B
	// placed, and the token works once, on whichever lobby checks it.
	var tok struct {
		Token string `json:"token"`
	}
	if code, body := b.do("POST", "/v1/matches/"+matched.MatchID+"/token", pa.SessionToken, nil, &tok); code != 200 {
		t.Fatalf("reconnect token on B: %d %s", code, body)
	}
	if g, err := a.l.VerifySocketToken(context.Background(), tok.Token); err != nil || g.Match != matched.MatchID || g.Player != pa.PlayerID {
		t.Fatalf("verify on A: %+v %v", g, err)
	}
	if _, err := b.l.VerifySocketToken(context.Background(), tok.Token); err == nil {
		t.Fatal("a socket token was accepted twice (once per lobby)")
	}
	// A player queued on A cannot queue again on B.
	pc := a.guest("cy")
	a.ticket(pc.SessionToken, "duel")
	if code, body := b.do("POST", "/v1/tickets", pc.SessionToken, map[string]any{"mode": "duel"}, nil); code != http.StatusConflict {
		t.Fatalf("second ticket on B: %d %s", code, body)
	}
}

// holdLease wraps a Store whose Unlock does nothing: its lobby "crashes"
// with the lease held, so the other lobby must wait for it to expire.
type holdLease struct{ *redisstore.Store }

func (holdLease) Unlock(context.Context, string, string) error { return nil }

// neverLead wraps a Store whose lobby never gets the matchmaker lease.
type neverLead struct{ *redisstore.Store }

func (neverLead) TryLock(context.Context, string, string, time.Duration) (bool, error) {
	return false, nil
}

func (neverLead) AcquireLease(context.Context, string, string, time.Duration) (uint64, error) {
	return 0, nil
}

// gatedLead wraps a Store whose lobby may not take the matchmaker lease
// until allow is set.
type gatedLead struct {
	*redisstore.Store
	allow atomic.Bool
}

func (g *gatedLead) TryLock(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if !g.allow.Load() {
		return false, nil
	}
	return g.Store.TryLock(ctx, name, holder, ttl)
}

func (g *gatedLead) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (uint64, error) {
	if !g.allow.Load() {
		return 0, nil
	}
	return g.Store.AcquireLease(ctx, name, holder, ttl)
}

// TestLeaseTakeover: the lobby holding the matchmaker lease goes away
// (without giving it back, as in a kill -9) and the other lobby takes over
// once it expires; queued tickets are matched and nothing is lost.
func TestLeaseTakeover(t *testing.T) {
	c := newCluster(t)
	a := c.start(func(cfg *lobby.Config, s *redisstore.Store) { cfg.Leases = holdLease{s} })
	// Let A lead first: a solo ticket matched means some lobby led, and B
	// does not exist yet.
	p0 := a.guest("zero")
	t0 := a.ticket(p0.SessionToken, "solo")
	a.waitStatus(p0.SessionToken, t0.TicketID, "matched")
	b := c.start(nil)
	p1 := b.guest("one")
	t1 := b.ticket(p1.SessionToken, "duel") // waits for a second player
	a.stop()                                // crashes holding the lease
	p2 := b.guest("two")
	t2 := b.ticket(p2.SessionToken, "duel")
	v1 := b.waitStatus(p1.SessionToken, t1.TicketID, "matched")
	v2 := b.waitStatus(p2.SessionToken, t2.TicketID, "matched")
	if v1.Assignment.MatchID != v2.Assignment.MatchID {
		t.Fatalf("not matched together: %+v %+v", v1.Assignment, v2.Assignment)
	}
	// Nothing A made is lost: B still serves A's session and ticket.
	if v := b.get(p0.SessionToken, t0.TicketID); v.Status != "matched" || v.Assignment == nil || v.Assignment.Token == "" {
		t.Fatalf("A's ticket on B: %+v", v)
	}
}

// TestLobbyRestartLosesNothing: a fresh lobby over the same Redis serves
// the old lobby's sessions (refresh works, logouts hold), tickets, seats and
// results.
func TestLobbyRestartLosesNothing(t *testing.T) {
	c := newCluster(t)
	a := c.start(nil)
	p := a.guest("ann")
	out := a.guest("leaver")
	tk := a.ticket(p.SessionToken, "solo")
	v := a.waitStatus(p.SessionToken, tk.TicketID, "matched")
	match := v.Assignment.MatchID
	if err := a.l.RecordResult(lobby.MatchResult{ID: "done-1", Mode: "duel", Reason: "time", Started: time.Now().Add(-time.Minute),
		Players: []lobby.ResultEntry{{Player: p.PlayerID, Score: 3, Rank: 1}}}); err != nil {
		t.Fatal(err)
	}
	if code, _ := a.do("POST", "/v1/auth/logout", out.SessionToken, nil, nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	queued := a.guest("waiting")
	tq := a.ticket(queued.SessionToken, "duel")
	a.stop()

	b := c.start(nil) // the restarted lobby
	if v := b.get(p.SessionToken, tk.TicketID); v.Status != "matched" || v.Assignment == nil || v.Assignment.MatchID != match || v.Assignment.Token == "" {
		t.Fatalf("ticket after restart: %+v", v)
	}
	if code, body := b.do("POST", "/v1/matches/"+match+"/token", p.SessionToken, nil, nil); code != 200 {
		t.Fatalf("seat after restart: %d %s", code, body)
	}
	var res struct {
		State  string            `json:"state"`
		Result lobby.MatchResult `json:"result"`
	}
	if code, body := b.do("GET", "/v1/matches/done-1", "", nil, &res); code != 200 || res.State != "over" || res.Result.Reason != "time" {
		t.Fatalf("result after restart: %d %s", code, body)
	}
	var ref auth
	if code, body := b.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": p.RefreshToken}, &ref); code != 200 || ref.PlayerID != p.PlayerID {
		t.Fatalf("refresh after restart: %d %s", code, body)
	}
	if code, _ := b.do("GET", "/v1/tickets/"+tk.TicketID, out.SessionToken, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("a logged-out session works after restart: %d", code)
	}
	// The queued ticket is still queued and gets matched.
	if v := b.get(queued.SessionToken, tq.TicketID); v.Status != "queued" || v.Position != 1 {
		t.Fatalf("queued ticket after restart: %+v", v)
	}
	late := b.guest("late")
	b.ticket(late.SessionToken, "duel")
	b.waitStatus(queued.SessionToken, tq.TicketID, "matched")
}

// TestRedisRestart: Redis restarts (append-only file on) under two running
// lobbies; they recover by themselves: the lease is taken again, B's
// stream gets a match made by A's side after the restart through a
// re-established subscription, and old sessions and tickets survive.
func TestRedisRestart(t *testing.T) {
	c := newCluster(t)
	// B never leads: A makes the match, so B's stream learns of it only
	// through the subscription.
	a, b := c.start(nil), c.start(func(cfg *lobby.Config, s *redisstore.Store) { cfg.Leases = neverLead{s} })
	p1 := a.guest("one")
	t1 := a.ticket(p1.SessionToken, "duel")
	s := b.stream(t1.TicketID, "")
	if ev, _ := s.next(t); ev != "queued" {
		t.Fatalf("first event %q", ev)
	}
	c.redis.Restart()
	// The stream's pub/sub connection must come back before the match is
	// made, or the change arrives only at the next update tick (a minute):
	// create tickets until one matches t1.
	p2 := a.guest("two")
	testkit.WaitFor(t, "a ticket after the restart", func() bool {
		code, _ := a.do("POST", "/v1/tickets", p2.SessionToken, map[string]any{"mode": "duel"}, nil)
		return code == http.StatusCreated || code == http.StatusConflict
	})
	s.until(t, "matched") // fails on any other final event, or a stream that ends
	if v := b.get(p1.SessionToken, t1.TicketID); v.Status != "matched" {
		t.Fatalf("ticket after the restart: %+v", v)
	}
}

// TestRedisDown: with Redis unreachable, requests fail fast with 503
// store_unavailable (never hang), open event streams stay open, and
// everything works again when Redis is back.
func TestRedisDown(t *testing.T) {
	c := newCluster(t)
	a := c.start(nil)
	p := a.guest("ann")
	tk := a.ticket(p.SessionToken, "duel")
	s := a.stream(tk.TicketID, "")
	if ev, _ := s.next(t); ev != "queued" {
		t.Fatalf("first event %q", ev)
	}
	c.redis.Kill()
	for _, r := range []struct{ method, path, token string }{
		{"POST", "/v1/auth/guest", ""},
		{"POST", "/v1/tickets", p.SessionToken},
		{"GET", "/v1/tickets/" + tk.TicketID, p.SessionToken},
	} {
		done := make(chan struct{})
		var code int
		var body string
		go func() {
			defer close(done)
			var b any
			if r.method == "POST" {
				b = map[string]any{"mode": "duel", "name": "x"}
			}
			code, body = a.do(r.method, r.path, r.token, b, nil)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s %s hangs with Redis down", r.method, r.path)
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"store_unavailable"`) {
			t.Fatalf("%s %s with Redis down: %d %s", r.method, r.path, code, body)
		}
	}
	if err := a.l.Ready(context.Background()); err == nil {
		t.Fatal("ready with Redis down")
	}
	c.redis.Start()
	testkit.WaitFor(t, "the lobby to be ready again", func() bool { return a.l.Ready(context.Background()) == nil })
	p2 := a.guest("bob")
	a.ticket(p2.SessionToken, "duel")
	s.until(t, "matched") // the stream stayed open across the outage
}

// stuckPlacer never answers until released, ignoring its context: its
// lobby behaves like a process frozen (or killed) in the middle of a
// placement.
type stuckPlacer struct {
	fakeGame
	entered chan struct{}
	release chan struct{}
}

func (p *stuckPlacer) Place(ctx context.Context, req lobby.PlaceRequest) (lobby.Placement, error) {
	select {
	case p.entered <- struct{}{}:
	default:
	}
	<-p.release
	return lobby.Placement{}, fmt.Errorf("gone")
}

// TestLeaderDiesWhilePlacing: the leading lobby freezes in the middle of
// a placement, holding a ticket out of the queue. Another lobby takes the
// lease and puts the ticket back in line; its short TTL has run out by
// then, so it expires there, and its player queues again and is matched.
func TestLeaderDiesWhilePlacing(t *testing.T) {
	c := newCluster(t)
	stuck := &stuckPlacer{entered: make(chan struct{}, 1), release: make(chan struct{})}
	short := func(cfg *lobby.Config) {
		cfg.TicketTTL = 300 * time.Millisecond
		cfg.PlaceTimeout = 100 * time.Millisecond
		cfg.StoreTimeout = time.Second
		cfg.LeaseTTL = 500 * time.Millisecond
	}
	s, err := redisstore.Open(context.Background(), c.redis.URL, redisstore.Options{Prefix: c.prefix, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := quickConfig()
	s.Configure(&cfg)
	short(&cfg)
	a, err := lobby.New(cfg, stuck, c.game, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(stuck.release)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	}()
	// B may not lead until A's placer holds the ticket: a lobby that holds
	// the lease renews it, so a B that won it first would keep it.
	bLead := &gatedLead{}
	b := c.start(func(cfg *lobby.Config, s *redisstore.Store) {
		short(cfg)
		bLead.Store = s
		cfg.Leases = bLead
	})
	p := b.guest("ann")
	tk := b.ticket(p.SessionToken, "solo")
	select {
	case <-stuck.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the frozen lobby never took the ticket")
	}
	bLead.allow.Store(true)
	b.waitStatus(p.SessionToken, tk.TicketID, "expired")
	again := b.ticket(p.SessionToken, "solo")
	b.waitStatus(p.SessionToken, again.TicketID, "matched")
}

// TestTwoLobbiesUnderLoad: players queue on either lobby and some cancel
// through the other one at once, while both lobbies' matchmakers compete
// for the lease. Every ticket ends once (matched or cancelled), no player
// is placed twice, every match has exactly its two players, and matched
// tickets agree with the placements.
func TestTwoLobbiesUnderLoad(t *testing.T) {
	c := newCluster(t)
	lobbies := []*node{c.start(nil), c.start(nil)}
	const players = 60
	type entry struct {
		a      auth
		ticket string
		home   *node
	}
	entries := make([]entry, players)
	var wg sync.WaitGroup
	for i := range players {
		wg.Add(1)
		go func() {
			defer wg.Done()
			home, other := lobbies[i%2], lobbies[(i+1)%2]
			a := home.guest(fmt.Sprint("p", i))
			var v ticketView
			if code, body := home.do("POST", "/v1/tickets", a.SessionToken, map[string]any{"mode": "duel"}, &v); code != 201 {
				t.Errorf("ticket: %d %s", code, body)
				return
			}
			entries[i] = entry{a: a, ticket: v.TicketID, home: home}
			if i%5 == 0 { // cancel through the other lobby, racing the matchmaker
				code, body := other.do("DELETE", "/v1/tickets/"+v.TicketID, a.SessionToken, nil, nil)
				if code != 200 && code != http.StatusConflict {
					t.Errorf("cancel: %d %s", code, body)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	final := make([]ticketView, players)
	testkit.WaitFor(t, "every ticket but at most one to end", func() bool {
		queued := 0
		for i, e := range entries {
			final[i] = e.home.get(e.a.SessionToken, e.ticket)
			if final[i].Status == "queued" {
				queued++
			}
		}
		return queued <= 1
	})
	c.game.mu.Lock()
	defer c.game.mu.Unlock()
	placedIn := map[lobby.PlayerID]string{}
	for id, ps := range c.game.placed {
		if len(ps) != 2 || ps[0] == ps[1] {
			t.Errorf("match %s placed with %v", id, ps)
		}
		for _, p := range ps {
			if m, dup := placedIn[p]; dup {
				t.Errorf("player %d placed in %s and %s", p, m, id)
			}
			placedIn[p] = id
		}
	}
	matched := 0
	for i, v := range final {
		p := entries[i].a.PlayerID
		switch v.Status {
		case "matched":
			matched++
			if v.Assignment == nil || placedIn[p] != v.Assignment.MatchID {
				t.Errorf("player %d: ticket matched to %+v, placed in %q", p, v.Assignment, placedIn[p])
			}
		case "cancelled", "queued":
			if m, ok := placedIn[p]; ok {
				t.Errorf("player %d: ticket %s but placed in %s", p, v.Status, m)
			}
		default:
			t.Errorf("player %d: ticket %s", p, v.Status)
		}
	}
	if matched != 2*len(c.game.placed) {
		t.Errorf("%d matched tickets for %d matches", matched, len(c.game.placed))
	}
	t.Logf("%d players: %d matches, %d tickets matched, %d cancelled or left", players, len(c.game.placed), matched, players-matched)
}
