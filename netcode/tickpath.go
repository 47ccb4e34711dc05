package netcode

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/netcode/wire"
	"github.com/rallypoint/rallypoint/netcode/wsframe"
)

// The tick read path (Config.ReadPath "tick").
//
// After the upgrade a short-lived goroutine reads the socket until the
// Hello is handled (helloLoop), with the handshake deadline. Once the
// socket is seated its match goroutine is its only reader: at the start of
// every tick (game.LoopConfig.BeforeTick) it makes one non-blocking read of
// each seated socket into a per-match buffer, parses the whole frames
// (netcode/wsframe), pushes the inputs, and keeps only the bytes of a
// frame not yet whole; at the end of the tick it writes each client's
// messages in one non-blocking write (outbox.flushDirect). No goroutine
// per connection, and no wake-up per input: a client's input waits in the
// kernel until the tick that applies it.
//
// A socket the match closes is handed to a writer goroutine (handoff),
// which sends what is queued and the close frame, then reads until the
// client answers the close (at most 2 s) and finishes the connection. A
// socket whose peer is gone (EOF, reset) is noticed by the next tick's read,
// which settles the seat (grace period) at once.
//
// On Linux a seated socket also leaves Go's network poller (detach): left
// in it, every client packet would wake a thread blocked in epoll_wait
// only to find no goroutine waiting. A writer that must wait for a full
// socket then blocks its thread in ppoll (rare: a client that cannot keep
// up), with the write timeout as its deadline.

// tickReadBuf is the size of the read buffer a match borrows for its
// tick's reads (readBufs): one read per socket per tick takes at most this
// much after the socket's leftover (a client that sends more waits for the
// next tick, and is over the rate limit long before). An Input is ~40
// bytes on the wire.
const tickReadBuf = 4 << 10

// readBufs lends read buffers to matches for the span of their reads, so
// there are about as many as running match goroutines, not matches.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, tickReadBuf); return &b }}

// borrowReadBuf sets r.rbuf for a round of reads; returnReadBuf gives it
// back.
func (r *room) borrowReadBuf() { r.rbufp = readBufs.Get().(*[]byte); r.rbuf = *r.rbufp }

func (r *room) returnReadBuf() {
	*r.rbufp = r.rbuf[:0]
	readBufs.Put(r.rbufp)
	r.rbuf, r.rbufp = nil, nil
}

// tickHelloBuf is the hello goroutine's buffer: a whole client frame
// (header and 2 KiB) fits.
const tickHelloBuf = wire.MaxClientFrame + wsframe.MaxHeader + 50

var helloBufs = sync.Pool{New: func() any { b := make([]byte, 0, tickHelloBuf); return &b }}

// tickConn is a connection's state on the tick read path.
type tickConn struct {
	// immutable after accept
	nc   net.Conn
	raw  syscall.RawConn
	rcb  func(fd uintptr) bool // the read callback (built once: no allocation per tick)
	wcb  func(fd uintptr) bool // the write callback
	conn *conn

	det      atomic.Pointer[detached] // set once by the match goroutine (detach)
	noDetach bool                     // owned by the reader: detaching failed, is done, or is not supported
	wq       []byte                   // owned by the running writer: its framing buffer

	seated    atomic.Bool // attached to its match, which reads it from then on
	handedOff atomic.Bool // a writer owns the socket to close it
	finished  atomic.Bool
	peerCode  atomic.Uint32 // the close code the peer sent, if it closed first

	// owned by the socket's reader: the hello goroutine, then the match
	// goroutine (the handover is the attach, an Exec on the match)
	left []byte // the bytes of a frame not yet whole
	asm  wsframe.Assembler
	rb   []byte // read callback argument and result
	rn   int
	rerr error
	wb   []byte // write callback argument and result
	wn   int
	werr error
}

func newTickConn(c *conn, nc net.Conn) *tickConn {
	if !tickSupported {
		return nil
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	t := &tickConn{nc: nc, raw: raw, conn: c, noDetach: !canDetach}
	t.asm = wsframe.Assembler{MaxMessage: wire.MaxClientFrame, MaxFragments: maxFragments}
	t.rcb = func(fd uintptr) bool {
		t.rn, t.rerr = sysRead(fd, t.rb)
		return true // never wait: EAGAIN is the answer
	}
	t.wcb = func(fd uintptr) bool {
		t.wn, t.werr = sysWrite(fd, t.wb)
		return true
	}
	return t
}

// errPeerGone is a dead socket noticed by a read (EOF).
var errPeerGone = errors.New("netcode: peer closed the connection")

// read makes one non-blocking read into b; 0 bytes and no error means
// nothing was waiting.
func (t *tickConn) read(b []byte) (int, error) {
	t.rb = b
	err := t.rawConn().Read(t.rcb)
	t.rb = nil
	n, rerr := t.rn, t.rerr
	switch {
	case err != nil:
		return 0, err
	case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		return 0, nil
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// write makes one non-blocking write of b, returning how much the socket
// took (0 with no error when it took nothing).
func (t *tickConn) write(b []byte) (int, error) {
	t.wb = b
	err := t.rawConn().Write(t.wcb)
	t.wb = nil
	n, werr := t.wn, t.werr
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN || werr == syscall.EINTR:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}

// detached is a socket taken out of Go's poller.
type detached struct {
	f  *os.File
	rc syscall.RawConn
}

// rawConn is what reads and writes go through: the socket's own RawConn,
// or the detached file's.
func (t *tickConn) rawConn() syscall.RawConn {
	if d := t.det.Load(); d != nil {
		return d.rc
	}
	return t.raw
}

// detach takes a seated socket out of Go's network poller: its file
// descriptor is duplicated (as an *os.File the runtime does not poll) and
// the original closed, which removes it from epoll. Without this every
// client packet would still wake a thread blocked in the poller (to find
// no goroutine waiting), which is most of what the tick path saves. Only
// the match goroutine calls it, while no writer runs; from then on reads
// and writes go through f, and a writer's rare blocking waits use ppoll.
func (t *tickConn) detach() {
	t.noDetach = true // one attempt
	var dup int
	var derr error
	if err := t.raw.Control(func(fd uintptr) {
		if dup, derr = dupCloexec(int(fd)); derr != nil {
			return
		}
		// O_NONBLOCK is shared by both descriptors: clear it so os.NewFile
		// does not hand the new one to the poller, then set it again.
		derr = sysSetNonblock(dup, false)
	}); err != nil || derr != nil {
		if dup > 0 {
			_ = sysSetNonblock(dup, true)
			_ = sysClose(dup)
		}
		return
	}
	f := os.NewFile(uintptr(dup), "rallypoint-socket")
	_ = t.nc.Close() // EPOLL_CTL_DEL, then close: the socket lives on in f
	if err := sysSetNonblock(dup, true); err != nil {
		_ = f.Close()
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return
	}
	t.det.Store(&detached{f: f, rc: rc})
}

// cut shuts the socket down both ways: it wakes a writer blocked on it and
// makes every later read or write fail.
func (t *tickConn) cut() {
	d := t.det.Load()
	if d == nil {
		_ = t.nc.Close()
		return
	}
	_ = d.rc.Control(func(fd uintptr) { _ = sysShutdown(fd, shutRDWR) })
}

// writeAll writes b to a detached socket, waiting (ppoll) while it is
// full, until deadline.
func (t *tickConn) writeAll(b []byte, deadline time.Time) error {
	var werr error
	err := t.rawConn().Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, e := sysWrite(fd, b)
			switch {
			case n > 0:
				b = b[n:]
			case e == syscall.EINTR:
			case e == syscall.EAGAIN:
				if werr = waitFd(int(fd), pollOut, deadline); werr != nil {
					return true
				}
			case e != nil:
				werr = e
				return true
			default:
				werr = io.ErrShortWrite
				return true
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// lingerReadRaw reads and drops from a detached socket until the peer
// closes, it fails, or deadline passes.
func (t *tickConn) lingerReadRaw(deadline time.Time) {
	var b [256]byte
	_ = t.rawConn().Read(func(fd uintptr) bool {
		for {
			n, e := sysRead(fd, b[:])
			switch {
			case n > 0, e == syscall.EINTR:
			case e == syscall.EAGAIN:
				if waitFd(int(fd), pollIn, deadline) != nil {
					return true
				}
			default:
				return true // EOF or an error
			}
		}
	})
}

// drainRaw is drain for a detached tick-path socket: the same outbox
// protocol, with the framing done here and blocking writes made with ppoll.
func (c *conn) drainRaw() (yielded bool) {
	t := c.tick
	b := &c.batch
	for c.out.take(b) {
		if b.dead {
			c.out.done(b)
			return false
		}
		buf := append(t.wq[:0], b.raw...)
		var msgs, bytes uint64
		for i := range b.items {
			it := &b.items[i]
			buf = wsframe.AppendFrame(buf, it.op, it.b)
			if it.op == wsframe.OpBinary {
				msgs, bytes = msgs+1, bytes+uint64(len(it.b))
			}
		}
		if b.ping {
			buf = wsframe.AppendHeader(buf, wsframe.OpPing, 0)
		}
		err := t.writeAll(buf, time.Now().Add(c.srv.cfg.WriteTimeout))
		t.wq = buf[:0]
		c.srv.stats.MessagesOut.Add(msgs)
		c.srv.stats.BytesOut.Add(bytes)
		c.out.done(b)
		if err != nil {
			c.srv.stats.WriteErrors.Add(1)
			c.finishTick(err)
			return false
		}
		if b.closing {
			if c.out.yieldIfDirect() {
				return true // the match hands the socket over for the close
			}
			reason := b.closeReason
			if len(reason) > 120 {
				reason = reason[:120]
			}
			payload := binary.BigEndian.AppendUint16(t.wq[:0], b.closeCode)
			payload = append(payload, reason...)
			frame := wsframe.AppendFrame(nil, wsframe.OpClose, payload)
			if err := t.writeAll(frame, time.Now().Add(c.srv.cfg.WriteTimeout)); err != nil {
				c.finishTick(err)
				return false
			}
			_ = t.rawConn().Control(func(fd uintptr) { _ = sysShutdown(fd, shutWR) })
			if t.handedOff.Load() {
				t.lingerReadRaw(time.Now().Add(2 * time.Second))
			}
			return false
		}
	}
	return false
}

// consume parses and handles the whole frames at the start of b and
// returns how many bytes it used. It stops early when the connection
// stops being readable by this caller: it is closing, or (on the hello
// goroutine) it has just been seated, when the rest of b has been stashed
// in t.left for the match.
func (c *conn) consume(b []byte, now int64) int {
	t := c.tick
	used := 0
	for c.state.Load() != stateClosing {
		h, ok, err := wsframe.ParseHeader(b[used:], wire.MaxClientFrame)
		if err != nil {
			var fe *wsframe.Error
			errors.As(err, &fe)
			c.failQuiet(fe.Code, fe.Msg)
			return len(b)
		}
		if !ok {
			return used
		}
		end := used + h.Size + int(h.Length)
		if end > len(b) {
			return used // charged once it is whole
		}
		// Every frame, whatever it is, costs a token (see frameMeter).
		if !c.limiter.allow(now) {
			c.srv.stats.RateLimited.Add(1)
			c.fail(wire.CodeRateLimited, "too many frames")
			return len(b)
		}
		p := b[used+h.Size : end]
		wsframe.Unmask(p, h.Mask, 0)
		used = end
		switch h.Op {
		case wsframe.OpPing:
			// A client's own pings are not life (see OnPing).
			pong := append(c.out.buf(), p...)
			c.out.pushOp(pong, kindBestEffort, wsframe.OpPong, wire.CodeSlowConsumer)
			continue
		case wsframe.OpPong:
			c.lastRecv.Store(now)
			continue
		case wsframe.OpClose:
			c.peerClosed(p)
			return len(b)
		}
		op, msg, done, err := t.asm.Add(wsframe.Frame{Fin: h.Fin, Op: h.Op, Payload: p})
		switch {
		case errors.Is(err, wsframe.ErrTooManyFragments):
			c.srv.stats.Malformed.Add(1)
			c.fail(wire.CodeMalformed, "message split into too many fragments")
			return len(b)
		case err != nil:
			var fe *wsframe.Error
			errors.As(err, &fe)
			c.failQuiet(fe.Code, fe.Msg)
			return len(b)
		case !done:
			continue
		}
		c.lastRecv.Store(now)
		c.srv.stats.MessagesIn.Add(1)
		if op != wsframe.OpBinary {
			c.srv.stats.Malformed.Add(1)
			c.fail(wire.CodeUnsupportedData, "binary msgpack messages only")
			return len(b)
		}
		switch c.state.Load() {
		case stateHandshake:
			// The match may read this socket as soon as the attach
			// seats it: hand it the bytes after the Hello first.
			t.left = append(t.left[:0], b[used:]...)
			t.asm.Release()
			// The match reads without blocking, but an expired deadline
			// would fail its reads: the hello's backstop ends here.
			_ = t.nc.SetReadDeadline(time.Time{})
			c.onHello(msg)
			if t.seated.Load() {
				return len(b)
			}
			t.left = t.left[:0]
		case stateAttached:
			c.onGame(msg, now)
		}
		t.asm.Release()
	}
	return len(b)
}

// peerClosed answers the peer's close frame: the connection closes
// without a code of ours (the seat waits out the grace period, as after a
// drop).
func (c *conn) peerClosed(p []byte) {
	code, valid := wsframe.CloseCode(p)
	if !valid {
		c.failQuiet(wire.CodeProtocolError, "invalid close frame")
		return
	}
	c.tick.peerCode.Store(uint32(code))
	c.state.Store(stateClosing)
	c.out.close(wire.CodeNormal, "")
}

// failQuiet closes with code and no Error message first: the closes of
// the WebSocket layer (1002, 1009), as gws makes them on the loop path.
func (c *conn) failQuiet(code uint16, text string) {
	if c.state.Swap(stateClosing) == stateClosing {
		return
	}
	if isAbuse(code) {
		c.abusive.Store(uint32(code))
	}
	c.srv.stats.countClose(code)
	c.noteClose(code, text, true)
	c.out.close(code, text)
}

// helloLoop reads the socket from the upgrade until the Hello seats it (the
// match reads it from then on) or it closes (then it finishes it).
func (c *conn) helloLoop(pre []byte) {
	t := c.tick
	bp := helloBufs.Get().(*[]byte)
	buf := append((*bp)[:0], pre...)
	var err error
	seated := false // the match reads the socket from now on: never finish it here
	defer func() {
		if r := recover(); r != nil {
			c.srv.stats.Panics.Add(1)
			c.srv.log.Error("panic handling a hello", zap.String("remote", c.remote), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = errors.New("panic")
		}
		*bp = buf[:0]
		helloBufs.Put(bp)
		if !seated {
			c.finishTick(err)
		}
	}()
	// The handshake timer closes a silent socket; this deadline is only a
	// backstop should that close not get through.
	_ = t.nc.SetReadDeadline(time.Now().Add(2*c.srv.cfg.HandshakeTimeout + time.Second))
	for {
		if c.state.Load() == stateHandshake {
			used := c.consume(buf, time.Now().UnixNano())
			if t.seated.Load() {
				seated = true // even if already closing: the match's to handle
				return
			}
			buf = buf[:copy(buf, buf[used:])]
		} else {
			buf = buf[:0] // closing: read and drop until the peer is gone
		}
		var n int
		n, err = t.nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return
		}
	}
}

// finishTick ends a tick-path connection: the counterpart of OnClose. Its
// seat, if it had one, was settled by the match. Only the first call counts.
func (c *conn) finishTick(err error) {
	t := c.tick
	if !t.finished.CompareAndSwap(false, true) {
		return
	}
	c.state.Store(stateClosing)
	if c.handshake != nil {
		c.handshake.Stop()
	}
	c.gone.Store(true)
	c.out.kill()
	if d := t.det.Load(); d != nil {
		t.cut() // wakes a writer blocked in ppoll; the close waits for it
		_ = d.f.Close()
	} else {
		_ = t.nc.Close()
	}
	c.srv.untrack(c)
	if code := t.peerCode.Load(); code != 0 && c.closeCode.Load() == 0 {
		err = &gws.CloseError{Code: uint16(code)}
	} else if err == nil {
		err = errPeerGone
	}
	c.logClosed(err)
	c.srv.wg.Done() // the reader's count, taken by track
}

// writerExit runs when a tick-path writer ends: if it owned the socket
// to close it, the connection is finished.
func (c *conn) writerExit() {
	if c.tick.handedOff.Load() {
		c.finishTick(nil)
	}
}

// lingerRead reads and drops what the client still sends until it closes
// its side (or the linger deadline passes).
func (c *conn) lingerRead() {
	var b [256]byte
	for {
		if _, err := c.tick.nc.Read(b[:]); err != nil {
			return
		}
	}
}

// readTicks is the match's BeforeTick on the tick path: one read of
// every seated tick-path socket, its frames handled, its inputs pushed.
func (r *room) readTicks() {
	r.borrowReadBuf()
	defer r.returnReadBuf()
	now := time.Now().UnixNano()
	for i := 0; i < len(r.order); i++ {
		s := r.order[i]
		c := s.conn
		if c == nil || c.tick == nil || c.state.Load() != stateAttached {
			continue
		}
		if r.readTick(s, c, now) {
			if r.seats[s.player] != s {
				i--
			}
		}
	}
}

// readTick reads c once; it reports whether it settled s (the peer is
// gone).
func (r *room) readTick(s *seat, c *conn, now int64) (settled bool) {
	t := c.tick
	defer func() {
		if v := recover(); v != nil {
			r.srv.stats.Panics.Add(1)
			r.log.Error("panic handling a message", zap.String("remote", c.remote), zap.Uint32("player", uint32(c.player)),
				zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
			c.fail(wire.CodeInternal, "internal error")
		}
	}()
	if cap(r.rbuf) < tickReadBuf {
		r.rbuf = make([]byte, 0, tickReadBuf)
	}
	if !t.noDetach && c.out.directIdle() {
		t.detach()
	}
	buf := append(r.rbuf[:0], t.left...)
	if cap(buf)-len(buf) < tickReadBuf/2 {
		// A big leftover (bytes sent with the Hello): room to read still,
		// since an empty read would look like the peer's EOF.
		buf = slices.Grow(buf, tickReadBuf)
	}
	n, err := t.read(buf[len(buf):cap(buf)])
	if err != nil {
		r.peerGone(s, err)
		return true
	}
	if n == 0 && len(t.left) == 0 {
		return false
	}
	buf = buf[:len(buf)+n]
	used := c.consume(buf, now)
	switch rest := buf[used:]; {
	case c.state.Load() != stateAttached:
		t.left = nil
	case len(rest) > 0:
		t.left = append(t.left[:0], rest...)
	case cap(t.left) > 64:
		t.left = nil // an idle connection keeps no big leftover buffer
	default:
		t.left = t.left[:0]
	}
	return false
}

// peerGone settles s after its socket died under a read or write.
func (r *room) peerGone(s *seat, err error) {
	c := s.conn
	c.state.Store(stateClosing)
	r.settle(s)
	c.finishTick(err)
	r.publish("running")
}

// flushTicks writes every seated tick-path socket's messages of this tick.
func (r *room) flushTicks() {
	var msgs, bytes int
	for i := 0; i < len(r.order); i++ {
		s := r.order[i]
		c := s.conn
		if c == nil || c.tick == nil {
			continue
		}
		var res flushResult
		var m, b int
		r.wbuf, res, m, b = c.out.flushDirect(r.wbuf, c.tick.write)
		msgs, bytes = msgs+m, bytes+b
		switch res {
		case flushClosing:
			r.handoff(s)
		case flushFailed:
			r.srv.stats.WriteErrors.Add(1)
			r.peerGone(s, errPeerGone)
		case flushBehind:
			r.srv.stats.WritesBehind.Add(1)
			continue
		default:
			continue
		}
		if r.seats[s.player] != s {
			i--
		}
	}
	if msgs > 0 {
		r.srv.stats.MessagesOut.Add(uint64(msgs))
		r.srv.stats.BytesOut.Add(uint64(bytes))
	}
	if cap(r.wbuf) > 64<<10 {
		r.wbuf = nil // a big keyframe's buffer is not kept
	}
}

// handoff unseats c, which is closing, and gives its socket to a writer
// that sends what is queued and the close, then finishes it.
func (r *room) handoff(s *seat) {
	c := s.conn
	r.settle(s)
	r.release2Writer(c)
	r.publish("running")
}

// release2Writer gives a tick-path socket that is no longer read by the
// match to a writer goroutine, to close it.
func (r *room) release2Writer(c *conn) {
	c.tick.left = nil
	c.tick.handedOff.Store(true)
	c.out.setDirect(false)
}
