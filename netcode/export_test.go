package netcode

import "time"

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
