package storetest_test

import (
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/storetest"
)

// TestMemory runs the contract against the in-memory stores the lobby uses
// by default.
func TestMemory(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		TicketRetention: 300 * time.Millisecond,
		MatchRetention:  300 * time.Millisecond,
		Open: func(t *testing.T) func() storetest.Client {
			c := storetest.Client{
				Store:        lobby.NewMemoryStore(),
				Tickets:      lobby.NewMemoryTicketStore(),
				Assignments:  lobby.NewMemoryAssignmentStore(),
				Results:      lobby.NewMemoryResultStore(),
				UsedTokens:   lobby.NewMemoryUsedTokens(),
				Leases:       lobby.NewMemoryLeases(),
				Queue:        lobby.NewMemoryQueue(),
				TicketEvents: lobby.NewMemoryTicketEvents(),
				Nodes:        lobby.NewMemoryNodeRegistry(),
				Matches:      lobby.NewMemoryMatchStore(300 * time.Millisecond),
				Placements:   lobby.NewMemoryPlacements(),
			}
			return func() storetest.Client { return c }
		},
	})
}

// TestBolt runs the Store part of the contract against the bbolt store
// (the only interface it implements), and the results log.
func TestBolt(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) func() storetest.Client {
			dir := t.TempDir()
			s, err := lobby.OpenBoltStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			r, err := lobby.OpenFileResultStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			return func() storetest.Client { return storetest.Client{Store: s, Results: r} }
		},
	})
}
