package redisstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/redisstore"
)

// TestRecoveryStore runs the RecoveryStore contract against the memory
// and the Redis implementation: match tickets are kept until their time,
// priority is taken exactly once, and expires.
func TestRecoveryStore(t *testing.T) {
	srv := testkit.Redis(t)
	for name, s := range map[string]lobby.RecoveryStore{
		"memory": lobby.NewMemoryRecoveryStore(nil),
		"redis":  open(t, srv, redisstore.Options{Prefix: "recovery-test:"}),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			if ids, err := s.MatchTickets(ctx, "none"); err != nil || len(ids) != 0 {
				t.Fatalf("unknown match: %v %v", ids, err)
			}
			want := []lobby.TicketID{"t1", "t2"}
			if err := s.PutMatchTickets(ctx, "m1", want, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if ids, err := s.MatchTickets(ctx, "m1"); err != nil || len(ids) != 2 || ids[0] != "t1" || ids[1] != "t2" {
				t.Fatalf("match tickets: %v %v", ids, err)
			}
			if got, err := s.TakePriority(ctx, 7); err != nil || got {
				t.Fatalf("priority never granted: %v %v", got, err)
			}
			if err := s.GrantPriority(ctx, 7, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			// Two lobbies racing for the same player's next ticket: one wins.
			var wg sync.WaitGroup
			wins := make(chan bool, 8)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := s.TakePriority(ctx, 7)
					if err != nil {
						t.Error(err)
					}
					wins <- got
				}()
			}
			wg.Wait()
			close(wins)
			n := 0
			for w := range wins {
				if w {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("priority taken %d times, want once", n)
			}
			until := time.Now().Add(100 * time.Millisecond)
			if err := s.GrantPriority(ctx, 8, until); err != nil {
				t.Fatal(err)
			}
			for time.Now().Before(until.Add(100 * time.Millisecond)) { // let it lapse
				time.Sleep(20 * time.Millisecond)
			}
			if got, err := s.TakePriority(ctx, 8); err != nil || got {
				t.Fatalf("an expired priority was taken: %v %v", got, err)
			}
		})
	}
}

// TestQueuePrioritySeq: a ticket enqueued with Seq 1 (the lobby's requeue
// priority) is first in the Redis queue, ahead of earlier arrivals.
func TestQueuePrioritySeq(t *testing.T) {
	s := open(t, testkit.Redis(t), redisstore.Options{Prefix: "prio-test:"})
	ctx := context.Background()
	now := time.Now()
	for i, p := range []lobby.PlayerID{1, 2, 3} {
		if _, err := s.Enqueue(ctx, lobby.QueueEntry{ID: lobby.TicketID(rune('a' + i)), Player: p, Mode: "arena", Enqueued: now, Expires: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Enqueue(ctx, lobby.QueueEntry{ID: "p", Player: 9, Mode: "arena", Enqueued: now, Expires: now.Add(time.Minute), Seq: 1}); err != nil {
		t.Fatal(err)
	}
	pos, n, ok, err := s.QueuePosition(ctx, "p")
	if err != nil || !ok || n != 4 || pos > 2 {
		t.Fatalf("priority ticket at %d of %d (%v %v), want ahead of later arrivals", pos, n, ok, err)
	}
}
