package bots

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Errors from the lobby client.
var (
	// ErrLobby wraps an error answer of the lobby API; see *APIError.
	ErrLobby = errors.New("bots: lobby refused")
	// ErrTicketEnded is returned when a ticket ends without a match
	// (cancelled or expired).
	ErrTicketEnded = errors.New("bots: ticket ended without a match")
	// ErrStream is returned when a ticket's event stream keeps failing.
	ErrStream = errors.New("bots: ticket event stream failed")
)

// APIError is an error answer of the lobby API.
type APIError struct {
	Status  int
	Code    string // such as "already_in_match", "not_seated"
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("bots: lobby: %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap makes errors.Is(err, ErrLobby) true.
func (e *APIError) Unwrap() error { return ErrLobby }

// lobbyCode returns the API error code of err, or "".
func lobbyCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// Session is a signed-in player.
type Session struct {
	PlayerID     uint32    `json:"player_id"`
	Name         string    `json:"name"`
	SessionToken string    `json:"session_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// Assignment is where a matched player goes: the match, its socket URL and
// a socket token.
type Assignment struct {
	MatchID      string `json:"match_id"`
	WSURL        string `json:"ws_url"`
	Token        string `json:"token"`
	Bots         int    `json:"bots"`
	SeatReleased bool   `json:"seat_released"`
}

// ticketView is the part of a ticket the bots read.
type ticketView struct {
	TicketID   string      `json:"ticket_id"`
	Status     string      `json:"status"`
	Assignment *Assignment `json:"assignment"`
}

// LobbyClient speaks the lobby HTTP API (docs/lobby-api.md) as a game
// client does. It retries answers of 429 after Retry-After, and is safe
// for concurrent use.
type LobbyClient struct {
	// immutable after NewLobbyClient
	base string
	http *http.Client

	limited atomic.Uint64 // answers of 429 (each retried after Retry-After)
}

// RateLimited reports how many answers of 429 the client has had.
func (l *LobbyClient) RateLimited() uint64 { return l.limited.Load() }

// NewLobbyClient returns a client of the lobby at base (such as
// "http://127.0.0.1:8080"). If hc is nil, a client with a transport suited
// to thousands of bots on one host is used.
func NewLobbyClient(base string, hc *http.Client) *LobbyClient {
	if hc == nil {
		hc = &http.Client{Transport: NewTransport()}
	}
	return &LobbyClient{base: strings.TrimRight(base, "/"), http: hc}
}

// NewTransport returns an HTTP transport for many bots talking to one
// lobby: a bounded pool of kept-alive connections, no proxy.
func NewTransport() *http.Transport {
	return &http.Transport{
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// requestTimeout bounds one ordinary API call (not event streams).
const requestTimeout = 15 * time.Second

// maxRetries429 bounds how often a rate-limited call is retried.
const maxRetries429 = 20

// call sends a JSON request and decodes a JSON answer into out.
func (l *LobbyClient) call(ctx context.Context, method, path, bearer string, body, out any, want ...int) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		retry, err := l.once(ctx, method, path, bearer, payload, out, want)
		if retry <= 0 || attempt >= maxRetries429 {
			return err
		}
		if err := sleep(ctx, retry+rand.N(retry/2+1)); err != nil {
			return err
		}
	}
}

// once makes one attempt; retry > 0 asks to try again after that long.
func (l *LobbyClient) once(ctx context.Context, method, path, bearer string, payload []byte, out any, want []int) (retry time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	ok := false
	for _, w := range want {
		ok = ok || resp.StatusCode == w
	}
	if !ok {
		ae := &APIError{Status: resp.StatusCode}
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.NewDecoder(io.LimitReader(resp.Body, 8<<10)).Decode(&e) == nil {
			ae.Code, ae.Message = e.Error.Code, e.Error.Message
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			l.limited.Add(1)
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			return time.Duration(max(secs, 1)) * time.Second, ae
		}
		return 0, ae
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, nil
	}
	return 0, json.NewDecoder(resp.Body).Decode(out)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Guest signs in a new guest player (POST /v1/auth/guest).
func (l *LobbyClient) Guest(ctx context.Context, name string) (Session, error) {
	var s Session
	err := l.call(ctx, "POST", "/v1/auth/guest", "", map[string]string{"name": name}, &s, http.StatusOK, http.StatusCreated)
	return s, err
}

// Refresh trades s's refresh token for a new pair (POST /v1/auth/refresh).
func (l *LobbyClient) Refresh(ctx context.Context, s Session) (Session, error) {
	var n Session
	err := l.call(ctx, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": s.RefreshToken}, &n, http.StatusOK)
	return n, err
}

// Queue files a ticket for mode (POST /v1/tickets) and returns its id.
func (l *LobbyClient) Queue(ctx context.Context, session, mode string) (string, error) {
	var t ticketView
	if err := l.call(ctx, "POST", "/v1/tickets", session, map[string]string{"mode": mode}, &t, http.StatusCreated); err != nil {
		return "", err
	}
	if t.TicketID == "" {
		return "", fmt.Errorf("%w: ticket without id", ErrLobby)
	}
	return t.TicketID, nil
}

// Ticket reads a ticket's status and assignment (GET /v1/tickets/{id}).
func (l *LobbyClient) Ticket(ctx context.Context, session, ticket string) (status string, a *Assignment, err error) {
	var t ticketView
	err = l.call(ctx, "GET", "/v1/tickets/"+ticket, session, nil, &t, http.StatusOK)
	return t.Status, t.Assignment, err
}

// MatchToken returns a fresh socket token for the seat the player holds in
// match (POST /v1/matches/{id}/token): the reconnect path.
func (l *LobbyClient) MatchToken(ctx context.Context, session, match string) (Assignment, error) {
	var a Assignment
	err := l.call(ctx, "POST", "/v1/matches/"+match+"/token", session, nil, &a, http.StatusOK)
	return a, err
}

// streamRetries bounds reconnects of one ticket's event stream.
const streamRetries = 10

// WaitMatched follows a ticket's event stream (GET /v1/tickets/{id}/events)
// until it is matched and returns the assignment. A stream that drops is
// resumed with Last-Event-ID; a ticket that is cancelled or expires gives
// ErrTicketEnded. session is used only for the fallback status read.
func (l *LobbyClient) WaitMatched(ctx context.Context, session, ticket string) (Assignment, error) {
	last := ""
	var lastErr error
	for attempt := 0; attempt <= streamRetries; attempt++ {
		if attempt > 0 {
			d := time.Duration(min(attempt, 5)) * 100 * time.Millisecond
			if err := sleep(ctx, d+rand.N(d)); err != nil {
				return Assignment{}, err
			}
		}
		a, id, done, err := l.stream(ctx, ticket, last)
		if id != "" {
			last = id
		}
		if done {
			return a, err
		}
		if ctx.Err() != nil {
			return Assignment{}, ctx.Err()
		}
		lastErr = err
	}
	// The stream keeps failing: ask for the ticket's state directly.
	status, a, err := l.Ticket(ctx, session, ticket)
	if err == nil && status == "matched" && a != nil && a.Token != "" {
		return *a, nil
	}
	return Assignment{}, fmt.Errorf("%w: %v (last status %q, %v)", ErrStream, lastErr, status, err)
}

// stream reads one event stream connection. done says the outcome is
// final (an assignment or a terminal error); id is the last event id seen.
func (l *LobbyClient) stream(ctx context.Context, ticket, last string) (a Assignment, id string, done bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", l.base+"/v1/tickets/"+ticket+"/events", nil)
	if err != nil {
		return a, "", true, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return a, "", false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return a, "", false, errors.New("stream already finished")
	case resp.StatusCode == http.StatusTooManyRequests:
		l.limited.Add(1)
		return a, "", false, &APIError{Status: resp.StatusCode, Code: "rate_limited"}
	case resp.StatusCode != http.StatusOK:
		return a, "", resp.StatusCode == http.StatusNotFound, &APIError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode)}
	}
	br := bufio.NewReaderSize(resp.Body, 1024)
	var event string
	var data []byte
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long data line (the matched event carries a token): gather it.
			rest, err2 := br.ReadBytes('\n')
			line, err = append(append([]byte(nil), line...), rest...), err2
		}
		if err != nil {
			return a, id, false, fmt.Errorf("event stream: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0: // dispatch
			switch event {
			case "matched":
				var t ticketView
				if err := json.Unmarshal(data, &t); err != nil {
					return a, id, true, fmt.Errorf("%w: matched event: %v", ErrLobby, err)
				}
				if t.Assignment == nil || t.Assignment.WSURL == "" {
					return a, id, true, fmt.Errorf("%w: matched event without assignment", ErrLobby)
				}
				return *t.Assignment, id, true, nil
			case "cancelled", "expired", "error":
				return a, id, true, fmt.Errorf("%w: %s", ErrTicketEnded, event)
			}
			event, data = "", data[:0]
		case line[0] == ':': // comment (keep-alive)
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				event = string(value)
			case "data":
				data = append(data, value...)
			case "id":
				id = string(value)
			}
		}
	}
}
