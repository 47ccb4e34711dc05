// Package netem is a delaying TCP proxy for tests: it sits on a loopback
// port between clients (browsers, Go bots) and the real server and holds
// every chunk of bytes, in each direction, for a one-way delay plus a
// random jitter before passing it on, the way a slow network would. Order
// is kept as TCP keeps it: a chunk is never released before the one read
// before it (each chunk's release time is max(previous release, arrival +
// delay + jitter)). Cut severs every live connection at once (a dropped
// Wi-Fi, for the reconnect tests); Close stops the proxy and waits for
// every goroutine it started.
//
// The defaults give a 100 ms round trip: 50 ms each way, ±20 ms jitter.
package netem

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ErrConfig is returned by New for an invalid Config.
var ErrConfig = errors.New("netem: invalid config")

// Config configures a Proxy. The zero value of every field but Target
// means its default.
type Config struct {
	// Target is the upstream address every accepted connection is
	// forwarded to, such as "127.0.0.1:8080". Required; it must be a
	// loopback address.
	Target string
	// Listen is the address to accept on. If empty, "127.0.0.1:0" is used;
	// it must be a loopback address.
	Listen string
	// Delay is the one-way delay added in each direction. If zero, 50 ms
	// is used; if negative, no delay.
	Delay time.Duration
	// Jitter is the half-width of the uniform random variation added to
	// Delay for each chunk: each chunk waits Delay + U(-Jitter, +Jitter),
	// never less than 0. If zero, 20 ms is used; if negative, none.
	Jitter time.Duration
	// Seed makes the jitter reproducible.
	Seed uint64
	// ChunkQueue bounds how many read chunks may wait in each direction of
	// a connection; a full queue stops reading (TCP backpressure). If
	// zero, 4096 is used.
	ChunkQueue int
}

// DefaultDelay and DefaultJitter are used when Config leaves them zero.
const (
	DefaultDelay  = 50 * time.Millisecond
	DefaultJitter = 20 * time.Millisecond
)

func (c *Config) setDefaults() error {
	if c.Target == "" {
		return fmt.Errorf("%w: Target is required", ErrConfig)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	for _, a := range []string{c.Target, c.Listen} {
		if err := loopback(a); err != nil {
			return err
		}
	}
	switch {
	case c.Delay == 0:
		c.Delay = DefaultDelay
	case c.Delay < 0:
		c.Delay = 0
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = DefaultJitter
	case c.Jitter < 0:
		c.Jitter = 0
	}
	if c.ChunkQueue == 0 {
		c.ChunkQueue = 4096
	}
	if c.ChunkQueue < 0 {
		return fmt.Errorf("%w: ChunkQueue %d", ErrConfig, c.ChunkQueue)
	}
	return nil
}

// loopback checks that addr is host:port with a loopback host.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrConfig, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q is not a loopback address", ErrConfig, addr)
	}
	return nil
}

// Proxy is a running delaying proxy.
type Proxy struct {
	// immutable after New
	target string
	ln     net.Listener
	queue  int
	done   chan struct{} // closed by Close

	wg sync.WaitGroup // every goroutine the proxy started

	mu       sync.Mutex // guards everything below
	delay    time.Duration
	jitter   time.Duration
	rng      *rand.Rand
	conns    map[*link]struct{}
	accepted int
	cuts     int
	closed   bool
}

// New listens on cfg.Listen and starts forwarding to cfg.Target.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		target: cfg.Target,
		ln:     ln,
		queue:  cfg.ChunkQueue,
		done:   make(chan struct{}),
		delay:  cfg.Delay,
		jitter: cfg.Jitter,
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		conns:  make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address the proxy accepts on ("127.0.0.1:port").
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is "http://" + Addr: open a page from it and both its HTTP requests
// and its WebSocket (a same-origin ws:// URL) go through the proxy.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Set changes the delay and jitter for chunks read from now on (chunks
// already waiting keep their release times, so order is never broken).
// Zero or negative values mean none (unlike Config, where zero means the
// default).
func (p *Proxy) Set(delay, jitter time.Duration) {
	p.mu.Lock()
	p.delay, p.jitter = max(delay, 0), max(jitter, 0)
	p.mu.Unlock()
}

// Stats are a proxy's counters.
type Stats struct {
	Accepted int // connections accepted since New
	Live     int // connections open now
	Cut      int // connections severed by Cut
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Accepted: p.accepted, Live: len(p.conns), Cut: p.cuts}
}

// Cut severs every connection open through the proxy, in both directions
// and without delivering what is still in flight: each side sees its
// connection reset, as when a network drops. The proxy keeps accepting new
// connections. It returns how many connections were cut.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.cuts += len(links)
	p.mu.Unlock()
	for _, l := range links {
		l.sever()
	}
	return len(links)
}

// Close stops accepting, severs every connection and waits until every
// goroutine of the proxy has returned. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if !already {
		close(p.done)
		_ = p.ln.Close()
	}
	p.Cut()
	p.wg.Wait()
	return nil
}

// release returns when a chunk that arrived at arrival and follows a chunk
// released at prev may be released: max(prev, arrival + delay + jitter),
// jitter uniform in [-Jitter, +Jitter], never before arrival.
func (p *Proxy) release(arrival, prev time.Time) time.Time {
	p.mu.Lock()
	d := p.delay
	if p.jitter > 0 {
		d += time.Duration(p.rng.Int64N(int64(2*p.jitter)+1)) - p.jitter
	}
	p.mu.Unlock()
	t := arrival.Add(max(d, 0))
	if t.Before(prev) {
		t = prev
	}
	return t
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve dials the target for one accepted connection and pumps both
// directions until both are finished or the link is severed.
func (p *Proxy) serve(down net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = down.Close()
		return
	}
	l := &link{down: down, up: up, severed: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = down.Close()
		_ = up.Close()
		return
	}
	p.conns[l] = struct{}{}
	p.accepted++
	p.mu.Unlock()

	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() { defer pumps.Done(); p.pump(l, down, up) }()
	go func() { defer pumps.Done(); p.pump(l, up, down) }()
	pumps.Wait()
	l.closeBoth()
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

// link is one proxied connection: the accepted side and the upstream side.
type link struct {
	down, up net.Conn
	severed  chan struct{} // closed by sever
	once     sync.Once
}

// sever resets both sides at once and drops what is in flight.
func (l *link) sever() {
	l.once.Do(func() {
		close(l.severed)
		for _, c := range []net.Conn{l.down, l.up} {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, like a dropped network
			}
			_ = c.Close()
		}
	})
}

// closeBoth closes both sides after both directions ended normally.
func (l *link) closeBoth() {
	l.once.Do(func() {
		_ = l.down.Close()
		_ = l.up.Close()
	})
}

// chunk is bytes read from one side, due on the other at release.
type chunk struct {
	b       []byte
	release time.Time
}

// pump forwards src to dst: a reader stamps each chunk with its release
// time and queues it; the writer (this goroutine) waits until then and
// writes it. At EOF the writer half-closes dst after the last chunk.
func (p *Proxy) pump(l *link, src, dst net.Conn) {
	q := make(chan chunk, p.queue)
	severed := l.severed
	var rd sync.WaitGroup
	rd.Add(1)
	go func() {
		defer rd.Done()
		defer close(q)
		var prev time.Time
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				now := time.Now()
				prev = p.release(now, prev)
				select {
				case q <- chunk{b: buf[:n], release: prev}:
				case <-severed:
					return
				}
			}
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				// A reset (or our own sever): drop everything in
				// flight, as a broken TCP connection does.
				l.sever()
				return
			}
		}
	}()
	defer rd.Wait()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for c := range q {
		if wait := time.Until(c.release); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-severed:
				drain(q)
				return
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			// The other side is gone: stop reading this one too.
			l.sever()
			drain(q)
			return
		}
	}
	// src reached EOF and every chunk is delivered: pass the half-close
	// on.
	if tc, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	if tc, ok := src.(interface{ CloseRead() error }); ok {
		_ = tc.CloseRead()
	}
}

// drain empties q until its reader closes it.
func drain(q <-chan chunk) {
	for range q {
	}
}
