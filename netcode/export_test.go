package netcode

import (
	"context"
	"time"
)

// SetHousekeep makes the matches of a server built from cfg run their
// housekeeping every d instead of every second.
func SetHousekeep(cfg *Config, d time.Duration) { cfg.housekeep = d }

// HousekeepPasses reports how many housekeeping passes match id has run
// (0 if it is not running).
func (s *Server) HousekeepPasses(id string) uint64 {
	if r := s.room(id); r != nil {
		return r.houses.Load()
	}
	return 0
}

// ExecAfterStop cancels match id and waits for its goroutine to end, then
// reports what running fn on it returns.
func (s *Server) ExecAfterStop(id string, fn func()) error {
	r := s.room(id)
	r.cancel()
	<-r.done
	return r.exec(context.Background(), fn)
}

// DirectConns counts the seated tick-path sockets the match writes to
// directly (no writer goroutine catching up).
func (s *Server) DirectConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.tick == nil || c.state.Load() != stateAttached {
			continue
		}
		c.out.mu.Lock()
		if c.out.direct && !c.out.writing {
			n++
		}
		c.out.mu.Unlock()
	}
	return n
}
