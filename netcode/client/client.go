package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// Errors returned by the client.
var (
	ErrClosed    = errors.New("client: connection closed")
	ErrHandshake = errors.New("client: handshake failed")
	// ErrSeatGone is what a TokenSource wraps when the lobby says the
	// player holds no seat in the match any more (its match ended or was
	// lost with its game node): automatic reconnection stops at once
	// instead of using up its attempts, so the caller can queue again.
	ErrSeatGone = errors.New("client: seat gone")
)

// CloseError is how the server ended a connection.
type CloseError struct {
	Code   uint16 // wire.Code* or a standard WebSocket code
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("client: closed by server: %d %s", e.Code, e.Reason)
}

// Permanent reports whether reconnecting cannot help (the seat is gone, the
// token is bad, the match is over, or the player connected elsewhere).
func (e *CloseError) Permanent() bool {
	switch e.Code {
	case wire.CodeNormal, wire.CodeAuthFailed, wire.CodeTokenRevoked, wire.CodeBadVersion,
		wire.CodeReplaced, wire.CodeSeatExpired, wire.CodeMatchNotFound, wire.CodeMatchFull,
		wire.CodeMalformed, wire.CodeRateLimited, wire.CodeProtocolError, wire.CodeUnsupportedData, wire.CodeTooLarge:
		return true // the last five cost the seat (abuse): queue again
	}
	return false
}

// TokenSource returns a token for the next connection (the lobby issues a
// fresh one for a held seat). It may be called from any goroutine.
type TokenSource func(ctx context.Context) (string, error)

type options struct {
	log            *zap.Logger
	onSnapshot     func(c *Client, s wire.Snapshot, keyframe bool)
	onEvent        func(c *Client, e wire.Event)
	onMatchOver    func(c *Client, m wire.MatchOver)
	onState        func(c *Client, connected bool, err error)
	tokens         TokenSource
	reconnect      bool
	backoffMin     time.Duration
	backoffMax     time.Duration
	maxAttempts    int
	handshake      time.Duration
	readBufferSize int
	dialer         Dialer
	tls            *tls.Config
	teleport       float32
}

// Option configures a Client.
type Option func(*options)

// WithLogger sets the logger.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithOnSnapshot calls f on the read goroutine after each snapshot is
// applied to the mirror. f must not block.
func WithOnSnapshot(f func(c *Client, s wire.Snapshot, keyframe bool)) Option {
	return func(o *options) { o.onSnapshot = f }
}

// WithOnEvent calls f on the read goroutine for each game event.
func WithOnEvent(f func(c *Client, e wire.Event)) Option {
	return func(o *options) { o.onEvent = f }
}

// WithOnMatchOver calls f on the read goroutine when the match ends.
func WithOnMatchOver(f func(c *Client, m wire.MatchOver)) Option {
	return func(o *options) { o.onMatchOver = f }
}

// WithOnState calls f whenever the connection goes up or down (err says
// why it went down).
func WithOnState(f func(c *Client, connected bool, err error)) Option {
	return func(o *options) { o.onState = f }
}

// WithTokenSource makes Resume and auto-reconnect ask for a fresh token.
// Without it the token given to Dial is reused.
func WithTokenSource(ts TokenSource) Option { return func(o *options) { o.tokens = ts } }

// WithAutoReconnect resumes the seat by itself after an unexpected drop,
// with exponential backoff and jitter between min and max, giving up after
// attempts tries (0: until the connection is closed or the close is
// permanent), or at once when the TokenSource's error wraps ErrSeatGone.
func WithAutoReconnect(min, max time.Duration, attempts int) Option {
	return func(o *options) {
		o.reconnect, o.backoffMin, o.backoffMax, o.maxAttempts = true, min, max, attempts
	}
}

// WithHandshakeTimeout bounds dial plus Hello/Welcome. Default 10s.
func WithHandshakeTimeout(d time.Duration) Option { return func(o *options) { o.handshake = d } }

// WithReadBufferSize sets the socket read buffer (default 2 KiB; bots
// running by the thousand keep it small).
func WithReadBufferSize(n int) Option { return func(o *options) { o.readBufferSize = n } }

// WithTeleportDistance makes Interpolated draw a move longer than d world
// units between two snapshots as a jump instead of a glide. Respawns (the
// dead flag clearing) always jump; without this option nothing else does.
func WithTeleportDistance(d float32) Option { return func(o *options) { o.teleport = d } }

// Stats are a client's counters.
type Stats struct {
	Snapshots  uint64        // snapshots applied
	Keyframes  uint64        // of which keyframes
	BytesIn    uint64        // payload bytes received
	BytesOut   uint64        // payload bytes sent
	FramesIn   uint64        // messages received
	Inputs     uint64        // inputs sent
	Reconnects uint64        // successful resumes
	RTT        time.Duration // smoothed round-trip time from input acks (0: none yet)
	LastRTT    time.Duration

	// Corrections counts acknowledged inputs after which the server's
	// position of the own avatar differed from the prediction (deaths and
	// respawns aside); MaxCorrection is the largest difference, in world
	// units. While the server applies every input sent, however late,
	// both stay 0.
	Corrections   uint64
	MaxCorrection float32
	// InputsForgotten counts inputs dropped from the prediction because
	// more than 128 were waiting for an acknowledgement.
	InputsForgotten uint64
}

const rttRing = 128

// Client is one connection to a match, and the seat behind it.
type Client struct {
	// immutable after Dial
	target target
	opts   options

	wmu  sync.Mutex // serializes writes and guards wbuf
	wbuf []byte

	mu        sync.Mutex // guards everything below
	socket    *gws.Conn
	token     string
	welcome   wire.Welcome
	mirror    wire.Mirror
	seq       uint32
	sent      [rttRing]sentInput
	stats     Stats
	lastAcked uint32
	over      *wire.MatchOver
	pred      predictor // the own avatar's prediction
	clk       clock     // server tick and render tick estimates
	view      interp    // per-entity position history for Interpolated
	closed    bool      // Close was called
	err       error     // why the last connection ended
	gen       int       // connection generation
	down      chan struct{}
	done      chan struct{} // closed when the client is finished for good
	pending   *handshake
	wg        sync.WaitGroup
}

type sentInput struct {
	seq uint32
	at  time.Time
}

type handshake struct {
	ch chan error
}

// Dial connects to a game WebSocket (ws://host:port/v1/ws?match=ID, or
// wss:// for TLS; without a port, 80 and 443), presents token and waits
// for the Welcome.
func Dial(ctx context.Context, wsURL, token string, opts ...Option) (*Client, error) {
	t, err := parseTarget(wsURL)
	if err != nil {
		return nil, err
	}
	c := &Client{target: t, token: token, done: make(chan struct{})}
	c.opts = options{log: zap.NewNop(), handshake: 10 * time.Second, readBufferSize: 2048,
		backoffMin: 100 * time.Millisecond, backoffMax: 5 * time.Second}
	for _, o := range opts {
		o(&c.opts)
	}
	c.view.teleport = c.opts.teleport
	if err := c.connect(ctx, token); err != nil {
		return nil, err
	}
	return c, nil
}

// connect dials once and completes the handshake.
func (c *Client) connect(ctx context.Context, token string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.handshake)
	defer cancel()
	nc, err := c.dialConn(ctx, c.target)
	if err != nil {
		return err
	}
	hs := &handshake{ch: make(chan error, 1)}
	h := &handler{c: c, hs: hs}
	deadline, _ := ctx.Deadline()
	socket, _, err := gws.NewClientFromConn(h, &gws.ClientOption{
		Addr:               c.target.url,
		ReadMaxPayloadSize: 4 << 20,
		ReadBufferSize:     c.opts.readBufferSize,
		ParallelEnabled:    false,
		HandshakeTimeout:   time.Until(deadline),
		Logger:             gwsLogger{c.opts.log},
	}, nc)
	if err != nil {
		_ = nc.Close()
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = socket.NetConn().Close()
		return ErrClosed
	}
	c.gen++
	h.gen = c.gen
	c.socket, c.token, c.pending = socket, token, hs
	c.down = make(chan struct{})
	h.down = c.down
	c.mirror.Reset()
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		socket.ReadLoop()
	}()
	hello := wire.AppendHello(nil, wire.Hello{Version: wire.ProtocolVersion, Token: token})
	if err := socket.WriteMessage(gws.OpcodeBinary, hello); err != nil {
		_ = socket.NetConn().Close()
		return err
	}
	select {
	case err := <-hs.ch:
		if err != nil {
			_ = socket.NetConn().Close()
			return err
		}
	case <-ctx.Done():
		_ = socket.NetConn().Close()
		return ctx.Err()
	}
	if f := c.opts.onState; f != nil {
		f(c, true, nil)
	}
	return nil
}

type gwsLogger struct{ l *zap.Logger }

func (g gwsLogger) Error(v ...any) { g.l.Error("gws", zap.String("error", fmt.Sprint(v...))) }

// handler receives one connection's events.
type handler struct {
	c    *Client
	hs   *handshake
	gen  int
	down chan struct{}
}

func (h *handler) OnOpen(*gws.Conn)               {}
func (h *handler) OnPing(s *gws.Conn, p []byte)   { _ = s.WritePong(p) }
func (h *handler) OnPong(*gws.Conn, []byte)       {}
func (h *handler) OnClose(_ *gws.Conn, err error) { h.c.onClose(h, err) }

func (h *handler) OnMessage(s *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if err := h.c.onMessage(h, msg.Bytes()); err != nil {
		h.c.opts.log.Warn("bad message from server", zap.Error(err))
		_ = s.WriteClose(wire.CodeMalformed, []byte(err.Error()))
	}
}

func (c *Client) finishHandshake(h *handler, err error) {
	if c.pending == h.hs {
		c.pending = nil
		h.hs.ch <- err
	}
}

func (c *Client) onMessage(h *handler, b []byte) error {
	t, err := wire.Type(b)
	if errors.Is(err, wire.ErrUnknownType) {
		return nil // a newer server's message: ignore it
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	if h.gen != c.gen {
		c.mu.Unlock()
		return nil
	}
	c.stats.FramesIn++
	c.stats.BytesIn += uint64(len(b))
	switch t {
	case wire.MsgWelcome:
		w, err := wire.DecodeWelcome(b)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		if c.welcome.Player != 0 && w.Resumed {
			c.stats.Reconnects++
		}
		c.welcomeLocked(w)
		c.finishHandshake(h, nil)
		c.mu.Unlock()
	case wire.MsgSnapshot:
		s, err := wire.DecodeSnapshot(b)
		if err == nil {
			err = c.snapshotLocked(s, time.Now())
		}
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if f := c.opts.onSnapshot; f != nil {
			f(c, s, s.Base == 0)
		}
	case wire.MsgEvent:
		e, err := wire.DecodeEvent(b)
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if f := c.opts.onEvent; f != nil {
			f(c, e)
		}
	case wire.MsgMatchOver:
		m, err := wire.DecodeMatchOver(b)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.over = &m
		c.mu.Unlock()
		if f := c.opts.onMatchOver; f != nil {
			f(c, m)
		}
	case wire.MsgError:
		e, err := wire.DecodeError(b)
		if err == nil {
			c.err = &CloseError{Code: e.Code, Reason: e.Message}
			c.finishHandshake(h, c.err)
		}
		c.mu.Unlock()
		return err
	case wire.MsgPong:
		p, err := wire.DecodePong(b)
		if err == nil {
			c.sampleRTTLocked(time.Duration(uint32(time.Now().UnixMilli())-p.Time) * time.Millisecond)
		}
		c.mu.Unlock()
		return err
	default: // a newer server's message: ignore it (protocol.md, forward compatibility)
		c.mu.Unlock()
	}
	return nil
}

// welcomeLocked adopts a connection's Welcome: input numbering continues
// after the last input the server accepted.
func (c *Client) welcomeLocked(w wire.Welcome) {
	c.welcome = w
	c.seq = w.LastSeq
	c.pred.welcome(w)
	c.clk.setHz(int(w.Hz))
}

// snapshotLocked applies s, which arrived at now, to the mirror, the
// clock, the interpolation history and the prediction.
func (c *Client) snapshotLocked(s wire.Snapshot, now time.Time) error {
	if err := c.mirror.ApplySnapshot(s); err != nil {
		return err
	}
	c.stats.Snapshots++
	key := s.Base == 0
	if key {
		c.stats.Keyframes++
	}
	c.ackLocked(s.AckSeq)
	c.clk.observe(s.Tick, now, key)
	c.view.record(s.Tick, c.mirror.Entities())
	own, ok := c.mirror.Get(c.welcome.Entity)
	c.pred.snapshot(own, ok, s.AckSeq)
	return nil
}

// ackLocked turns an input acknowledgement into an RTT sample.
func (c *Client) ackLocked(seq uint32) {
	if seq == 0 || seq == c.lastAcked {
		return
	}
	c.lastAcked = seq
	if s := c.sent[seq%rttRing]; s.seq == seq && !s.at.IsZero() {
		c.sampleRTTLocked(time.Since(s.at))
	}
}

func (c *Client) sampleRTTLocked(d time.Duration) {
	c.stats.LastRTT = d
	if c.stats.RTT == 0 {
		c.stats.RTT = d
	} else {
		c.stats.RTT += (d - c.stats.RTT) / 8
	}
}

func (c *Client) onClose(h *handler, err error) {
	var ce *gws.CloseError
	var cerr error
	if errors.As(err, &ce) {
		cerr = &CloseError{Code: ce.Code, Reason: string(ce.Reason)}
	} else if err != nil {
		cerr = fmt.Errorf("%w: %v", ErrClosed, err)
	} else {
		cerr = ErrClosed
	}
	c.mu.Lock()
	if h.gen != c.gen {
		c.mu.Unlock()
		close(h.down)
		return
	}
	if prev, ok := c.err.(*CloseError); ok && prev != nil {
		cerr = prev // the Error message said it first, with the text
	}
	c.err = cerr
	c.socket = nil
	c.finishHandshake(h, cerr)
	closed := c.closed
	_, over := cerr.(*CloseError)
	permanent := over && cerr.(*CloseError).Permanent()
	reconnect := c.opts.reconnect && !closed && !permanent && c.over == nil
	c.mu.Unlock()
	close(h.down)
	if f := c.opts.onState; f != nil {
		f(c, false, cerr)
	}
	if reconnect {
		c.wg.Add(1)
		go c.reconnectLoop()
		return
	}
	c.mu.Lock()
	if c.socket == nil {
		c.finishLocked()
	}
	c.mu.Unlock()
}

func (c *Client) finishLocked() {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
}

func (c *Client) reconnectLoop() {
	defer c.wg.Done()
	backoff := c.opts.backoffMin
	for attempt := 1; c.opts.maxAttempts == 0 || attempt <= c.opts.maxAttempts; attempt++ {
		sleep := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(sleep):
		case <-c.done:
			return
		}
		err := c.Resume(context.Background())
		if err == nil {
			return
		}
		var ce *CloseError
		if errors.As(err, &ce) && ce.Permanent() || errors.Is(err, ErrClosed) || errors.Is(err, ErrSeatGone) {
			break
		}
		backoff = min(backoff*2, c.opts.backoffMax)
	}
	c.mu.Lock()
	if c.socket == nil {
		c.finishLocked()
	}
	c.mu.Unlock()
}

// Resume drops the current connection, if any, and connects again to the
// same seat: same player and entity, a keyframe, and input sequence
// numbers that continue from Welcome().LastSeq.
func (c *Client) Resume(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	socket, down, token := c.socket, c.down, c.token
	c.err = nil
	c.mu.Unlock()
	if socket != nil {
		_ = socket.NetConn().Close()
		select {
		case <-down:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if ts := c.opts.tokens; ts != nil {
		t, err := ts(ctx)
		if err != nil {
			return err
		}
		token = t
	}
	return c.connect(ctx, token)
}

// Drop cuts the TCP connection without a close handshake, as a network
// fault would (auto-reconnect, if enabled, then resumes).
func (c *Client) Drop() {
	c.mu.Lock()
	socket := c.socket
	c.mu.Unlock()
	if socket != nil {
		_ = socket.NetConn().Close()
	}
}

// SendInput sends one input frame, one tick of movement (send one per
// tick, at Welcome().Hz), with the next sequence number and the tick of
// the last snapshot applied, and keeps it for the prediction until the
// server applies it. Unless in.ViewTick is set, the view it carries for
// lag compensation is the tick the other entities are shown at: RenderTick
// once Interpolated is in use, else the tick of the latest snapshot (what
// Entities shows).
func (c *Client) SendInput(in game.Input) error {
	now := time.Now()
	c.mu.Lock()
	socket := c.socket
	if socket == nil {
		c.mu.Unlock()
		return ErrClosed
	}
	if in.ViewTick == 0 {
		in.ViewTick, in.ViewFrac = c.viewLocked(now)
	}
	c.seq++
	msg := wire.Input{Seq: c.seq, Ack: c.mirror.Tick, DX: in.DX, DY: in.DY, Aim: in.Aim, Buttons: in.Buttons,
		ViewTick: uint32(in.ViewTick), ViewFrac: in.ViewFrac}
	c.sent[msg.Seq%rttRing] = sentInput{seq: msg.Seq, at: now}
	c.stats.Inputs++
	c.pred.sent(msg.Seq, in)
	c.mu.Unlock()
	return c.write(socket, func(b []byte) []byte { return wire.AppendInput(b, msg) })
}

// Ping sends a Ping; the Pong updates RTT.
func (c *Client) Ping() error {
	c.mu.Lock()
	socket := c.socket
	c.mu.Unlock()
	if socket == nil {
		return ErrClosed
	}
	now := uint32(time.Now().UnixMilli())
	return c.write(socket, func(b []byte) []byte { return wire.AppendPing(b, wire.Ping{Time: now}) })
}

// SendRaw writes arbitrary bytes as one binary message (fault injection and
// tests).
func (c *Client) SendRaw(b []byte) error {
	c.mu.Lock()
	socket := c.socket
	c.mu.Unlock()
	if socket == nil {
		return ErrClosed
	}
	return c.write(socket, func(dst []byte) []byte { return append(dst, b...) })
}

func (c *Client) write(socket *gws.Conn, enc func([]byte) []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = enc(c.wbuf[:0])
	err := socket.WriteMessage(gws.OpcodeBinary, c.wbuf)
	if err == nil {
		c.mu.Lock()
		c.stats.BytesOut += uint64(len(c.wbuf))
		c.mu.Unlock()
	}
	return err
}

// Leave tells the server the player is leaving for good, and closes.
func (c *Client) Leave() error {
	c.mu.Lock()
	socket := c.socket
	c.mu.Unlock()
	if socket != nil {
		_ = c.write(socket, func(b []byte) []byte { return wire.AppendLeave(b) })
	}
	return c.Close()
}

// Close closes the connection (if any) and stops reconnecting; it waits
// for the client's goroutines. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	socket := c.socket
	c.mu.Unlock()
	if socket != nil {
		_ = socket.WriteClose(wire.CodeNormal, nil)
		_ = socket.NetConn().Close()
	}
	c.mu.Lock()
	c.finishLocked()
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// Done is closed when the client is finished: closed, or dropped for good.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err reports why the last connection ended (a *CloseError when the server
// said so), or nil while connected.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Connected reports whether a socket is up.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.socket != nil
}

// Welcome returns the latest Welcome.
func (c *Client) Welcome() wire.Welcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// Tick returns the tick of the last snapshot applied.
func (c *Client) Tick() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mirror.Tick
}

// Seq returns the last input sequence number sent.
func (c *Client) Seq() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// Acked returns the sequence number of the last input the server has
// applied, from the latest snapshot's AckSeq (0: none yet).
func (c *Client) Acked() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastAcked
}

// MatchOver returns the match's end, once it has come.
func (c *Client) MatchOver() (wire.MatchOver, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over == nil {
		return wire.MatchOver{}, false
	}
	return *c.over, true
}

// Stats returns a copy of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Corrections, st.MaxCorrection = c.pred.corrections, c.pred.maxCorrection
	st.InputsForgotten = c.pred.forgotten
	return st
}

// Entities appends the mirrored world to dst, dequantized, sorted by id.
func (c *Client) Entities(dst []game.Entity) []game.Entity {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.mirror.Entities() {
		dst = append(dst, game.Entity{
			ID: game.EntityID(e.ID), Kind: game.Kind(e.Kind), Flags: e.Flags, HP: e.HP,
			Owner: game.PlayerID(e.Owner), Score: e.Score,
			X: wire.Dequantize(e.X), Y: wire.Dequantize(e.Y),
		})
	}
	return dst
}

// Entity returns one mirrored entity.
func (c *Client) Entity(id game.EntityID) (wire.EntityState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mirror.Get(uint32(id))
}
