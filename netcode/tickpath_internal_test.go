package netcode

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/time/rate"

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
		c := &conn{srv: srv, limiter: rate.NewLimiter(rate.Inf, 0), room: r, player: players[i]}
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
