package lobby

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestObservabilityAccessors: QueueLengths lists every mode, OnMatched
// reports each placed ticket's wait, and Ready fails once the store or the
// lobby is closed.
func TestObservabilityAccessors(t *testing.T) {
	type matched struct {
		mode   string
		waited time.Duration
	}
	var mu sync.Mutex
	var got []matched
	cfg := testConfig()
	cfg.OnMatched = func(mode string, waited time.Duration) {
		mu.Lock()
		got = append(got, matched{mode, waited})
		mu.Unlock()
	}
	store := NewMemoryStore()
	cfg.Store = store
	e := newEnv(t, cfg)
	if err := e.l.Ready(context.Background()); err != nil {
		t.Fatalf("ready: %v", err)
	}
	a, b := e.guest("a"), e.guest("b")
	e.ticket(a.SessionToken, "arena") // arena needs two and bot fill is off: it waits
	if q := e.l.QueueLengths(); q["arena"] != 1 || q["bench"] != 0 || len(q) != len(e.l.cfg.Modes) {
		t.Fatalf("queue lengths %v", q)
	}
	tb := e.ticket(b.SessionToken, "bench") // bench starts with one player
	e.waitStatus(b.SessionToken, tb.TicketID, "matched")
	mu.Lock()
	if len(got) != 1 || got[0].mode != "bench" || got[0].waited < 0 || got[0].waited > 10*time.Second {
		t.Errorf("OnMatched calls %+v", got)
	}
	mu.Unlock()

	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Ready(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("ready with a closed store: %v", err)
	}
	e.close()
	if err := e.l.Ready(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("ready after shutdown: %v", err)
	}
}
