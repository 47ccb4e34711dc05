// Package floor is the raw TCP floor of the arena-8x32 bench: the least a
// Go server of Rallypoint's current design (a goroutine per connection
// blocking in read, a tick goroutine writing) can spend to move the same
// bytes, with no WebSocket, no lobby and no game. Its server and its load
// process run as separate processes (cmd/bench floor-server and
// floor-load), measured by internal/benchrun like the real server.
//
// The protocol: a client connects and sends fixed-size UpSize-byte
// messages, one per tick, the first of which is its hello; once the server
// has read a valid hello it seats the connection, and every tick writes one
// DownSize-byte message to every seated connection. Every message starts
// with a 4-byte magic and a little-endian uint32 (the input's sequence
// number up, the tick down); the rest is padding.
package floor

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Message sizes: what a Rallypoint client sends (an input frame) and
// receives (a snapshot frame) per tick in arena-8x32, headers included.
const (
	UpSize   = 36
	DownSize = 140
)

var (
	upMagic   = [4]byte{'R', 'P', 'F', 'u'}
	downMagic = [4]byte{'R', 'P', 'F', 'd'}
)

// Errors.
var (
	ErrBadMessage = errors.New("floor: bad message")
	ErrConfig     = errors.New("floor: invalid config")
)

// PutUp writes an up message with sequence number seq into b (UpSize bytes).
func PutUp(b []byte, seq uint32) {
	_ = b[UpSize-1]
	copy(b, upMagic[:])
	binary.LittleEndian.PutUint32(b[4:], seq)
	clear(b[8:UpSize])
}

// PutDown writes a down message for tick into b (DownSize bytes).
func PutDown(b []byte, tick uint32) {
	_ = b[DownSize-1]
	copy(b, downMagic[:])
	binary.LittleEndian.PutUint32(b[4:], tick)
	clear(b[8:DownSize])
}

// ParseUp checks an up message and returns its sequence number.
func ParseUp(b []byte) (uint32, error) {
	if len(b) != UpSize || [4]byte(b[:4]) != upMagic {
		return 0, ErrBadMessage
	}
	return binary.LittleEndian.Uint32(b[4:]), nil
}

// ParseDown checks a down message and returns its tick.
func ParseDown(b []byte) (uint32, error) {
	if len(b) != DownSize || [4]byte(b[:4]) != downMagic {
		return 0, ErrBadMessage
	}
	return binary.LittleEndian.Uint32(b[4:]), nil
}

// ServerConfig configures a Server.
type ServerConfig struct {
	// Hz is the tick rate. If zero, 30 is used.
	Hz int
	// HelloTimeout bounds the wait for a connection's first message. If
	// zero, 10 s is used.
	HelloTimeout time.Duration
}

// Stats are a server's counters.
type Stats struct {
	Connections int64  // seated connections now
	Ticks       uint64 // ticks run
	Inputs      uint64 // up messages read, hellos included
	Refused     uint64 // connections closed for a bad or missing hello
}

// Server is the floor's server: a goroutine per connection blocking in
// read of UpSize-byte messages, and one tick goroutine that writes a
// DownSize-byte message to every seated connection each tick.
type Server struct {
	// immutable after NewServer
	cfg ServerConfig

	mu     sync.Mutex // guards the fields below
	seated []*conn
	open   map[net.Conn]struct{}
	closed bool

	ticks, inputs, refused atomic.Uint64
	wg                     sync.WaitGroup // connection goroutines
}

type conn struct {
	nc  net.Conn
	idx int // place in Server.seated; guarded by Server.mu
}

// NewServer validates cfg and returns a server ready to Serve.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Hz == 0 {
		cfg.Hz = 30
	}
	if cfg.Hz < 1 || cfg.Hz > 1000 {
		return nil, fmt.Errorf("%w: Hz %d out of 1..1000", ErrConfig, cfg.Hz)
	}
	if cfg.HelloTimeout == 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.HelloTimeout < 0 {
		return nil, fmt.Errorf("%w: negative HelloTimeout", ErrConfig)
	}
	return &Server{cfg: cfg, open: make(map[net.Conn]struct{})}, nil
}

// Serve accepts connections on ln and ticks until ctx is done, then closes
// ln and every connection and waits for its goroutines. It returns nil
// after ctx ends, or the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var tickWG sync.WaitGroup
	tickWG.Add(1)
	go func() {
		defer tickWG.Done()
		s.tickLoop(ctx)
	}()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var err error
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = aerr
			}
			break
		}
		if !s.track(nc) {
			_ = nc.Close()
			continue
		}
		s.wg.Add(1)
		go s.serveConn(nc)
	}
	cancel()
	// Close the connections before waiting for the tick goroutine: a write
	// to a client that stopped reading blocks until its socket closes.
	s.mu.Lock()
	s.closed = true
	for nc := range s.open {
		_ = nc.Close()
	}
	s.mu.Unlock()
	tickWG.Wait()
	s.wg.Wait()
	return err
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.open[nc] = struct{}{}
	return true
}

// serveConn reads the hello, seats the connection, then blocks in read of
// one message at a time until the connection ends.
func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.open, nc)
		s.mu.Unlock()
		_ = nc.Close()
	}()
	var buf [UpSize]byte
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.HelloTimeout))
	if _, err := io.ReadFull(nc, buf[:]); err != nil {
		s.refused.Add(1)
		return
	}
	if _, err := ParseUp(buf[:]); err != nil {
		s.refused.Add(1)
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	s.inputs.Add(1)
	c := &conn{nc: nc}
	s.mu.Lock()
	c.idx = len(s.seated)
	s.seated = append(s.seated, c)
	s.mu.Unlock()
	defer s.unseat(c)
	for {
		if _, err := io.ReadFull(nc, buf[:]); err != nil {
			return
		}
		if [4]byte(buf[:4]) != upMagic {
			return
		}
		s.inputs.Add(1)
	}
}

func (s *Server) unseat(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.seated[len(s.seated)-1]
	s.seated[c.idx], last.idx = last, c.idx
	s.seated[len(s.seated)-1] = nil
	s.seated = s.seated[:len(s.seated)-1]
}

// tickLoop writes one down message to every seated connection each tick.
// Writes block: a client that stops reading stalls every tick (the floor
// measures; it does not defend itself, and its load always reads).
func (s *Server) tickLoop(ctx context.Context) {
	t := time.NewTicker(time.Second / time.Duration(s.cfg.Hz))
	defer t.Stop()
	var msg [DownSize]byte
	var batch []net.Conn
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tick := uint32(s.ticks.Add(1))
		PutDown(msg[:], tick)
		s.mu.Lock()
		for _, c := range s.seated {
			batch = append(batch, c.nc)
		}
		s.mu.Unlock()
		for i, nc := range batch {
			if _, err := nc.Write(msg[:]); err != nil {
				_ = nc.Close() // its reader unseats it
			}
			batch[i] = nil
		}
		batch = batch[:0]
	}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.seated)
	s.mu.Unlock()
	return Stats{Connections: int64(n), Ticks: s.ticks.Load(), Inputs: s.inputs.Load(), Refused: s.refused.Load()}
}

// Handler serves the two reads the bench makes of a Rallypoint server, in
// the same JSON shapes: GET /healthz ({"connections": n, "matches": 1}) and
// GET /v1/matches (one match, id "floor", with the tick count).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		st := s.Stats()
		writeJSON(w, map[string]any{"connections": st.Connections, "matches": 1, "inputs": st.Inputs, "refused": st.Refused})
	})
	mux.HandleFunc("GET /v1/matches", func(w http.ResponseWriter, _ *http.Request) {
		st := s.Stats()
		writeJSON(w, map[string]any{"matches": []map[string]any{{"id": "floor", "tick": uint32(st.Ticks), "players": st.Connections}}})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
