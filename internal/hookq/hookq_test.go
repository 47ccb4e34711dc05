package hookq_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/internal/hookq"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gate holds a handler until opened, and tells the test when one waits.
type gate struct {
	entered chan int
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{entered: make(chan int, 64), open: make(chan struct{})} }

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// recorder is a handler that records events in order, held by a gate.
type recorder struct {
	gate *gate
	mu   sync.Mutex
	got  []int
}

func (r *recorder) handle(ctx context.Context, e int) {
	if r.gate != nil {
		r.gate.entered <- e
		select {
		case <-r.gate.open:
		case <-ctx.Done():
			return
		}
	}
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
}

func (r *recorder) events() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func newQueue(t *testing.T, cfg hookq.Config[int]) *hookq.Queue[int] {
	t.Helper()
	q, err := hookq.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Close(ctx)
	})
	return q
}

func wait(t *testing.T, ch <-chan int) int {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatal("timed out waiting for the handler")
		return 0
	}
}

func TestConfig(t *testing.T) {
	if _, err := hookq.New(hookq.Config[int]{}); err == nil {
		t.Error("no handler accepted")
	}
	if _, err := hookq.New(hookq.Config[int]{Handle: func(context.Context, int) {}, Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

// TestOrderAndFlush: events are handled one at a time in push order, Push
// and TryPush alike; Flush returns once all of them were.
func TestOrderAndFlush(t *testing.T) {
	r := &recorder{}
	q := newQueue(t, hookq.Config[int]{Handle: r.handle})
	var want []int
	for i := range 500 {
		var err error
		if i%3 == 0 {
			err = q.Push(i)
		} else {
			err = q.TryPush(i)
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, i)
	}
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.events(); !slices.Equal(got, want) {
		t.Fatalf("handled %v", got)
	}
	if s := q.Stats(); s.Pushed != 500 || s.Handled != 500 || s.Pending != 0 || s.Full != 0 || s.Lost != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestFullAndPush: while the handler is stuck, TryPush refuses past Limit
// and counts it, Push still takes events, and nothing pushed is lost once
// the handler recovers.
func TestFullAndPush(t *testing.T) {
	g := newGate()
	r := &recorder{gate: g}
	q := newQueue(t, hookq.Config[int]{Handle: r.handle, Limit: 2})
	if err := q.TryPush(0); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, g.entered); got != 0 { // the handler holds event 0
		t.Fatalf("entered with %d", got)
	}
	for _, e := range []int{1, 2} {
		if err := q.TryPush(e); err != nil {
			t.Fatalf("TryPush(%d): %v", e, err)
		}
	}
	if err := q.TryPush(3); !errors.Is(err, hookq.ErrFull) {
		t.Fatalf("TryPush over the limit: %v", err)
	}
	if err := q.Push(4); err != nil { // Push is not bounded by Limit
		t.Fatal(err)
	}
	if n := q.Len(); n != 3 {
		t.Fatalf("len %d", n)
	}
	// Flush cannot finish while the handler is stuck.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := q.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("flush while stuck: %v", err)
	}
	if s := q.Stats(); s.Full != 1 || s.Pending != 4 || s.Pushed != 4 {
		t.Fatalf("stats while stuck %+v", s)
	}
	g.release()
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.events(); !slices.Equal(got, []int{0, 1, 2, 4}) {
		t.Fatalf("handled %v", got)
	}
	if err := q.TryPush(5); err != nil { // room again
		t.Fatal(err)
	}
}

// TestCloseDrains: Close handles everything already queued before it
// returns; pushes after it fail with ErrClosed and go to Lost.
func TestCloseDrains(t *testing.T) {
	g := newGate()
	r := &recorder{gate: g}
	var mu sync.Mutex
	var lost []int
	q := newQueue(t, hookq.Config[int]{Handle: r.handle, Lost: func(e int) {
		mu.Lock()
		lost = append(lost, e)
		mu.Unlock()
	}})
	for i := range 3 {
		if err := q.Push(i); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, g.entered)
	done := make(chan error, 1)
	go func() { done <- q.Close(context.Background()) }()
	g.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Close returned after every queued event was handled.
	if got := r.events(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("handled %v", got)
	}
	if err := q.Push(99); !errors.Is(err, hookq.ErrClosed) {
		t.Fatalf("push after close: %v", err)
	}
	if err := q.TryPush(98); !errors.Is(err, hookq.ErrClosed) {
		t.Fatalf("try push after close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(lost, []int{99, 98}) {
		t.Fatalf("lost %v", lost)
	}
	if err := q.Close(t.Context()); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestCloseGivesUp: when Close's context ends with the handler stuck, the
// handler's context is cancelled, the events still waiting go to Lost, and
// Close returns the context's error.
func TestCloseGivesUp(t *testing.T) {
	g := newGate()
	r := &recorder{gate: g}
	lost := make(chan int, 8)
	q := newQueue(t, hookq.Config[int]{Handle: r.handle, Lost: func(e int) { lost <- e }})
	for i := range 3 {
		if err := q.Push(i); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, g.entered)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("close: %v", err)
	}
	if a, b := wait(t, lost), wait(t, lost); a != 1 || b != 2 {
		t.Fatalf("lost %d, %d", a, b)
	}
	// The stuck handler saw its context cancelled and returned: Close now
	// finds the goroutine gone.
	if err := q.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.events(); len(got) != 0 {
		t.Fatalf("handled %v", got)
	}
	if s := q.Stats(); s.Lost != 2 || s.Pending != 0 || s.Handled != 1 {
		t.Fatalf("stats %+v", s)
	}
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestPanic: a handler panic is recovered and counted; the next event is
// handled.
func TestPanic(t *testing.T) {
	r := &recorder{}
	q := newQueue(t, hookq.Config[int]{Handle: func(ctx context.Context, e int) {
		if e == 1 {
			panic("boom")
		}
		r.handle(ctx, e)
	}})
	for i := range 3 {
		if err := q.Push(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.events(); !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("handled %v", got)
	}
	if s := q.Stats(); s.Panics != 1 || s.Handled != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// TestLongBacklog: a queue that is never empty for long keeps its order
// across the compaction of its handled prefix.
func TestLongBacklog(t *testing.T) {
	g := newGate()
	r := &recorder{gate: g}
	q := newQueue(t, hookq.Config[int]{Handle: r.handle})
	var want []int
	for i := range 5000 {
		if err := q.Push(i); err != nil {
			t.Fatal(err)
		}
		want = append(want, i)
	}
	g.release()
	go func() {
		for range g.entered { // drain the notifications
		}
	}()
	for i := 5000; i < 6000; i++ {
		if err := q.Push(i); err != nil {
			t.Fatal(err)
		}
		want = append(want, i)
	}
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	close(g.entered)
	if got := r.events(); !slices.Equal(got, want) {
		t.Fatalf("order lost: %d events", len(got))
	}
}

// TestPushAllocs: a push costs the producer (a match goroutine) no
// allocation once the queue's array has grown.
func TestPushAllocs(t *testing.T) {
	q := newQueue(t, hookq.Config[int]{Handle: func(context.Context, int) {}})
	allocs := testing.AllocsPerRun(1000, func() {
		if err := q.TryPush(1); err != nil && !errors.Is(err, hookq.ErrFull) {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%v allocations per push", allocs)
	}
}

// BenchmarkTryPush measures what a hook costs the match goroutine: one
// TryPush, with the queue's goroutine draining meanwhile.
func BenchmarkTryPush(b *testing.B) {
	q, err := hookq.New(hookq.Config[int]{Handle: func(context.Context, int) {}})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		_ = q.TryPush(1)
	}
}
