package netcode

import (
	"testing"

	"github.com/rallypoint/rallypoint/netcode/wire"
)

// TestOutboxBounds: the outbox's limits, message by message: at most
// outboxSnapshots snapshots wait, pongs stop at half the queue, a control
// message that does not fit starts a slow-consumer close, and a writer is
// started once per idle-to-busy transition.
func TestOutboxBounds(t *testing.T) {
	starts := 0
	o := newOutbox(func() { starts++ })
	msg := func() []byte { return append(o.buf(), 1, 2, 3) }
	for i := range outboxSnapshots {
		if r := o.push(msg(), kindSnapshot, wire.CodeSlowConsumer); r != pushed {
			t.Fatalf("snapshot %d: %v", i, r)
		}
	}
	if r := o.push(msg(), kindSnapshot, wire.CodeSlowConsumer); r != pushDropped {
		t.Fatalf("snapshot %d: %v, want dropped", outboxSnapshots, r)
	}
	if starts != 1 {
		t.Fatalf("%d writers started, want 1", starts)
	}
	for len(o.queue) < outboxMax/2 {
		if r := o.push(msg(), kindBestEffort, wire.CodeSlowConsumer); r != pushed {
			t.Fatalf("pong at depth %d: %v", len(o.queue), r)
		}
	}
	if r := o.push(msg(), kindBestEffort, wire.CodeSlowConsumer); r != pushDropped {
		t.Fatalf("pong at half depth: %v, want dropped", r)
	}
	for len(o.queue) < outboxMax {
		if r := o.push(msg(), kindControl, wire.CodeSlowConsumer); r != pushed {
			t.Fatalf("control at depth %d: %v", len(o.queue), r)
		}
	}
	if r := o.push(msg(), kindSnapshot, wire.CodeSlowConsumer); r != pushDropped {
		t.Fatalf("snapshot into a full outbox: %v", r)
	}
	if r := o.push(msg(), kindControl, wire.CodeSlowConsumer); r != pushOverrun {
		t.Fatalf("control into a full outbox: %v, want overrun", r)
	}
	if !o.closing || o.closeCode != wire.CodeSlowConsumer {
		t.Fatalf("overrun: closing %v code %d", o.closing, o.closeCode)
	}
	if r := o.push(msg(), kindControl, wire.CodeSlowConsumer); r != pushClosed {
		t.Fatalf("push while closing: %v", r)
	}
	if o.close(wire.CodeNormal, "late") {
		t.Fatal("a second close won")
	}

	// The writer takes everything at once and the snapshot count restarts.
	var b batch
	if !o.take(&b) || len(b.items) != outboxMax || !b.closing || b.closeCode != wire.CodeSlowConsumer || o.snapshots != 0 || len(o.queue) != 0 {
		t.Fatalf("take: %d items, closing %v code %d, %d snapshots left", len(b.items), b.closing, b.closeCode, o.snapshots)
	}
	o.done(&b)
	if len(b.items) != 0 || len(o.free) != outboxFreeMax {
		t.Fatalf("done: %d items kept, %d buffers free, want %d", len(b.items), len(o.free), outboxFreeMax)
	}
}

func TestOutboxWriterLifecycle(t *testing.T) {
	starts := 0
	o := newOutbox(func() { starts++ })
	var b batch
	if o.take(&b) {
		t.Fatal("took from an empty outbox")
	}
	o.ping()
	if starts != 1 || !o.take(&b) || !b.ping || len(b.items) != 0 {
		t.Fatalf("ping: %d starts, batch %+v", starts, b)
	}
	o.push(o.buf(), kindSnapshot, wire.CodeSlowConsumer)
	if starts != 1 {
		t.Fatal("a second writer started while one runs")
	}
	if !o.take(&b) || b.ping || len(b.items) != 1 {
		t.Fatalf("second take %+v", b)
	}
	o.done(&b)
	if o.take(&b) {
		t.Fatal("took from an empty outbox")
	}
	o.push(o.buf(), kindSnapshot, wire.CodeSlowConsumer)
	if starts != 2 {
		t.Fatalf("%d starts after the writer ended, want 2", starts)
	}
	o.kill()
	if !o.take(&b) || !b.dead || len(b.items) != 0 {
		t.Fatalf("after kill: %+v", b)
	}
	if r := o.push(o.buf(), kindControl, wire.CodeSlowConsumer); r != pushClosed || starts != 2 {
		t.Fatalf("push after kill: %v, %d starts", r, starts)
	}
}

func TestOutboxRecycle(t *testing.T) {
	o := newOutbox(func() {})
	if b := o.buf(); len(b) != 0 || cap(b) != outboxBufCap {
		t.Fatalf("new buffer len %d cap %d", len(b), cap(b))
	}
	huge := make([]byte, 10, 64<<10+1)
	o.recycle(huge)
	if len(o.free) != 0 {
		t.Fatal("kept a buffer over 64 KiB")
	}
	big := make([]byte, 10, 64<<10)
	o.recycle(big)
	if b := o.buf(); len(b) != 0 || cap(b) != 64<<10 {
		t.Fatalf("recycled buffer len %d cap %d", len(b), cap(b))
	}
	for range outboxFreeMax + 2 {
		o.recycle(make([]byte, 0, 8))
	}
	if len(o.free) != outboxFreeMax {
		t.Fatalf("%d free buffers, want %d", len(o.free), outboxFreeMax)
	}
}
