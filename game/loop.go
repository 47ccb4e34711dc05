package game

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrPanic is wrapped by the error Run and Exec return when the sim, a
// callback or an Exec function panicked. The match is over; the process
// lives on.
var ErrPanic = errors.New("game: match panicked")

// PanicError carries a panic recovered on a Loop's goroutine. It unwraps to
// ErrPanic.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack where it panicked
}

// Error reports the panic value; the stack is left to the caller's logger.
func (e *PanicError) Error() string { return fmt.Sprintf("%v: %v", ErrPanic, e.Value) }

// Unwrap returns ErrPanic.
func (e *PanicError) Unwrap() error { return ErrPanic }

const (
	defaultMaxCatchUp  = 4
	defaultInputQueue  = 16
	defaultInputBuffer = 3
	execQueue          = 64
)

// LoopConfig configures a Loop. The zero value of each field means its
// default.
type LoopConfig struct {
	// Hz is the tick rate. If zero, the sim's World().Hz is used (30 for
	// the shipped modes); if set, it must equal the world's Hz, since the
	// rules scale movement by the world's dt.
	Hz int
	// MaxCatchUp is the most extra steps run back to back after a stall
	// before the remaining overdue ticks are dropped. If zero, 4 is used; a
	// negative value means none (every overdue tick is dropped).
	MaxCatchUp int
	// InputQueue is the most inputs one player may have waiting (pushed
	// but not yet applied); Push refuses more. If zero, 16 is used.
	InputQueue int
	// InputBuffer is the most inputs one player may keep waiting after a
	// tick. Each tick applies a player's oldest waiting input, then, while
	// more than InputBuffer are still waiting, the next ones too (each one
	// more tick of movement), so a client whose inputs bunch up over the
	// network is absorbed without losing any, and one whose clock runs
	// fast gains no more than InputBuffer ticks of delay. If zero, 3 is
	// used; it must not exceed InputQueue.
	InputBuffer int
	// Observe, if not nil, is called on the loop goroutine after each tick
	// with its timing. It must not block.
	Observe func(TickTiming)
	// BeforeTick, if not nil, is called on the loop goroutine at the start
	// of each tick, before the pending inputs are drained: a server that
	// reads its sockets once per tick pushes what it read from here, so
	// those inputs land in this tick. It must not block.
	BeforeTick func()
}

// TickTiming is how one tick went.
type TickTiming struct {
	Tick     Tick          // the tick the loop ran (1 for the first)
	Duration time.Duration // inputs + Step + onTick
	Lateness time.Duration // how long after its due time the tick started
	Dropped  int           // overdue ticks dropped just before this one
}

// LoopStats are a Loop's counters, safe to read from any goroutine while the
// loop runs.
type LoopStats struct {
	Ticks          atomic.Uint64 // ticks run
	DroppedTicks   atomic.Uint64 // overdue ticks skipped after stalls
	InputsApplied  atomic.Uint64 // inputs passed to Sim.Apply
	InputsStale    atomic.Uint64 // inputs dropped: seq not above the last accepted
	InputsOverflow atomic.Uint64 // inputs refused by Push: queue full
	InputsCaughtUp atomic.Uint64 // inputs applied as a second or later one in a tick
	InputsStarved  atomic.Uint64 // ticks a player with inputs before had none waiting

	LastTickNanos atomic.Int64 // Duration of the last tick
	MaxTickNanos  atomic.Int64 // longest Duration so far
	LastLateNanos atomic.Int64 // Lateness of the last tick
	MaxLateNanos  atomic.Int64 // greatest Lateness so far
}

// pendingInput is an input pushed but not yet applied.
type pendingInput struct {
	player PlayerID
	seq    uint32
	in     Input
	at     Tick // the tick whose start moved it into its player's buffer
}

// execReq is a function queued by Exec.
type execReq struct {
	fn    func()
	state atomic.Int32 // execPending, then execRunning (loop) or execCanceled (Exec)
	reply chan error   // buffered 1; nil, or a *PanicError, after fn ran
}

const (
	execPending int32 = iota
	execRunning
	execCanceled
)

// Loop is the fixed-tick loop that owns one match. Run drives it on the
// caller's goroutine; every other goroutine talks to the match through
// Push (inputs) and Exec (anything else, such as Join and Leave).
//
// Tick n is due at start + n/Hz, computed from the start each time so the
// cadence never drifts. Each tick drains the pending inputs, applies them
// in (player, seq) order, steps the sim, hands the events to onTick and
// checks whether the match is over. After a stall the loop runs at most
// MaxCatchUp extra ticks back to back, then drops the rest of the overdue
// ticks so the next one is in the future.
type Loop struct {
	// immutable after NewLoop
	sim        Sim
	onTick     func([]Event)
	observe    func(TickTiming)
	beforeTick func()
	hz         int
	maxCatchUp int
	queueCap   int
	bufferCap  int
	exec       chan *execReq
	done       chan struct{} // closed when Run returns

	started atomic.Bool // set by the first Run
	stats   LoopStats   // atomics; written by the loop goroutine and Push

	mu      sync.Mutex
	inbox   []pendingInput   // guarded by mu
	pending map[PlayerID]int // guarded by mu; inputs waiting (inbox and buffers) by player
	stopped bool             // guarded by mu; Run has returned

	// owned by the loop goroutine
	start   time.Time
	batch   []pendingInput // the drained inbox; swapped with inbox each tick
	buffers map[PlayerID]*inputBuffer
	players []PlayerID // scratch: players with a buffer, sorted, every tick
	gone    []PlayerID // scratch: one entry per input applied or dropped this tick
	lastSeq map[PlayerID]uint32
	events  []Event // reused every tick
	ticks   Tick
}

// inputBuffer is one player's accepted inputs, oldest first, with seqs
// ascending; the loop applies them one per tick.
type inputBuffer struct {
	waiting  []pendingInput
	accepted uint32 // the highest seq accepted (applied or waiting)
	fed      bool   // the player has sent an input since joining
}

// NewLoop returns a loop for sim. onTick, if not nil, is called on the loop
// goroutine after each Step with that tick's events; the slice is reused,
// so onTick must copy whatever it keeps.
func NewLoop(sim Sim, cfg LoopConfig, onTick func(events []Event)) (*Loop, error) {
	if sim == nil {
		return nil, fmt.Errorf("%w: loop: nil sim", ErrBadConfig)
	}
	worldHz := 0
	if w := sim.World(); w != nil {
		worldHz = w.Hz
	}
	hz := cfg.Hz
	switch {
	case hz == 0 && worldHz > 0:
		hz = worldHz
	case hz == 0:
		hz = defaultHz
	case hz < 0 || hz > maxHz:
		return nil, fmt.Errorf("%w: loop: Hz %d not in [1, %d]", ErrBadConfig, hz, maxHz)
	case worldHz > 0 && hz != worldHz:
		return nil, fmt.Errorf("%w: loop: Hz %d but the world ticks at %d", ErrBadConfig, hz, worldHz)
	}
	maxCatchUp := cfg.MaxCatchUp
	switch {
	case maxCatchUp == 0:
		maxCatchUp = defaultMaxCatchUp
	case maxCatchUp < 0:
		maxCatchUp = 0
	}
	queueCap := cfg.InputQueue
	switch {
	case queueCap == 0:
		queueCap = defaultInputQueue
	case queueCap < 0:
		return nil, fmt.Errorf("%w: loop: InputQueue %d", ErrBadConfig, queueCap)
	}
	bufferCap := cfg.InputBuffer
	switch {
	case bufferCap == 0:
		bufferCap = min(defaultInputBuffer, queueCap)
	case bufferCap < 0 || bufferCap > queueCap:
		return nil, fmt.Errorf("%w: loop: InputBuffer %d not in [1, InputQueue %d]", ErrBadConfig, bufferCap, queueCap)
	}
	return &Loop{
		sim:        sim,
		onTick:     onTick,
		observe:    cfg.Observe,
		beforeTick: cfg.BeforeTick,
		hz:         hz,
		maxCatchUp: maxCatchUp,
		queueCap:   queueCap,
		bufferCap:  bufferCap,
		exec:       make(chan *execReq, execQueue),
		done:       make(chan struct{}),
		pending:    make(map[PlayerID]int),
		buffers:    make(map[PlayerID]*inputBuffer),
		lastSeq:    make(map[PlayerID]uint32),
	}, nil
}

// Stats returns the loop's counters.
func (l *Loop) Stats() *LoopStats { return &l.stats }

// Sim returns the sim the loop drives. Touch it only on the loop goroutine
// (inside Exec, onTick or Observe) while the loop runs.
func (l *Loop) Sim() Sim { return l.sim }

// LastSeq returns the sequence number of p's last applied input, or 0. Call
// it only on the loop goroutine.
func (l *Loop) LastSeq(p PlayerID) uint32 { return l.lastSeq[p] }

// LastAccepted returns the highest sequence number among p's inputs that
// were applied or are waiting to be (pushed inputs included), or 0: a
// client resuming after a drop numbers its next input one above it. Call
// it only on the loop goroutine.
func (l *Loop) LastAccepted(p PlayerID) uint32 {
	seq := l.lastSeq[p]
	if b := l.buffers[p]; b != nil {
		seq = max(seq, b.accepted)
	}
	l.mu.Lock()
	for _, pi := range l.inbox {
		if pi.player == p {
			seq = max(seq, pi.seq)
		}
	}
	l.mu.Unlock()
	return seq
}

// SetLastSeq records seq as p's last applied input, so inputs numbered seq
// or below are dropped as stale; use it when a player joins or resumes.
// Call it only on the loop goroutine.
func (l *Loop) SetLastSeq(p PlayerID, seq uint32) {
	l.lastSeq[p] = seq
	if b := l.buffers[p]; b != nil {
		b.accepted = max(b.accepted, seq)
	}
}

// ForgetPlayer drops what the loop remembers about p, inputs still waiting
// included. Call it only on the loop goroutine, after the player left.
func (l *Loop) ForgetPlayer(p PlayerID) {
	delete(l.lastSeq, p)
	if b := l.buffers[p]; b != nil {
		delete(l.buffers, p)
		l.mu.Lock()
		l.pending[p] -= len(b.waiting)
		if l.pending[p] <= 0 {
			delete(l.pending, p)
		}
		l.mu.Unlock()
	}
}

// Push queues p's input numbered seq: one tick of input, applied at the
// first tick that finds it the oldest of p's waiting inputs (see
// LoopConfig.InputBuffer). Sequence numbers start at 1 and increase per
// input; an input whose seq is not above the last accepted one is dropped
// at the tick (InputsStale). Push is safe from any goroutine and never
// blocks. It returns false, counting InputsOverflow, when p already has
// InputQueue inputs waiting, and false without counting once Run has
// returned.
func (l *Loop) Push(p PlayerID, seq uint32, in Input) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	if l.pending[p] >= l.queueCap {
		l.mu.Unlock()
		l.stats.InputsOverflow.Add(1)
		return false
	}
	l.pending[p]++
	l.inbox = append(l.inbox, pendingInput{player: p, seq: seq, in: in})
	l.mu.Unlock()
	return true
}

// Exec runs fn on the loop goroutine between ticks and waits for it. It may
// be called before Run starts: fn then runs once Run does, before the first
// tick. Exec returns nil after fn ran; a *PanicError if fn panicked (which
// also ends the match); ErrStopped if Run has returned or returns before fn
// ran; or ctx.Err() if ctx is done first, in which case fn will not run.
// Exec must not be called from the loop goroutine.
func (l *Loop) Exec(ctx context.Context, fn func()) error {
	select {
	case <-l.done:
		return ErrStopped
	default:
	}
	req := &execReq{fn: fn, reply: make(chan error, 1)}
	select {
	case l.exec <- req:
	case <-l.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-l.done:
		select {
		case err := <-req.reply: // ran just before Run returned
			return err
		default:
			return ErrStopped
		}
	case <-ctx.Done():
		if req.state.CompareAndSwap(execPending, execCanceled) {
			return ctx.Err()
		}
		return <-req.reply // already running: wait for it
	}
}

// Run runs the match on the calling goroutine until the sim reports it
// over (returning its Result and nil), ctx is done (returning ctx.Err()), or
// something on the loop goroutine panics (returning a *PanicError). A Loop
// runs once; calling Run again returns ErrStopped.
func (l *Loop) Run(ctx context.Context) (res Result, err error) {
	if !l.started.CompareAndSwap(false, true) {
		return Result{}, ErrStopped
	}
	defer func() {
		if v := recover(); v != nil {
			res, err = Result{}, &PanicError{Value: v, Stack: debug.Stack()}
		}
		l.mu.Lock()
		l.stopped = true
		l.inbox = nil
		clear(l.pending)
		l.mu.Unlock()
		close(l.done)
	}()
	return l.run(ctx)
}

// due returns when slot k is due: start + k/hz, computed whole from start
// (never by adding periods) and split so it cannot overflow.
func (l *Loop) due(k uint64) time.Time {
	hz := uint64(l.hz)
	d := time.Duration(k/hz)*time.Second + time.Duration(k%hz)*time.Second/time.Duration(hz)
	return l.start.Add(d)
}

// slotAt returns the last slot due at or before now.
func (l *Loop) slotAt(now time.Time) uint64 {
	el := now.Sub(l.start)
	if el < 0 {
		return 0
	}
	hz := time.Duration(l.hz)
	k := uint64(el/time.Second)*uint64(l.hz) + uint64(el%time.Second*hz/time.Second)
	for !l.due(k + 1).After(now) {
		k++
	}
	for k > 0 && l.due(k).After(now) {
		k--
	}
	return k
}

func (l *Loop) run(ctx context.Context) (Result, error) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	l.start = time.Now()
	var k uint64 // the last slot run or dropped
	dropped := 0 // slots dropped since the last tick ran
	for {
		if err := l.wait(ctx, timer, l.due(k+1)); err != nil {
			return Result{}, err
		}
		for extra := 0; ; extra++ {
			k++
			if res, over := l.tick(l.due(k), dropped); over {
				return res, nil
			}
			dropped = 0
			if extra >= l.maxCatchUp || l.due(k+1).After(time.Now()) {
				break
			}
		}
		// Drop whatever is still overdue so the next tick is in the future.
		if now := time.Now(); !l.due(k + 1).After(now) {
			n := l.slotAt(now) - k
			k += n
			dropped = int(n)
			l.stats.DroppedTicks.Add(n)
		}
	}
}

// wait serves Exec requests until due, or until ctx is done. When due has
// already passed it still serves one pending request, so a loop that runs
// late keeps answering.
func (l *Loop) wait(ctx context.Context, timer *time.Timer, due time.Time) error {
	for {
		d := time.Until(due)
		if d <= 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case req := <-l.exec:
				return l.serve(req)
			default:
				return nil
			}
		}
		timer.Reset(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case req := <-l.exec:
			timer.Stop()
			if err := l.serve(req); err != nil {
				return err
			}
		}
	}
}

// serve runs one Exec request unless its caller gave up on it. A panic in
// fn is reported to the caller and ends the match.
func (l *Loop) serve(req *execReq) (err error) {
	if !req.state.CompareAndSwap(execPending, execRunning) {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
			req.reply <- err
		}
	}()
	req.fn()
	req.reply <- nil
	return nil
}

// tick runs one tick due at due and reports whether the match is over.
func (l *Loop) tick(due time.Time, dropped int) (Result, bool) {
	begin := time.Now()
	if l.beforeTick != nil {
		l.beforeTick()
	}
	l.applyInputs()
	l.events = l.sim.Step(l.events[:0])
	if l.onTick != nil {
		l.onTick(l.events)
	}
	res, over := l.sim.Result()
	l.ticks++

	took, late := time.Since(begin), begin.Sub(due)
	st := &l.stats
	st.Ticks.Add(1)
	st.LastTickNanos.Store(int64(took))
	if int64(took) > st.MaxTickNanos.Load() {
		st.MaxTickNanos.Store(int64(took)) // only this goroutine stores
	}
	st.LastLateNanos.Store(int64(late))
	if int64(late) > st.MaxLateNanos.Load() {
		st.MaxLateNanos.Store(int64(late))
	}
	if l.observe != nil {
		l.observe(TickTiming{Tick: l.ticks, Duration: took, Lateness: late, Dropped: dropped})
	}
	return res, over
}

// applyInputs moves the inbox into the players' buffers (dropping inputs
// not newer than the last accepted), then applies each player's oldest
// waiting input, and more while over InputBuffer are waiting, in player
// order. The inbox and batch buffers swap, so steady state allocates
// nothing.
func (l *Loop) applyInputs() {
	l.mu.Lock()
	l.inbox, l.batch = l.batch[:0], l.inbox
	l.mu.Unlock()

	var stale uint64
	if len(l.batch) > 0 {
		slices.SortStableFunc(l.batch, func(a, b pendingInput) int {
			if c := cmp.Compare(a.player, b.player); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		for _, pi := range l.batch {
			b := l.buffers[pi.player]
			if b == nil {
				// waiting grows by append to what the player needs (one
				// or two inputs on a steady link), not InputQueue's worth.
				b = &inputBuffer{accepted: l.lastSeq[pi.player]}
				l.buffers[pi.player] = b
			}
			if pi.seq <= b.accepted {
				stale++
				l.gone = append(l.gone, pi.player)
				continue
			}
			b.accepted = pi.seq
			pi.at = l.ticks + 1
			b.waiting = append(b.waiting, pi)
		}
	}
	l.players = l.players[:0]
	for p := range l.buffers {
		l.players = append(l.players, p)
	}
	slices.Sort(l.players)
	var applied, caughtUp, starved uint64
	for _, p := range l.players {
		b := l.buffers[p]
		if len(b.waiting) == 0 {
			if b.fed {
				starved++
			}
			continue
		}
		b.fed = true
		n := 1 + max(0, len(b.waiting)-1-l.bufferCap)
		for _, pi := range b.waiting[:n] {
			// pi arrived after tick pi.at-1 was simulated and is applied
			// in tick l.ticks+1.
			pi.in.Waited = uint8(min(255, l.ticks+2-pi.at))
			l.sim.Apply(pi.player, pi.in)
			l.lastSeq[pi.player] = pi.seq
			l.gone = append(l.gone, pi.player)
		}
		b.waiting = b.waiting[:copy(b.waiting, b.waiting[n:])]
		applied += uint64(n)
		caughtUp += uint64(n - 1)
	}
	l.finishBatch(stale, applied, caughtUp, starved)
}

// finishBatch settles the waiting counts Push checks and the counters.
func (l *Loop) finishBatch(stale, applied, caughtUp, starved uint64) {
	if len(l.gone) > 0 {
		l.mu.Lock()
		for _, p := range l.gone {
			if l.pending[p]--; l.pending[p] <= 0 {
				delete(l.pending, p)
			}
		}
		l.mu.Unlock()
		l.gone = l.gone[:0]
	}
	st := &l.stats
	st.InputsApplied.Add(applied)
	st.InputsStale.Add(stale)
	st.InputsCaughtUp.Add(caughtUp)
	st.InputsStarved.Add(starved)
}
