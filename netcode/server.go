package netcode

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// loopReadBuf is the read buffer of a loop-path socket (gws pools them):
// client frames are tiny, and one that is not is read through it.
const loopReadBuf = 512

// Server hosts matches and serves the game WebSocket.
type Server struct {
	// immutable after New
	cfg      Config
	log      *zap.Logger
	upgrader *gws.Upgrader
	ctx      context.Context
	cancel   context.CancelFunc
	stats    Stats
	draining atomic.Bool // Drain was called: no new matches

	wg sync.WaitGroup // every room, read loop and writer goroutine

	mu      sync.Mutex
	rooms   map[string]*room      // guarded by mu
	conns   map[*conn]struct{}    // guarded by mu
	closed  bool                  // guarded by mu
	pending int                   // guarded by mu; sockets before their Hello
	byAddr  map[string]*addrConns // guarded by mu; open and pending sockets by client address
	ended   LoopTotals            // guarded by mu: the loop counters of removed rooms
}

// addrConns counts one client address's sockets, and lists those still
// waiting for their Hello, oldest first.
type addrConns struct {
	open    int
	pending []*conn
}

// admit reserves a socket slot for c at c.addr, or says which cap refused
// it ("address" or "server"). An address at its cap of sockets without a
// Hello does not refuse a new one: its oldest such socket is closed to
// make room (returned as evict). So a flood of silent sockets from one
// address holds at most MaxPendingPerAddr of them, and an honest client
// behind the same address (a NAT) still gets in: it sends its Hello at
// once, long before the flood could push it out.
func (s *Server) admit(c *conn) (refused string, evict *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byAddr[c.addr]
	if a == nil {
		a = &addrConns{}
	}
	switch {
	case len(s.conns) >= s.cfg.MaxConns || s.pending >= s.cfg.MaxPending:
		return "server", nil
	case a.open >= s.cfg.MaxConnsPerAddr:
		return "address", nil
	case len(a.pending) >= s.cfg.MaxPendingPerAddr:
		evict = a.pending[0]
		a.pending = a.pending[1:]
		evict.pending.Store(false)
		s.pending--
	}
	a.open++
	a.pending = append(a.pending, c)
	c.pending.Store(true)
	s.pending++
	s.byAddr[c.addr] = a
	return "", evict
}

// settled ends c's pending state (its Hello was handled, or it closed);
// only the first call counts.
func (s *Server) settled(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.pending.CompareAndSwap(true, false) {
		return
	}
	s.pending--
	if a := s.byAddr[c.addr]; a != nil {
		for i, p := range a.pending {
			if p == c {
				a.pending = append(a.pending[:i], a.pending[i+1:]...)
				break
			}
		}
	}
}

// release returns c's socket slot; only the first call counts.
func (s *Server) release(c *conn) {
	s.settled(c)
	if !c.released.CompareAndSwap(false, true) {
		return
	}
	s.mu.Lock()
	if a := s.byAddr[c.addr]; a != nil {
		if a.open--; a.open <= 0 {
			delete(s.byAddr, c.addr)
		}
	}
	s.mu.Unlock()
}

// New returns a Server ready to serve; it starts no goroutines until a
// match is created or a socket connects.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		rooms:  make(map[string]*room),
		conns:  make(map[*conn]struct{}),
		byAddr: make(map[string]*addrConns),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.upgrader = gws.NewUpgrader(s, &gws.ServerOption{
		ReadMaxPayloadSize: wire.MaxClientFrame, // a peer cannot make us allocate more
		ReadBufferSize:     loopReadBuf,         // client frames are tiny
		ParallelEnabled:    false,               // a connection's inputs stay in order
		ParallelGolimit:    1,
		// Snapshots are already compact binary; deflate would cost ~50x per write.
		PermessageDeflate: gws.PermessageDeflate{Enabled: false},
		HandshakeTimeout:  cfg.HandshakeTimeout,
		NewSession:        func() gws.SessionStorage { return &connSlot{} },
		Logger:            gwsLogger{cfg.Logger},
		Recovery:          s.recoverGWS,
	})
	return s, nil
}

type gwsLogger struct{ l *zap.Logger }

func (g gwsLogger) Error(v ...any) { g.l.Error("gws", zap.String("error", fmt.Sprint(v...))) }

func (s *Server) recoverGWS(gws.Logger) {
	if r := recover(); r != nil {
		s.stats.Panics.Add(1)
		s.log.Error("panic in websocket handler", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
	}
}

// Stats returns the server's live counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Handler returns the HTTP handler of the game WebSocket (mount it at
// GET /v1/ws).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveWS) }

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	c := &conn{
		srv:       s,
		addr:      s.cfg.ClientAddr(r),
		remote:    r.RemoteAddr,
		wantMatch: r.URL.Query().Get("match"),
		limiter:   newFrameBucket(s.cfg.MessageRate, s.cfg.MessageBurst),
	}
	refused, evict := s.admit(c)
	if evict != nil {
		s.evictPending(evict)
	}
	switch refused {
	case "address":
		s.stats.ConnsRefused.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many sockets from this address", http.StatusTooManyRequests)
		return
	case "server":
		s.stats.ConnsRefused.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many sockets", http.StatusServiceUnavailable)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.release(c)
		http.Error(w, "websocket upgrade needs a hijackable connection", http.StatusInternalServerError)
		return
	}
	netConn, brw, err := hj.Hijack()
	if err != nil {
		s.release(c)
		return
	}
	// The HTTP server's read and write deadlines (ReadTimeout) must not
	// outlive the request: the socket's own timeouts take over.
	_ = netConn.SetDeadline(time.Time{})
	var pre []byte
	if n := brw.Reader.Buffered(); n > 0 {
		pre, _ = brw.Reader.Peek(n)
		pre = append([]byte(nil), pre...)
	}
	if s.cfg.ReadPath == ReadPathTick {
		c.tick = newTickConn(c, netConn) // nil for a socket without a file descriptor (TLS): the loop path serves it
	}
	var socket *gws.Conn
	if c.tick != nil {
		// gws answers the upgrade and frames the writes of the handshake
		// and closing phases; reads are ours (helloLoop, then the match).
		socket, err = s.upgrader.UpgradeFromConn(netConn, nil, r)
	} else {
		meter := &frameMeter{Conn: netConn, c: c, pre: pre}
		socket, err = s.upgrader.UpgradeFromConn(meter, bufio.NewReaderSize(meter, loopReadBuf), r)
	}
	if err != nil {
		s.release(c)
		return // gws has answered the request and closed the connection
	}
	c.socket = socket
	c.out = newOutbox(c.startWriter)
	if c.tick != nil {
		c.out.idle = c.writerIdle
	}
	c.lastRecv.Store(time.Now().UnixNano())
	socket.Session().Store("conn", c)
	if !s.track(c) {
		s.release(c)
		_ = socket.WriteClose(wire.CodeGoingAway, []byte("server shutting down"))
		return
	}
	c.handshake = time.AfterFunc(s.cfg.HandshakeTimeout, func() {
		if c.state.Load() == stateHandshake {
			c.fail(wire.CodeHandshakeTimeout, "no hello within the handshake deadline")
		}
	})
	if c.tick != nil {
		go c.helloLoop(pre)
	} else {
		go func() {
			defer s.wg.Done()
			socket.ReadLoop()
		}()
	}
	if !c.setup.CompareAndSwap(setupRunning, setupDone) {
		c.fail(wire.CodeHandshakeTimeout, evictText) // evicted while it was being set up
	}
}

const (
	setupRunning int32 = iota // serveWS is still setting the socket up
	setupDone                 // the socket is up: fail works
	setupEvicted              // evicted before it was up: serveWS closes it
	evictText    = "no hello, and newer sockets from this address are waiting"
)

// evictPending closes c, a socket without a Hello, to make room for a
// newer one from its address.
func (s *Server) evictPending(c *conn) {
	s.stats.PendingEvicted.Add(1)
	if c.setup.CompareAndSwap(setupRunning, setupEvicted) {
		return
	}
	c.fail(wire.CodeHandshakeTimeout, evictText)
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1) // the read loop; writers add themselves while it runs
	s.stats.ConnsOpen.Add(1)
	s.stats.ConnsTotal.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.stats.ConnsOpen.Add(-1)
	}
	s.mu.Unlock()
	s.release(c)
}

func (s *Server) room(id string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

func (s *Server) removeRoom(r *room) {
	s.mu.Lock()
	if s.rooms[r.id] == r {
		delete(s.rooms, r.id)
		s.ended.add(r.loop.Stats()) // in the same critical section: totals never dip
	}
	s.mu.Unlock()
}

// LoopTotals returns the match loops' counters summed over every match
// this server has run, running or ended, so exporters can report them as
// monotonic counters.
func (s *Server) LoopTotals() LoopTotals {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ended
	for _, r := range s.rooms {
		t.add(r.loop.Stats())
	}
	return t
}

// ConnStates counts the open sockets by state: waiting for their hello,
// seated in a match, and closing.
func (s *Server) ConnStates() (handshake, playing, closing int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		switch c.state.Load() {
		case stateHandshake:
			handshake++
		case stateAttached:
			playing++
		default:
			closing++
		}
	}
	return handshake, playing, closing
}

// CreateMatch starts a match and returns its summary.
func (s *Server) CreateMatch(spec MatchSpec) (MatchInfo, error) {
	if s.draining.Load() {
		return MatchInfo{}, ErrDraining
	}
	mode, ok := findMode(s.cfg.Modes, spec.Mode)
	if !ok {
		return MatchInfo{}, fmt.Errorf("%w: %q", game.ErrUnknownMode, spec.Mode)
	}
	if spec.ID == "" {
		spec.ID = randomID()
	}
	if spec.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		for _, v := range b {
			spec.Seed = spec.Seed<<8 | uint64(v)
		}
	}
	if len(spec.Players)+spec.Bots > mode.MaxPlayers {
		return MatchInfo{}, fmt.Errorf("netcode: %d players and %d bots exceed %s's %d seats", len(spec.Players), spec.Bots, mode.Name, mode.MaxPlayers)
	}
	r, err := newRoom(s, spec, mode)
	if err != nil {
		return MatchInfo{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		r.cancel()
		return MatchInfo{}, ErrServerClosed
	}
	if _, dup := s.rooms[r.id]; dup {
		s.mu.Unlock()
		r.cancel()
		return MatchInfo{}, fmt.Errorf("netcode: match %q already exists", r.id)
	}
	s.rooms[r.id] = r
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.MatchesStarted.Add(1)
	go r.run()
	r.log.Info("match started", zap.Int("players", len(spec.Players)), zap.Int("bots", spec.Bots), zap.Int("hz", r.hz), zap.Float32("interest", r.interest))
	return r.Info(), nil
}

func findMode(modes []game.Mode, name string) (game.Mode, bool) {
	for _, m := range modes {
		if m.Name == name {
			return m, true
		}
	}
	return game.Mode{}, false
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Matches returns a summary of every running match, sorted by id.
func (s *Server) Matches() []MatchInfo {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	out := make([]MatchInfo, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, r.Info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Match returns the summary of one running match.
func (s *Server) Match(id string) (MatchInfo, bool) {
	r := s.room(id)
	if r == nil {
		return MatchInfo{}, false
	}
	return r.Info(), true
}

// Shutdown stops every match, closes every socket with 1001 (after the
// messages already queued), and waits for every goroutine, or until ctx
// ends, when remaining sockets are cut. It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel() // rooms close their seated sockets with 1001
	for _, c := range conns {
		if c.state.Load() == stateHandshake {
			c.closeQuiet(wire.CodeGoingAway, "server shutting down")
		}
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		if c.tick != nil {
			c.tick.cut()
		} else {
			_ = c.socket.NetConn().Close()
		}
		c.out.kill()
	}
	s.mu.Unlock()
	// The deadline is the deadline: a match goroutine stuck in its rules
	// is abandoned to the process's exit rather than waited for.
	select {
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
	return ctx.Err()
}

// Drain stops the server from creating matches and waits until every
// running match has ended by itself, or ctx is done (then it returns
// ctx.Err() and the matches still running are left to Shutdown, which ends
// them with a "shutdown" MatchOver). Sockets of running matches keep
// playing meanwhile, and reconnects to them are still accepted.
func (s *Server) Drain(ctx context.Context) error {
	s.draining.Store(true)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.rooms)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Draining reports whether Drain has been called.
func (s *Server) Draining() bool { return s.draining.Load() }

// KickPlayer closes every live socket of player p with code and text (after
// a logout: wire.CodeTokenRevoked), releasing their seats at once as if the
// player had left. It returns how many sockets it closed.
func (s *Server) KickPlayer(p game.PlayerID, code uint16, text string) int {
	s.mu.Lock()
	var kick []*conn
	for c := range s.conns {
		if game.PlayerID(c.seatedAs.Load()) == p {
			kick = append(kick, c)
		}
	}
	s.mu.Unlock()
	for _, c := range kick {
		c.leaving.Store(true)
		c.fail(code, text)
	}
	return len(kick)
}
