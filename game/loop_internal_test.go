package game

import (
	"testing"
	"time"
)

// TestLoopTickAllocs checks that a steady-state tick (push, drain, sort,
// apply, Step, onTick, stats) allocates nothing.
func TestLoopTickAllocs(t *testing.T) {
	s := newFullBench(t)
	var seen int
	l, err := NewLoop(s, LoopConfig{Observe: func(TickTiming) {}}, func(evs []Event) { seen += len(evs) })
	if err != nil {
		t.Fatal(err)
	}
	seq := uint32(0)
	tick := func() {
		seq++
		for p := PlayerID(8); p >= 1; p-- {
			l.Push(p, seq, Input{DX: 1})
			l.Push(p, seq, Input{DX: 1}) // a duplicate
		}
		l.tick(time.Now(), 0)
	}
	for range 10 { // warm the buffers and maps
		tick()
	}
	if n := testing.AllocsPerRun(1000, tick); n != 0 {
		t.Errorf("a loop tick allocates %v times, want 0", n)
	}
	if got := l.Stats().InputsStale.Load(); got != uint64(8*seq) {
		t.Errorf("stale %d, want %d", got, 8*seq)
	}
}
