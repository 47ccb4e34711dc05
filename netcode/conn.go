package netcode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
	"github.com/rallypoint/rallypoint/netcode/wsframe"
)

// Connection states.
const (
	stateHandshake int32 = iota // waiting for Hello
	stateAttached               // seated in a match
	stateClosing                // a close has been started; input is ignored
)

// conn is one game WebSocket.
type conn struct {
	// immutable after accept
	srv       *Server
	socket    *gws.Conn
	out       *outbox
	remote    string    // the peer's address, for logs (loggers are built only when used)
	addr      string    // the client address the per-address caps count
	wantMatch string    // the ?match= the client dialled, if any
	tick      *tickConn // the tick read path's state; nil on the loop path

	// owned by the writer that is running (the outbox hands over under its lock)
	batch    batch
	deadline time.Time // the socket's write deadline

	// owned by the read goroutine (gws calls OnMessage and OnClose on it)
	room      *room
	player    game.PlayerID
	version   uint32      // the protocol version of the client's Hello
	limiter   frameBucket // owned by the socket's reader (see frameBucket)
	handshake *time.Timer

	// shared
	pushMu   sync.Mutex // held while an input is pushed; see attachOnLoop
	state    atomic.Int32
	ack      atomic.Uint32 // last snapshot tick the client acknowledged
	ackAt    atomic.Int64  // unix nanos of the last input (when ack was last fresh)
	lag      atomic.Uint32 // at the last input: the match's tick minus the client's ack
	lastRecv atomic.Int64  // unix nanos of the last message, or pong
	leaving  atomic.Bool   // the client sent Leave: free the seat at the close
	abusive  atomic.Uint32 // the close code, when closed for abuse: the seat is lost
	gone     atomic.Bool   // OnClose ran: the socket is finished
	pending  atomic.Bool   // counted as a socket before its Hello
	setup    atomic.Int32  // setupRunning, setupDone or setupEvicted
	seatedAs atomic.Uint32 // the player, once attached (for KickPlayer)
	released atomic.Bool   // its socket slot was returned

	// set once, by the first fail or closeQuiet; read by OnClose for its log
	closeCode atomic.Uint32          // the close code the server sent (0: the peer closed first)
	closeText atomic.Pointer[string] // its reason
	kicked    atomic.Bool            // closed by fail: an error, not a normal ending
}

// abuseCodes are the closes that cost the client its seat: a client that
// floods, sends what does not decode, text, or oversized frames would get
// its seat back with a fresh token and do it again.
func isAbuse(code uint16) bool {
	switch code {
	case wire.CodeMalformed, wire.CodeRateLimited, wire.CodeUnsupportedData, wire.CodeTooLarge, wire.CodeProtocolError:
		return true
	}
	return false
}

// noteClose records the first close the server starts, for the one log
// line OnClose writes.
func (c *conn) noteClose(code uint16, text string, kick bool) {
	if c.closeCode.CompareAndSwap(0, uint32(code)) {
		c.closeText.Store(&text)
		c.kicked.Store(kick)
	}
}

// connSlot is the gws session storage of a socket: one pointer instead of a
// locked map, so finding the conn for a message costs a type assertion.
type connSlot struct{ c *conn }

func (s *connSlot) Len() int                           { return 1 }
func (s *connSlot) Load(string) (any, bool)            { return s.c, s.c != nil }
func (s *connSlot) Delete(string)                      {}
func (s *connSlot) Store(_ string, v any)              { s.c, _ = v.(*conn) }
func (s *connSlot) Range(f func(k string, v any) bool) { f("conn", s.c) }

func connOf(socket *gws.Conn) *conn {
	if s, ok := socket.Session().(*connSlot); ok {
		return s.c
	}
	return nil
}

// fail sends an Error message and closes the connection with code once the
// outbox drains. Safe from any goroutine.
func (c *conn) fail(code uint16, text string) {
	if c.state.Swap(stateClosing) == stateClosing {
		return
	}
	if isAbuse(code) {
		c.abusive.Store(uint32(code))
	}
	c.srv.stats.countClose(code)
	c.noteClose(code, text, true)
	if ce := c.srv.log.Check(zap.DebugLevel, "closing connection"); ce != nil {
		ce.Write(zap.String("remote", c.remote), zap.Uint16("code", code), zap.String("reason", text))
	}
	b := wire.AppendError(c.out.buf(), wire.Error{Code: code, Message: text})
	c.out.push(b, kindControl, code)
	c.out.close(code, text)
}

// closeQuiet closes with code without an Error message (normal endings).
func (c *conn) closeQuiet(code uint16, text string) {
	c.state.Store(stateClosing)
	c.srv.stats.countClose(code)
	c.noteClose(code, text, false)
	c.out.close(code, text)
}

// startWriter starts the connection's writer; the outbox calls it when it
// gets work and no writer is running.
func (c *conn) startWriter() {
	c.srv.wg.Add(1)
	go c.drain()
}

// drain is the connection's only writer of game traffic while it runs. It
// takes the outbox whole, writes every message, and repeats until the
// outbox is empty; then it ends, and the next push starts a new one (or,
// on the tick path, the match goroutine writes directly again).
func (c *conn) drain() {
	defer c.srv.wg.Done()
	if c.tick == nil {
		c.drainGWS()
		return
	}
	yielded := false
	defer func() {
		if !yielded { // a writer that yielded must not touch the socket again
			c.writerExit()
		}
	}()
	if c.tick.det.Load() != nil {
		yielded = c.drainRaw()
	} else {
		yielded = c.drainGWS()
	}
}

// drainGWS is drain through gws's writer. It reports whether it ended by
// yielding the socket to the match (tick path, a close is due).
func (c *conn) drainGWS() (yielded bool) {
	b := &c.batch
	for c.out.take(b) {
		if b.dead {
			c.out.done(b)
			return false
		}
		// Move the write deadline forward about once a second at most (it
		// costs a syscall), keeping at least half of WriteTimeout ahead.
		now := time.Now()
		if c.deadline.Sub(now) < c.srv.cfg.WriteTimeout-min(time.Second, c.srv.cfg.WriteTimeout/2) {
			c.deadline = now.Add(c.srv.cfg.WriteTimeout)
			_ = c.socket.SetWriteDeadline(c.deadline)
		}
		var err error
		var msgs, bytes uint64
		if len(b.raw) > 0 {
			// The rest of a direct write: framed already, and its messages
			// were counted when it was made.
			_, err = c.socket.NetConn().Write(b.raw)
		}
		for i := 0; err == nil && i < len(b.items); i++ {
			it := &b.items[i]
			if err = c.socket.WriteMessage(gws.Opcode(it.op), it.b); err != nil {
				break
			}
			if it.op == wsframe.OpBinary {
				msgs, bytes = msgs+1, bytes+uint64(len(it.b))
			}
		}
		// One add per batch: these counters are shared by every writer.
		c.srv.stats.MessagesOut.Add(msgs)
		c.srv.stats.BytesOut.Add(bytes)
		if err == nil && b.ping {
			err = c.socket.WritePing(nil)
		}
		c.out.done(b)
		if err != nil {
			if !errors.Is(err, gws.ErrConnClosed) {
				c.srv.stats.WriteErrors.Add(1)
			}
			_ = c.socket.NetConn().Close()
			if c.tick != nil {
				// No reader may notice (the match may be over): finish
				// here; the match settles the seat when it sees it gone.
				c.finishTick(err)
			}
			return false
		}
		if b.closing {
			if c.tick != nil && c.out.yieldIfDirect() {
				return true // the match hands the socket over for the close
			}
			c.lingerClose(b.closeCode, b.closeReason)
			return false
		}
	}
	return false
}

// writerIdle runs when a tick-path writer finds nothing more to do, under
// the outbox's lock (so no next writer has started): it drops the writer's
// framing buffer, and clears the write deadline, since the match writes
// without blocking from now on and an expired deadline would fail those
// writes.
func (c *conn) writerIdle() {
	c.tick.wq = nil // a caught-up connection keeps no framing buffer
	if !c.deadline.IsZero() {
		c.deadline = time.Time{}
		_ = c.tick.nc.SetWriteDeadline(time.Time{})
	}
}

// lingerClose sends the close frame and half-closes the socket, then lets
// the reader drain what the client is still sending until it answers the
// close (or a short deadline passes). Closing at once would make the
// kernel answer unread client data with a reset, which can destroy the
// Error and close frames before the client reads them. On the tick path,
// once the socket was handed over for closing, the writer is that reader.
func (c *conn) lingerClose(code uint16, reason string) {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), code)
	payload = append(payload, reason...)
	if err := c.socket.WriteMessage(gws.OpcodeCloseConnection, payload); err != nil {
		_ = c.socket.NetConn().Close()
		return
	}
	if cw, ok := c.socket.NetConn().(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.socket.SetReadDeadline(time.Now().Add(2 * time.Second))
	if c.tick != nil && c.tick.handedOff.Load() {
		c.lingerRead()
	}
}

// OnOpen implements gws.Event.
func (s *Server) OnOpen(socket *gws.Conn) {}

// OnPing implements gws.Event: answer while the connection is open. A
// client's own pings are not life (only messages and our pings' pongs
// are), and every ping costs a frame of the message budget (frameMeter).
func (s *Server) OnPing(socket *gws.Conn, payload []byte) {
	if c := connOf(socket); c != nil && c.state.Load() == stateClosing {
		return
	}
	_ = socket.WritePong(payload)
}

// OnPong implements gws.Event.
func (s *Server) OnPong(socket *gws.Conn, payload []byte) {
	if c := connOf(socket); c != nil {
		c.lastRecv.Store(time.Now().UnixNano())
	}
}

// OnClose implements gws.Event. It runs on the read goroutine, last.
func (s *Server) OnClose(socket *gws.Conn, err error) {
	c := connOf(socket)
	if c == nil {
		return
	}
	c.state.Store(stateClosing)
	if c.handshake != nil {
		c.handshake.Stop()
	}
	// gws closes by itself for frames over the size limit (1009) and
	// protocol violations (1002): those cost the seat too.
	var sc interface{ Uint16() uint16 }
	if errors.As(err, &sc) && isAbuse(sc.Uint16()) && c.abusive.Load() == 0 {
		c.abusive.Store(uint32(sc.Uint16()))
		s.stats.countClose(sc.Uint16())
		c.noteClose(sc.Uint16(), err.Error(), true)
	}
	c.gone.Store(true)
	c.out.kill()
	if c.room != nil {
		c.room.detach(c)
	}
	s.untrack(c)
	c.logClosed(err)
}

// logClosed writes the connection's one info line: who, and the close code
// the server sent (a kick when it was an error), or the peer's.
func (c *conn) logClosed(err error) {
	msg := "connection closed"
	if c.kicked.Load() {
		msg = "connection kicked"
	}
	ce := c.srv.log.Check(zap.InfoLevel, msg)
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, 6)
	fields = append(fields, zap.String("remote", c.remote))
	if c.room != nil {
		fields = append(fields, zap.String("match", c.room.id), zap.Uint32("player", uint32(c.player)))
	}
	if code := c.closeCode.Load(); code != 0 {
		fields = append(fields, zap.Uint32("code", code), zap.String("reason", *c.closeText.Load()))
	} else {
		var cerr *gws.CloseError
		if errors.As(err, &cerr) {
			fields = append(fields, zap.String("by", "peer"), zap.Uint16("code", cerr.Code))
		} else {
			fields = append(fields, zap.String("by", "peer"), zap.Error(err))
		}
	}
	ce.Write(fields...)
}

// OnMessage implements gws.Event: decode, copy what is kept, hand it on,
// release the pooled buffer, return.
func (s *Server) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(socket)
	if c == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.stats.Panics.Add(1)
			c.srv.log.Error("panic handling message", zap.String("remote", c.remote), zap.Uint32("player", uint32(c.player)),
				zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			c.fail(wire.CodeInternal, "internal error")
		}
	}()
	now := time.Now().UnixNano()
	c.lastRecv.Store(now)
	s.stats.MessagesIn.Add(1)
	if msg.Opcode != gws.OpcodeBinary {
		s.stats.Malformed.Add(1)
		c.fail(wire.CodeUnsupportedData, "binary msgpack messages only")
		return
	}
	switch c.state.Load() {
	case stateHandshake:
		c.onHello(msg.Bytes())
	case stateAttached:
		c.onGame(msg.Bytes(), now)
	}
}

func (c *conn) onHello(b []byte) {
	hello, err := wire.DecodeHello(b)
	if err != nil {
		c.srv.stats.Malformed.Add(1)
		c.fail(wire.CodeMalformed, "first message must be a hello: "+err.Error())
		return
	}
	if hello.Version < wire.MinProtocolVersion || hello.Version > wire.ProtocolVersion {
		c.fail(wire.CodeBadVersion, fmt.Sprintf("unsupported protocol version %d; this server speaks %d to %d",
			hello.Version, wire.MinProtocolVersion, wire.ProtocolVersion))
		return
	}
	c.version = hello.Version
	ctx, cancel := context.WithTimeout(c.srv.ctx, c.srv.cfg.HandshakeTimeout)
	defer cancel()
	grant, err := c.srv.cfg.Auth.Authenticate(ctx, hello.Token)
	if err != nil {
		c.srv.stats.AuthFailures.Add(1)
		code := codeFor(err)
		c.srv.stats.authFailure(code)
		c.fail(code, "token refused: "+authText(err))
		return
	}
	if c.wantMatch != "" && c.wantMatch != grant.Match {
		c.srv.stats.AuthFailures.Add(1)
		c.srv.stats.AuthFailuresBy[authWrongMatch].Add(1)
		c.fail(wire.CodeAuthFailed, "token refused: it is for another match")
		return
	}
	r := c.srv.room(grant.Match)
	if r == nil {
		c.fail(wire.CodeMatchNotFound, "match not found or over")
		return
	}
	if c.state.Load() != stateHandshake { // the handshake timer fired meanwhile
		return
	}
	c.room, c.player = r, grant.Player
	c.state.Store(stateAttached)
	c.seatedAs.Store(uint32(grant.Player))
	c.srv.settled(c)
	if err := r.attach(ctx, c, grant); err != nil {
		c.room = nil
		c.state.Store(stateHandshake)
		c.fail(codeFor(err), err.Error())
		return
	}
	c.handshake.Stop()
}

func authText(err error) string {
	switch {
	case errors.Is(err, ErrAuthExpired):
		return "expired"
	case errors.Is(err, ErrAuthRevoked):
		return "session revoked"
	default:
		return "invalid"
	}
}

func (c *conn) onGame(b []byte, now int64) {
	t, err := wire.Type(b)
	if err != nil {
		c.srv.stats.Malformed.Add(1)
		c.fail(wire.CodeMalformed, err.Error())
		return
	}
	switch t {
	case wire.MsgInput:
		in, err := wire.DecodeInput(b)
		if err != nil {
			c.srv.stats.Malformed.Add(1)
			c.fail(wire.CodeMalformed, err.Error())
			return
		}
		c.ack.Store(in.Ack)
		c.ackAt.Store(now)
		if tick := c.room.tick.Load(); in.Ack != 0 && in.Ack <= tick {
			c.lag.Store(tick - in.Ack)
		} else {
			c.lag.Store(0)
		}
		c.srv.stats.InputsIn.Add(1)
		if c.room.null != nil {
			return // the null game reads inputs and drops them
		}
		// Under pushMu, so that once a newer connection has replaced this
		// one (attachOnLoop), no input of ours lands after the Welcome
		// that told the new one where to number from.
		c.pushMu.Lock()
		if c.state.Load() == stateAttached {
			c.room.loop.Push(c.player, in.Seq, game.Input{DX: in.DX, DY: in.DY, Aim: in.Aim, Buttons: in.Buttons,
				ViewTick: game.Tick(in.ViewTick), ViewFrac: in.ViewFrac})
		}
		c.pushMu.Unlock()
	case wire.MsgPing:
		p, err := wire.DecodePing(b)
		if err != nil {
			c.srv.stats.Malformed.Add(1)
			c.fail(wire.CodeMalformed, err.Error())
			return
		}
		out := wire.AppendPong(c.out.buf(), wire.Pong{Time: p.Time, Tick: c.room.tick.Load()})
		c.out.push(out, kindBestEffort, wire.CodeSlowConsumer)
	case wire.MsgLeave:
		if err := wire.DecodeLeave(b); err != nil {
			c.srv.stats.Malformed.Add(1)
			c.fail(wire.CodeMalformed, err.Error())
			return
		}
		if c.tick != nil {
			// On the match goroutine: the close hands the socket over and
			// settles the seat, released since the client is leaving.
			c.leaving.Store(true)
		} else {
			c.room.leave(c)
		}
		c.closeQuiet(wire.CodeNormal, "left the match")
	default:
		c.srv.stats.Malformed.Add(1)
		c.fail(wire.CodeMalformed, fmt.Sprintf("unexpected message type %d", t))
	}
}
