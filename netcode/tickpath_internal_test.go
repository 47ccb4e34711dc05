package netcode

import (
	"io"
	"math"
	"net"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// tickBatch is n seated tick-path connections over real loopback TCP
// sockets, in a match that is not running (its loop is only pushed to),
// and the client ends of the sockets.
type tickBatch struct {
	room    *room
	conns   []*conn
	clients []net.Conn
	input   []byte // one masked Input frame
	snap    []byte // a 140-byte message
	cbuf    []byte
}

func newTickBatch(tb testing.TB, n int) *tickBatch {
	srv, err := New(Config{Auth: AuthenticatorFunc(nil), ReadPath: ReadPathTick})
	if err != nil {
		tb.Fatal(err)
	}
	mode, _ := game.FindMode("bench")
	players := make([]game.PlayerID, n)
	for i := range players {
		players[i] = game.PlayerID(i + 1)
	}
	r, err := newRoom(srv, MatchSpec{ID: "bench", Mode: "bench", Players: players, Seed: 1}, mode)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	b := &tickBatch{room: r, snap: make([]byte, 140), cbuf: make([]byte, 2+140)}
	payload := wire.AppendInput(nil, wire.Input{Seq: 1, Ack: 1, DX: 1})
	b.input = append([]byte{0x82, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...) // mask key 0
	for i := range n {
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		c := &conn{srv: srv, limiter: newFrameBucket(math.Inf(1), 0), room: r, player: players[i]}
		c.out = newOutbox(func() { tb.Error("a writer was started") })
		c.tick = newTickConn(c, sc)
		c.state.Store(stateAttached)
		c.out.setDirect(true)
		b.conns, b.clients = append(b.conns, c), append(b.clients, cl)
		tb.Cleanup(func() { cl.Close(); sc.Close() })
	}
	return b
}

// tick is one client-tick for every connection: each client sends an
// input; the match reads and handles it (one non-blocking read, parse,
// decode, push) and writes a 140-byte message (one write); each client
// reads it.
func (b *tickBatch) tick(tb testing.TB) {
	for _, cl := range b.clients {
		if _, err := cl.Write(b.input); err != nil {
			tb.Fatal(err)
		}
	}
	now := time.Now().UnixNano()
	r := b.room
	for _, c := range b.conns {
		s := &seat{conn: c, player: c.player}
		r.readTick(s, c, now)
		c.out.push(append(c.out.buf(), b.snap...), kindSnapshot, wire.CodeSlowConsumer)
		var res flushResult
		r.wbuf, res, _, _ = c.out.flushDirect(r.wbuf, c.tick.write)
		if res != flushWrote {
			tb.Fatalf("flush: %v", res)
		}
	}
	for _, cl := range b.clients {
		if _, err := io.ReadFull(cl, b.cbuf); err != nil {
			tb.Fatal(err)
		}
	}
	r.loop.Stats() // the pushed inputs wait in the loop's inbox, bounded per player
}

// BenchmarkTickReadWrite: the tick path's per client-tick socket work for
// a batch of 64 seated connections on loopback: the client's input write,
// the match's non-blocking read, frame parse, decode and push, one
// non-blocking write of a 140-byte message, and the client's read of it.
// One op is one client-tick.
func BenchmarkTickReadWrite(b *testing.B) {
	const n = 64
	tb := newTickBatch(b, n)
	for range 20 {
		tb.tick(b)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		tb.tick(b)
	}
}

// TestTickReadWriteAllocs: reading, handling and writing a batch of
// sockets on the tick path allocates nothing in steady state.
func TestTickReadWriteAllocs(t *testing.T) {
	tb := newTickBatch(t, 16)
	for range 20 {
		tb.tick(t)
	}
	if n := testing.AllocsPerRun(100, func() { tb.tick(t) }); n != 0 {
		t.Fatalf("%v allocations per tick of 16 sockets, want 0", n)
	}
	if got := tb.conns[0].srv.stats.InputsIn.Load(); got < 100 {
		t.Fatalf("%d inputs handled", got)
	}
}

// TestTickConsumeSplits is TestFrameMeterParses for the tick path: a stream
// of client frames (pings, pongs, Inputs, an Input in fragments, with 7-
// and 16-bit lengths) fed through consume in chunks of every size, keeping
// the unparsed rest as readTick does, is handled the same however it is
// split: every ping answered, every Input pushed, nothing left over.
func TestTickConsumeSplits(t *testing.T) {
	frame := func(op byte, fin bool, p []byte) []byte {
		b0 := op
		if fin {
			b0 |= 0x80
		}
		b := []byte{b0}
		if len(p) < 126 {
			b = append(b, 0x80|byte(len(p)))
		} else {
			b = append(b, 0x80|126, byte(len(p)>>8), byte(len(p)))
		}
		key := [4]byte{9, 8, 7, 6}
		b = append(b, key[:]...)
		for i, c := range p {
			b = append(b, c^key[i&3])
		}
		return b
	}
	in := wire.AppendInput(nil, wire.Input{Seq: 1, Ack: 1, DX: 1})
	var stream []byte
	pings, inputs := 0, 0
	for i := range 60 {
		switch i % 5 {
		case 0:
			stream = append(stream, frame(0x9, true, make([]byte, i%100))...)
			pings++
		case 1:
			stream = append(stream, frame(0xA, true, nil)...)
		case 2, 3:
			stream = append(stream, frame(0x2, true, in)...)
			inputs++
		case 4: // an Input in three fragments, one of them empty
			stream = append(stream, frame(0x2, false, in[:3])...)
			stream = append(stream, frame(0x0, false, nil)...)
			stream = append(stream, frame(0x0, true, in[3:])...)
			inputs++
		}
	}
	for _, chunk := range []int{1, 2, 3, 7, 13, 64, 1024, len(stream)} {
		srv, err := New(Config{Auth: AuthenticatorFunc(nil)})
		if err != nil {
			t.Fatal(err)
		}
		mode, _ := game.FindMode("bench")
		r, err := newRoom(srv, MatchSpec{ID: "m", Mode: "bench", Players: []game.PlayerID{1}, Seed: 1}, mode)
		if err != nil {
			t.Fatal(err)
		}
		c := &conn{srv: srv, limiter: newFrameBucket(math.Inf(1), 0), room: r, player: 1}
		c.out = newOutbox(func() {})
		c.out.setDirect(true)
		c.tick = &tickConn{conn: c}
		c.tick.asm.MaxMessage, c.tick.asm.MaxFragments = wire.MaxClientFrame, maxFragments
		c.state.Store(stateAttached)
		var left []byte
		for b := stream; len(b) > 0; {
			k := min(chunk, len(b))
			buf := append(append([]byte(nil), left...), b[:k]...)
			b = b[k:]
			used := c.consume(buf, time.Now().UnixNano())
			left = append(left[:0], buf[used:]...)
		}
		pongs := 0
		for _, it := range c.out.queue {
			if it.op == 0xA {
				pongs++
			}
		}
		if got := srv.stats.InputsIn.Load(); int(got) != inputs || pongs != pings || len(left) != 0 || c.state.Load() != stateAttached {
			t.Errorf("chunks of %d: %d inputs (want %d), %d pongs (want %d), %d bytes left, state %d",
				chunk, got, inputs, pongs, pings, len(left), c.state.Load())
		}
	}
}
