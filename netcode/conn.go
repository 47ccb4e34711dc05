package netcode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
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
	remote    string // the peer's address, for logs (loggers are built only when used)
	wantMatch string // the ?match= the client dialled, if any

	// owned by the writer that is running (the outbox hands over under its lock)
	batch    batch
	deadline time.Time // the socket's write deadline

	// owned by the read goroutine (gws calls OnMessage and OnClose on it)
	room      *room
	player    game.PlayerID
	limiter   *rate.Limiter
	handshake *time.Timer

	// shared
	state    atomic.Int32
	ack      atomic.Uint32 // last snapshot tick the client acknowledged
	ackAt    atomic.Int64  // unix nanos of the last input (when ack was last fresh)
	lag      atomic.Uint32 // at the last input: the match's tick minus the client's ack
	lastRecv atomic.Int64  // unix nanos of the last frame of any kind
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
	c.srv.stats.countClose(code)
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
// outbox is empty; then it ends, and the next push starts a new one.
func (c *conn) drain() {
	defer c.srv.wg.Done()
	b := &c.batch
	for c.out.take(b) {
		if b.dead {
			c.out.done(b)
			return
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
		for i := range b.items {
			if err = c.socket.WriteMessage(gws.OpcodeBinary, b.items[i].b); err != nil {
				break
			}
			msgs, bytes = msgs+1, bytes+uint64(len(b.items[i].b))
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
			return
		}
		if b.closing {
			c.lingerClose(b.closeCode, b.closeReason)
			return
		}
	}
}

// lingerClose sends the close frame and half-closes the socket, then lets
// the read loop drain what the client is still sending until it answers
// the close (or a short deadline passes). Closing at once would make the
// kernel answer unread client data with a reset, which can destroy the
// Error and close frames before the client reads them.
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
	if tc, ok := c.socket.NetConn().(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = c.socket.SetReadDeadline(time.Now().Add(2 * time.Second))
}

// OnOpen implements gws.Event.
func (s *Server) OnOpen(socket *gws.Conn) {}

// OnPing implements gws.Event: answer, and count it as life.
func (s *Server) OnPing(socket *gws.Conn, payload []byte) {
	if c := connOf(socket); c != nil {
		c.lastRecv.Store(time.Now().UnixNano())
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
	c.out.kill()
	if c.room != nil {
		c.room.detach(c)
	}
	s.untrack(c)
	if ce := s.log.Check(zap.DebugLevel, "connection closed"); ce != nil {
		ce.Write(zap.String("remote", c.remote), zap.Uint32("player", uint32(c.player)), zap.Error(err))
	}
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
	ctx, cancel := context.WithTimeout(c.srv.ctx, c.srv.cfg.HandshakeTimeout)
	defer cancel()
	grant, err := c.srv.cfg.Auth.Authenticate(ctx, hello.Token)
	if err != nil {
		c.srv.stats.AuthFailures.Add(1)
		c.fail(codeFor(err), "token refused: "+authText(err))
		return
	}
	if c.wantMatch != "" && c.wantMatch != grant.Match {
		c.srv.stats.AuthFailures.Add(1)
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
	if !c.limiter.Allow() {
		c.srv.stats.RateLimited.Add(1)
		c.fail(wire.CodeRateLimited, "too many messages")
		return
	}
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
		c.room.loop.Push(c.player, in.Seq, game.Input{DX: in.DX, DY: in.DY, Aim: in.Aim, Buttons: in.Buttons})
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
		c.room.leave(c)
		c.closeQuiet(wire.CodeNormal, "left the match")
	default:
		c.srv.stats.Malformed.Add(1)
		c.fail(wire.CodeMalformed, fmt.Sprintf("unexpected message type %d", t))
	}
}
