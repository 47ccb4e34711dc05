package lobby

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// mmEntry is a queued ticket as the matchmaker sees it.
type mmEntry = QueueEntry

// mmGroup is a group the matchmaker decided to place. Entries[0] is the
// anchor the group was built around; the rest follow in arrival order.
type mmGroup struct {
	Mode    string
	Entries []mmEntry
	Bots    int
}

// mmRules are the matchmaker's parameters.
type mmRules struct {
	Modes        map[string]ModeRules
	WindowBase   float64       // rating points
	WindowGrowth float64       // rating points per second waited
	WindowMax    float64       // rating points
	FillWait     time.Duration // a group at MinPlayers waits this long for more
	BotFillAfter time.Duration // < 0: no bot fill
}

// matchmaker is the pure matchmaking core: no clock, no goroutines, no
// locks. The caller passes now to step and serializes calls.
//
// Each step, per mode: expired tickets leave; then every waiting ticket, in
// arrival order, is tried as the anchor of a group: the other waiting
// tickets are considered in arrival order and join if their rating is
// within the window of every member so far (and every member's within
// theirs), up to MaxPlayers. The group starts if it is full, or if it has
// MinPlayers and its oldest member has waited FillWait, or (bot fill) if
// its oldest member has waited BotFillAfter, with bots added up to
// MinPlayers. Cost is O(n^2 * MaxPlayers) per mode per step, fine for the
// thousands of tickets one node queues.
type matchmaker struct {
	rules  mmRules
	queues map[string][]mmEntry // per mode, in arrival (Seq) order
	where  map[TicketID]string  // ticket -> mode
	player map[PlayerID]TicketID
	seq    uint64
}

func newMatchmaker(r mmRules) *matchmaker {
	return &matchmaker{
		rules:  r,
		queues: make(map[string][]mmEntry),
		where:  make(map[TicketID]string),
		player: make(map[PlayerID]TicketID),
	}
}

// add queues e. A zero Seq is assigned the next arrival number; a non-zero
// Seq (a requeue after a failed placement) keeps its place in line. Seq
// prioritySeq puts a ticket ahead of everything but the priority tickets
// queued before it.
func (m *matchmaker) add(e mmEntry) (mmEntry, error) {
	if _, ok := m.rules.Modes[e.Mode]; !ok {
		return e, fmt.Errorf("%w: %q", ErrUnknownMode, e.Mode)
	}
	if _, ok := m.where[e.ID]; ok {
		return e, fmt.Errorf("lobby: ticket %s already queued", e.ID)
	}
	if _, ok := m.player[e.Player]; ok {
		return e, ErrAlreadyQueued
	}
	if e.Seq == 0 {
		m.seq++
		e.Seq = m.seq
	}
	q := m.queues[e.Mode]
	i := sort.Search(len(q), func(i int) bool { return q[i].Seq > e.Seq })
	m.queues[e.Mode] = slices.Insert(q, i, e)
	m.where[e.ID] = e.Mode
	m.player[e.Player] = e.ID
	return e, nil
}

// load replaces the queues with entries (in Seq order), such as a snapshot
// of a shared Queue.
func (m *matchmaker) load(entries []QueueEntry) {
	clear(m.queues)
	clear(m.where)
	clear(m.player)
	for _, e := range entries {
		if _, ok := m.rules.Modes[e.Mode]; !ok {
			continue // a mode another lobby serves
		}
		if _, dup := m.player[e.Player]; dup {
			continue
		}
		m.queues[e.Mode] = append(m.queues[e.Mode], e)
		m.where[e.ID] = e.Mode
		m.player[e.Player] = e.ID
	}
}

// remove takes a ticket out of the queue and reports whether it was there.
func (m *matchmaker) remove(id TicketID) bool {
	mode, ok := m.where[id]
	if !ok {
		return false
	}
	q := m.queues[mode]
	for i := range q {
		if q[i].ID == id {
			delete(m.player, q[i].Player)
			m.queues[mode] = slices.Delete(q, i, i+1)
			break
		}
	}
	delete(m.where, id)
	return true
}

// window returns the rating window of e at now.
func (m *matchmaker) window(e mmEntry, now time.Time) float64 {
	waited := now.Sub(e.Enqueued).Seconds()
	if waited < 0 {
		waited = 0
	}
	return math.Min(m.rules.WindowBase+m.rules.WindowGrowth*waited, m.rules.WindowMax)
}

// compatible reports whether a and b accept each other at now: their
// rating difference is within both windows.
func (m *matchmaker) compatible(a, b mmEntry, now time.Time) bool {
	d := math.Abs(float64(a.Rating - b.Rating))
	return d <= m.window(a, now) && d <= m.window(b, now)
}

// step expires and groups tickets at now. Returned tickets have left the
// queue.
func (m *matchmaker) step(now time.Time) (groups []mmGroup, expired []mmEntry) {
	modes := make([]string, 0, len(m.queues))
	for mode := range m.queues {
		modes = append(modes, mode)
	}
	sort.Strings(modes)
	for _, mode := range modes {
		rules := m.rules.Modes[mode]
		q := m.queues[mode]
		live := q[:0]
		for _, e := range q {
			if !now.Before(e.Expires) {
				expired = append(expired, e)
				delete(m.where, e.ID)
				delete(m.player, e.Player)
				continue
			}
			live = append(live, e)
		}
		q = live
		used := make([]bool, len(q))
		members := make([]int, 0, rules.MaxPlayers)
		for a := range q {
			if used[a] {
				continue
			}
			members = append(members[:0], a)
			for j := range q {
				if len(members) == rules.MaxPlayers {
					break
				}
				if j == a || used[j] {
					continue
				}
				ok := true
				for _, k := range members {
					if !m.compatible(q[j], q[k], now) {
						ok = false
						break
					}
				}
				if ok {
					members = append(members, j)
				}
			}
			var oldest time.Duration
			for _, k := range members {
				oldest = max(oldest, now.Sub(q[k].Enqueued))
			}
			bots := 0
			switch {
			case len(members) == rules.MaxPlayers:
			case len(members) >= rules.MinPlayers && oldest >= m.rules.FillWait:
			case m.rules.BotFillAfter >= 0 && oldest >= m.rules.BotFillAfter:
				bots = max(0, rules.MinPlayers-len(members))
			default:
				continue
			}
			g := mmGroup{Mode: mode, Bots: bots, Entries: make([]mmEntry, len(members))}
			for i, k := range members {
				used[k] = true
				g.Entries[i] = q[k]
			}
			groups = append(groups, g)
		}
		rest := q[:0]
		for i, e := range q {
			if used[i] {
				delete(m.where, e.ID)
				delete(m.player, e.Player)
				continue
			}
			rest = append(rest, e)
		}
		if len(rest) == 0 {
			delete(m.queues, mode)
		} else {
			m.queues[mode] = rest
		}
	}
	return groups, expired
}

// estimate returns an upper bound of the remaining wait of a queued ticket:
// with bot fill on, a ticket is placed by BotFillAfter at the latest.
func (m *matchmaker) estimate(e mmEntry, now time.Time) time.Duration {
	return estimateWait(m.rules, e, now)
}

// estimateWait is estimate under the given rules, for any goroutine.
func estimateWait(rules mmRules, e mmEntry, now time.Time) time.Duration {
	limit := rules.FillWait
	if rules.BotFillAfter >= 0 {
		limit = max(limit, rules.BotFillAfter)
	} else {
		limit = e.Expires.Sub(e.Enqueued)
	}
	return max(0, limit-now.Sub(e.Enqueued))
}

// entry returns the queued entry of id.
func (m *matchmaker) entry(id TicketID) (mmEntry, bool) {
	mode, ok := m.where[id]
	if !ok {
		return mmEntry{}, false
	}
	for _, e := range m.queues[mode] {
		if e.ID == id {
			return e, true
		}
	}
	return mmEntry{}, false
}
