package lobby

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// checkingDir is a MatchDirectory that knows which matches are over
// (MatchChecker) and closes sessions' sockets (SessionKicker).
type checkingDir struct {
	fakeGame
	mu     sync.Mutex
	over   map[string]bool
	err    error
	kicked int // what KickSession reports
}

func (d *checkingDir) MatchOver(ctx context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.over[id], d.err
}

func (d *checkingDir) KickSession(p PlayerID, sid, reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.kicked
}

// TestStaleSeatFreed: a player whose seat was left behind in a match that
// is over (its release never arrived) may queue again, and the match's
// other seats are freed too; a seat in a running match, or one the
// directory cannot vouch for, still refuses the ticket.
func TestStaleSeatFreed(t *testing.T) {
	dir := &checkingDir{over: map[string]bool{}}
	seats := NewMemoryAssignmentStore()
	cfg := testConfig()
	cfg.Assignments = seats
	l, err := New(cfg, dir, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, l: l, srv: newServer(l), game: &dir.fakeGame}
	t.Cleanup(e.close)
	a := e.guest("a")
	if err := seats.Assign("old", []PlayerID{a.PlayerID, 99}); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"mode": "arena"}
	e.expectError("POST", "/v1/tickets", a.SessionToken, body, http.StatusConflict, "already_in_match")
	dir.mu.Lock()
	dir.over["old"], dir.err = true, errors.New("directory unreachable")
	dir.mu.Unlock()
	e.expectError("POST", "/v1/tickets", a.SessionToken, body, http.StatusConflict, "already_in_match")
	dir.mu.Lock()
	dir.err = nil
	dir.mu.Unlock()
	e.ticket(a.SessionToken, "arena")
	if m, ok, _ := seats.Assignment(99); ok {
		t.Fatalf("the over match's other seat is still held (%s)", m)
	}
}

// TestRevocationKickLogged: a revocation logs the sockets it closed here,
// and nothing when none were (0) or they are closed elsewhere (-1).
func TestRevocationKickLogged(t *testing.T) {
	for _, kicked := range []int{-1, 0, 2} {
		dir := &checkingDir{kicked: kicked}
		core, logs := observer.New(zap.InfoLevel)
		l, err := New(testConfig(), dir, dir, zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, l: l, srv: newServer(l), game: &dir.fakeGame}
		a := e.guest("a")
		if resp := e.do("POST", "/v1/auth/logout", a.SessionToken, nil, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		want := 0
		if kicked > 0 {
			want = 1
		}
		if n := logs.FilterMessage("revocation closed live sockets").Len(); n != want {
			t.Errorf("kicked %d: %d log lines, want %d", kicked, n, want)
		}
		e.close()
	}
}
