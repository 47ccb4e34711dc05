package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/redisstore"
)

// Round-trip costs of the calls the lobby makes, against a local
// redis-server (appendfsync always, as the tests run it).
func BenchmarkStore(b *testing.B) {
	srv := testkit.Redis(b)
	s, err := redisstore.Open(context.Background(), srv.URL, redisstore.Options{Prefix: "bench:"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.Run("Revoked", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Revoked("sid"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UseOnce", func(b *testing.B) {
		exp := time.Now().Add(time.Minute)
		i := 0
		for b.Loop() {
			i++
			if _, err := s.UseOnce(ctx, fmt.Sprint("j", i), exp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("TryLock", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.TryLock(ctx, "mm", "me", 3*time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EnqueueDequeue", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			id := lobby.TicketID(fmt.Sprint("t", i))
			if _, err := s.Enqueue(ctx, lobby.QueueEntry{ID: id, Player: 1, Mode: "arena", Expires: time.Now().Add(time.Minute)}); err != nil {
				b.Fatal(err)
			}
			if ok, err := s.Dequeue(ctx, id); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	fill := func(b *testing.B, n int) func() {
		for i := range n {
			if _, err := s.Enqueue(ctx, lobby.QueueEntry{ID: lobby.TicketID(fmt.Sprintf("q%d-%d", n, i)), Player: lobby.PlayerID(1000 + i), Mode: "arena", Expires: time.Now().Add(time.Minute)}); err != nil {
				b.Fatal(err)
			}
		}
		return func() {
			for i := range n {
				_, _ = s.Dequeue(ctx, lobby.TicketID(fmt.Sprintf("q%d-%d", n, i)))
			}
		}
	}
	for _, n := range []int{100, 1000} {
		// Before: the matchmaker read the whole queue every step.
		b.Run(fmt.Sprint("QueueEntries/", n), func(b *testing.B) {
			defer fill(b, n)()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.QueueEntries(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Now: a step whose queue did not change since the last one.
		b.Run(fmt.Sprint("QueueSnapshotUnchanged/", n), func(b *testing.B) {
			defer fill(b, n)()
			_, v, _, err := s.QueueSnapshot(ctx, ^uint64(0))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, _, changed, err := s.QueueSnapshot(ctx, v); err != nil || changed {
					b.Fatal(changed, err)
				}
			}
		})
		// A step after a change reads everything, as before.
		b.Run(fmt.Sprint("QueueSnapshotChanged/", n), func(b *testing.B) {
			defer fill(b, n)()
			b.ResetTimer()
			for b.Loop() {
				if _, _, _, err := s.QueueSnapshot(ctx, ^uint64(0)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
