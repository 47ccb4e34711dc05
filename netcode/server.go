package netcode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// Server hosts matches and serves the game WebSocket.
type Server struct {
	// immutable after New
	cfg      Config
	log      *zap.Logger
	upgrader *gws.Upgrader
	ctx      context.Context
	cancel   context.CancelFunc
	stats    Stats

	wg sync.WaitGroup // every room, read loop and writer goroutine

	mu     sync.Mutex
	rooms  map[string]*room   // guarded by mu
	conns  map[*conn]struct{} // guarded by mu
	closed bool               // guarded by mu
	ended  LoopTotals         // guarded by mu: the loop counters of removed rooms
}

// New returns a Server ready to serve; it starts no goroutines until a
// match is created or a socket connects.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger,
		rooms: make(map[string]*room),
		conns: make(map[*conn]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.upgrader = gws.NewUpgrader(s, &gws.ServerOption{
		ReadMaxPayloadSize: wire.MaxClientFrame, // a peer cannot make us allocate more
		ReadBufferSize:     1024,                // client frames are tiny
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
	socket, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		return // gws has answered the request
	}
	c := &conn{
		srv:       s,
		socket:    socket,
		remote:    r.RemoteAddr,
		wantMatch: r.URL.Query().Get("match"),
		limiter:   rate.NewLimiter(rate.Limit(s.cfg.MessageRate), s.cfg.MessageBurst),
	}
	c.out = newOutbox(c.startWriter)
	c.lastRecv.Store(time.Now().UnixNano())
	socket.Session().Store("conn", c)
	if !s.track(c) {
		_ = socket.WriteClose(wire.CodeGoingAway, []byte("server shutting down"))
		return
	}
	c.handshake = time.AfterFunc(s.cfg.HandshakeTimeout, func() {
		if c.state.Load() == stateHandshake {
			c.fail(wire.CodeHandshakeTimeout, "no hello within the handshake deadline")
		}
	})
	go func() {
		defer s.wg.Done()
		socket.ReadLoop()
	}()
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
		_ = c.socket.NetConn().Close()
		c.out.kill()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}
