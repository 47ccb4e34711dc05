package game_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rallypoint/rallypoint/game"
)

// scriptSim is a Sim for loop tests: it records what the loop does to it
// and can end, stall or panic at a given tick.
type scriptSim struct {
	w       *game.World
	endAt   game.Tick     // Result reports over from this tick; 0 never
	stallAt game.Tick     // Step sleeps for stall at this tick (fake time)
	stall   time.Duration //
	panicAt game.Tick     // Step panics at this tick

	applied []applied   // inputs in the order Apply saw them
	waited  []uint8     // their Input.Waited, in the same order
	steps   []time.Time // when each Step ran
}

type applied struct {
	tick   game.Tick // the tick the input was applied before
	player game.PlayerID
	seq    uint32 // carried in Input.DX
}

func newScriptSim(hz int) *scriptSim {
	return &scriptSim{w: game.NewWorld(100, 100, hz, 1)}
}

func (s *scriptSim) World() *game.World                          { return s.w }
func (s *scriptSim) Join(p game.PlayerID) (game.EntityID, error) { return 0, nil }
func (s *scriptSim) Leave(p game.PlayerID)                       {}
func (s *scriptSim) Apply(p game.PlayerID, in game.Input) {
	s.applied = append(s.applied, applied{s.w.Tick + 1, p, uint32(in.DX)})
	s.waited = append(s.waited, in.Waited)
}

func (s *scriptSim) Step(events []game.Event) []game.Event {
	s.w.Tick++
	s.steps = append(s.steps, time.Now())
	if s.w.Tick == s.stallAt {
		time.Sleep(s.stall) // inside the synctest bubble: advances the fake clock
	}
	if s.w.Tick == s.panicAt {
		panic("boom")
	}
	return append(events, game.Event{Kind: game.EventHit, Tick: s.w.Tick})
}

func (s *scriptSim) Result() (game.Result, bool) {
	if s.endAt != 0 && s.w.Tick >= s.endAt {
		return game.Result{Reason: "script"}, true
	}
	return game.Result{}, false
}

// seqIn carries a sequence number in an input so tests can see the order.
func seqIn(seq uint32) game.Input { return game.Input{DX: float32(seq)} }

// due is when tick n falls due after start at hz.
func due(start time.Time, n, hz int) time.Time {
	return start.Add(time.Duration(n) * time.Second / time.Duration(hz))
}

func newLoop(t *testing.T, sim game.Sim, cfg game.LoopConfig, onTick func([]game.Event)) *game.Loop {
	t.Helper()
	l, err := game.NewLoop(sim, cfg, onTick)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLoopCadence(t *testing.T) {
	tests := []struct {
		hz, ticks int
	}{
		{30, 90}, {20, 60}, {60, 120}, {7, 50},
		{30, 10000}, // no drift: 1/30 s is not a whole number of nanoseconds
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.hz)+"Hz/"+strconv.Itoa(tt.ticks), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sim := newScriptSim(tt.hz)
				sim.endAt = game.Tick(tt.ticks)
				var late []time.Duration
				l := newLoop(t, sim, game.LoopConfig{Observe: func(tt game.TickTiming) {
					late = append(late, tt.Lateness)
				}}, nil)
				start := time.Now()
				res, err := l.Run(t.Context())
				if err != nil || res.Reason != "script" {
					t.Fatalf("Run = %+v, %v", res, err)
				}
				if len(sim.steps) != tt.ticks {
					t.Fatalf("%d steps, want %d", len(sim.steps), tt.ticks)
				}
				for i, at := range sim.steps {
					if want := due(start, i+1, tt.hz); !at.Equal(want) {
						t.Fatalf("tick %d at %v, want %v (start + %d/%d s)", i+1, at.Sub(start), want.Sub(start), i+1, tt.hz)
					}
				}
				if end := time.Since(start); end != due(start, tt.ticks, tt.hz).Sub(start) {
					t.Errorf("Run returned after %v", end)
				}
				if slices.Max(late) != 0 {
					t.Errorf("max lateness %v, want 0", slices.Max(late))
				}
				st := l.Stats()
				if st.Ticks.Load() != uint64(tt.ticks) || st.DroppedTicks.Load() != 0 || st.MaxLateNanos.Load() != 0 {
					t.Errorf("stats: ticks %d dropped %d maxLate %d", st.Ticks.Load(), st.DroppedTicks.Load(), st.MaxLateNanos.Load())
				}
			})
		})
	}
}

func TestLoopCatchUp(t *testing.T) {
	// At 30 Hz tick 10 (due at 1/3 s) stalls for 1 s: it ends at 4/3 s,
	// when slot 40 is due. The loop runs up to MaxCatchUp ticks at once,
	// drops the rest of slots 11..40, and runs the next tick at slot 41.
	tests := []struct {
		name       string
		maxCatchUp int
		catchUp    int
	}{
		{"default", 0, 4},
		{"two", 2, 2},
		{"none", -1, 0},
		{"more than needed", 100, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const hz, stallAt, end = 30, 10, 60
				sim := newScriptSim(hz)
				sim.endAt, sim.stallAt, sim.stall = end, stallAt, time.Second
				var timings []game.TickTiming
				l := newLoop(t, sim, game.LoopConfig{MaxCatchUp: tt.maxCatchUp, Observe: func(tt game.TickTiming) {
					timings = append(timings, tt)
				}}, nil)
				start := time.Now()
				if _, err := l.Run(t.Context()); err != nil {
					t.Fatal(err)
				}
				stallEnd := due(start, stallAt, hz).Add(time.Second)
				if !stallEnd.Equal(due(start, 40, hz)) {
					t.Fatalf("test arithmetic: stall ends at %v", stallEnd.Sub(start))
				}
				dropped := 30 - tt.catchUp
				for i, at := range sim.steps {
					n := i + 1
					var want time.Time
					switch {
					case n <= stallAt:
						want = due(start, n, hz)
					case n <= stallAt+tt.catchUp:
						want = stallEnd // back to back
					default:
						want = due(start, n+dropped, hz) // re-anchored on the same grid
					}
					if !at.Equal(want) {
						t.Fatalf("tick %d at %v, want %v", n, at.Sub(start), want.Sub(start))
					}
				}
				st := l.Stats()
				if st.Ticks.Load() != end || st.DroppedTicks.Load() != uint64(dropped) {
					t.Errorf("ticks %d dropped %d, want %d %d", st.Ticks.Load(), st.DroppedTicks.Load(), end, dropped)
				}
				if got := time.Duration(st.MaxTickNanos.Load()); got != time.Second {
					t.Errorf("max tick duration %v, want 1s", got)
				}
				if dropped > 0 {
					if tm := timings[stallAt+tt.catchUp]; tm.Dropped != dropped || tm.Lateness != 0 {
						t.Errorf("first tick after the drop: %+v", tm)
					}
				}
				if tt.catchUp > 0 {
					if got, want := time.Duration(st.MaxLateNanos.Load()), stallEnd.Sub(due(start, stallAt+1, hz)); got != want {
						t.Errorf("max lateness %v, want %v", got, want)
					}
				}
			})
		})
	}
}

func TestLoopInputs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newScriptSim(30)
		sim.endAt = 2
		var l *game.Loop
		var lastSeq2 uint32
		l = newLoop(t, sim, game.LoopConfig{}, func([]game.Event) {
			switch sim.w.Tick {
			case 1:
				for _, seq := range []uint32{5, 4, 6} { // 5 again: a duplicate across ticks
					l.Push(2, seq, seqIn(seq))
				}
				l.Push(3, 10, seqIn(10))
				l.Push(3, 11, seqIn(11))
			case 2:
				lastSeq2 = l.LastSeq(2)
			}
		})
		for _, seq := range []uint32{3, 1, 2, 2, 5, 4} {
			l.Push(2, seq, seqIn(seq))
		}
		for _, seq := range []uint32{2, 1, 0} { // 0 is never applied
			l.Push(1, seq, seqIn(seq))
		}
		errc := make(chan error, 1)
		go func() { errc <- l.Exec(t.Context(), func() { l.SetLastSeq(3, 10) }) }()
		if _, err := l.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		// One input per player per tick, oldest first; player 2 had five
		// waiting at tick 1, over the buffer of 3, so it caught up by one.
		want := []applied{
			{1, 1, 1},
			{1, 2, 1}, {1, 2, 2},
			{2, 1, 2},
			{2, 2, 3},
			{2, 3, 11},
		}
		if !slices.Equal(sim.applied, want) {
			t.Errorf("applied %v\nwant    %v", sim.applied, want)
		}
		if lastSeq2 != 3 {
			t.Errorf("LastSeq(2) = %d, want 3", lastSeq2)
		}
		st := l.Stats()
		// stale: seq 0, the second 2, then 5, 4 (already waiting) and 10
		// (SetLastSeq) in tick 2.
		if st.InputsApplied.Load() != 6 || st.InputsStale.Load() != 5 || st.InputsOverflow.Load() != 0 || st.InputsCaughtUp.Load() != 1 {
			t.Errorf("applied %d stale %d overflow %d", st.InputsApplied.Load(), st.InputsStale.Load(), st.InputsOverflow.Load())
		}
		if l.Push(1, 100, seqIn(100)) {
			t.Errorf("Push after Run returned: true")
		}
	})
}

func TestLoopOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newScriptSim(30)
		sim.endAt = 2
		var l *game.Loop
		var afterTick []bool
		l = newLoop(t, sim, game.LoopConfig{InputQueue: 4}, func([]game.Event) {
			if sim.w.Tick == 1 { // one input applied: room for one more
				for seq := uint32(7); seq <= 11; seq++ {
					afterTick = append(afterTick, l.Push(1, seq, seqIn(seq)))
				}
			}
		})
		var got []bool
		for seq := uint32(1); seq <= 6; seq++ {
			got = append(got, l.Push(1, seq, seqIn(seq)))
		}
		for seq := uint32(1); seq <= 4; seq++ {
			got = append(got, l.Push(2, seq, seqIn(seq))) // another player's own queue
		}
		if want := []bool{true, true, true, true, false, false, true, true, true, true}; !slices.Equal(got, want) {
			t.Errorf("Push = %v, want %v", got, want)
		}
		if _, err := l.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if want := []bool{true, false, false, false, false}; !slices.Equal(afterTick, want) {
			t.Errorf("Push after a tick = %v, want %v", afterTick, want)
		}
		st := l.Stats()
		if st.InputsOverflow.Load() != 6 || st.InputsApplied.Load() != 4 {
			t.Errorf("overflow %d applied %d, want 6 4", st.InputsOverflow.Load(), st.InputsApplied.Load())
		}
	})
}

// TestLoopInputBuffer: each input is one tick; bunched inputs wait in the
// buffer and are applied one per tick, a buffer over InputBuffer catches up
// by applying more in one tick, an empty buffer applies nothing (counted
// as starved), and LastAccepted counts waiting and pushed inputs.
func TestLoopInputBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newScriptSim(30)
		sim.endAt = 8
		var l *game.Loop
		var accepted []uint32
		l = newLoop(t, sim, game.LoopConfig{InputBuffer: 2}, func([]game.Event) {
			switch sim.w.Tick {
			case 1: // a burst of three arrives together
				for seq := uint32(2); seq <= 4; seq++ {
					l.Push(1, seq, seqIn(seq))
				}
			case 4: // five at once: over the buffer of 2
				for seq := uint32(5); seq <= 9; seq++ {
					l.Push(1, seq, seqIn(seq))
				}
			}
			accepted = append(accepted, l.LastAccepted(1))
		})
		l.Push(1, 1, seqIn(1))
		if _, err := l.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		want := []applied{
			{1, 1, 1}, {2, 1, 2}, {3, 1, 3}, {4, 1, 4},
			{5, 1, 5}, {5, 1, 6}, {5, 1, 7}, // 5 waiting: apply 3, keep 2
			{6, 1, 8}, {7, 1, 9}, // then one a tick; tick 8 has none
		}
		if !slices.Equal(sim.applied, want) {
			t.Errorf("applied %v\nwant    %v", sim.applied, want)
		}
		// Each input's Waited: 1 when applied at the first tick after it
		// arrived; 2..4 arrived together after tick 1 and went out one a
		// tick; of 5..9, three went out at once.
		if want := []uint8{1, 1, 2, 3, 1, 1, 1, 2, 3}; !slices.Equal(sim.waited, want) {
			t.Errorf("waited %v, want %v", sim.waited, want)
		}
		if want := []uint32{4, 4, 4, 9, 9, 9, 9, 9}; !slices.Equal(accepted, want) {
			t.Errorf("LastAccepted after each tick %v, want %v", accepted, want)
		}
		st := l.Stats()
		if st.InputsCaughtUp.Load() != 2 || st.InputsStarved.Load() != 1 || st.InputsApplied.Load() != 9 {
			t.Errorf("caught up %d starved %d applied %d, want 2 1 9", st.InputsCaughtUp.Load(), st.InputsStarved.Load(), st.InputsApplied.Load())
		}
	})
}

func goid() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := bytes.Fields(buf)
	return string(f[1]) // "goroutine N [running]:"
}

func TestLoopExec(t *testing.T) {
	t.Run("on the loop goroutine, before the first tick", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sim := newScriptSim(30)
			sim.endAt = 3
			var tickG, execG []string
			var execTicks []game.Tick
			var l *game.Loop
			errc := make(chan error, 2)
			exec := func() {
				errc <- l.Exec(t.Context(), func() {
					execG = append(execG, goid())
					execTicks = append(execTicks, sim.w.Tick)
				})
			}
			l = newLoop(t, sim, game.LoopConfig{}, func([]game.Event) {
				tickG = append(tickG, goid())
				if sim.w.Tick == 1 {
					go exec() // served while the loop waits for tick 2
				}
			})
			go exec() // queued before Run starts
			runG := goid()
			if _, err := l.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(execTicks, []game.Tick{0, 1}) {
				t.Errorf("Exec ran after ticks %v, want [0 1]", execTicks)
			}
			for _, g := range append(tickG, execG...) {
				if g != runG {
					t.Errorf("ran on goroutine %s, Run is on %s", g, runG)
				}
			}
			if err := l.Exec(t.Context(), func() { t.Error("ran after Run returned") }); !errors.Is(err, game.ErrStopped) {
				t.Errorf("Exec after Run: %v, want ErrStopped", err)
			}
			if _, err := l.Run(t.Context()); !errors.Is(err, game.ErrStopped) {
				t.Errorf("second Run: %v, want ErrStopped", err)
			}
		})
	})
	t.Run("caller gives up", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sim := newScriptSim(30)
			sim.endAt = 1
			l := newLoop(t, sim, game.LoopConfig{}, nil)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			if err := l.Exec(ctx, func() { t.Error("ran after its caller gave up") }); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Exec = %v, want DeadlineExceeded", err)
			}
			if _, err := l.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("panic", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLoop(t, newScriptSim(30), game.LoopConfig{}, nil)
			errc := make(chan error, 1)
			go func() { errc <- l.Exec(t.Context(), func() { panic("exec boom") }) }()
			_, err := l.Run(t.Context())
			var pe *game.PanicError
			if !errors.As(err, &pe) || pe.Value != "exec boom" || !errors.Is(err, game.ErrPanic) {
				t.Errorf("Run = %v, want the PanicError", err)
			}
			if err := <-errc; !errors.As(err, &pe) {
				t.Errorf("Exec = %v, want the PanicError", err)
			}
		})
	})
}

func TestLoopEnds(t *testing.T) {
	tests := []struct {
		name    string
		endAt   game.Tick
		panicAt game.Tick
		onTick  func(tick game.Tick, cancel func())
		observe func(game.TickTiming)
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		ticks   uint64
		reason  string
		err     error
	}{
		{name: "match over", endAt: 7, ticks: 7, reason: "script"},
		{name: "cancel", ticks: 5, err: context.Canceled, onTick: func(tick game.Tick, cancel func()) {
			if tick == 5 {
				cancel()
			}
		}},
		{name: "deadline", ticks: 30, err: context.DeadlineExceeded, ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Second+time.Millisecond)
		}},
		{name: "sim panics", panicAt: 3, ticks: 2, err: game.ErrPanic},
		{name: "onTick panics", ticks: 3, err: game.ErrPanic, onTick: func(tick game.Tick, _ func()) {
			if tick == 4 {
				panic("onTick boom")
			}
		}},
		{name: "observe panics", ticks: 1, err: game.ErrPanic, observe: func(game.TickTiming) { panic("observe boom") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sim := newScriptSim(30)
				sim.endAt, sim.panicAt = tt.endAt, tt.panicAt
				ctx, cancel := context.WithCancel(t.Context())
				if tt.ctx != nil {
					ctx, cancel = tt.ctx(t.Context())
				}
				defer cancel()
				var onTick func([]game.Event)
				if tt.onTick != nil {
					onTick = func(evs []game.Event) { tt.onTick(evs[0].Tick, cancel) }
				}
				l := newLoop(t, sim, game.LoopConfig{Observe: tt.observe}, onTick)
				res, err := l.Run(ctx)
				if !errors.Is(err, tt.err) || res.Reason != tt.reason {
					t.Errorf("Run = %+v, %v; want %q, %v", res, err, tt.reason, tt.err)
				}
				if got := l.Stats().Ticks.Load(); got != tt.ticks {
					t.Errorf("%d ticks, want %d", got, tt.ticks)
				}
				if err := l.Exec(t.Context(), func() {}); !errors.Is(err, game.ErrStopped) {
					t.Errorf("Exec after Run: %v", err)
				}
			})
		})
	}
}

func TestNewLoopConfig(t *testing.T) {
	tests := []struct {
		name string
		sim  game.Sim
		cfg  game.LoopConfig
		ok   bool
	}{
		{"defaults", newScriptSim(30), game.LoopConfig{}, true},
		{"matching hz", newScriptSim(20), game.LoopConfig{Hz: 20}, true},
		{"nil sim", nil, game.LoopConfig{}, false},
		{"hz differs from the world", newScriptSim(20), game.LoopConfig{Hz: 30}, false},
		{"negative hz", newScriptSim(30), game.LoopConfig{Hz: -1}, false},
		{"negative queue", newScriptSim(30), game.LoopConfig{InputQueue: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := game.NewLoop(tt.sim, tt.cfg, nil)
			if ok := err == nil; ok != tt.ok || (err != nil && !errors.Is(err, game.ErrBadConfig)) {
				t.Errorf("NewLoop = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
