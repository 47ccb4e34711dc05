package lobby

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// locatedGame is a fakeGame whose matches run on a node with its own
// socket URL.
type locatedGame struct {
	fakeGame
	url string
}

func (g *locatedGame) Place(ctx context.Context, req PlaceRequest) (Placement, error) {
	p, err := g.fakeGame.Place(ctx, req)
	p.WSURL = g.url
	return p, err
}

func (g *locatedGame) MatchWSURL(id string) (string, bool) {
	_, ok := g.Match(id)
	return g.url, ok
}

// TestPlacementWSURL: the assignment and the reconnect answer name the
// node the placer chose, not the lobby's host.
func TestPlacementWSURL(t *testing.T) {
	game := &locatedGame{url: "wss://node-3.example.com:8443/v1/ws"}
	l, err := New(testConfig(), game, game, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, l: l, game: &game.fakeGame}
	e.srv = httptest.NewServer(l.Handler())
	t.Cleanup(e.close)
	a, b := e.guest("a"), e.guest("b")
	ta, _ := e.ticket(a.SessionToken, "arena"), e.ticket(b.SessionToken, "arena")
	tr := e.waitStatus(a.SessionToken, ta.TicketID, "matched")
	want := "wss://node-3.example.com:8443/v1/ws?match=" + tr.Assignment.MatchID
	if tr.Assignment.WSURL != want {
		t.Fatalf("assignment ws_url %q, want %q", tr.Assignment.WSURL, want)
	}
	var av struct {
		WSURL string `json:"ws_url"`
	}
	if resp := e.do("POST", "/v1/matches/"+tr.Assignment.MatchID+"/token", a.SessionToken, nil, &av); resp.StatusCode != http.StatusOK || av.WSURL != want {
		t.Fatalf("reconnect: %d %q, want %q", resp.StatusCode, av.WSURL, want)
	}
}

// TestMatchLost: a match lost with its node shows "lost" on its tickets
// (GET and an event stream resumed after "matched"), on GET /v1/matches
// once its result is recorded, and its players' next tickets go first.
func TestMatchLost(t *testing.T) {
	cfg := testConfig()
	cfg.Modes = map[string]ModeRules{"arena": {MinPlayers: 2, MaxPlayers: 16}, "quad": {MinPlayers: 4, MaxPlayers: 4}}
	e := newEnv(t, cfg)
	a, b := e.guest("a"), e.guest("b")
	ta, tb := e.ticket(a.SessionToken, "arena"), e.ticket(b.SessionToken, "arena")
	tr := e.waitStatus(a.SessionToken, ta.TicketID, "matched")
	match := tr.Assignment.MatchID
	req := e.game.requests()[0]
	if len(req.Tickets) != 2 || len(req.Players) != 2 {
		t.Fatalf("place request %+v: want both tickets and players", req)
	}
	ctx := context.Background()
	if err := e.l.Recovery().PutMatchTickets(ctx, match, req.Tickets, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A stream resumed after "matched" gets nothing more while the match
	// runs (204), and "lost" (id 3) once it is lost.
	if resp := e.do("GET", "/v1/tickets/"+ta.TicketID+"/events", "", nil, nil, "Last-Event-ID", "2"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resumed stream of a matched ticket: %d, want 204", resp.StatusCode)
	}
	if err := e.l.RecordResult(MatchResult{ID: match, Mode: "arena", Reason: ReasonNodeLost}); err != nil {
		t.Fatal(err)
	}
	e.l.MatchEnded(match)
	if n := e.l.MatchLost(ctx, LostMatch{ID: match, Players: req.Players}); n != 2 {
		t.Fatalf("MatchLost marked %d tickets, want 2", n)
	}
	if n := e.l.MatchLost(ctx, LostMatch{ID: match, Players: req.Players}); n != 0 {
		t.Fatalf("a second MatchLost marked %d tickets, want 0", n)
	}
	for _, c := range []struct{ tok, id string }{{a.SessionToken, ta.TicketID}, {b.SessionToken, tb.TicketID}} {
		v := e.waitStatus(c.tok, c.id, "lost")
		if v.Assignment == nil || v.Assignment.Token != "" || !v.Assignment.SeatReleased {
			t.Fatalf("lost ticket's assignment %+v: want no token, seat_released", v.Assignment)
		}
	}
	s := e.openStream(ta.TicketID, "2")
	if ev := s.until(t, "lost"); ev.id != "3" || !strings.Contains(ev.data, `"status":"lost"`) {
		t.Fatalf("lost event %+v", ev)
	}
	if resp := e.do("GET", "/v1/tickets/"+ta.TicketID+"/events", "", nil, nil, "Last-Event-ID", "3"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("stream resumed after lost: %d, want 204", resp.StatusCode)
	}
	e.game.mu.Lock()
	delete(e.game.matches, match) // gone from the directory with its node
	e.game.mu.Unlock()
	var m struct {
		State string `json:"state"`
	}
	if resp := e.do("GET", "/v1/matches/"+match, "", nil, &m); resp.StatusCode != http.StatusOK || m.State != MatchStateLost {
		t.Fatalf("GET lost match: %d %q", resp.StatusCode, m.State)
	}

	// Requeue priority: c and d queue for quad (4 players) first, then a
	// and b; a and b are ahead of them, and the priority is used once.
	c, d := e.guest("c"), e.guest("d")
	e.ticket(c.SessionToken, "quad")
	e.ticket(d.SessionToken, "quad")
	if v := e.ticket(a.SessionToken, "quad"); v.Position != 1 {
		t.Fatalf("a requeued at position %d, want 1", v.Position)
	}
	if v := e.ticket(b.SessionToken, "quad"); v.Position != 2 {
		t.Fatalf("b requeued at position %d, want 2", v.Position)
	}
	if got, _ := e.l.recovery.TakePriority(ctx, req.Players[0]); got {
		t.Fatal("priority used twice")
	}
}

// TestPriorityFront: a ticket with requeue priority is queued ahead of
// tickets that arrived before it, in the in-memory queue (the Redis queue
// passes the same contract: lobby/storetest).
func TestPriorityFront(t *testing.T) {
	q := NewMemoryQueue()
	ctx := context.Background()
	now := time.Now()
	for i, p := range []PlayerID{1, 2, 3} {
		if _, err := q.Enqueue(ctx, QueueEntry{ID: TicketID(rune('a' + i)), Player: p, Mode: "arena", Enqueued: now, Expires: now.Add(time.Minute), Seq: seqFor(false)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Enqueue(ctx, QueueEntry{ID: "p", Player: 9, Mode: "arena", Enqueued: now, Expires: now.Add(time.Minute), Seq: seqFor(true)}); err != nil {
		t.Fatal(err)
	}
	if pos, n, _, _ := q.QueuePosition(ctx, "p"); pos > 2 || n != 4 {
		t.Fatalf("priority ticket at %d of %d, want ahead of the later arrivals", pos, n)
	}
	if pos, _, _, _ := q.QueuePosition(ctx, "b"); pos != 3 {
		t.Fatalf("b at %d, want 3 (behind the priority ticket)", pos)
	}
}
