package lobby

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// fakeGame is a Placer and MatchDirectory standing in for the game server.
type fakeGame struct {
	mu      sync.Mutex
	n       int
	reqs    []PlaceRequest
	matches map[string]MatchSummary
	fail    error
}

func (g *fakeGame) Place(ctx context.Context, req PlaceRequest) (Placement, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return Placement{}, g.fail
	}
	g.n++
	id := fmt.Sprintf("m%d", g.n)
	g.reqs = append(g.reqs, req)
	if g.matches == nil {
		g.matches = map[string]MatchSummary{}
	}
	g.matches[id] = MatchSummary{ID: id, Mode: req.Mode, State: "running", Players: req.Players, Bots: req.Bots, MaxPlayers: 8}
	return Placement{MatchID: id}, nil
}

func (g *fakeGame) Matches() []MatchSummary {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []MatchSummary
	for _, m := range g.matches {
		out = append(out, m)
	}
	return out
}

func (g *fakeGame) Match(id string) (MatchSummary, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.matches[id]
	return m, ok
}

func (g *fakeGame) requests() []PlaceRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]PlaceRequest(nil), g.reqs...)
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testConfig is fast: the matchmaker runs every 5 ms, arena groups of two
// start at once and bot fill is off unless a test turns it on.
func testConfig() Config {
	return Config{
		MatchInterval: 5 * time.Millisecond,
		FillWait:      time.Nanosecond,
		BotFillAfter:  -1,
		RateBurst:     1000,
		RateLimit:     1000,
	}
}

type env struct {
	t    *testing.T
	l    *Lobby
	srv  *httptest.Server
	game *fakeGame
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	game := &fakeGame{}
	l, err := New(cfg, game, game, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	e := &env{t: t, l: l, srv: srv, game: game}
	t.Cleanup(func() { e.close() })
	return e
}

func (e *env) close() {
	e.srv.CloseClientConnections()
	e.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.l.Shutdown(ctx); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
}

// do sends a JSON request and decodes a JSON response into out (if not
// nil). It returns the response with its body consumed.
func (e *env) do(method, path, token string, body any, out any, hdr ...string) *http.Response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp
}

type errBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// expectError checks status and error code.
func (e *env) expectError(method, path, token string, body any, status int, code string) *http.Response {
	e.t.Helper()
	var eb errBody
	resp := e.do(method, path, token, body, &eb)
	if resp.StatusCode != status || eb.Error.Code != code {
		e.t.Fatalf("%s %s: got %d %q (%s), want %d %q", method, path, resp.StatusCode, eb.Error.Code, eb.Error.Message, status, code)
	}
	return resp
}

type authResp struct {
	PlayerID     PlayerID  `json:"player_id"`
	Name         string    `json:"name"`
	SessionToken string    `json:"session_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

func (e *env) guest(name string) authResp {
	e.t.Helper()
	var a authResp
	resp := e.do("POST", "/v1/auth/guest", "", map[string]string{"name": name}, &a)
	if resp.StatusCode != http.StatusOK || a.SessionToken == "" || a.PlayerID == 0 {
		e.t.Fatalf("guest: %d %+v", resp.StatusCode, a)
	}
	return a
}

type ticketResp struct {
	TicketID   string `json:"ticket_id"`
	Status     string `json:"status"`
	Position   int    `json:"position"`
	Assignment *struct {
		MatchID      string `json:"match_id"`
		WSURL        string `json:"ws_url"`
		Token        string `json:"token"`
		Bots         int    `json:"bots"`
		SeatReleased bool   `json:"seat_released"`
	} `json:"assignment"`
}

func (e *env) ticket(token, mode string) ticketResp {
	e.t.Helper()
	var tr ticketResp
	resp := e.do("POST", "/v1/tickets", token, map[string]any{"mode": mode}, &tr)
	if resp.StatusCode != http.StatusCreated || tr.TicketID == "" {
		e.t.Fatalf("ticket: %d %+v", resp.StatusCode, tr)
	}
	return tr
}

// waitStatus polls the ticket until it has the status, with a deadline.
func (e *env) waitStatus(token, id, status string) ticketResp {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var tr ticketResp
		e.do("GET", "/v1/tickets/"+id, token, nil, &tr)
		if tr.Status == status {
			return tr
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("ticket %s: status %q, want %q", id, tr.Status, status)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not a wait for an event
	}
}

type sseEvent struct{ id, event, data string }

// stream opens an event stream.
type stream struct {
	resp   *http.Response
	sc     *bufio.Scanner
	cancel context.CancelFunc
}

func (e *env) openStream(id, lastEventID string) *stream {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/tickets/"+id+"/events", nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	s := &stream{resp: resp, sc: bufio.NewScanner(resp.Body), cancel: cancel}
	e.t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event, skipping comments and retry lines; ok is
// false at the end of the stream.
func (s *stream) next() (ev sseEvent, ok bool) {
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if ev.event != "" || ev.data != "" {
				return ev, true
			}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
	return ev, false
}

// until reads events until one named name.
func (s *stream) until(t *testing.T, name string) sseEvent {
	t.Helper()
	for {
		ev, ok := s.next()
		if !ok {
			t.Fatalf("stream ended before %q", name)
		}
		if ev.event == name {
			return ev
		}
	}
}

func TestGuestTicketSSEMatched(t *testing.T) {
	e := newEnv(t, testConfig())
	a, b := e.guest("alice"), e.guest("bob")
	if a.PlayerID == b.PlayerID {
		t.Fatal("same player id")
	}
	ta := e.ticket(a.SessionToken, "arena")
	s := e.openStream(ta.TicketID, "")
	if ev := s.until(t, "queued"); ev.id != "1" || !strings.Contains(ev.data, `"position":1`) || !strings.Contains(ev.data, "estimated_wait_ms") {
		t.Fatalf("queued event %+v", ev)
	}
	e.ticket(b.SessionToken, "arena")
	ev := s.until(t, "matched")
	if ev.id != "2" {
		t.Fatalf("matched id %q", ev.id)
	}
	var tr ticketResp
	if err := json.Unmarshal([]byte(ev.data), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Assignment == nil || tr.Assignment.Token == "" {
		t.Fatalf("no assignment: %s", ev.data)
	}
	wantURL := "ws://" + strings.TrimPrefix(e.srv.URL, "http://") + "/v1/ws?match=" + tr.Assignment.MatchID
	if tr.Assignment.WSURL != wantURL {
		t.Errorf("ws_url %q, want %q", tr.Assignment.WSURL, wantURL)
	}
	g, err := e.l.VerifySocketToken(context.Background(), tr.Assignment.Token)
	if err != nil {
		t.Fatal(err)
	}
	if g.Player != a.PlayerID || g.Match != tr.Assignment.MatchID || g.Name != "alice" {
		t.Errorf("grant %+v", g)
	}
	if err := g.CheckMatch("other"); !errors.Is(err, ErrWrongMatch) {
		t.Errorf("CheckMatch: %v", err)
	}
	if _, ok := s.next(); ok {
		t.Error("stream continued after matched")
	}
	reqs := e.game.requests()
	if len(reqs) != 1 || len(reqs[0].Players) != 2 || reqs[0].Bots != 0 || reqs[0].Mode != "arena" {
		t.Errorf("place requests %+v", reqs)
	}
	// GET shows the same assignment, and the match directory lists it.
	got := e.waitStatus(a.SessionToken, ta.TicketID, "matched")
	if got.Assignment.MatchID != tr.Assignment.MatchID {
		t.Errorf("GET assignment %+v", got.Assignment)
	}
	var list struct{ Matches []MatchSummary }
	e.do("GET", "/v1/matches", "", nil, &list)
	if len(list.Matches) != 1 || list.Matches[0].ID != tr.Assignment.MatchID {
		t.Errorf("matches %+v", list)
	}
	var one MatchSummary
	if resp := e.do("GET", "/v1/matches/"+tr.Assignment.MatchID, "", nil, &one); resp.StatusCode != 200 || one.Mode != "arena" {
		t.Errorf("match %d %+v", resp.StatusCode, one)
	}
	e.expectError("GET", "/v1/matches/nope", "", nil, 404, "match_not_found")
	m := e.l.Metrics()
	if m.TicketsQueued != 2 || m.TicketsMatched != 2 {
		t.Errorf("metrics %+v", m)
	}
}

func TestBotFillLonePlayer(t *testing.T) {
	cfg := testConfig()
	cfg.BotFillAfter = 20 * time.Millisecond
	e := newEnv(t, cfg)
	a := e.guest("solo")
	tr := e.ticket(a.SessionToken, "arena")
	got := e.waitStatus(a.SessionToken, tr.TicketID, "matched")
	if got.Assignment == nil || got.Assignment.Bots != 1 {
		t.Fatalf("assignment %+v", got.Assignment)
	}
	reqs := e.game.requests()
	if len(reqs) != 1 || reqs[0].Bots != 1 || len(reqs[0].Players) != 1 || reqs[0].Players[0] != a.PlayerID {
		t.Fatalf("place %+v", reqs)
	}
}

func TestSSEResumeKeepsMatched(t *testing.T) {
	e := newEnv(t, testConfig())
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "arena")
	s := e.openStream(ta.TicketID, "")
	s.until(t, "queued")
	s.close() // the stream drops while queued
	e.ticket(b.SessionToken, "arena")
	e.waitStatus(a.SessionToken, ta.TicketID, "matched")

	for _, last := range []string{"1", "", "garbage"} {
		t.Run("last="+last, func(t *testing.T) {
			s := e.openStream(ta.TicketID, last)
			ev := s.until(t, "matched")
			if ev.id != "2" || !strings.Contains(ev.data, `"token":"`) {
				t.Fatalf("event %+v", ev)
			}
		})
	}
	t.Run("after final event", func(t *testing.T) {
		s := e.openStream(ta.TicketID, "2")
		if s.resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d, want 204 (EventSource stops)", s.resp.StatusCode)
		}
	})
	t.Run("unknown ticket", func(t *testing.T) {
		e.expectError("GET", "/v1/tickets/"+strings.Repeat("ab", 16)+"/events", "", nil, 404, "ticket_not_found")
	})
}

func TestSSECancelledAndKeepAlive(t *testing.T) {
	cfg := testConfig()
	cfg.SSEKeepAlive = 5 * time.Millisecond
	e := newEnv(t, cfg)
	a := e.guest("a")
	tr := e.ticket(a.SessionToken, "arena")
	s := e.openStream(tr.TicketID, "")
	s.until(t, "queued")
	sawComment := false
	for s.sc.Scan() {
		if strings.HasPrefix(s.sc.Text(), ": keep-alive") {
			sawComment = true
			break
		}
	}
	if !sawComment {
		t.Fatal("no keep-alive comment")
	}
	var cancelled ticketResp
	if resp := e.do("DELETE", "/v1/tickets/"+tr.TicketID, a.SessionToken, nil, &cancelled); resp.StatusCode != 200 || cancelled.Status != "cancelled" {
		t.Fatalf("cancel: %d %+v", resp.StatusCode, cancelled)
	}
	s.until(t, "cancelled")
	e.expectError("DELETE", "/v1/tickets/"+tr.TicketID, a.SessionToken, nil, 409, "ticket_closed")
}

func TestTicketExpires(t *testing.T) {
	clk := &clock{t: time.Now()}
	cfg := testConfig()
	cfg.Now = clk.Now
	e := newEnv(t, cfg)
	a := e.guest("a")
	tr := e.ticket(a.SessionToken, "arena")
	s := e.openStream(tr.TicketID, "")
	s.until(t, "queued")
	clk.Advance(2*time.Minute + time.Second)
	s.until(t, "expired")
	e.waitStatus(a.SessionToken, tr.TicketID, "expired")
	if m := e.l.Metrics(); m.TicketsExpired != 1 {
		t.Errorf("metrics %+v", m)
	}
}

func TestSeatLifecycle(t *testing.T) {
	e := newEnv(t, testConfig())
	a, b, c := e.guest("a"), e.guest("b"), e.guest("c")
	ta := e.ticket(a.SessionToken, "arena")
	e.expectError("POST", "/v1/tickets", a.SessionToken, map[string]string{"mode": "arena"}, 409, "already_queued")
	e.ticket(b.SessionToken, "arena")
	m := e.waitStatus(a.SessionToken, ta.TicketID, "matched").Assignment.MatchID

	// Assigned: a second ticket is refused.
	e.expectError("POST", "/v1/tickets", a.SessionToken, map[string]string{"mode": "arena"}, 409, "already_in_match")

	// The reconnect path: a seated player gets a fresh socket token.
	var tok struct {
		MatchID, Token string
		WSURL          string `json:"ws_url"`
	}
	if resp := e.do("POST", "/v1/matches/"+m+"/token", a.SessionToken, nil, &tok); resp.StatusCode != 200 || tok.Token == "" || !strings.HasSuffix(tok.WSURL, "?match="+m) {
		t.Fatalf("token: %d %+v", resp.StatusCode, tok)
	}
	if g, err := e.l.VerifySocketToken(context.Background(), tok.Token); err != nil || g.Player != a.PlayerID || g.Match != m {
		t.Fatalf("verify: %+v %v", g, err)
	}
	e.expectError("POST", "/v1/matches/"+m+"/token", c.SessionToken, nil, 403, "not_seated")
	e.expectError("POST", "/v1/matches/other/token", a.SessionToken, nil, 403, "not_seated")
	e.expectError("POST", "/v1/matches/"+m+"/token", "", nil, 401, "token_invalid")

	// Seat released: a may queue again, and gets no more socket tokens.
	e.l.SeatReleased(m, a.PlayerID)
	e.expectError("POST", "/v1/matches/"+m+"/token", a.SessionToken, nil, 403, "not_seated")
	if got := e.waitStatus(a.SessionToken, ta.TicketID, "matched"); got.Assignment.Token != "" || !got.Assignment.SeatReleased {
		t.Errorf("released seat still gets a token: %+v", got.Assignment)
	}
	e.ticket(a.SessionToken, "bench")
	e.expectError("POST", "/v1/tickets", b.SessionToken, map[string]string{"mode": "arena"}, 409, "already_in_match")
	e.l.MatchEnded(m)
	e.ticket(b.SessionToken, "arena")
}

func TestTicketValidationAndOwnership(t *testing.T) {
	e := newEnv(t, testConfig())
	a, b := e.guest("a"), e.guest("b")
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"unknown mode", map[string]any{"mode": "chess"}, 400, "unknown_mode"},
		{"negative rating", map[string]any{"mode": "arena", "rating": -1}, 400, "invalid_rating"},
		{"huge rating", map[string]any{"mode": "arena", "rating": 1e6}, 400, "invalid_rating"},
		{"not json", "{", 400, "bad_request"},
		{"empty", "", 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.expectError("POST", "/v1/tickets", a.SessionToken, tt.body, tt.status, tt.code)
		})
	}
	tr := e.ticket(a.SessionToken, "arena")
	e.expectError("GET", "/v1/tickets/"+tr.TicketID, b.SessionToken, nil, 404, "ticket_not_found")
	e.expectError("DELETE", "/v1/tickets/"+tr.TicketID, b.SessionToken, nil, 404, "ticket_not_found")
	e.expectError("GET", "/v1/tickets/"+tr.TicketID, "", nil, 401, "token_invalid")
	e.expectError("PUT", "/v1/tickets/"+tr.TicketID, "", nil, 405, "method_not_allowed")
	e.expectError("GET", "/v1/nothing", "", nil, 404, "not_found")
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.guest("a")
	var r1 authResp
	if resp := e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": a.RefreshToken}, &r1); resp.StatusCode != 200 {
		t.Fatalf("refresh: %d", resp.StatusCode)
	}
	if r1.PlayerID != a.PlayerID || r1.Name != "a" || r1.RefreshToken == a.RefreshToken || r1.SessionToken == a.SessionToken {
		t.Fatalf("refresh pair %+v", r1)
	}
	e.ticket(r1.SessionToken, "bench")

	// The session token is not a refresh token, nor the reverse.
	e.expectError("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": r1.SessionToken}, 401, "token_invalid")
	e.expectError("POST", "/v1/tickets", r1.RefreshToken, map[string]string{"mode": "arena"}, 401, "token_invalid")

	// Reusing the old refresh token is refused and ends the session.
	e.expectError("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": a.RefreshToken}, 401, "token_revoked")
	e.expectError("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": r1.RefreshToken}, 401, "token_revoked")
	e.expectError("POST", "/v1/tickets", r1.SessionToken, map[string]string{"mode": "arena"}, 401, "token_revoked")
}

func TestLogoutRevokes(t *testing.T) {
	e := newEnv(t, testConfig())
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "arena")
	e.ticket(b.SessionToken, "arena")
	m := e.waitStatus(a.SessionToken, ta.TicketID, "matched").Assignment
	if resp := e.do("POST", "/v1/auth/logout", a.SessionToken, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if _, err := e.l.VerifySocketToken(context.Background(), m.Token); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("socket token after logout: %v", err)
	}
	e.expectError("GET", "/v1/tickets/"+ta.TicketID, a.SessionToken, nil, 401, "token_revoked")
	e.expectError("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": a.RefreshToken}, 401, "token_revoked")
	e.expectError("POST", "/v1/auth/logout", a.SessionToken, nil, 401, "token_revoked")
	// Other sessions are unaffected.
	e.expectError("GET", "/v1/tickets/"+ta.TicketID, b.SessionToken, nil, 404, "ticket_not_found")
	if resp := e.do("POST", "/v1/matches/"+m.MatchID+"/token", b.SessionToken, nil, nil); resp.StatusCode != 200 {
		t.Errorf("b token: %d", resp.StatusCode)
	}

	// Logging out cancels a queued ticket.
	c := e.guest("c")
	tc := e.ticket(c.SessionToken, "arena")
	e.do("POST", "/v1/auth/logout", c.SessionToken, nil, nil)
	tk, err := e.l.tickets.Ticket(TicketID(tc.TicketID))
	if err != nil || tk.Status != StatusCancelled {
		t.Errorf("ticket after logout: %+v %v", tk, err)
	}
}

func TestVerifySocketTokenRefusals(t *testing.T) {
	clk := &clock{t: time.Now()}
	cfg := testConfig()
	cfg.Now = clk.Now
	e := newEnv(t, cfg)
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "arena")
	e.ticket(b.SessionToken, "arena")
	clk.Advance(time.Second) // FillWait
	good := e.waitStatus(a.SessionToken, ta.TicketID, "matched").Assignment.Token

	other, _ := NewSigningKey()
	forger := newTokens(&keyring{active: other, byID: map[string][]byte{other.ID: other.Secret}}, "rallypoint-lobby", clk.Now)
	forged, _, _ := forger.mint(kindSocket, a.PlayerID, "a", "sid", "m1", "", time.Minute)
	stolenKid := SigningKey{ID: e.l.tok.keys.active.ID, Secret: other.Secret}
	forgerKid := newTokens(&keyring{active: stolenKid, byID: map[string][]byte{stolenKid.ID: stolenKid.Secret}}, "rallypoint-lobby", clk.Now)
	forgedKid, _, _ := forgerKid.mint(kindSocket, a.PlayerID, "a", "sid", "m1", "", time.Minute)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
	noneAlg := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrTokenInvalid},
		{"garbage", "not-a-jwt", ErrTokenInvalid},
		{"forged with unknown key", forged.Reveal(), ErrTokenInvalid},
		{"forged with known kid", forgedKid.Reveal(), ErrTokenInvalid},
		{"tampered payload", tampered, ErrTokenInvalid},
		{"alg none", noneAlg, ErrTokenInvalid},
		{"session token", a.SessionToken, ErrTokenInvalid},
		{"refresh token", a.RefreshToken, ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.l.VerifySocketToken(context.Background(), tt.token); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := e.l.VerifySocketToken(context.Background(), good); err != nil {
		t.Fatalf("good token: %v", err)
	}
	t.Run("expired", func(t *testing.T) {
		clk.Advance(2*time.Minute + time.Second)
		if _, err := e.l.VerifySocketToken(context.Background(), good); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("got %v", err)
		}
		e.expectError("POST", "/v1/tickets", a.SessionToken, map[string]string{"mode": "arena"}, 409, "already_in_match")
		clk.Advance(15 * time.Minute)
		e.expectError("POST", "/v1/tickets", a.SessionToken, map[string]string{"mode": "arena"}, 401, "token_expired")
	})
	if m := e.l.Metrics(); m.TokensRefused == 0 || m.TokensIssued == 0 {
		t.Errorf("metrics %+v", m)
	}
}

func TestRestartKeepsSessionsAndRevocations(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir = dir
	e1 := newEnv(t, cfg)
	a, b := e1.guest("a"), e1.guest("b")
	e1.do("POST", "/v1/auth/logout", b.SessionToken, nil, nil)
	e1.close()

	e2 := newEnv(t, cfg)
	e2.ticket(a.SessionToken, "bench")
	e2.expectError("POST", "/v1/tickets", b.SessionToken, map[string]string{"mode": "bench"}, 401, "token_revoked")
	var r authResp
	if resp := e2.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": a.RefreshToken}, &r); resp.StatusCode != 200 || r.PlayerID != a.PlayerID {
		t.Fatalf("refresh after restart: %d %+v", resp.StatusCode, r)
	}
	if c := e2.guest("c"); c.PlayerID == a.PlayerID || c.PlayerID == b.PlayerID {
		t.Fatalf("player id %d reused after restart", c.PlayerID)
	}
	// A lobby over another data dir has another key: tokens are refused.
	cfg.DataDir = t.TempDir()
	e3 := newEnv(t, cfg)
	e3.expectError("POST", "/v1/tickets", a.SessionToken, map[string]string{"mode": "bench"}, 401, "token_invalid")
}

func TestConfiguredKeyRotation(t *testing.T) {
	oldKey, _ := NewSigningKey()
	newKey, _ := NewSigningKey()
	cfg := testConfig()
	cfg.SigningKeys = []SigningKey{oldKey}
	e1 := newEnv(t, cfg)
	a := e1.guest("a")
	e1.close()
	cfg.SigningKeys = []SigningKey{newKey, oldKey}
	e2 := newEnv(t, cfg)
	e2.ticket(a.SessionToken, "bench") // old kid still verifies
	b := e2.guest("b")
	e2.close()
	cfg.SigningKeys = []SigningKey{newKey}
	e3 := newEnv(t, cfg)
	e3.expectError("POST", "/v1/tickets", a.SessionToken, map[string]string{"mode": "bench"}, 401, "token_invalid")
	e3.ticket(b.SessionToken, "bench")
}

func TestGuestNames(t *testing.T) {
	e := newEnv(t, testConfig())
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"ok", map[string]string{"name": "Ada Lovelace"}, 200, ""},
		{"unicode", map[string]string{"name": "Zoë 🚀"}, 200, ""},
		{"24 chars", map[string]string{"name": strings.Repeat("é", 24)}, 200, ""},
		{"25 chars", map[string]string{"name": strings.Repeat("a", 25)}, 400, "invalid_name"},
		{"empty", map[string]string{"name": ""}, 400, "invalid_name"},
		{"control", map[string]string{"name": "a\nb"}, 400, "invalid_name"},
		{"padded", map[string]string{"name": " a"}, 400, "invalid_name"},
		{"missing", map[string]string{}, 400, "invalid_name"},
		{"bad json", "nope", 400, "bad_request"},
		{"trailing", `{"name":"a"} {}`, 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.status == 200 {
				var a authResp
				if resp := e.do("POST", "/v1/auth/guest", "", tt.body, &a); resp.StatusCode != 200 || a.SessionToken == "" {
					t.Fatalf("%d %+v", resp.StatusCode, a)
				}
				return
			}
			e.expectError("POST", "/v1/auth/guest", "", tt.body, tt.status, tt.code)
		})
	}
	e.expectError("POST", "/v1/auth/nobody", "", map[string]string{}, 404, "unknown_provider")
	e.expectError("GET", "/v1/auth/guest", "", nil, 405, "method_not_allowed")
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, testConfig())
	big := `{"name":"` + strings.Repeat("a", 9<<10) + `"}`
	e.expectError("POST", "/v1/auth/guest", "", big, 413, "body_too_large")
	a := e.guest("a")
	e.expectError("POST", "/v1/tickets", a.SessionToken, `{"mode":"arena","x":"`+strings.Repeat("a", 9<<10)+`"}`, 413, "body_too_large")
}

func TestRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.RateLimit = 0.5
	cfg.RateBurst = 3
	e := newEnv(t, cfg)
	for i := range 3 {
		e.guest(fmt.Sprint("p", i))
	}
	resp := e.expectError("POST", "/v1/auth/guest", "", map[string]string{"name": "x"}, 429, "rate_limited")
	if ra := resp.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2", ra)
	}
	// The match directory is not rate-limited.
	if resp := e.do("GET", "/v1/matches", "", nil, nil); resp.StatusCode != 200 {
		t.Errorf("matches: %d", resp.StatusCode)
	}
	if e.l.Metrics().RateLimited != 1 {
		t.Errorf("metrics %+v", e.l.Metrics())
	}
}

func TestCORS(t *testing.T) {
	cfg := testConfig()
	cfg.AllowedOrigins = []string{"http://localhost:5173"}
	e := newEnv(t, cfg)
	tests := []struct {
		name       string
		method     string
		origin     string
		preflight  bool
		wantStatus int
		wantACAO   string
	}{
		{"allowed preflight", "OPTIONS", "http://localhost:5173", true, 204, "http://localhost:5173"},
		{"denied preflight", "OPTIONS", "http://evil.example", true, 403, ""},
		{"allowed request", "GET", "http://localhost:5173", false, 200, "http://localhost:5173"},
		{"denied request gets no CORS headers", "GET", "http://evil.example", false, 200, ""},
		{"no origin (same-origin or curl)", "GET", "", false, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{}
			if tt.origin != "" {
				hdr = append(hdr, "Origin", tt.origin)
			}
			if tt.preflight {
				hdr = append(hdr, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type")
			}
			resp := e.do(tt.method, "/v1/matches", "", nil, nil, hdr...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Fatalf("ACAO %q, want %q", got, tt.wantACAO)
			}
			if tt.preflight && tt.wantStatus == 204 && !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Fatalf("allow headers %q", resp.Header.Get("Access-Control-Allow-Headers"))
			}
		})
	}
}

func TestShutdownEndsStreams(t *testing.T) {
	game := &fakeGame{}
	l, err := New(testConfig(), game, game, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	e := &env{t: t, l: l, srv: srv, game: game}
	a := e.guest("a")
	tr := e.ticket(a.SessionToken, "arena")
	s := e.openStream(tr.TicketID, "")
	s.until(t, "queued")
	if m := l.Metrics(); m.SSEStreamsOpen != 1 {
		t.Errorf("streams open %d", m.SSEStreamsOpen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.next(); ok {
		t.Fatal("stream still open after Shutdown")
	}
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	e.expectError("POST", "/v1/auth/guest", "", map[string]string{"name": "late"}, 503, "shutting_down")
}

func TestPlacementFailureRequeues(t *testing.T) {
	e := newEnv(t, testConfig())
	e.game.mu.Lock()
	e.game.fail = errors.New("no capacity")
	e.game.mu.Unlock()
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "arena")
	e.ticket(b.SessionToken, "arena")
	deadline := time.Now().Add(5 * time.Second)
	for e.l.Metrics().PlacementsFailed == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no placement attempt")
		}
		time.Sleep(time.Millisecond)
	}
	e.game.mu.Lock()
	e.game.fail = nil
	e.game.mu.Unlock()
	e.waitStatus(a.SessionToken, ta.TicketID, "matched")
}

func newServer(l *Lobby) *httptest.Server { return httptest.NewServer(l.Handler()) }
