package netcode

import (
	"sync"

	"github.com/rallypoint/rallypoint/netcode/wsframe"
)

// Outbox bounds, in bytes. Every queued message costs its length plus
// outboxItemCost (its slot and buffer header), and so does every byte a
// writer has taken and not yet written. A snapshot that finds
// outboxSnapshotBytes already queued is dropped (the client's next
// snapshot is a delta against the last one it was sent, see
// room.sendSnapshot); a best-effort message (a pong) is dropped past half
// of outboxMaxBytes; a control message (welcome, event, error, match over)
// that would take the total past outboxMaxBytes closes the connection as a
// slow consumer. One message is always accepted into an empty outbox,
// however large (a keyframe of a large world).
const (
	outboxMaxBytes      = 64 << 10
	outboxSnapshotBytes = 8 << 10
	outboxItemCost      = 32
	outboxFreeMax       = 2   // recycled buffers kept per connection (a snapshot and an event a tick)
	outboxBufCap        = 256 // a delta of arena-8x32 is ~130 bytes (a keyframe, ~360, grows its buffer once)
)

// msgKind says how a message is treated when the outbox is full.
type msgKind uint8

const (
	kindControl    msgKind = iota // must arrive: an overrun closes the connection
	kindSnapshot                  // dropped past outboxSnapshotBytes
	kindBestEffort                // dropped past half of outboxMaxBytes (pongs)
)

type outItem struct {
	b    []byte
	kind msgKind
	op   byte // the WebSocket opcode: wsframe.OpBinary, or wsframe.OpPong
}

// outbox is a connection's bounded queue of encoded messages. Producers
// (the match goroutine, and the read goroutine for pongs and errors) push
// without blocking.
//
// On the loop read path (and on the tick path before a socket is seated,
// and while it closes) the connection's writer drains it whole, writes,
// and comes back for more. The writer runs only while there is something
// to write: the push that finds none running starts one, and it ends when
// it finds the queue empty, so an idle connection holds no writer
// goroutine (and no stack) between ticks. There is never more than one
// writer.
//
// On the tick path a seated socket's outbox is direct: pushes start no
// writer, and the match goroutine frames everything queued at the end of
// each tick into one buffer and writes it without blocking (flushDirect).
// What the socket does not take is kept (raw) and a writer is started to
// finish it and whatever is queued after it; once it finds the outbox
// empty it ends, and the match writes directly again.
//
// Buffers are recycled so steady-state pushes do not allocate.
type outbox struct {
	start func() // immutable: starts a writer goroutine
	idle  func() // immutable: if set, called by the writer that ends, under mu

	mu          sync.Mutex
	writing     bool      // guarded by mu: a writer is running (or the socket is finished)
	direct      bool      // guarded by mu: the match goroutine writes; pushes start no writer
	queue       []outItem // guarded by mu
	bytes       int       // guarded by mu: cost of queue and raw
	inflight    int       // guarded by mu: cost of what the running writer took
	raw         []byte    // guarded by mu: framed bytes a direct write left over
	free        [][]byte  // guarded by mu: recycled buffers
	closing     bool      // guarded by mu: close after draining
	closeCode   uint16    // guarded by mu
	closeReason string    // guarded by mu
	pingDue     bool      // guarded by mu
	dead        bool      // guarded by mu: the connection is gone; drop everything
}

func newOutbox(start func()) *outbox {
	return &outbox{start: start}
}

// claimLocked reports whether the caller, having just queued work, must
// start a writer because none is running. o.mu must be held.
func (o *outbox) claimLocked() bool {
	if o.writing || o.dead || o.direct {
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
		o.free[n-1] = nil
		o.free = o.free[:n-1]
		o.mu.Unlock()
		return b[:0]
	}
	o.mu.Unlock()
	return make([]byte, 0, outboxBufCap)
}

// recycleLocked keeps b for reuse. o.mu must be held.
func (o *outbox) recycleLocked(b []byte) {
	if len(o.free) < outboxFreeMax && cap(b) <= 64<<10 && !o.dead {
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
	pushDropped            // a snapshot or pong found the outbox too full; it was dropped
	pushClosed             // the connection is closing; the message was dropped
	pushOverrun            // a control message did not fit; the connection is now closing
)

// push queues b, a binary message. See the outbox bounds.
func (o *outbox) push(b []byte, kind msgKind, slowCode uint16) pushResult {
	return o.pushOp(b, kind, wsframe.OpBinary, slowCode)
}

func (o *outbox) pushOp(b []byte, kind msgKind, op byte, slowCode uint16) pushResult {
	o.mu.Lock()
	cost := len(b) + outboxItemCost
	held := o.bytes + o.inflight
	switch {
	case o.dead || o.closing:
		o.recycleLocked(b)
		o.mu.Unlock()
		return pushClosed
	case kind == kindSnapshot && held > 0 && held+cost > outboxSnapshotBytes,
		kind == kindBestEffort && held+cost > outboxMaxBytes/2:
		o.recycleLocked(b)
		o.mu.Unlock()
		return pushDropped
	case held > 0 && held+cost > outboxMaxBytes:
		o.recycleLocked(b)
		o.startCloseLocked(slowCode, "client cannot keep up")
		o.unlockAndStart(o.claimLocked())
		return pushOverrun
	}
	o.queue = append(o.queue, outItem{b: b, kind: kind, op: op})
	o.bytes += cost
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
	o.queue = nil
	o.raw = nil
	o.free = nil
	o.bytes = 0
	o.mu.Unlock()
}

// held reports the bytes the outbox holds (queued, left over, in flight).
func (o *outbox) held() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes + o.inflight
}

// setDirect switches the outbox to direct writes (on) or back to writer
// goroutines (off: a writer is started if work is waiting).
func (o *outbox) setDirect(on bool) {
	o.mu.Lock()
	o.direct = on
	claim := false
	if !on && (len(o.queue) > 0 || len(o.raw) > 0 || o.pingDue || o.closing) {
		claim = o.claimLocked()
	}
	o.unlockAndStart(claim)
}

// flushResult says what flushDirect did.
type flushResult uint8

const (
	flushIdle    flushResult = iota // nothing to write, or a writer owns the socket
	flushWrote                      // everything went out in one write
	flushBehind                     // the socket took part of it; a writer finishes it
	flushClosing                    // a close is due: hand the socket to a writer (setDirect(false))
	flushFailed                     // the write failed: the socket is dead
)

// flushDirect frames every queued message (and a due ping) into scratch
// and writes it with write, which must not block; it returns the grown
// scratch. It is called by the match goroutine once per tick.
func (o *outbox) flushDirect(scratch []byte, write func([]byte) (int, error)) ([]byte, flushResult, int, int) {
	o.mu.Lock()
	switch {
	case !o.direct || o.dead:
		o.mu.Unlock()
		return scratch, flushIdle, 0, 0
	case o.closing && !o.writing:
		o.mu.Unlock()
		return scratch, flushClosing, 0, 0
	case o.writing, len(o.queue) == 0 && !o.pingDue:
		o.mu.Unlock()
		return scratch, flushIdle, 0, 0
	}
	scratch = scratch[:0]
	msgs, payload := 0, 0
	for i := range o.queue {
		it := &o.queue[i]
		scratch = wsframe.AppendFrame(scratch, it.op, it.b)
		msgs, payload = msgs+1, payload+len(it.b)
		o.recycleLocked(it.b)
		*it = outItem{}
	}
	if o.pingDue {
		scratch = wsframe.AppendHeader(scratch, wsframe.OpPing, 0)
		o.pingDue = false
	}
	o.queue, o.bytes = o.queue[:0], 0
	o.mu.Unlock()
	n, err := write(scratch)
	if err != nil {
		return scratch, flushFailed, msgs, payload
	}
	if n == len(scratch) {
		return scratch, flushWrote, msgs, payload
	}
	o.mu.Lock()
	o.raw = append(o.raw[:0], scratch[n:]...)
	o.bytes += len(o.raw)
	claim := o.claimLocked0()
	o.unlockAndStart(claim)
	return scratch, flushBehind, msgs, payload
}

// directIdle reports whether the outbox is direct with no writer running
// (so the match goroutine alone touches the socket).
func (o *outbox) directIdle() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.direct && !o.writing && !o.dead
}

// yieldIfDirect ends the running writer when the outbox is direct, so the
// match goroutine, which reads the socket, hands it over for the close.
// It reports whether the writer must end.
func (o *outbox) yieldIfDirect() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.direct {
		return false
	}
	o.writing, o.inflight = false, 0
	return true
}

// claimLocked0 claims the writer for a direct outbox (flushDirect only).
func (o *outbox) claimLocked0() bool {
	if o.writing || o.dead {
		return false
	}
	o.writing = true
	return true
}

// batch is what the writer takes from the outbox in one go.
type batch struct {
	raw         []byte // framed bytes to write first (a direct write's rest)
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
	if !o.dead && len(o.queue) == 0 && len(o.raw) == 0 && !o.pingDue && !o.closing {
		o.writing = false
		o.inflight = 0
		b.raw = nil // a catch-up buffer is not kept once caught up
		if o.idle != nil {
			o.idle()
		}
		o.mu.Unlock()
		return false
	}
	b.items, o.queue = o.queue, b.items[:0]
	b.raw, o.raw = o.raw, b.raw[:0]
	o.inflight, o.bytes = o.bytes, 0
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
	o.inflight = 0
	o.mu.Unlock()
	b.items = b.items[:0]
	b.raw = b.raw[:0]
}
