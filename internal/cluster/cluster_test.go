package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/cluster"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// shared are the stores a lobby process and its game nodes share: the
// in-memory implementations, handed to every App of one test (Redis in
// production).
type shared struct {
	store    lobby.Store
	tickets  lobby.TicketStore
	seats    lobby.AssignmentStore
	results  lobby.ResultStore
	recovery lobby.RecoveryStore
	nodes    lobby.NodeRegistry
	matches  lobby.MatchStore
	orders   lobby.Placements
}

func newShared() *shared {
	return &shared{
		store: lobby.NewMemoryStore(), tickets: lobby.NewMemoryTicketStore(), seats: lobby.NewMemoryAssignmentStore(),
		results: lobby.NewMemoryResultStore(), recovery: lobby.NewMemoryRecoveryStore(nil),
		nodes: lobby.NewMemoryNodeRegistry(), matches: lobby.NewMemoryMatchStore(time.Hour), orders: lobby.NewMemoryPlacements(),
	}
}

func (s *shared) lobbyConfig() lobby.Config {
	lc := testkit.QuickLobby()
	lc.Store, lc.Tickets, lc.Assignments, lc.Results, lc.Recovery = s.store, s.tickets, s.seats, s.results, s.recovery
	return lc
}

// startLobby runs a lobby App with the cluster placer, directory and
// monitor.
func startLobby(t *testing.T, s *shared) (*app.App, *httptest.Server) {
	t.Helper()
	p, err := cluster.NewPlacer(cluster.PlacerConfig{Registry: s.nodes, Matches: s.matches, Placements: s.orders, Recovery: s.recovery}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, hs := testkit.Serve(t, app.Config{Role: app.RoleLobby, Lobby: s.lobbyConfig(), Placer: p, Directory: cluster.Directory{Store: s.matches}})
	m, err := cluster.NewMonitor(cluster.MonitorConfig{Registry: s.nodes, Matches: s.matches, Lobby: a.Lobby(), Interval: 20 * time.Millisecond, Grace: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return a, hs
}

// startNode runs a game node App and its agent.
func startNode(t *testing.T, s *shared, id string) (*cluster.Node, *httptest.Server) {
	t.Helper()
	a, hs := testkit.Serve(t, app.Config{Role: app.RoleNode, Lobby: s.lobbyConfig()})
	n, err := cluster.NewNode(cluster.NodeConfig{ID: id, WSURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/ws", Capacity: 100,
		Heartbeat: 100 * time.Millisecond, TTL: time.Second,
		Registry: s.nodes, Matches: s.matches, Placements: s.orders}, a.Game(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n, hs
}

func call(t *testing.T, method, url, bearer string, body, out any) int {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

type session struct {
	Token string `json:"session_token"`
}

type ticket struct {
	ID         string `json:"ticket_id"`
	Status     string `json:"status"`
	Position   int    `json:"position"`
	Assignment *struct {
		MatchID string `json:"match_id"`
		WSURL   string `json:"ws_url"`
		Token   string `json:"token"`
	} `json:"assignment"`
}

// play signs in, queues for bench (one player starts a match) and waits
// until matched.
func play(t *testing.T, base string, s session) ticket {
	t.Helper()
	var tk ticket
	if c := call(t, "POST", base+"/v1/tickets", s.Token, map[string]string{"mode": "bench"}, &tk); c != http.StatusCreated {
		t.Fatalf("POST /v1/tickets: %d", c)
	}
	testkit.WaitFor(t, "matched", func() bool {
		call(t, "GET", base+"/v1/tickets/"+tk.ID, s.Token, nil, &tk)
		return tk.Status == "matched"
	})
	return tk
}

// TestClusterInProcess runs a lobby and two game nodes as Apps in one
// process over shared in-memory stores: matches go to the least-loaded
// node, the assignment names that node's socket URL, and when a node stops
// heartbeating its matches are lost, its players' tickets say so, their
// seats are free and their next ticket goes first.
func TestClusterInProcess(t *testing.T) {
	s := newShared()
	_, lob := startLobby(t, s)
	nodeA, hsA := startNode(t, s, "a")
	_, hsB := startNode(t, s, "b")

	var players []session
	var tickets []ticket
	on := map[string][]int{}
	for i := range 6 {
		var ss session
		if c := call(t, "POST", lob.URL+"/v1/auth/guest", "", map[string]string{"name": fmt.Sprintf("p%d", i)}, &ss); c != http.StatusOK {
			t.Fatalf("sign in: %d", c)
		}
		players = append(players, ss)
		tk := play(t, lob.URL, ss)
		tickets = append(tickets, tk)
		u := tk.Assignment.WSURL
		switch {
		case strings.HasPrefix(u, "ws"+strings.TrimPrefix(hsA.URL, "http")):
			on["a"] = append(on["a"], i)
		case strings.HasPrefix(u, "ws"+strings.TrimPrefix(hsB.URL, "http")):
			on["b"] = append(on["b"], i)
		default:
			t.Fatalf("ws_url %s names neither node", u)
		}
		// The client connects straight to the node.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, u, tk.Assignment.Token)
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", u, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		// The reconnect path names the same node.
		var re struct {
			WSURL string `json:"ws_url"`
		}
		if c := call(t, "POST", lob.URL+"/v1/matches/"+tk.Assignment.MatchID+"/token", ss.Token, nil, &re); c != http.StatusOK || re.WSURL != u {
			t.Fatalf("reconnect token: %d %q, want %q", c, re.WSURL, u)
		}
	}
	if len(on["a"]) == 0 || len(on["b"]) == 0 {
		t.Fatalf("least-loaded placement used one node only: %v", on)
	}

	// Node A stops heartbeating (its agent stops with matches left, as if
	// the process died): the lobby's monitor reaps it.
	if err := nodeA.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "node a reaped", func() bool {
		nodes, _ := s.nodes.Nodes(context.Background())
		dead, _ := s.nodes.DeadNodes(context.Background())
		return len(nodes) == 1 && nodes[0].ID == "b" && len(dead) == 0
	})
	for _, i := range on["a"] {
		tk := tickets[i]
		testkit.WaitFor(t, "ticket lost", func() bool {
			var v ticket
			call(t, "GET", lob.URL+"/v1/tickets/"+tk.ID, players[i].Token, nil, &v)
			return v.Status == "lost"
		})
		var m struct {
			State  string `json:"state"`
			Result struct {
				Reason string `json:"reason"`
			} `json:"result"`
		}
		if c := call(t, "GET", lob.URL+"/v1/matches/"+tk.Assignment.MatchID, "", nil, &m); c != http.StatusOK || m.State != "lost" || m.Result.Reason != lobby.ReasonNodeLost {
			t.Fatalf("GET lost match: %d %+v", c, m)
		}
		// The seat is free: the player queues again, and lands on b.
		again := play(t, lob.URL, players[i])
		if !strings.HasPrefix(again.Assignment.WSURL, "ws"+strings.TrimPrefix(hsB.URL, "http")) {
			t.Fatalf("requeued onto %s, want node b", again.Assignment.WSURL)
		}
	}
	for _, i := range on["b"] { // node b's players are untouched
		var v ticket
		call(t, "GET", lob.URL+"/v1/tickets/"+tickets[i].ID, players[i].Token, nil, &v)
		if v.Status != "matched" {
			t.Fatalf("a player of node b: ticket %s", v.Status)
		}
	}
}

// TestPlacerAvoidsSilentNode: a node that takes no placement is passed over
// (the placement withdrawn) and the next node gets the match; with no node
// at all the placement fails with ErrNoNode.
func TestPlacerAvoidsSilentNode(t *testing.T) {
	s := newShared()
	ctx := context.Background()
	p, err := cluster.NewPlacer(cluster.PlacerConfig{Registry: s.nodes, Matches: s.matches, Placements: s.orders, Recovery: s.recovery,
		AckTimeout: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Place(ctx, lobby.PlaceRequest{Mode: "bench", Players: []lobby.PlayerID{1}}); !errors.Is(err, cluster.ErrNoNode) {
		t.Fatalf("no nodes: %v, want ErrNoNode", err)
	}
	// "silent" has the most room but never answers; "busy" answers.
	_ = s.nodes.Heartbeat(ctx, lobby.NodeInfo{ID: "silent", WSURL: "ws://silent/v1/ws", Capacity: 100, Seen: time.Now()}, time.Minute)
	_ = s.nodes.Heartbeat(ctx, lobby.NodeInfo{ID: "busy", WSURL: "ws://busy/v1/ws", Capacity: 100, Players: 50, Seen: time.Now()}, time.Minute)
	_ = s.nodes.Heartbeat(ctx, lobby.NodeInfo{ID: "draining", WSURL: "ws://draining/v1/ws", Capacity: 1000, Draining: true, Seen: time.Now()}, time.Minute)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // busy's agent, acknowledging everything
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			recs, _ := s.orders.NextPlacements(ctx, "busy", 20*time.Millisecond)
			for _, r := range recs {
				_, _, _ = s.matches.SetMatchState(ctx, r.ID, lobby.MatchRunning)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	pl, err := p.Place(ctx, lobby.PlaceRequest{Mode: "bench", Players: []lobby.PlayerID{1, 2}, Tickets: []lobby.TicketID{"t1", "t2"}})
	if err != nil {
		t.Fatal(err)
	}
	if pl.WSURL != "ws://busy/v1/ws" {
		t.Fatalf("placed on %q, want busy", pl.WSURL)
	}
	recs, _ := s.orders.NextPlacements(ctx, "silent", 0)
	if len(recs) != 1 {
		t.Fatalf("silent got %d orders, want 1", len(recs))
	}
	if m, _, _ := s.matches.MatchRecord(ctx, recs[0].ID); m.State != lobby.MatchFailed {
		t.Fatalf("the silent node's placement is %q, want failed (withdrawn)", m.State)
	}
	if ids, _ := s.recovery.MatchTickets(ctx, pl.MatchID); len(ids) != 2 {
		t.Fatalf("match tickets %v", ids)
	}
	// A lobby taking over finds the match from the placement's key.
	keyed, err := p.Place(ctx, lobby.PlaceRequest{Mode: "bench", Players: []lobby.PlayerID{4}, Key: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	if got, found, err := p.FindPlacement(ctx, "0123456789abcdef0123456789abcdef"); err != nil || !found || got.MatchID != keyed.MatchID || got.WSURL != "ws://busy/v1/ws" {
		t.Fatalf("FindPlacement: %+v %v %v, want %+v", got, found, err, keyed)
	}
	if _, found, _ := p.FindPlacement(ctx, "ffffffffffffffffffffffffffffffff"); found {
		t.Fatal("FindPlacement found a placement for an unknown key")
	}
	_, _, _ = s.matches.SetMatchState(ctx, keyed.MatchID, lobby.MatchEnded)
	if _, found, _ := p.FindPlacement(ctx, "0123456789abcdef0123456789abcdef"); found {
		t.Fatal("FindPlacement found an ended match")
	}
	// Passed over for a while: the next placement goes to busy at once.
	if pl, err := p.Place(ctx, lobby.PlaceRequest{Mode: "bench", Players: []lobby.PlayerID{3}}); err != nil || pl.WSURL != "ws://busy/v1/ws" {
		t.Fatalf("second placement: %+v %v", pl, err)
	}
}

// TestNodeIDInUse: a node does not start under the id of a node whose
// matches are still live in the directory.
func TestNodeIDInUse(t *testing.T) {
	s := newShared()
	ctx := context.Background()
	if err := s.matches.PutMatch(ctx, lobby.MatchRecord{ID: "m1", Mode: "bench", Node: "a", State: lobby.MatchRunning}); err != nil {
		t.Fatal(err)
	}
	a, _ := testkit.Serve(t, app.Config{Role: app.RoleNode, Lobby: s.lobbyConfig()})
	n, err := cluster.NewNode(cluster.NodeConfig{ID: "a", WSURL: "ws://127.0.0.1:1/v1/ws", Registry: s.nodes, Matches: s.matches, Placements: s.orders}, a.Game(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); !errors.Is(err, cluster.ErrNodeIDInUse) {
		t.Fatalf("Start: %v, want ErrNodeIDInUse", err)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDrainingNodeRefuses: a draining node answers placements with failed
// and reports itself draining (no spare seats) in its heartbeat.
func TestDrainingNodeRefuses(t *testing.T) {
	s := newShared()
	ctx := context.Background()
	a, _ := testkit.Serve(t, app.Config{Role: app.RoleNode, Lobby: s.lobbyConfig()})
	n, err := cluster.NewNode(cluster.NodeConfig{ID: "d", WSURL: "ws://127.0.0.1:1/v1/ws", Heartbeat: 20 * time.Millisecond, TTL: time.Second,
		Registry: s.nodes, Matches: s.matches, Placements: s.orders, Draining: func() bool { return true }}, a.Game(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(ctx) })
	nodes, _ := s.nodes.Nodes(ctx)
	if len(nodes) != 1 || !nodes[0].Draining || nodes[0].Spare() != 0 {
		t.Fatalf("heartbeat %+v: want draining, no spare seats", nodes)
	}
	rec := lobby.MatchRecord{ID: "m1", Mode: "bench", Node: "d", Players: []lobby.PlayerID{1}, State: lobby.MatchPlacing}
	if err := s.matches.PutMatch(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := s.orders.SendPlacement(ctx, "d", rec); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the placement refused", func() bool {
		m, _, _ := s.matches.MatchRecord(ctx, "m1")
		return m.State == lobby.MatchFailed
	})
	if len(a.Game().Matches()) != 0 {
		t.Fatal("a draining node created a match")
	}
}

// flakyRegistry fails DeadNodes while down is set.
type flakyRegistry struct {
	lobby.NodeRegistry
	down atomic.Bool
}

func (f *flakyRegistry) DeadNodes(ctx context.Context) ([]string, error) {
	if f.down.Load() {
		return nil, lobby.ErrStoreUnavailable
	}
	return f.NodeRegistry.DeadNodes(ctx)
}

// TestMonitorGraceAfterOutage: after the store failed, the monitor waits
// Grace before it reaps, so nodes whose heartbeats lapsed during the
// outage can heartbeat again.
func TestMonitorGraceAfterOutage(t *testing.T) {
	s := newShared()
	ctx := context.Background()
	reg := &flakyRegistry{NodeRegistry: s.nodes}
	_ = reg.Heartbeat(ctx, lobby.NodeInfo{ID: "x", WSURL: "ws://x/v1/ws", Capacity: 10}, time.Millisecond)
	testkit.WaitFor(t, "x's heartbeat to lapse", func() bool {
		dead, _ := reg.DeadNodes(ctx)
		return len(dead) == 1
	})
	a, _ := testkit.Serve(t, app.Config{Role: app.RoleLobby, Lobby: s.lobbyConfig()})
	m, err := cluster.NewMonitor(cluster.MonitorConfig{Registry: reg, Matches: s.matches, Lobby: a.Lobby(), Grace: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.down.Store(true)
	if got := m.Round(); len(got) != 0 {
		t.Fatalf("reaped %v while the store is down", got)
	}
	reg.down.Store(false)
	if got := m.Round(); len(got) != 0 {
		t.Fatalf("reaped %v within the grace after an outage", got)
	}
	m2, err := cluster.NewMonitor(cluster.MonitorConfig{Registry: reg, Matches: s.matches, Lobby: a.Lobby()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.Round(); len(got) != 1 || got[0] != "x" {
		t.Fatalf("a monitor that saw no outage reaped %v, want [x]", got)
	}
	if got := m.Round(); len(got) != 0 {
		t.Fatalf("a node was reaped twice: %v", got)
	}
}
