package reacte2e

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
)

// Counter wraps the server's handler and counts what a browser holds open:
// game sockets (GET /v1/ws, from the upgrade until the server closes the
// hijacked connection) and ticket event streams (GET
// /v1/tickets/{id}/events, while the handler runs). Max is the most open
// at any moment since the last Reset.
type Counter struct {
	mu              sync.Mutex // guards everything below
	wsOpen, wsMax   int
	wsTotal         int
	sseOpen, sseMax int
	sseTotal        int
	wsTotalAtReset  int
	sseTotalAtReset int
}

// Counts is a snapshot of a Counter. Totals count since the last Reset.
type Counts struct {
	WSOpen   int `json:"ws_open"`
	WSMax    int `json:"ws_max"`
	WSTotal  int `json:"ws_total"`
	SSEOpen  int `json:"sse_open"`
	SSEMax   int `json:"sse_max"`
	SSETotal int `json:"sse_total"`
}

// Wrap returns h with counting.
func (c *Counter) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/ws" && r.Method == http.MethodGet:
			h.ServeHTTP(&hijackCounter{ResponseWriter: w, c: c}, r)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/tickets/") && strings.HasSuffix(r.URL.Path, "/events"):
			c.add(&c.sseOpen, &c.sseMax, &c.sseTotal, 1)
			defer c.add(&c.sseOpen, &c.sseMax, nil, -1)
			h.ServeHTTP(w, r)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func (c *Counter) add(open, max, total *int, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*open += d
	if *open > *max {
		*max = *open
	}
	if total != nil && d > 0 {
		*total++
	}
}

// Get returns the counts.
func (c *Counter) Get() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Counts{WSOpen: c.wsOpen, WSMax: c.wsMax, WSTotal: c.wsTotal - c.wsTotalAtReset,
		SSEOpen: c.sseOpen, SSEMax: c.sseMax, SSETotal: c.sseTotal - c.sseTotalAtReset}
}

// Reset starts new maxima (at what is open now) and new totals.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wsMax, c.sseMax = c.wsOpen, c.sseOpen
	c.wsTotalAtReset, c.sseTotalAtReset = c.wsTotal, c.sseTotal
}

// ServeHTTP serves the counts (GET) and Reset (POST), for the Node scripts.
func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		c.Reset()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(c.Get())
}

// hijackCounter counts the socket a game upgrade hijacks until it is closed.
type hijackCounter struct {
	http.ResponseWriter
	c *Counter
}

func (h *hijackCounter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.c.add(&h.c.wsOpen, &h.c.wsMax, &h.c.wsTotal, 1)
	return &countedConn{Conn: conn, c: h.c}, rw, nil
}

func (h *hijackCounter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

type countedConn struct {
	net.Conn
	c    *Counter
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() { cc.c.add(&cc.c.wsOpen, &cc.c.wsMax, nil, -1) })
	return cc.Conn.Close()
}
