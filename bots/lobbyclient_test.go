package bots_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/game"
)

// cutter cuts the first ticket event stream right after its first event,
// as a flaky network would, and records the Last-Event-ID of each stream
// request.
type cutter struct {
	mu     sync.Mutex
	cut    bool
	lastID []string
}

func (c *cutter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/events") {
		return resp, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastID = append(c.lastID, r.Header.Get("Last-Event-ID"))
	if !c.cut {
		c.cut = true
		resp.Body = &cutBody{rc: resp.Body}
	}
	return resp, nil
}

// cutBody ends the stream with an error after the first complete event.
type cutBody struct {
	rc  io.ReadCloser
	buf []byte
}

func (b *cutBody) Read(p []byte) (int, error) {
	if i := bytes.Index(b.buf, []byte("event: ")); i >= 0 {
		if j := bytes.Index(b.buf[i:], []byte("\n\n")); j >= 0 {
			return 0, errors.New("connection reset (test)")
		}
	}
	n, err := b.rc.Read(p[:min(len(p), 16)])
	b.buf = append(b.buf, p[:n]...)
	return n, err
}

func (b *cutBody) Close() error { return b.rc.Close() }

// TestEventStreamResumes: a ticket stream that drops after "queued" is
// resumed with Last-Event-ID and still delivers the assignment.
func TestEventStreamResumes(t *testing.T) {
	srv := newServer(t, 0)
	cut := &cutter{}
	lc := bots.NewLobbyClient(srv.URL, &http.Client{Transport: cut})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := lc.Guest(ctx, "resumer")
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := lc.Queue(ctx, s.SessionToken, game.ModeArena) // waits for bot fill
	if err != nil {
		t.Fatal(err)
	}
	as, err := lc.WaitMatched(ctx, s.SessionToken, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if as.MatchID == "" || as.Token == "" || !strings.HasPrefix(as.WSURL, "ws://") {
		t.Fatalf("assignment %+v", as)
	}
	cut.mu.Lock()
	defer cut.mu.Unlock()
	if len(cut.lastID) < 2 || cut.lastID[0] != "" || cut.lastID[1] != "1" {
		t.Fatalf("stream requests' Last-Event-ID: %q", cut.lastID)
	}
	// The reconnect path: a fresh token for the held seat.
	a2, err := lc.MatchToken(ctx, s.SessionToken, as.MatchID)
	if err != nil || a2.Token == "" || a2.MatchID != as.MatchID {
		t.Fatalf("match token %+v, %v", a2, err)
	}
	// A second ticket while seated is refused with the API's code.
	var ae *bots.APIError
	if _, err := lc.Queue(ctx, s.SessionToken, game.ModeArena); !errors.As(err, &ae) || ae.Code != "already_in_match" {
		t.Fatalf("second ticket: %v", err)
	}
}
