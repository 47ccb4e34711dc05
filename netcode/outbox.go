package netcode

import "sync"

// Outbox bounds. A connection holds at most outboxMax messages waiting for
// its writer, and at most outboxSnapshots of them may be snapshots: a
// snapshot that finds the outbox that deep is dropped and the client is
// resynced with a keyframe once it drains. A control message (welcome,
// event, error, match over) that does not fit closes the connection.
const (
	outboxMax       = 64
	outboxSnapshots = 4
	outboxFreeMax   = 8
	outboxBufCap    = 512 // a delta of arena-8x32 is ~130 bytes, its keyframe ~360
)

// msgKind says how a message is treated when the outbox is full.
type msgKind uint8

const (
	kindControl    msgKind = iota // must arrive: an overrun closes the connection
	kindSnapshot                  // dropped when outboxSnapshots are waiting; resync follows
	kindBestEffort                // dropped when the outbox is half full (pongs)
)

type outItem struct {
	b    []byte
	kind msgKind
}

// outbox is a connection's bounded queue of encoded messages. Producers
// (the match goroutine, and the read goroutine for pongs and errors) push
// without blocking; the connection's writer drains it whole, writes, and
// comes back for more. The writer runs only while there is something to
// write: the push that finds none running starts one, and it ends when it
// finds the queue empty, so an idle connection holds no writer goroutine
// (and no stack) between ticks. There is never more than one writer.
// Buffers are recycled so steady-state pushes do not allocate.
type outbox struct {
	start func() // immutable: starts a writer goroutine

	mu          sync.Mutex
	writing     bool      // guarded by mu: a writer is running (or the socket is finished)
	queue       []outItem // guarded by mu
	snapshots   int       // guarded by mu: snapshots in queue
	free        [][]byte  // guarded by mu: recycled buffers
	closing     bool      // guarded by mu: close after draining
	closeCode   uint16    // guarded by mu
	closeReason string    // guarded by mu
	pingDue     bool      // guarded by mu
	dead        bool      // guarded by mu: the connection is gone; drop everything
}

func newOutbox(start func()) *outbox {
	return &outbox{start: start, queue: make([]outItem, 0, 8)}
}

// claimLocked reports whether the caller, having just queued work, must
// start a writer because none is running. o.mu must be held.
func (o *outbox) claimLocked() bool {
	if o.writing || o.dead {
		return false
	}
	o.writing = true
	return true
}

// unlockAndStart releases o.mu and starts a writer if claimed.
func (o *outbox) unlockAndStart(claimed bool) {
	o.mu.Unlock()
	if claimed {
		o.start()
	}
}

// buf returns an empty buffer to encode a message into.
func (o *outbox) buf() []byte {
	o.mu.Lock()
	if n := len(o.free); n > 0 {
		b := o.free[n-1]
		o.free = o.free[:n-1]
		o.mu.Unlock()
		return b[:0]
	}
	o.mu.Unlock()
	return make([]byte, 0, outboxBufCap)
}

// recycleLocked keeps b for reuse. o.mu must be held.
func (o *outbox) recycleLocked(b []byte) {
	if len(o.free) < outboxFreeMax && cap(b) <= 64<<10 {
		o.free = append(o.free, b[:0])
	}
}

// recycle returns a buffer that was not pushed.
func (o *outbox) recycle(b []byte) {
	o.mu.Lock()
	o.recycleLocked(b)
	o.mu.Unlock()
}

// pushResult says what happened to a pushed message.
type pushResult uint8

const (
	pushed      pushResult = iota
	pushDropped            // a snapshot found the outbox full; it was dropped
	pushClosed             // the connection is closing; the message was dropped
	pushOverrun            // a control message did not fit; the connection is now closing
)

// push queues b. A snapshot is dropped when outboxSnapshots are already
// waiting, a best-effort message when the outbox is half full; a control
// message that does not fit starts a slow-consumer close with slowCode.
func (o *outbox) push(b []byte, kind msgKind, slowCode uint16) pushResult {
	o.mu.Lock()
	switch {
	case o.dead || o.closing:
		o.recycleLocked(b)
		o.mu.Unlock()
		return pushClosed
	case kind == kindSnapshot && (o.snapshots >= outboxSnapshots || len(o.queue) >= outboxMax),
		kind == kindBestEffort && len(o.queue) >= outboxMax/2:
		o.recycleLocked(b)
		o.mu.Unlock()
		return pushDropped
	case len(o.queue) >= outboxMax:
		o.recycleLocked(b)
		o.startCloseLocked(slowCode, "client cannot keep up")
		o.unlockAndStart(o.claimLocked())
		return pushOverrun
	}
	o.queue = append(o.queue, outItem{b: b, kind: kind})
	if kind == kindSnapshot {
		o.snapshots++
	}
	o.unlockAndStart(o.claimLocked())
	return pushed
}

func (o *outbox) startCloseLocked(code uint16, reason string) bool {
	if o.closing || o.dead {
		return false
	}
	o.closing, o.closeCode, o.closeReason = true, code, reason
	return true
}

// close asks the writer to send what is queued, then close the socket with
// code. The first close wins; it reports whether this call was it.
func (o *outbox) close(code uint16, reason string) bool {
	o.mu.Lock()
	ok := o.startCloseLocked(code, reason)
	o.unlockAndStart(ok && o.claimLocked())
	return ok
}

// ping asks the writer to send a WebSocket ping.
func (o *outbox) ping() {
	o.mu.Lock()
	o.pingDue = true
	o.unlockAndStart(o.claimLocked())
}

// kill drops everything and stops the writer: the socket is gone.
func (o *outbox) kill() {
	o.mu.Lock()
	o.dead = true
	for _, it := range o.queue {
		o.recycleLocked(it.b)
	}
	o.queue = o.queue[:0]
	o.snapshots = 0
	o.mu.Unlock()
}

// batch is what the writer takes from the outbox in one go.
type batch struct {
	items       []outItem
	ping        bool
	closing     bool
	closeCode   uint16
	closeReason string
	dead        bool
}

// take swaps the queue out into b.items (whose backing array is handed
// back to the outbox for the next round) and reports what else is due. It
// returns false, and the writer must end, when there is nothing to do.
func (o *outbox) take(b *batch) bool {
	o.mu.Lock()
	if !o.dead && len(o.queue) == 0 && !o.pingDue && !o.closing {
		o.writing = false
		o.mu.Unlock()
		return false
	}
	b.items, o.queue = o.queue, b.items[:0]
	o.snapshots = 0
	b.ping, o.pingDue = o.pingDue, false
	b.closing, b.closeCode, b.closeReason = o.closing, o.closeCode, o.closeReason
	b.dead = o.dead
	o.mu.Unlock()
	return true
}

// done recycles the buffers of a written batch.
func (o *outbox) done(b *batch) {
	o.mu.Lock()
	for i := range b.items {
		o.recycleLocked(b.items[i].b)
		b.items[i].b = nil
	}
	o.mu.Unlock()
	b.items = b.items[:0]
}
