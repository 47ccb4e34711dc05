package lobby

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func testRules() mmRules {
	return mmRules{
		Modes:        map[string]ModeRules{"arena": {MinPlayers: 2, MaxPlayers: 4}, "bench": {MinPlayers: 1, MaxPlayers: 8}},
		WindowBase:   100,
		WindowGrowth: 50,
		WindowMax:    1000,
		FillWait:     2 * time.Second,
		BotFillAfter: 5 * time.Second,
	}
}

func TestMatchmakerStep(t *testing.T) {
	type arrival struct {
		at     time.Duration
		rating int
		mode   string
	}
	tests := []struct {
		name     string
		rules    func(*mmRules)
		arrivals []arrival
		stepAt   time.Duration
		want     [][]int // groups as arrival indexes
		wantBots []int
	}{
		{
			name:     "lone player waits before bot fill",
			arrivals: []arrival{{0, 1500, "arena"}},
			stepAt:   4 * time.Second,
		},
		{
			name:     "lone player gets bots after BotFillAfter",
			arrivals: []arrival{{0, 1500, "arena"}},
			stepAt:   5 * time.Second,
			want:     [][]int{{0}},
			wantBots: []int{1},
		},
		{
			name:     "bot fill off: lone player keeps waiting",
			rules:    func(r *mmRules) { r.BotFillAfter = -1 },
			arrivals: []arrival{{0, 1500, "arena"}},
			stepAt:   60 * time.Second,
		},
		{
			name:     "two close players wait FillWait for more",
			arrivals: []arrival{{0, 1500, "arena"}, {0, 1550, "arena"}},
			stepAt:   time.Second,
		},
		{
			name:     "two close players start after FillWait",
			arrivals: []arrival{{0, 1500, "arena"}, {0, 1550, "arena"}},
			stepAt:   2 * time.Second,
			want:     [][]int{{0, 1}},
			wantBots: []int{0},
		},
		{
			name:     "full group starts at once",
			arrivals: []arrival{{0, 1500, "arena"}, {0, 1510, "arena"}, {0, 1520, "arena"}, {0, 1530, "arena"}, {0, 1540, "arena"}},
			stepAt:   0,
			want:     [][]int{{0, 1, 2, 3}},
			wantBots: []int{0},
		},
		{
			name:     "far ratings do not group at first",
			arrivals: []arrival{{0, 1000, "arena"}, {0, 1300, "arena"}},
			stepAt:   2 * time.Second, // windows 200 < 300
		},
		{
			name:     "windows widen with waiting",
			rules:    func(r *mmRules) { r.BotFillAfter = -1 },
			arrivals: []arrival{{0, 1000, "arena"}, {0, 1300, "arena"}},
			stepAt:   4 * time.Second, // windows 300
			want:     [][]int{{0, 1}},
			wantBots: []int{0},
		},
		{
			name:     "both windows must accept",
			rules:    func(r *mmRules) { r.BotFillAfter = -1 },
			arrivals: []arrival{{0, 1000, "arena"}, {3 * time.Second, 1300, "arena"}},
			stepAt:   4 * time.Second, // 300 and 150
		},
		{
			name:     "earlier tickets first within a window",
			arrivals: []arrival{{0, 1500, "arena"}, {time.Second, 1500, "arena"}, {2 * time.Second, 1500, "arena"}, {3 * time.Second, 1500, "arena"}, {4 * time.Second, 1500, "arena"}},
			rules:    func(r *mmRules) { r.FillWait = 10 * time.Second },
			stepAt:   4 * time.Second,
			want:     [][]int{{0, 1, 2, 3}},
			wantBots: []int{0},
		},
		{
			name:     "modes never mix",
			arrivals: []arrival{{0, 1500, "arena"}, {0, 1500, "bench"}},
			stepAt:   2 * time.Second,
			want:     [][]int{{1}},
			wantBots: []int{0}, // arena pair impossible; bench has MinPlayers 1
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRules()
			if tt.rules != nil {
				tt.rules(&r)
			}
			m := newMatchmaker(r)
			ids := map[TicketID]int{}
			for i, a := range tt.arrivals {
				id := TicketID(fmt.Sprint("t", i))
				ids[id] = i
				if _, err := m.add(mmEntry{ID: id, Player: PlayerID(i + 1), Mode: a.mode, Rating: a.rating, Enqueued: t0.Add(a.at), Expires: t0.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			groups, _ := m.step(t0.Add(tt.stepAt))
			if len(groups) != len(tt.want) {
				t.Fatalf("got %d groups %+v, want %v", len(groups), groups, tt.want)
			}
			for gi, g := range groups {
				var got []int
				for _, e := range g.Entries {
					got = append(got, ids[e.ID])
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want[gi]) || g.Bots != tt.wantBots[gi] {
					t.Errorf("group %d = %v bots %d, want %v bots %d", gi, got, g.Bots, tt.want[gi], tt.wantBots[gi])
				}
			}
		})
	}
}

func TestMatchmakerRefusesDuplicates(t *testing.T) {
	m := newMatchmaker(testRules())
	e := mmEntry{ID: "a", Player: 1, Mode: "arena", Rating: 1500, Enqueued: t0, Expires: t0.Add(time.Minute)}
	if _, err := m.add(e); err != nil {
		t.Fatal(err)
	}
	e2 := e
	e2.ID = "b"
	if _, err := m.add(e2); err == nil {
		t.Fatal("same player queued twice")
	}
	e3 := e
	e3.Mode = "nope"
	e3.Player = 2
	if _, err := m.add(e3); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

// TestMatchmakerProperties drives the matchmaker with random arrivals,
// cancels and expiries, and checks after every step that groups honour
// modes, sizes and rating windows, that no ticket or player is placed twice
// or is in two live tickets, that earlier tickets go first, and that at the
// end every ticket reached exactly one terminal state.
func TestMatchmakerProperties(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed*7919))
			r := testRules()
			if seed%4 == 0 {
				r.BotFillAfter = -1 // expiries must then happen
			}
			m := newMatchmaker(r)
			type rec struct {
				e        mmEntry
				terminal string
			}
			all := map[TicketID]*rec{}
			var order []TicketID
			busy := map[PlayerID]bool{} // queued or in a match
			inMatch := map[PlayerID]bool{}
			now := t0
			nextID := 0
			const players = 60
			for step := 0; step < 400; step++ {
				now = now.Add(time.Duration(rng.IntN(700)) * time.Millisecond)
				// Arrivals.
				for range rng.IntN(4) {
					p := PlayerID(rng.IntN(players) + 1)
					mode := "arena"
					if rng.IntN(5) == 0 {
						mode = "bench"
					}
					e := mmEntry{ID: TicketID(fmt.Sprint("t", nextID)), Player: p, Mode: mode, Rating: 1000 + rng.IntN(1000),
						Enqueued: now, Expires: now.Add(time.Duration(3+rng.IntN(20)) * time.Second)}
					_, err := m.add(e)
					if busy[p] {
						if err == nil && !inMatch[p] {
							t.Fatalf("player %d queued twice", p)
						}
						if err == nil {
							m.remove(e.ID) // the lobby refuses players in a match before queueing
						}
						continue
					}
					if err != nil {
						t.Fatalf("add: %v", err)
					}
					nextID++
					busy[p] = true
					all[e.ID] = &rec{e: e}
					order = append(order, e.ID)
				}
				// Cancels.
				if len(order) > 0 && rng.IntN(3) == 0 {
					id := order[rng.IntN(len(order))]
					if m.remove(id) {
						rc := all[id]
						if rc.terminal != "" {
							t.Fatalf("%s removed after %s", id, rc.terminal)
						}
						rc.terminal = "cancelled"
						busy[rc.e.Player] = false
					}
				}
				// Seats end.
				for p := range inMatch {
					if rng.IntN(10) == 0 {
						delete(inMatch, p)
						busy[p] = false
					}
				}
				groups, expired := m.step(now)
				for _, e := range expired {
					rc := all[e.ID]
					if rc.terminal != "" {
						t.Fatalf("%s expired after %s", e.ID, rc.terminal)
					}
					if now.Before(e.Expires) {
						t.Fatalf("%s expired early", e.ID)
					}
					rc.terminal = "expired"
					busy[e.Player] = false
				}
				inGroup := map[TicketID]bool{}
				for _, g := range groups {
					rules := r.Modes[g.Mode]
					if n := len(g.Entries); n > rules.MaxPlayers || n+g.Bots < rules.MinPlayers || n == 0 {
						t.Fatalf("group size %d + %d bots outside %v", n, g.Bots, rules)
					}
					seen := map[PlayerID]bool{}
					for i, a := range g.Entries {
						rc := all[a.ID]
						if rc.terminal != "" {
							t.Fatalf("%s matched after %s", a.ID, rc.terminal)
						}
						if a.Mode != g.Mode {
							t.Fatalf("mode mix")
						}
						if seen[a.Player] || inMatch[a.Player] {
							t.Fatalf("player %d in two matches", a.Player)
						}
						seen[a.Player] = true
						rc.terminal = "matched"
						inGroup[a.ID] = true
						for _, b := range g.Entries[i+1:] {
							if !m.compatible(a, b, now) {
								t.Fatalf("ratings %d and %d outside windows %.0f/%.0f", a.Rating, b.Rating, m.window(a, now), m.window(b, now))
							}
						}
						if r.BotFillAfter >= 0 && now.Sub(a.Enqueued) > r.BotFillAfter+time.Second {
							t.Fatalf("%s waited %v with bot fill after %v", a.ID, now.Sub(a.Enqueued), r.BotFillAfter)
						}
					}
					for p := range seen {
						inMatch[p] = true
					}
				}
				// Order: a ticket still waiting that arrived before some
				// non-anchor member of a group conflicts with the anchor or
				// with a member that arrived before it.
				for _, g := range groups {
					anchor := g.Entries[0]
					last := g.Entries[len(g.Entries)-1].Seq
					for _, q := range m.queues[g.Mode] {
						if q.Seq > last {
							continue
						}
						conflict := !m.compatible(q, anchor, now)
						for _, e := range g.Entries[1:] {
							if e.Seq < q.Seq && !m.compatible(q, e, now) {
								conflict = true
							}
						}
						if !conflict {
							t.Fatalf("ticket %s (rating %d) skipped by group %+v", q.ID, q.Rating, g)
						}
					}
				}
				// With bot fill, nobody waits much longer than BotFillAfter.
				if r.BotFillAfter >= 0 {
					for _, q := range m.queues {
						for _, e := range q {
							if now.Sub(e.Enqueued) > r.BotFillAfter {
								t.Fatalf("%s still queued after %v", e.ID, now.Sub(e.Enqueued))
							}
						}
					}
				}
			}
			// Drain: past every expiry, everything is terminal.
			groups, expired := m.step(now.Add(time.Hour))
			for _, g := range groups {
				for _, e := range g.Entries {
					all[e.ID].terminal = "matched"
				}
			}
			for _, e := range expired {
				all[e.ID].terminal = "expired"
			}
			if len(m.where) != 0 || len(m.player) != 0 {
				t.Fatalf("queue not empty: %d", len(m.where))
			}
			for _, id := range order {
				if all[id].terminal == "" {
					t.Fatalf("%s never reached a terminal state", id)
				}
			}
		})
	}
}
