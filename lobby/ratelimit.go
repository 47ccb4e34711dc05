package lobby

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per client address.
type limiter struct {
	limit rate.Limit
	burst int
	seed  maphash.Seed // immutable: for digest

	mu sync.Mutex // guards m
	m  map[string]*limEntry
}

type limEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(r rate.Limit, burst int) *limiter {
	return &limiter{limit: r, burst: burst, seed: maphash.MakeSeed(), m: make(map[string]*limEntry)}
}

// digest is a short key for a long secret, such as a bearer token: the map
// keeps 8 bytes per session instead of the whole token (a few hundred
// bytes), for as long as the entry lives (prune). The seed is random per
// process, so two sessions share a bucket only by a 64-bit accident.
func (lm *limiter) digest(s string) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], maphash.String(lm.seed, s))
	return string(b[:])
}

// allow takes one token for key at now. If none is available it reports
// false and how long until one is.
func (lm *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	e, ok := lm.m[key]
	if !ok {
		e = &limEntry{lim: rate.NewLimiter(lm.limit, lm.burst)}
		lm.m[key] = e
	}
	e.seen = now
	res := e.lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Minute
	}
	d := res.DelayFrom(now)
	if d <= 0 {
		return true, 0
	}
	res.CancelAt(now)
	return false, d
}

// prune forgets addresses idle long enough for their bucket to be full
// again (a new bucket is then identical).
func (lm *limiter) prune(now time.Time) {
	idle := time.Minute
	if lm.limit > 0 {
		idle = max(idle, time.Duration(float64(lm.burst)/float64(lm.limit)*float64(time.Second)))
	}
	lm.mu.Lock()
	defer lm.mu.Unlock()
	for k, e := range lm.m {
		if now.Sub(e.seen) > idle {
			delete(lm.m, k)
		}
	}
}

// streamCaps counts open event streams in all, by client address and by
// ticket, and refuses one more past any cap.
type streamCaps struct {
	max, perAddr, perTicket int // immutable

	mu       sync.Mutex // guards the rest
	total    int
	byAddr   map[string]int
	byTicket map[TicketID]int
}

func newStreamCaps(max, perAddr, perTicket int) streamCaps {
	return streamCaps{max: max, perAddr: perAddr, perTicket: perTicket, byAddr: make(map[string]int), byTicket: make(map[TicketID]int)}
}

// acquire takes a slot for a stream of ticket from addr. It reports which
// cap refused it, or "" and a release function to call when the stream
// ends.
func (c *streamCaps) acquire(addr string, ticket TicketID) (release func(), refused string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.total >= c.max:
		return nil, "server"
	case c.byAddr[addr] >= c.perAddr:
		return nil, "address"
	case c.byTicket[ticket] >= c.perTicket:
		return nil, "ticket"
	}
	c.total++
	c.byAddr[addr]++
	c.byTicket[ticket]++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.total--
		if c.byAddr[addr]--; c.byAddr[addr] <= 0 {
			delete(c.byAddr, addr)
		}
		if c.byTicket[ticket]--; c.byTicket[ticket] <= 0 {
			delete(c.byTicket, ticket)
		}
	}, ""
}
