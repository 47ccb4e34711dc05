package lobby

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Event ids of a ticket stream. Every queued event carries eventIDQueued
// and the terminal event (matched, cancelled or expired) eventIDFinal, so a
// resuming stream (Last-Event-ID) is answered from the ticket's current
// state: whatever the client saw, it then gets the outcome if there is one.
// A matched ticket whose match was lost with its node later shows "lost"
// with eventIDLost, so a stream resumed after "matched" still gets it.
const (
	eventIDQueued = "1"
	eventIDFinal  = "2"
)

// handleEvents serves GET /v1/tickets/{id}/events, a text/event-stream.
//
// The ticket id (128 random bits) is the only credential: it authorizes
// reading this one stream, so a browser can use new EventSource(url)
// without an Authorization header. A socket token minted for the stream is
// as sensitive as the ticket id is secret; the session token never appears
// in a URL.
func (l *Lobby) handleEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validTicketID(id) {
		l.fail(w, r, ErrTicketNotFound)
		return
	}
	t, err := l.ticket(TicketID(id))
	if err != nil {
		l.fail(w, r, err)
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId") // for EventSource polyfills
	}
	if t.Status.Terminal() && (last == eventIDFinal && t.Status != StatusLost || last == eventIDLost) {
		// The client already has the outcome. 204 tells EventSource to
		// stop reconnecting (HTML Living Standard, server-sent events).
		w.WriteHeader(http.StatusNoContent)
		return
	}
	release, refused := l.streams.acquire(l.realIP.Addr(r), t.ID)
	if refused != "" {
		l.stats.streamsRefused.Add(1)
		status, code := http.StatusTooManyRequests, "too_many_streams"
		if refused == "server" {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Retry-After", "5")
		writeError(w, status, code, "too many open event streams (per "+refused+"); retry later")
		return
	}
	defer release()
	if !l.enter() {
		l.fail(w, r, ErrClosed)
		return
	}
	defer l.wg.Done()
	defer l.unwatch(t.ID)
	l.stats.sseOpen.Add(1)
	defer l.stats.sseOpen.Add(-1)

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's WriteTimeout
	_ = rc.SetReadDeadline(time.Time{})  // and its ReadTimeout, meant for request bodies
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", l.cfg.SSERetry.Milliseconds()); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}

	keepAlive := time.NewTicker(l.cfg.SSEKeepAlive)
	defer keepAlive.Stop()
	update := time.NewTicker(l.cfg.SSEUpdateInterval)
	defer update.Stop()
	var sent []byte
	for {
		changed := l.watch(t.ID) // before reading, so no change is missed
		done, err := l.sendTicket(w, r, rc, t.ID, &sent)
		if done {
			return
		}
		if err != nil {
			// The store is unreachable: keep the stream (an EventSource
			// does not retry after an error status) and read again at the
			// next change or update tick.
			l.log.Debug("event stream: store unavailable", zap.Error(err))
		}
		select {
		case <-changed:
		case <-update.C:
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-l.done:
			return
		}
	}
}

// sendTicket reads the ticket and writes an event if its view changed since
// sent. done means the stream is over (terminal event written, ticket
// pruned, or the client gone); a non-nil error with done false means the
// store is unavailable for now.
func (l *Lobby) sendTicket(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, id TicketID, sent *[]byte) (done bool, err error) {
	t, err := l.ticket(id)
	if errors.Is(err, ErrStoreUnavailable) {
		return false, err
	}
	if err != nil {
		return true, nil // pruned
	}
	v, err := l.view(r, t)
	if errors.Is(err, ErrStoreUnavailable) {
		return false, err
	}
	if err != nil {
		status, code := errorStatus(err)
		l.log.Debug("event stream: view", zap.Int("status", status), zap.Error(err))
		_ = writeEvent(w, "error", "", apiError{Error: apiErrorBody{Code: code, Message: "cannot render ticket"}})
		_ = rc.Flush()
		return true, nil
	}
	if t.Status.Terminal() {
		id := eventIDFinal
		if t.Status == StatusLost {
			id = eventIDLost // after a "matched" event (id 2) the client saw
		}
		if writeEvent(w, string(t.Status), id, v) == nil {
			_ = rc.Flush()
		}
		return true, nil
	}
	v.ExpiresAt = time.Time{} // compare queued views without noise
	b, _ := json.Marshal(v)
	if string(b) != string(*sent) {
		v.ExpiresAt = t.Expires
		if writeEvent(w, "queued", eventIDQueued, v) != nil || rc.Flush() != nil {
			return true, nil
		}
		*sent = b
	}
	return false, nil
}

// writeEvent writes one SSE event whose data is v as JSON on one line.
func writeEvent(w http.ResponseWriter, event, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if id != "" {
		if _, err := fmt.Fprintf(w, "id: %s\n", id); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	return err
}
