package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby/redisstore"
	"github.com/rallypoint/rallypoint/lobby/storetest"
)

// open connects a Store to srv with a key prefix of its own, closed when
// the test ends.
func open(t *testing.T, srv *testkit.RedisServer, opt redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), srv.URL, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func client(s *redisstore.Store) storetest.Client {
	return storetest.Client{
		Store: s, Tickets: s, Assignments: s, Results: s, UsedTokens: s, Leases: s, Queue: s,
		TicketEvents: s, Nodes: s, Matches: s, Placements: s,
	}
}

// TestContract runs the store contract against a real redis-server: every
// test gets its own key prefix, and every client its own connection pool.
func TestContract(t *testing.T) {
	srv := testkit.Redis(t)
	var n atomic.Int32
	storetest.Run(t, storetest.Backend{
		TicketRetention: time.Second,
		MatchRetention:  300 * time.Millisecond,
		Open: func(t *testing.T) func() storetest.Client {
			opt := redisstore.Options{
				Prefix:          fmt.Sprintf("t%d:", n.Add(1)),
				Timeout:         2 * time.Second,
				TicketRetention: time.Second,
				MatchRetention:  300 * time.Millisecond,
			}
			return func() storetest.Client { return client(open(t, srv, opt)) }
		},
		Down: func(t *testing.T) { srv.Kill() },
		Up:   func(t *testing.T) { srv.Start() },
	})
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// TestMain silences go-redis's own logger: the outage tests make it report
// every failed dial.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}
