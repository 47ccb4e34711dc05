package netcode

import (
	"testing"

	"github.com/rallypoint/rallypoint/netcode/wire"
)

// TestOutboxBounds: the outbox's limits are bytes, not messages: snapshots
// are dropped once outboxSnapshotBytes are held (but one snapshot always
// fits an empty outbox, however large), pongs past half of
// outboxMaxBytes, a control message that does not fit starts a
// slow-consumer close, bytes a writer has taken still count until it is
// done, and a writer is started once per idle-to-busy transition.
func TestOutboxBounds(t *testing.T) {
	starts := 0
	o := newOutbox(func() { starts++ })
	sized := func(n int) []byte { return append(o.buf(), make([]byte, n)...) }
	// A keyframe larger than the snapshot budget fits an empty outbox.
	if r := o.push(sized(3*outboxSnapshotBytes), kindSnapshot, wire.CodeSlowConsumer); r != pushed {
		t.Fatalf("a big snapshot into an empty outbox: %v", r)
	}
	if r := o.push(sized(10), kindSnapshot, wire.CodeSlowConsumer); r != pushDropped {
		t.Fatalf("a snapshot behind a big one: %v, want dropped", r)
	}
	if starts != 1 {
		t.Fatalf("%d writers started, want 1", starts)
	}
	// Taken but not written: still held, still dropping snapshots.
	var b batch
	if !o.take(&b) || len(b.items) != 1 {
		t.Fatalf("take: %d items", len(b.items))
	}
	if r := o.push(sized(10), kindSnapshot, wire.CodeSlowConsumer); r != pushDropped {
		t.Fatalf("a snapshot while a big one is being written: %v, want dropped", r)
	}
	o.done(&b)
	// Small snapshots: as many as fit the byte budget, whatever their count.
	n := 0
	for o.push(sized(100), kindSnapshot, wire.CodeSlowConsumer) == pushed {
		n++
	}
	if want := outboxSnapshotBytes / (100 + outboxItemCost); n != want {
		t.Fatalf("%d snapshots of 100 bytes queued, want %d", n, want)
	}
	for o.held()+200+outboxItemCost <= outboxMaxBytes/2 {
		if r := o.push(sized(200), kindBestEffort, wire.CodeSlowConsumer); r != pushed {
			t.Fatalf("pong at %d bytes: %v", o.held(), r)
		}
	}
	if r := o.push(sized(200), kindBestEffort, wire.CodeSlowConsumer); r != pushDropped {
		t.Fatalf("pong at half the bytes: %v, want dropped", r)
	}
	for o.held()+1000+outboxItemCost <= outboxMaxBytes {
		if r := o.push(sized(1000), kindControl, wire.CodeSlowConsumer); r != pushed {
			t.Fatalf("control at %d bytes: %v", o.held(), r)
		}
	}
	if r := o.push(sized(1000), kindControl, wire.CodeSlowConsumer); r != pushOverrun {
		t.Fatalf("control into a full outbox: %v, want overrun", r)
	}
	if !o.closing || o.closeCode != wire.CodeSlowConsumer {
		t.Fatalf("overrun: closing %v code %d", o.closing, o.closeCode)
	}
	if r := o.push(sized(1), kindControl, wire.CodeSlowConsumer); r != pushClosed {
		t.Fatalf("push while closing: %v", r)
	}
	if o.close(wire.CodeNormal, "late") {
		t.Fatal("a second close won")
	}
	// The writer takes everything at once.
	if !o.take(&b) || !b.closing || b.closeCode != wire.CodeSlowConsumer || len(o.queue) != 0 {
		t.Fatalf("take: %d items, closing %v code %d", len(b.items), b.closing, b.closeCode)
	}
	o.done(&b)
	if len(b.items) != 0 || len(o.free) != outboxFreeMax || o.held() != 0 {
		t.Fatalf("done: %d items kept, %d buffers free (want %d), %d bytes held", len(b.items), len(o.free), outboxFreeMax, o.held())
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
