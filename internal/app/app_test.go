package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type walker struct{}

func (walker) Think(game.EntityID, []game.Entity, game.Tick) game.Input {
	return game.Input{DX: 1, DY: 0.5}
}

func newApp(t *testing.T) *httptest.Server {
	t.Helper()
	_, hs := testkit.Serve(t, app.Config{
		Lobby:    testkit.QuickLobby(),
		NewBrain: func(string, int, uint64) game.Brain { return walker{} },
	})
	return hs
}

func call(t *testing.T, method, url, bearer string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

type assignment struct {
	MatchID string `json:"match_id"`
	WSURL   string `json:"ws_url"`
	Token   string `json:"token"`
}

type player struct {
	ID      uint32 `json:"player_id"`
	Session string `json:"session_token"`
}

func guest(t *testing.T, base, name string) player {
	var p player
	if code := call(t, "POST", base+"/v1/auth/guest", "", map[string]string{"name": name}, &p); code != 200 && code != 201 {
		t.Fatalf("guest: %d", code)
	}
	return p
}

// queue files a ticket and waits on its event stream for the assignment.
func queue(t *testing.T, base string, p player, mode string) assignment {
	t.Helper()
	var tk struct {
		ID string `json:"ticket_id"`
	}
	if code := call(t, "POST", base+"/v1/tickets", p.Session, map[string]string{"mode": mode}, &tk); code != 201 {
		t.Fatalf("ticket: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/tickets/"+tk.ID+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "matched":
			var m struct {
				Assignment assignment `json:"assignment"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m); err != nil {
				t.Fatal(err)
			}
			return m.Assignment
		}
	}
	t.Fatalf("event stream ended without matched: %v", sc.Err())
	return assignment{}
}

func rejoinToken(t *testing.T, base string, p player, match string) (assignment, int) {
	var a assignment
	code := call(t, "POST", base+"/v1/matches/"+match+"/token", p.Session, nil, &a)
	return a, code
}

func code(err error) uint16 {
	var ce *client.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// TestWholePath: guest, ticket, SSE matched, socket join, play, cut the TCP
// connection, reconnect within grace with a fresh token: same entity,
// continued sequence numbers, keyframe.
func TestWholePath(t *testing.T) {
	hs := newApp(t)
	p := guest(t, hs.URL, "ada")
	as := queue(t, hs.URL, p, "bench")
	if !strings.HasPrefix(as.WSURL, "ws://") || as.Token == "" || as.MatchID == "" {
		t.Fatalf("assignment %+v", as)
	}
	tokens := func(ctx context.Context) (string, error) {
		a, code := rejoinToken(t, hs.URL, p, as.MatchID)
		if code != 200 {
			return "", fmt.Errorf("token: %d", code)
		}
		return a.Token, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, as.WSURL, as.Token, client.WithTokenSource(tokens))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w1 := c.Welcome()
	if w1.Player != p.ID || w1.Match != as.MatchID {
		t.Fatalf("welcome %+v for player %d", w1, p.ID)
	}
	for range 4 {
		if err := c.SendInput(game.Input{DX: 1}); err != nil {
			t.Fatal(err)
		}
	}
	start, _ := c.Entity(game.EntityID(w1.Entity))
	testkit.WaitFor(t, "own avatar to move", func() bool {
		e, _ := c.Entity(game.EntityID(w1.Entity))
		return e.X != start.X && c.Stats().LastRTT > 0
	})

	// The lobby lists the match with this player in it.
	var m lobby.MatchSummary
	if code := call(t, "GET", hs.URL+"/v1/matches/"+as.MatchID, "", nil, &m); code != 200 || len(m.Players) != 1 || m.Players[0] != lobby.PlayerID(p.ID) {
		t.Fatalf("match %d %+v", code, m)
	}

	c.Drop() // cut the TCP connection
	testkit.WaitFor(t, "drop noticed", func() bool { return !c.Connected() })
	if err := c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	w2 := c.Welcome()
	if !w2.Resumed || w2.Entity != w1.Entity || w2.Player != w1.Player || w2.LastSeq != 4 {
		t.Fatalf("resumed welcome %+v after %+v", w2, w1)
	}
	testkit.WaitFor(t, "keyframe after resume", func() bool { return c.Stats().Keyframes >= 2 })
	if err := c.SendInput(game.Input{DY: 1}); err != nil || c.Seq() != 5 {
		t.Fatalf("seq after resume %d (%v)", c.Seq(), err)
	}

	// A second ticket while seated is refused.
	if code := call(t, "POST", hs.URL+"/v1/tickets", p.Session, map[string]string{"mode": "bench"}, nil); code != http.StatusConflict {
		t.Fatalf("second ticket while seated: %d", code)
	}
}

// TestSocketTokenChecks: tokens for another match, forged tokens and tokens
// of a logged-out session never reach a match.
func TestSocketTokenChecks(t *testing.T) {
	hs := newApp(t)
	a, b := guest(t, hs.URL, "a"), guest(t, hs.URL, "b")
	asA, asB := queue(t, hs.URL, a, "bench"), queue(t, hs.URL, b, "bench")
	if asA.MatchID == asB.MatchID {
		t.Fatal("b was queued after a was placed, yet they share a match")
	}
	dial := func(url, token string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, url, token)
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	if got := code(dial(asB.WSURL, asA.Token)); got != wire.CodeAuthFailed {
		t.Fatalf("wrong match: %d", got)
	}
	if got := code(dial(asA.WSURL, asA.Token+"x")); got != wire.CodeAuthFailed {
		t.Fatalf("forged: %d", got)
	}
	if got := code(dial(asA.WSURL, a.Session)); got != wire.CodeAuthFailed {
		t.Fatalf("session token as socket token: %d", got)
	}
	if code := call(t, "POST", hs.URL+"/v1/auth/logout", a.Session, nil, nil); code/100 != 2 {
		t.Fatalf("logout: %d", code)
	}
	if got := code(dial(asA.WSURL, asA.Token)); got != wire.CodeTokenRevoked {
		t.Fatalf("revoked: %d", got)
	}
}

// TestLonePlayerGetsBots: one arena player is matched with server-side
// bots within seconds, and sees them move.
func TestLonePlayerGetsBots(t *testing.T) {
	hs := newApp(t)
	p := guest(t, hs.URL, "solo")
	as := queue(t, hs.URL, p, "arena")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, as.WSURL, as.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := map[game.EntityID]float32{}
	testkit.WaitFor(t, "a bot to move", func() bool {
		for _, e := range c.Entities(nil) {
			if e.Kind == game.KindAvatar && e.Owner != game.PlayerID(p.ID) {
				if x, ok := first[e.ID]; !ok {
					first[e.ID] = e.X
				} else if x != e.X {
					return true
				}
			}
		}
		return false
	})
}

// TestPlayerIDSpaces: the lobby's player ids never reach the ids the game
// server gives its own bots.
func TestPlayerIDSpaces(t *testing.T) {
	if uint64(lobby.MaxPlayerID) >= uint64(netcode.FirstBotPlayer) {
		t.Fatalf("lobby ids reach %d, bots start at %d", uint64(lobby.MaxPlayerID), uint64(netcode.FirstBotPlayer))
	}
}
