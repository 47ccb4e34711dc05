package cluster_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/cluster"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/redisstore"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// proc is one cluster process of a test: an App over a real Redis, its
// cluster part started as cmd/server starts it.
type proc struct {
	app *app.App
	hs  *httptest.Server
	cl  *cluster.Cluster
}

// wsBase is the node's socket URL prefix.
func (p proc) wsBase() string { return "ws" + strings.TrimPrefix(p.hs.URL, "http") + "/v1/ws" }

// startRole runs a lobby or game node process over Redis at url, with
// quick heartbeats and seat sweeps.
func startRole(t *testing.T, url string, role app.Role, id string) proc {
	t.Helper()
	cfg := app.Config{Role: role, Lobby: testkit.QuickLobby()}
	cl, err := cluster.Prepare(context.Background(), cluster.Options{Role: role, RedisURL: url, NodeID: id,
		Heartbeat: 100 * time.Millisecond, TTL: time.Second, SweepEvery: 100 * time.Millisecond}, &cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the App shuts down, then the cluster part,
	// then the store closes.
	t.Cleanup(func() { _ = cl.Close() })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cl.Shutdown(ctx)
	})
	a, hs := testkit.Serve(t, cfg)
	if err := cl.Start(a, hs.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	return proc{app: a, hs: hs, cl: cl}
}

type player struct {
	ID    lobby.PlayerID `json:"player_id"`
	Token string         `json:"session_token"`
}

func guest(t *testing.T, base, name string) player {
	t.Helper()
	var p player
	if c := call(t, "POST", base+"/v1/auth/guest", "", map[string]string{"name": name}, &p); c != http.StatusOK {
		t.Fatalf("sign in: %d", c)
	}
	return p
}

func openStore(t *testing.T, url string) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(context.Background(), url, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// seated plays a bench match (one player starts one) on the node and
// connects to it.
func seated(t *testing.T, lob proc, node proc, name string) (player, ticket, *client.Client) {
	t.Helper()
	p := guest(t, lob.hs.URL, name)
	tk := play(t, lob.hs.URL, session{Token: p.Token})
	if !strings.HasPrefix(tk.Assignment.WSURL, node.wsBase()) {
		t.Fatalf("ws_url %s, want the node's %s", tk.Assignment.WSURL, node.wsBase())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, tk.Assignment.WSURL, tk.Assignment.Token)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return p, tk, c
}

func closedWith(t *testing.T, c *client.Client, code uint16) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the socket stayed open")
	}
	var ce *client.CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("socket closed with %v, want %d", err, code)
	}
}

// TestLogoutKicksNodeSockets: a logout at a lobby closes the player's
// socket on the game node with 4003 and frees the seat, as in one process.
func TestLogoutKicksNodeSockets(t *testing.T) {
	rs := testkit.Redis(t)
	lob := startRole(t, rs.URL, app.RoleLobby, "")
	node := startRole(t, rs.URL, app.RoleNode, "node-a")
	st := openStore(t, rs.URL)

	p, tk, c := seated(t, lob, node, "leaver")
	if c := call(t, "POST", lob.hs.URL+"/v1/auth/logout", p.Token, nil, nil); c != http.StatusNoContent && c != http.StatusOK {
		t.Fatalf("logout: %d", c)
	}
	closedWith(t, c, wire.CodeTokenRevoked)
	testkit.WaitFor(t, "seat released", func() bool {
		m, ok, err := st.Assignment(p.ID)
		return err == nil && (!ok || m != tk.Assignment.MatchID)
	})
}

// deafRevocations drops the revocations published while deaf is set, and
// ends its subscription when told to, as a lost Redis connection does (the
// node subscribes again).
type deafRevocations struct {
	lobby.Revocations
	mu      sync.Mutex
	deaf    bool
	dropped int
	cancel  context.CancelFunc
}

func (d *deafRevocations) SubscribeRevocations(ctx context.Context, fn func(lobby.Revocation)) error {
	ctx, cancel := context.WithCancel(ctx)
	d.mu.Lock()
	d.cancel = cancel
	d.mu.Unlock()
	defer cancel()
	return d.Revocations.SubscribeRevocations(ctx, func(r lobby.Revocation) {
		d.mu.Lock()
		drop := d.deaf && r.SID != ""
		if drop {
			d.dropped++
		}
		d.mu.Unlock()
		if !drop {
			fn(r)
		}
	})
}

// reconnect hears again and drops the subscription.
func (d *deafRevocations) reconnect() {
	d.mu.Lock()
	d.deaf = false
	cancel := d.cancel
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// TestRevocationCatchUp: a node that missed a revocation (its subscription
// was away) closes the revoked session's socket when it subscribes again,
// and leaves another player's socket alone.
func TestRevocationCatchUp(t *testing.T) {
	rs := testkit.Redis(t)
	lob := startRole(t, rs.URL, app.RoleLobby, "")
	st := openStore(t, rs.URL)

	// The node, wired by hand to hear revocations through deafRevocations.
	cfg := app.Config{Role: app.RoleNode, Lobby: testkit.QuickLobby()}
	cl, err := cluster.Prepare(context.Background(), cluster.Options{Role: app.RoleNode, RedisURL: rs.URL, NodeID: "x"}, &cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	a, hs := testkit.Serve(t, cfg)
	revs := &deafRevocations{Revocations: st, deaf: true}
	n, err := cluster.NewNode(cluster.NodeConfig{ID: "deaf", WSURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/ws",
		Heartbeat: 100 * time.Millisecond, TTL: time.Second, Registry: st, Matches: st, Placements: st,
		Revocations: revs, Sessions: a.SessionOf, Revoked: st.Revoked}, a.Game(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	node := proc{app: a, hs: hs}

	p, _, c := seated(t, lob, node, "leaver")
	_, _, other := seated(t, lob, node, "stayer")
	if code := call(t, "POST", lob.hs.URL+"/v1/auth/logout", p.Token, nil, nil); code >= 300 {
		t.Fatalf("logout: %d", code)
	}
	// The message reached the node's subscription and was dropped: the
	// socket plays on.
	testkit.WaitFor(t, "the revocation dropped", func() bool {
		revs.mu.Lock()
		defer revs.mu.Unlock()
		return revs.dropped == 1
	})
	if !c.Connected() {
		t.Fatal("closed before the subscription came back: the test's premise failed")
	}
	revs.reconnect()
	closedWith(t, c, wire.CodeTokenRevoked)
	if !other.Connected() {
		t.Fatalf("the other player's socket closed: %v", other.Err())
	}
}

// TestSeatsLeftBehind: a seat whose match is over or gone (its release
// never arrived) does not block the player: POST /v1/tickets frees it at
// once, and the matchmaking lobby's sweep frees it unasked.
func TestSeatsLeftBehind(t *testing.T) {
	rs := testkit.Redis(t)
	lob := startRole(t, rs.URL, app.RoleLobby, "")
	node := startRole(t, rs.URL, app.RoleNode, "node-a")
	st := openStore(t, rs.URL)
	ctx := context.Background()

	// The release is lost: the seat stays while the directory says the
	// match is over (a node whose hook queue gave up, a node that exited).
	// The test keeps the socket open so that no release arrives at all.
	strand := func(name string) (player, string) {
		p, tk, _ := seated(t, lob, node, name)
		return p, tk.Assignment.MatchID
	}

	// 1. Self-heal: POST /v1/tickets checks the seat's match.
	p1, m1 := strand("healer")
	if _, _, err := st.SetMatchState(ctx, m1, lobby.MatchEnded); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Assignment(p1.ID); !ok {
		t.Fatal("premise: the seat should still be held")
	}
	var tk ticket
	if code := call(t, "POST", lob.hs.URL+"/v1/tickets", p1.Token, map[string]string{"mode": "bench"}, &tk); code != http.StatusCreated {
		t.Fatalf("POST /v1/tickets with a seat in an ended match: %d, want 201", code)
	}

	// 2. The sweep: a seat in a match whose record is gone is released
	// without the player asking.
	p2, m2 := strand("swept")
	if err := st.Client().Del(ctx, "rp:match:"+m2).Err(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "seat swept", func() bool {
		_, ok, err := st.Assignment(p2.ID)
		return err == nil && !ok
	})

	// 3. The sweep: a running match on a node that left the registry
	// without ending it (as if it deregistered after a failed write) is
	// ended and its seats released.
	p3, m3 := strand("orphaned")
	rec, ok, err := st.MatchRecord(ctx, m3)
	if err != nil || !ok {
		t.Fatalf("match record: %v %v", ok, err)
	}
	rec.Node = "deregistered-node"
	if err := st.PutMatch(ctx, rec); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "orphan's seat swept", func() bool {
		_, ok, err := st.Assignment(p3.ID)
		return err == nil && !ok
	})
	if rec, _, err := st.MatchRecord(ctx, m3); err != nil || rec.State != lobby.MatchEnded {
		t.Fatalf("orphaned match: state %q (%v), want ended", rec.State, err)
	}
}

// TestListingShowsTick: GET /v1/matches and /v1/matches/{id} show the
// tick and players from the node's heartbeat.
func TestListingShowsTick(t *testing.T) {
	rs := testkit.Redis(t)
	lob := startRole(t, rs.URL, app.RoleLobby, "")
	node := startRole(t, rs.URL, app.RoleNode, "node-a")
	p, tk, _ := seated(t, lob, node, "watched")
	type summary struct {
		ID      string           `json:"id"`
		Tick    uint32           `json:"tick"`
		Players []lobby.PlayerID `json:"players"`
	}
	testkit.WaitFor(t, "tick in GET /v1/matches/{id}", func() bool {
		var m summary
		return call(t, "GET", lob.hs.URL+"/v1/matches/"+tk.Assignment.MatchID, "", nil, &m) == http.StatusOK && m.Tick > 0 &&
			len(m.Players) == 1 && m.Players[0] == p.ID
	})
	testkit.WaitFor(t, "tick in GET /v1/matches", func() bool {
		var list struct {
			Matches []summary `json:"matches"`
		}
		if call(t, "GET", lob.hs.URL+"/v1/matches", "", nil, &list) != http.StatusOK {
			return false
		}
		for _, m := range list.Matches {
			if m.ID == tk.Assignment.MatchID && m.Tick > 0 {
				return true
			}
		}
		return false
	})
}

// TestLostTicketNamesNode: a lost match's ticket still names its node's
// socket URL (the shared matchmaker stores it), not the lobby's host.
func TestLostTicketNamesNode(t *testing.T) {
	rs := testkit.Redis(t)
	lob := startRole(t, rs.URL, app.RoleLobby, "")
	node := startRole(t, rs.URL, app.RoleNode, "node-a")
	p, tk, _ := seated(t, lob, node, "orphan")
	st := openStore(t, rs.URL)
	// The node's match is lost: its record says so (as the monitor
	// writes), and the directory no longer locates it.
	if _, _, err := st.SetMatchState(context.Background(), tk.Assignment.MatchID, lobby.MatchLost); err != nil {
		t.Fatal(err)
	}
	var v ticket
	if code := call(t, "GET", lob.hs.URL+"/v1/tickets/"+tk.ID, p.Token, nil, &v); code != http.StatusOK || v.Assignment == nil {
		t.Fatalf("GET ticket: %d %+v", code, v)
	}
	if !strings.HasPrefix(v.Assignment.WSURL, node.wsBase()) {
		t.Fatalf("assignment ws_url %s after the match left the directory, want the node's %s", v.Assignment.WSURL, node.wsBase())
	}
}

// TestClusterMetrics: the lobby's and the node's cluster families count
// what happened.
func TestClusterMetrics(t *testing.T) {
	rs := testkit.Redis(t)
	lob := startRole(t, rs.URL, app.RoleLobby, "")
	node := startRole(t, rs.URL, app.RoleNode, "node-a")
	seated(t, lob, node, "counted")
	lreg, nreg := prometheus.NewRegistry(), prometheus.NewRegistry()
	lreg.MustRegister(lob.cl.Collectors()...)
	nreg.MustRegister(node.cl.Collectors()...)
	scrape := func(reg *prometheus.Registry) string {
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		defer srv.Close()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	testkit.WaitFor(t, "lobby families", func() bool {
		s := scrape(lreg)
		return strings.Contains(s, `rallypoint_cluster_placements_total{outcome="ok"} 1`) &&
			strings.Contains(s, "rallypoint_cluster_nodes 1") &&
			strings.Contains(s, `rallypoint_cluster_node_capacity{node="node-a"} 2000`) &&
			strings.Contains(s, `rallypoint_cluster_node_seats{node="node-a"} 1`) &&
			strings.Contains(s, "rallypoint_cluster_matchmaker_lease_held 1")
	})
	testkit.WaitFor(t, "node families", func() bool {
		s := scrape(nreg)
		return strings.Contains(s, `rallypoint_cluster_placements_consumed_total{outcome="created"} 1`) &&
			!strings.Contains(s, `rallypoint_cluster_heartbeats_total{result="ok"} 0`) &&
			strings.Contains(s, `rallypoint_cluster_heartbeats_total{result="failed"} 0`)
	})
	if s := scrape(nreg); strings.Contains(s, "rallypoint_cluster_matchmaker_lease_held") {
		t.Fatal("a game node exports the lease gauge")
	}
}
