package lobby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Handler returns the HTTP API. It serves /v1/auth/..., /v1/tickets...
// and /v1/matches...; mount it next to the game server's /v1/ws.
func (l *Lobby) Handler() http.Handler { return l.handler }

func (l *Lobby) routes() http.Handler {
	mux := http.NewServeMux()
	anon, lim := l.byAddress, l.bySession
	mux.Handle("POST /v1/auth/refresh", anon(l.handleRefresh))
	mux.Handle("POST /v1/auth/logout", lim(l.handleLogout))
	mux.Handle("POST /v1/auth/{provider}", anon(l.handleSignIn))
	mux.Handle("/v1/auth/{provider}", methodNotAllowed("POST"))
	mux.Handle("POST /v1/tickets", lim(l.handleCreateTicket))
	mux.Handle("/v1/tickets", methodNotAllowed("POST"))
	mux.Handle("GET /v1/tickets/{id}", lim(l.handleGetTicket))
	mux.Handle("DELETE /v1/tickets/{id}", lim(l.handleCancelTicket))
	mux.Handle("/v1/tickets/{id}", methodNotAllowed("GET, DELETE"))
	mux.Handle("GET /v1/tickets/{id}/events", lim(l.handleEvents))
	mux.Handle("/v1/tickets/{id}/events", methodNotAllowed("GET"))
	mux.HandleFunc("GET /v1/matches", l.handleMatches)
	mux.Handle("/v1/matches", methodNotAllowed("GET"))
	mux.HandleFunc("GET /v1/matches/{id}", l.handleMatch)
	mux.Handle("/v1/matches/{id}", methodNotAllowed("GET"))
	mux.Handle("POST /v1/matches/{id}/token", lim(l.handleMatchToken))
	mux.Handle("/v1/matches/{id}/token", methodNotAllowed("POST"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return l.recoverer(l.cors(l.limitBody(mux)))
}

// apiError is the error body: {"error": {"code", "message"}}.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: apiErrorBody{Code: code, Message: msg}})
}

// errorStatus maps an error to its HTTP status and code.
func errorStatus(err error) (int, string) {
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, ErrTokenExpired):
		return http.StatusUnauthorized, "token_expired"
	case errors.Is(err, ErrTokenRevoked):
		return http.StatusUnauthorized, "token_revoked"
	case errors.Is(err, ErrTokenInvalid):
		return http.StatusUnauthorized, "token_invalid"
	case errors.Is(err, ErrInvalidCredentials):
		return http.StatusUnauthorized, "invalid_credentials"
	case errors.Is(err, ErrInvalidName):
		return http.StatusBadRequest, "invalid_name"
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, ErrUnknownMode):
		return http.StatusBadRequest, "unknown_mode"
	case errors.Is(err, ErrInvalidRating):
		return http.StatusBadRequest, "invalid_rating"
	case errors.Is(err, ErrTicketNotFound):
		return http.StatusNotFound, "ticket_not_found"
	case errors.Is(err, ErrMatchNotFound):
		return http.StatusNotFound, "match_not_found"
	case errors.Is(err, ErrAlreadyQueued):
		return http.StatusConflict, "already_queued"
	case errors.Is(err, ErrAlreadyInMatch):
		return http.StatusConflict, "already_in_match"
	case errors.Is(err, ErrTicketClosed):
		return http.StatusConflict, "ticket_closed"
	case errors.Is(err, ErrTicketPlacing):
		return http.StatusConflict, "ticket_placing"
	case errors.Is(err, ErrNotSeated):
		return http.StatusForbidden, "not_seated"
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, "shutting_down"
	case errors.Is(err, ErrDraining):
		return http.StatusServiceUnavailable, "draining"
	case errors.Is(err, ErrPlayerIDsExhausted):
		return http.StatusServiceUnavailable, "player_ids_exhausted"
	case errors.Is(err, ErrStoreUnavailable):
		return http.StatusServiceUnavailable, "store_unavailable"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

// fail writes err as an API error. Internal errors are logged and not
// shown to the client.
func (l *Lobby) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := errorStatus(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		l.log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		msg = "internal error"
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rallypoint"`)
	}
	if code == "store_unavailable" {
		l.log.Warn("request failed: store unavailable", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		w.Header().Set("Retry-After", "2")
		msg = "store unavailable; retry later"
	}
	writeError(w, status, code, strings.TrimPrefix(msg, "lobby: "))
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use "+allow)
	})
}

// recoverer turns a handler panic into a 500 and a log line.
func (l *Lobby) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				l.log.Error("handler panic", zap.String("path", r.URL.Path), zap.Any("panic", v), zap.Stack("stack"))
				writeError(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (l *Lobby) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, l.cfg.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// cors answers preflights from allowlisted origins, refuses others (403),
// and marks actual responses readable by allowlisted origins. Requests
// without an Origin header (curl, same-origin GETs) pass untouched; a
// same-origin request with an Origin header also passes, it just gets no
// CORS headers (it needs none).
func (l *Lobby) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		allowed := l.anyOrig || l.origins[origin]
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !allowed {
				writeError(w, http.StatusForbidden, "origin_not_allowed", "origin not in the CORS allowlist")
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "Retry-After")
		}
		next.ServeHTTP(w, r)
	})
}

// byAddress applies the per-address limit of anonymous requests (sign-in,
// refresh): 429 with Retry-After. The address is the TCP peer's, or a
// trusted proxy's X-Forwarded-For client (Config.TrustedProxies).
func (l *Lobby) byAddress(h http.HandlerFunc) http.Handler {
	return l.limited(l.limits, func(r *http.Request) string { return l.realIP.Addr(r) }, h)
}

// bySession applies the per-session limit of authenticated requests, keyed
// by the bearer token (a request without one is keyed by its address), and
// of event streams, keyed by ticket: players behind one NAT, or the bots of
// one process, each have their own budget.
func (l *Lobby) bySession(h http.HandlerFunc) http.Handler {
	return l.limited(l.sessLim, func(r *http.Request) string {
		if id := r.PathValue("id"); id != "" && strings.HasSuffix(r.URL.Path, "/events") {
			return "ticket " + id
		}
		if raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && raw != "" {
			return "session " + l.sessLim.digest(raw)
		}
		return "addr " + l.realIP.Addr(r)
	}, h)
}

func (l *Lobby) limited(lim *limiter, key func(*http.Request) string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := lim.allow(key(r), l.cfg.Now())
		if !ok {
			l.stats.rateLimited.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests; retry later")
			return
		}
		if l.isClosed() {
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "shutting_down", "the lobby is shutting down")
			return
		}
		h(w, r)
	})
}

// bearer verifies the request's session token.
func (l *Lobby) bearer(r *http.Request) (session, error) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return session{}, fmt.Errorf("%w: missing Authorization: Bearer <session_token>", ErrTokenInvalid)
	}
	c, err := l.verify(strings.TrimSpace(raw), kindSession)
	if err != nil {
		return session{}, err
	}
	p, _ := c.player()
	return session{Player: p, Name: c.Name, SID: c.SID}, nil
}

func (l *Lobby) handleSignIn(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("provider")
	var a Authenticator
	if name == "guest" && !l.cfg.DisableGuest {
		a = Guest{}
	} else {
		a = l.cfg.Authenticators[name]
	}
	if a == nil {
		writeError(w, http.StatusNotFound, "unknown_provider", "no sign-in method "+strconv.Quote(name))
		return
	}
	id, err := a.Authenticate(r.Context(), r)
	if err != nil {
		var mb *http.MaxBytesError
		if status, _ := errorStatus(err); status == http.StatusInternalServerError && !errors.As(err, &mb) {
			err = fmt.Errorf("%w: %v", ErrInvalidCredentials, err)
		}
		l.fail(w, r, err)
		return
	}
	if id.Name != "" {
		if err := ValidateName(id.Name); err != nil {
			l.fail(w, r, err)
			return
		}
	}
	resp, err := l.signIn(id)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	l.log.Info("signed in", zap.String("provider", name), zap.Uint32("player", uint32(resp.PlayerID)))
	writeJSON(w, http.StatusOK, resp)
}

func (l *Lobby) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(r, &req); err != nil {
		l.fail(w, r, err)
		return
	}
	resp, err := l.refresh(req.RefreshToken)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (l *Lobby) handleLogout(w http.ResponseWriter, r *http.Request) {
	s, err := l.bearer(r)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	if err := l.logout(s); err != nil {
		l.fail(w, r, err)
		return
	}
	l.log.Info("logged out", zap.Uint32("player", uint32(s.Player)))
	w.WriteHeader(http.StatusNoContent)
}

// assignmentView is where a matched ticket's player goes.
type assignmentView struct {
	MatchID          string    `json:"match_id"`
	WSURL            string    `json:"ws_url"`
	Token            Token     `json:"token,omitempty"`
	TokenExpiresAt   time.Time `json:"token_expires_at,omitzero"`
	Bots             int       `json:"bots"`
	ReconnectGraceMS int64     `json:"reconnect_grace_ms"`
	SeatReleased     bool      `json:"seat_released,omitempty"`
}

// ticketView is a ticket as the API shows it.
type ticketView struct {
	TicketID        TicketID        `json:"ticket_id"`
	Status          TicketStatus    `json:"status"`
	Mode            string          `json:"mode"`
	Rating          int             `json:"rating"`
	CreatedAt       time.Time       `json:"created_at"`
	ExpiresAt       time.Time       `json:"expires_at"`
	Position        int             `json:"position,omitempty"`
	QueueLength     int             `json:"queue_length,omitempty"`
	EstimatedWaitMS *int64          `json:"estimated_wait_ms,omitempty"`
	Placing         bool            `json:"placing,omitempty"`
	Assignment      *assignmentView `json:"assignment,omitempty"`
}

// wsURL is the game socket URL for a match: on node (the Placement's
// WSURL) if set, else on the node the match directory names (MatchLocator),
// else Config.PublicWSURL, else this request's host.
func (l *Lobby) wsURL(r *http.Request, matchID, node string) string {
	if node == "" {
		if loc, ok := l.dir.(MatchLocator); ok {
			node, _ = loc.MatchWSURL(matchID)
		}
	}
	var u url.URL
	if p, err := url.Parse(node); node != "" && err == nil {
		u = *p
	} else if l.cfg.PublicWSURL != "" {
		p, _ := url.Parse(l.cfg.PublicWSURL) // validated by New
		u = *p
	} else {
		u = url.URL{Scheme: "ws", Host: r.Host, Path: "/v1/ws"}
		if r.TLS != nil {
			u.Scheme = "wss"
		}
	}
	q := u.Query()
	q.Set("match", matchID)
	u.RawQuery = q.Encode()
	return u.String()
}

// view renders t; a matched ticket whose seat is still held gets a fresh
// socket token.
func (l *Lobby) view(r *http.Request, t Ticket) (ticketView, error) {
	v := ticketView{TicketID: t.ID, Status: t.Status, Mode: t.Mode, Rating: t.Rating, CreatedAt: t.Created, ExpiresAt: t.Expires}
	switch t.Status {
	case StatusQueued:
		ctx, cancel := l.storeCtx(r.Context())
		pos, n, ok, err := l.queue.QueuePosition(ctx, t.ID)
		cancel()
		if err != nil {
			return v, err
		}
		v.Placing = t.Placing
		if ok {
			est := estimateWait(l.rules, QueueEntry{Enqueued: t.Created, Expires: t.Expires}, l.cfg.Now())
			ms := est.Milliseconds()
			v.Position, v.QueueLength, v.EstimatedWaitMS = pos, n, &ms
		}
	case StatusMatched, StatusLost:
		a := &assignmentView{MatchID: t.MatchID, WSURL: l.wsURL(r, t.MatchID, t.WSURL), Bots: t.Bots, ReconnectGraceMS: l.cfg.ReconnectGrace.Milliseconds()}
		m, seated, err := l.seats.Assignment(t.Player)
		if err != nil {
			return v, err
		}
		if seated && m == t.MatchID && t.Status == StatusMatched {
			tok, exp, err := l.mintSocket(t.Player, t.Name, t.SID, t.MatchID)
			if err != nil {
				return v, err
			}
			a.Token, a.TokenExpiresAt = tok, exp
		} else {
			a.SeatReleased = true
		}
		v.Assignment = a
	}
	return v, nil
}

func (l *Lobby) handleCreateTicket(w http.ResponseWriter, r *http.Request) {
	s, err := l.bearer(r)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	var req struct {
		Mode   string `json:"mode"`
		Rating *int   `json:"rating"`
	}
	if err := decodeJSON(r, &req); err != nil {
		l.fail(w, r, err)
		return
	}
	if req.Mode == "" {
		l.fail(w, r, fmt.Errorf("%w: \"mode\" is required", ErrBadRequest))
		return
	}
	rating := l.cfg.DefaultRating
	if req.Rating != nil {
		rating = *req.Rating
	}
	t, err := l.createTicket(s, req.Mode, rating)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	v, err := l.view(r, t)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/tickets/"+string(t.ID))
	writeJSON(w, http.StatusCreated, v)
}

// staleSeat reports whether a seat in matchID was left behind (the match
// is over, per a MatchChecker directory) and, if so, frees the match's
// seats.
func (l *Lobby) staleSeat(matchID string) bool {
	mc, ok := l.dir.(MatchChecker)
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.storeTimeout)
	over, err := mc.MatchOver(ctx, matchID)
	cancel()
	if err != nil || !over {
		return false
	}
	freed, err := l.seats.ReleaseMatch(matchID)
	if err != nil {
		l.log.Warn("release seats left behind", zap.String("match", matchID), zap.Error(err))
		return false
	}
	l.log.Warn("seats left behind in a match that is over: released", zap.String("match", matchID), zap.Int("seats", len(freed)))
	return true
}

// createTicket queues a ticket for the session's player. With a
// MatchmakerStore, storing, indexing and queueing it is one atomic write
// that refuses a player's second live ticket across lobby processes;
// otherwise the ticket is stored first, then queued (the queue refuses a
// player's second entry).
func (l *Lobby) createTicket(s session, mode string, rating int) (Ticket, error) {
	l.mu.Lock()
	draining, closed := l.draining, l.closed
	l.mu.Unlock()
	if draining {
		return Ticket{}, ErrDraining
	}
	if _, ok := l.cfg.Modes[mode]; !ok {
		return Ticket{}, fmt.Errorf("%w: %q", ErrUnknownMode, mode)
	}
	if rating < 0 || rating > l.cfg.MaxRating {
		return Ticket{}, fmt.Errorf("%w: %d not in [0, %d]", ErrInvalidRating, rating, l.cfg.MaxRating)
	}
	if closed {
		return Ticket{}, ErrClosed
	}
	mu := &l.creating[uint32(s.Player)%uint32(len(l.creating))]
	mu.Lock()
	defer mu.Unlock()
	if m, ok, err := l.seats.Assignment(s.Player); err != nil {
		return Ticket{}, err
	} else if ok && !l.staleSeat(m) {
		return Ticket{}, fmt.Errorf("%w: seated in %s; reconnect with POST /v1/matches/%s/token", ErrAlreadyInMatch, m, m)
	}
	if id, ok, err := l.tickets.LiveTicket(s.Player); err != nil {
		return Ticket{}, err
	} else if ok {
		t, err := l.ticket(id) // expires it if it was orphaned
		switch {
		case errors.Is(err, ErrTicketNotFound):
		case err != nil:
			return Ticket{}, err
		case !t.Status.Terminal():
			return Ticket{}, fmt.Errorf("%w: ticket %s", ErrAlreadyQueued, id)
		}
	}
	// A player whose match was lost with its node goes first.
	prio, err := l.recovery.TakePriority(context.Background(), s.Player)
	if err != nil {
		l.log.Warn("requeue priority", zap.Uint32("player", uint32(s.Player)), zap.Error(err))
	}
	now := l.cfg.Now()
	t := Ticket{
		ID:      TicketID(randomID(16)),
		Player:  s.Player,
		Name:    s.Name,
		SID:     s.SID,
		Mode:    mode,
		Rating:  rating,
		Status:  StatusQueued,
		Created: now,
		Expires: now.Add(l.cfg.TicketTTL),
	}
	entry := mmEntry{ID: t.ID, Player: t.Player, Mode: mode, Rating: rating, Enqueued: now, Expires: t.Expires, Seq: seqFor(prio)}
	if l.mms != nil && !prio {
		// One atomic write: of two lobbies creating a ticket for the same
		// player at once, exactly one succeeds. (A requeue with priority
		// takes the path below: CreateTicket assigns the arrival number
		// itself; Enqueue keeps the priority's Seq and still refuses a
		// player who is queued already.)
		qctx, cancel := l.storeCtx(context.Background())
		e, err := l.mms.CreateTicket(qctx, t, entry)
		cancel()
		if err != nil {
			return Ticket{}, err
		}
		t.Sequence = e.Seq
		l.stats.ticketsQueued.Add(1)
		return t, nil
	}
	if err := l.tickets.PutTicket(t); err != nil {
		return Ticket{}, err
	}
	qctx, cancel := l.storeCtx(context.Background())
	e, err := l.queue.Enqueue(qctx, entry)
	cancel()
	if err != nil {
		// Another lobby queued this player meanwhile, or the queue is
		// unreachable: the stored ticket ends at once.
		t.Status, t.Closed = StatusCancelled, now
		_ = l.tickets.PutTicket(t)
		return Ticket{}, err
	}
	t.Sequence = e.Seq
	if err := l.tickets.PutTicket(t); err != nil {
		l.log.Warn("store ticket sequence", zap.String("ticket", string(t.ID)), zap.Error(err))
	}
	l.stats.ticketsQueued.Add(1)
	return t, nil
}

// validTicketID reports whether s looks like a ticket id (32 hex digits).
func validTicketID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ownedTicket loads a ticket the session's player owns; others' tickets are
// reported as not found.
func (l *Lobby) ownedTicket(s session, id string) (Ticket, error) {
	if !validTicketID(id) {
		return Ticket{}, ErrTicketNotFound
	}
	t, err := l.ticket(TicketID(id))
	if err != nil {
		return Ticket{}, err
	}
	if t.Player != s.Player {
		return Ticket{}, ErrTicketNotFound
	}
	return t, nil
}

func (l *Lobby) handleGetTicket(w http.ResponseWriter, r *http.Request) {
	s, err := l.bearer(r)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	t, err := l.ownedTicket(s, r.PathValue("id"))
	if err != nil {
		l.fail(w, r, err)
		return
	}
	v, err := l.view(r, t)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (l *Lobby) handleCancelTicket(w http.ResponseWriter, r *http.Request) {
	s, err := l.bearer(r)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	t, err := l.ownedTicket(s, r.PathValue("id"))
	if err != nil {
		l.fail(w, r, err)
		return
	}
	if t, err = l.cancelTicket(t.ID); err != nil {
		l.fail(w, r, err)
		return
	}
	v, err := l.view(r, t)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// cancelTicket cancels a queued ticket. Taking it out of the queue
// decides a race with the matchmaker (of any lobby process): whoever
// dequeues it owns its next state.
func (l *Lobby) cancelTicket(id TicketID) (Ticket, error) {
	t, err := l.tickets.Ticket(id)
	if err != nil {
		return Ticket{}, err
	}
	switch {
	case t.Status.Terminal():
		return t, fmt.Errorf("%w: %s", ErrTicketClosed, t.Status)
	case t.Placing:
		return t, ErrTicketPlacing
	}
	ctx, cancel := l.storeCtx(context.Background())
	ok, err := l.queue.Dequeue(ctx, id)
	cancel()
	if err != nil {
		return t, err
	}
	if !ok { // the matchmaker took it meanwhile
		if t, err = l.tickets.Ticket(id); err == nil && t.Status.Terminal() {
			return t, fmt.Errorf("%w: %s", ErrTicketClosed, t.Status)
		}
		return t, ErrTicketPlacing
	}
	l.finish(id, l.cfg.Now(), func(t *Ticket) { t.Status = StatusCancelled })
	l.stats.ticketsCancelled.Add(1)
	return l.tickets.Ticket(id)
}

func (l *Lobby) handleMatches(w http.ResponseWriter, r *http.Request) {
	ms := l.dir.Matches()
	if ms == nil {
		ms = []MatchSummary{}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	writeJSON(w, http.StatusOK, struct {
		Matches []MatchSummary `json:"matches"`
	}{ms})
}

func (l *Lobby) handleMatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if m, ok := l.dir.Match(id); ok {
		writeJSON(w, http.StatusOK, m)
		return
	}
	res, ok, err := l.results.Result(id)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	if !ok {
		l.fail(w, r, ErrMatchNotFound)
		return
	}
	players := make([]PlayerID, 0, len(res.Players))
	bots := 0
	for _, p := range res.Players {
		if p.Bot {
			bots++
		} else {
			players = append(players, p.Player)
		}
	}
	state := "over"
	if res.Reason == ReasonNodeLost {
		state = MatchStateLost
	}
	writeJSON(w, http.StatusOK, struct {
		MatchSummary
		Result MatchResult `json:"result"`
	}{MatchSummary{ID: res.ID, Mode: res.Mode, State: state, Players: players, Bots: bots, Tick: res.Ticks}, res})
}

// handleMatchToken re-issues a socket token for a held seat: the reconnect
// path.
func (l *Lobby) handleMatchToken(w http.ResponseWriter, r *http.Request) {
	s, err := l.bearer(r)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	matchID := r.PathValue("id")
	m, ok, err := l.seats.Assignment(s.Player)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	if !ok || m != matchID {
		l.fail(w, r, fmt.Errorf("%w: no seat held in %q", ErrNotSeated, matchID))
		return
	}
	tok, exp, err := l.mintSocket(s.Player, s.Name, s.SID, matchID)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, assignmentView{
		MatchID: matchID, WSURL: l.wsURL(r, matchID, ""), Token: tok, TokenExpiresAt: exp,
		ReconnectGraceMS: l.cfg.ReconnectGrace.Milliseconds(),
	})
}
