package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
)

// sink is a lifecycle that records what reaches it, can hold its calls,
// and can fail result writes.
type sink struct {
	hold chan struct{} // while not nil and open, calls wait
	once sync.Once

	mu       sync.Mutex
	calls    []string
	failures int // result writes still to fail
}

func (s *sink) wait() {
	if s.hold != nil {
		<-s.hold
	}
}

// release lets every call through.
func (s *sink) release() {
	s.once.Do(func() {
		if s.hold != nil {
			close(s.hold)
		}
	})
}

func (s *sink) record(c string) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func (s *sink) SeatReleased(match string, p lobby.PlayerID) {
	s.wait()
	s.record(fmt.Sprintf("release %s %d", match, p))
}

func (s *sink) RecordResult(r lobby.MatchResult) error {
	s.wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		return errors.New("store down")
	}
	s.calls = append(s.calls, "result "+r.ID)
	return nil
}

func (s *sink) MatchEnded(match string) {
	s.wait()
	s.record("ended " + match)
}

func (s *sink) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func startHooks(t *testing.T, to lifecycle, limit int) *hooks {
	t.Helper()
	h := newHooks(zap.NewNop())
	if err := h.start(to, limit); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.q.Close(ctx)
	})
	return h
}

// TestHookOrderUnderOverflow drives the hooks as match goroutines do, with
// a tiny queue and a held sink, for random interleavings of several
// matches: every seat release and every result reaches the sink; per
// match, releases come before its result, the result before its
// MatchEnded, and nothing of a match after its MatchEnded.
func TestHookOrderUnderOverflow(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			s := &sink{hold: make(chan struct{})}
			limit := 1 + rng.IntN(3)
			h := startHooks(t, s, limit)
			t.Cleanup(s.release) // before the queue closes, even after a failure
			const matches, seats = 6, 5
			left := make([][]game.PlayerID, matches)
			for m := range left {
				for p := range seats {
					left[m] = append(left[m], game.PlayerID(m*100+p+1))
				}
			}
			// Matches below matches/2 end; the others play on until every
			// seat was released.
			ended := make([]bool, matches)
			released := make(map[string]bool) // "match player" released by a hook
			for done := 0; done < matches; {
				m := rng.IntN(matches)
				if ended[m] {
					continue
				}
				id := fmt.Sprintf("m%d", m)
				if m >= matches/2 {
					if len(left[m]) == 0 {
						ended[m] = true // done, still running
						done++
						continue
					}
				}
				if m >= matches/2 || len(left[m]) > 0 && rng.IntN(4) > 0 {
					p := left[m][0]
					left[m] = left[m][1:]
					h.seatReleased(id, p, "left")
					released[fmt.Sprintf("%s %d", id, p)] = true
					continue
				}
				h.matchEnded(netcode.MatchInfo{ID: id, Mode: "bench"}, game.Result{Reason: "time"}, nil)
				ended[m] = true
				done++
			}
			// Bounded: the limit, one resync event, one result per match.
			if n := h.q.Len(); n > limit+1+matches/2 {
				t.Fatalf("%d events queued with a limit of %d", n, limit)
			}
			s.release()
			if err := h.q.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			if h.backlogged() { // every resync was pushed before the flush
				t.Fatal("still backlogged after a flush")
			}
			calls := s.recorded()
			phase := make(map[string]int) // 0 releases, 1 result seen, 2 ended
			delivered := make(map[string]bool)
			for _, c := range calls {
				var kind, id string
				var p int
				if n, _ := fmt.Sscanf(c, "release %s %d", &id, &p); n == 2 {
					kind = "release"
					delivered[fmt.Sprintf("%s %d", id, p)] = true
				} else {
					fmt.Sscanf(c, "%s %s", &kind, &id)
				}
				switch kind {
				case "release":
					if phase[id] != 0 {
						t.Fatalf("%q after the match's result: %v", c, calls)
					}
				case "result":
					if phase[id] != 0 {
						t.Fatalf("two results for %s: %v", id, calls)
					}
					phase[id] = 1
				case "ended":
					if phase[id] != 1 {
						t.Fatalf("%s ended before its result: %v", id, calls)
					}
					phase[id] = 2
				}
			}
			for m := range matches / 2 {
				if id := fmt.Sprintf("m%d", m); phase[id] != 2 {
					t.Fatalf("%s: result or end missing: %v", id, calls)
				}
			}
			// A release that overflowed may be made moot by its match's
			// end (which frees every seat); every other one arrived.
			st := h.stats()
			for r := range released {
				var m int
				fmt.Sscanf(r, "m%d", &m)
				if m >= matches/2 && !delivered[r] {
					t.Fatalf("release %s of a running match lost: %v", r, calls)
				}
			}
			if missing := len(released) - len(delivered); missing < 0 || uint64(missing) > st.Coalesced {
				t.Fatalf("%d releases, %d delivered, %d coalesced", len(released), len(delivered), st.Coalesced)
			}
			if st.Coalesced == 0 || st.Lost != 0 || st.PendingResults != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestResultRetried: a result write that fails is tried again until the
// store takes it; the seats are freed only after it.
func TestResultRetried(t *testing.T) {
	s := &sink{failures: 2}
	h := startHooks(t, s, 0)
	h.matchEnded(netcode.MatchInfo{ID: "m1"}, game.Result{Reason: "time"}, nil)
	if err := h.q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := s.recorded(); len(got) != 2 || got[0] != "result m1" || got[1] != "ended m1" {
		t.Fatalf("calls %v", got)
	}
	if st := h.stats(); st.ResultRetries != 2 || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
}
