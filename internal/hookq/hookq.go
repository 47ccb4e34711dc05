// Package hookq is a bounded event queue drained by one goroutine: the seam
// that keeps slow work (a store write, a network round trip) off the
// goroutines that produce events, such as a match's tick loop.
//
// A producer never blocks: [Queue.TryPush] refuses an event while the queue
// holds Config.Limit of them ([ErrFull]), so the caller decides what to do
// with it (internal/app coalesces seat releases per match); [Queue.Push]
// always takes it, for events the caller bounds itself (one result per
// match) and must never lose. One goroutine hands the events to
// Config.Handle in push order, one at a time. [Queue.Flush] waits until
// everything pushed so far was handled; [Queue.Close] drains the queue and
// stops its goroutine, and when its context ends first it cancels the
// handler's context and hands what is left to Config.Lost.
package hookq

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

var (
	// ErrFull is TryPush's answer while Limit events are waiting.
	ErrFull = errors.New("hookq: queue full")
	// ErrClosed is the answer of TryPush and Push after Close.
	ErrClosed = errors.New("hookq: queue closed")
)

// Config configures a Queue. Handle is required; the zero value of every
// other field means its default.
type Config[E any] struct {
	// Handle processes one event on the queue's goroutine. ctx is
	// cancelled when Close gives up (its own context ended): a handler
	// that waits for a store should wait on ctx too. A panic in Handle is
	// recovered, logged and counted; the queue carries on.
	Handle func(ctx context.Context, e E)
	// Lost receives each event that will never be handled: pushed after
	// Close, or still waiting when Close gave up. It may run on any
	// goroutine and must not block. If nil, such events are only counted.
	Lost func(e E)
	// Limit is how many waiting events make TryPush refuse (Push ignores
	// it). If zero, 1024 is used.
	Limit int
	// Logger receives recovered panics. If nil, they are not logged.
	Logger *zap.Logger
}

// Stats are a Queue's counters, read with Queue.Stats.
type Stats struct {
	Pending uint64 // events waiting or being handled now
	Pushed  uint64 // events accepted by Push or TryPush
	Handled uint64 // events Handle returned from (panics included)
	Full    uint64 // TryPush calls refused with ErrFull
	Lost    uint64 // events given to Lost: pushed after Close, or left when Close gave up
	Panics  uint64 // panics recovered in Handle
}

// Queue is a bounded event queue drained by one goroutine. Its methods are
// safe for concurrent use.
type Queue[E any] struct {
	// immutable after New
	cfg    Config[E]
	ctx    context.Context // Handle's context; cancelled when Close gives up
	cancel context.CancelFunc
	exited chan struct{} // closed when the draining goroutine returns

	wake chan struct{} // 1-buffered: events arrived, or Close was called

	mu       sync.Mutex
	items    []E           // guarded by mu: waiting events, oldest first
	head     int           // guarded by mu: items[head:] are waiting
	pushed   uint64        // guarded by mu: events accepted so far
	done     uint64        // guarded by mu: events handled or lost so far
	progress chan struct{} // guarded by mu: closed when done advances; nil when no one waits
	closed   bool          // guarded by mu: Close was called
	giveUp   bool          // guarded by mu: Close's context ended: stop after the current event

	// counters, read by Stats
	handled, full, lost, panics atomic.Uint64
}

// New starts a Queue's goroutine. Close stops it.
func New[E any](cfg Config[E]) (*Queue[E], error) {
	if cfg.Handle == nil {
		return nil, errors.New("hookq: Config.Handle is nil")
	}
	if cfg.Limit < 0 {
		return nil, errors.New("hookq: Config.Limit is negative")
	}
	if cfg.Limit == 0 {
		cfg.Limit = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	q := &Queue[E]{cfg: cfg, exited: make(chan struct{}), wake: make(chan struct{}, 1)}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	go q.run()
	return q, nil
}

// TryPush queues e unless Limit events are waiting (ErrFull) or the queue
// is closed (ErrClosed; e goes to Lost). It never blocks.
func (q *Queue[E]) TryPush(e E) error { return q.push(e, true) }

// Push queues e whatever the queue holds; it fails only after Close
// (ErrClosed; e goes to Lost). It never blocks. The caller bounds what it
// pushes this way.
func (q *Queue[E]) Push(e E) error { return q.push(e, false) }

func (q *Queue[E]) push(e E, bounded bool) error {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		q.loseOne(e)
		return ErrClosed
	case bounded && len(q.items)-q.head >= q.cfg.Limit:
		q.mu.Unlock()
		q.full.Add(1)
		return ErrFull
	}
	q.items = append(q.items, e)
	q.pushed++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Len returns the number of events waiting (the one being handled aside).
func (q *Queue[E]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// Stats returns the queue's counters.
func (q *Queue[E]) Stats() Stats {
	q.mu.Lock()
	s := Stats{Pending: q.pushed - q.done, Pushed: q.pushed}
	q.mu.Unlock()
	s.Handled, s.Full, s.Lost, s.Panics = q.handled.Load(), q.full.Load(), q.lost.Load(), q.panics.Load()
	return s
}

// Flush waits until every event pushed before the call was handled, or ctx
// is done (then it returns ctx.Err()). It does not stop the queue.
func (q *Queue[E]) Flush(ctx context.Context) error {
	q.mu.Lock()
	target := q.pushed
	for q.done < target {
		if q.giveUp {
			q.mu.Unlock()
			return ErrClosed
		}
		if q.progress == nil {
			q.progress = make(chan struct{})
		}
		ch := q.progress
		q.mu.Unlock()
		select {
		case <-ch:
		case <-q.exited:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
	return nil
}

// Close stops taking events, waits until every waiting event was handled
// and the goroutine returned, and returns nil. If ctx ends first, it
// cancels the handler's context, hands the events still waiting to Lost
// and returns ctx.Err() at once; a handler that ignores its context keeps
// the goroutine until it returns. Close is idempotent.
func (q *Queue[E]) Close(ctx context.Context) error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	select {
	case <-q.exited:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-q.exited: // drained just as ctx ended
		return nil
	default:
	}
	q.mu.Lock()
	q.giveUp = true
	left := q.items[q.head:]
	q.items, q.head = nil, 0
	q.done += uint64(len(left)) // never handled: Flush must not wait for them
	q.wakeWaitersLocked()
	q.mu.Unlock()
	q.cancel()
	for _, e := range left {
		q.loseOne(e)
	}
	return ctx.Err()
}

func (q *Queue[E]) loseOne(e E) {
	q.lost.Add(1)
	if q.cfg.Lost != nil {
		q.cfg.Lost(e)
	}
}

func (q *Queue[E]) wakeWaitersLocked() {
	if q.progress != nil {
		close(q.progress)
		q.progress = nil
	}
}

// run is the draining goroutine, owned by the Queue; Close waits for it.
func (q *Queue[E]) run() {
	defer close(q.exited)
	defer q.cancel()
	for {
		q.mu.Lock()
		for q.head == len(q.items) && !q.closed && !q.giveUp {
			q.mu.Unlock()
			<-q.wake
			q.mu.Lock()
		}
		if q.giveUp || q.head == len(q.items) { // closed and drained, or given up
			q.mu.Unlock()
			return
		}
		e := q.items[q.head]
		var zero E
		q.items[q.head] = zero // the handled event is not kept alive
		q.head++
		if q.head == len(q.items) {
			q.items, q.head = q.items[:0], 0 // reuse the array once drained
		} else if q.head >= 1024 && q.head*2 >= len(q.items) {
			// A queue that never drains fully: drop the handled prefix.
			q.items, q.head = append(q.items[:0:0], q.items[q.head:]...), 0
		}
		q.mu.Unlock()

		q.handle(e)
		q.handled.Add(1)

		q.mu.Lock()
		q.done++
		q.wakeWaitersLocked()
		q.mu.Unlock()
	}
}

// handle calls Handle, recovering a panic.
func (q *Queue[E]) handle(e E) {
	defer func() {
		if v := recover(); v != nil {
			q.panics.Add(1)
			q.cfg.Logger.Error("hook queue: handler panicked", zap.Any("panic", v), zap.Stack("stack"))
		}
	}()
	q.cfg.Handle(q.ctx, e)
}
