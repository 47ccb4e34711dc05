package reacte2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rallypoint/rallypoint/internal/testkit"
)

func TestCounter(t *testing.T) {
	var c Counter
	release := make(chan struct{})
	h := c.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/ws" {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			<-release
			conn.Close()
			conn.Close() // counted once
			return
		}
		<-release
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	done := make(chan struct{})
	for _, p := range []string{"/v1/ws", "/v1/ws", "/v1/tickets/t1/events", "/v1/healthz"} {
		go func() {
			defer func() { done <- struct{}{} }()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			_, _ = conn.Write([]byte("GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n"))
			_, _ = conn.Read(make([]byte, 1))
		}()
	}
	testkit.WaitFor(t, "two sockets and a stream", func() bool { g := c.Get(); return g.WSOpen == 2 && g.SSEOpen == 1 })
	close(release)
	for range 4 {
		<-done
	}
	testkit.WaitFor(t, "everything closed", func() bool { g := c.Get(); return g.WSOpen == 0 && g.SSEOpen == 0 })
	got := c.Get()
	if got.WSMax != 2 || got.WSTotal != 2 || got.SSEMax != 1 || got.SSETotal != 1 {
		t.Fatalf("counts %+v", got)
	}
	c.Reset()
	if got := c.Get(); got.WSMax != 0 || got.WSTotal != 0 || got.SSEMax != 0 {
		t.Fatalf("after reset %+v", got)
	}
}
