package app

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/hookq"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
)

// ErrHooksBacklogged is Ready's answer while seat releases wait for the
// lobby's store beyond Config.HookQueue: the store is not keeping up.
var ErrHooksBacklogged = errors.New("app: lifecycle events backlogged: the lobby's store is not keeping up")

// lifecycle is where the hook queue delivers seat and match events. The
// lobby is the one in this process; a game node without a lobby would
// deliver them to shared stores instead.
type lifecycle interface {
	SeatReleased(match string, p lobby.PlayerID)
	RecordResult(r lobby.MatchResult) error
	MatchEnded(match string)
}

// hookKind tells the hook queue's events apart.
type hookKind uint8

const (
	seatReleased hookKind = iota + 1 // a seat ended; match, player
	matchEnded                       // a match ended; info, result
	resync                           // release the seats coalesced while the queue was full
)

func (k hookKind) String() string {
	switch k {
	case seatReleased:
		return "seat_released"
	case matchEnded:
		return "match_ended"
	case resync:
		return "resync"
	}
	return "unknown"
}

// hookEvent is one event in the hook queue.
type hookEvent struct {
	kind   hookKind
	match  string
	player lobby.PlayerID
	result *lobby.MatchResult // matchEnded
}

// HookStats are the hook queue's counters, read with App.HookStats.
type HookStats struct {
	// Pending counts events waiting for the lobby's store (or being
	// handled), and PendingResults the match results among them.
	Pending, PendingResults int
	// Handled counts the events delivered to the lobby.
	Handled uint64
	// Coalesced counts seat releases that found the queue full: kept per
	// match outside the queue and delivered together once it has room (or
	// made moot by their match's end). None is lost.
	Coalesced uint64
	// ResultRetries counts result writes that failed and were tried again.
	ResultRetries uint64
	// Lost counts the results and seat releases that never reached the
	// lobby: still queued (or a result being retried) when Shutdown's
	// context ended, or produced after it. Each is logged at error level,
	// results in full.
	Lost uint64
}

// hooks are the game server's hooks: they run on match goroutines and only
// queue events, which one goroutine hands to the lobby in order. Seat
// releases are bounded by the queue's limit and coalesced past it; match
// results (one per match) are never dropped.
type hooks struct {
	// immutable after start
	to  lifecycle
	q   *hookq.Queue[hookEvent]
	log *zap.Logger

	mu      sync.Mutex
	spilled map[string]map[lobby.PlayerID]struct{} // guarded by mu: coalesced seat releases, by match
	resync  bool                                   // guarded by mu: a resync event is queued
	ending  map[string]netcode.MatchInfo           // guarded by mu: matches whose result is queued, not stored yet

	coalesced, retries, lostN atomic.Uint64
}

// defaultHookQueue is the default of Config.HookQueue.
const defaultHookQueue = 4096

func newHooks(log *zap.Logger) *hooks {
	return &hooks{log: log, spilled: make(map[string]map[lobby.PlayerID]struct{}), ending: make(map[string]netcode.MatchInfo)}
}

// start starts the queue's goroutine, delivering to to.
func (h *hooks) start(to lifecycle, limit int) error {
	if limit == 0 {
		limit = defaultHookQueue
	}
	q, err := hookq.New(hookq.Config[hookEvent]{Handle: h.handle, Lost: h.lost, Limit: limit, Logger: h.log})
	if err != nil {
		return err
	}
	h.to, h.q = to, q
	return nil
}

// netcode returns the game server's hooks.
func (h *hooks) netcode() netcode.Hooks {
	return netcode.Hooks{SeatReleased: h.seatReleased, MatchEnded: h.matchEnded}
}

// seatReleased is netcode.Hooks.SeatReleased, on a match goroutine: it
// queues the release, or when the queue is full keeps it with its match's
// other overflowed releases (bounded by the match's seats) and queues one
// resync event for them all.
func (h *hooks) seatReleased(match string, p game.PlayerID, _ string) {
	err := h.q.TryPush(hookEvent{kind: seatReleased, match: match, player: lobby.PlayerID(p)})
	if !errors.Is(err, hookq.ErrFull) {
		return // queued, or closed: Lost logged it
	}
	h.coalesced.Add(1)
	h.mu.Lock()
	set := h.spilled[match]
	if set == nil {
		set = make(map[lobby.PlayerID]struct{})
		h.spilled[match] = set
	}
	set[lobby.PlayerID(p)] = struct{}{}
	queue := !h.resync
	h.resync = true
	h.mu.Unlock()
	if queue {
		_ = h.q.Push(hookEvent{kind: resync})
	}
}

// matchEnded is netcode.Hooks.MatchEnded, on the match's goroutine: it
// queues the result, which is never dropped, and keeps the match listed as
// over until the result is stored.
func (h *hooks) matchEnded(info netcode.MatchInfo, res game.Result, err error) {
	r := matchResult(info, res, err)
	r.Ended = time.Now() // not when the store gets to it
	if !r.Started.IsZero() {
		r.DurationMS = r.Ended.Sub(r.Started).Milliseconds()
	}
	info.State = "over"
	h.mu.Lock()
	delete(h.spilled, info.ID) // the match's end releases every seat in it
	h.ending[info.ID] = info
	h.mu.Unlock()
	_ = h.q.Push(hookEvent{kind: matchEnded, match: info.ID, result: &r}) // if closed, Lost logs it
}

// handle runs on the queue's goroutine: it delivers one event to the
// lobby.
func (h *hooks) handle(ctx context.Context, e hookEvent) {
	switch e.kind {
	case seatReleased:
		h.to.SeatReleased(e.match, e.player)
	case resync:
		h.mu.Lock()
		spilled := h.spilled
		h.spilled = make(map[string]map[lobby.PlayerID]struct{})
		h.resync = false
		h.mu.Unlock()
		n := 0
		for match, set := range spilled {
			for p := range set {
				h.to.SeatReleased(match, p)
				n++
			}
		}
		h.log.Warn("hook queue overflow over: the seat releases coalesced meanwhile were delivered",
			zap.Int("seats", n), zap.Int("matches", len(spilled)), zap.Uint64("coalesced_total", h.coalesced.Load()))
	case matchEnded:
		defer h.forget(e.match) // even if the lobby panics
		// The result first, then the seats: a player who can queue again
		// finds the previous match's result. A failed write (a store that
		// is down) is tried again until it works or Shutdown gives up.
		for wait := 50 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
			err := h.to.RecordResult(*e.result)
			if err == nil || errors.Is(err, lobby.ErrClosed) {
				break
			}
			h.retries.Add(1)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				h.lost(e)
				return
			case <-t.C:
			}
		}
		h.to.MatchEnded(e.match)
	}
}

// lost logs an event that will never reach the lobby: a result in full, so
// it can be recovered from the log.
func (h *hooks) lost(e hookEvent) {
	switch e.kind {
	case matchEnded:
		h.lostN.Add(1)
		h.forget(e.match)
		h.log.Error("match result lost: the lobby's store did not take it before shutdown",
			zap.String("match", e.match), zap.Any("result", *e.result))
	case seatReleased:
		h.lostN.Add(1)
		h.log.Error("seat release lost: the lobby's store did not take it before shutdown",
			zap.String("match", e.match), zap.Uint32("player", uint32(e.player)))
	case resync:
		h.mu.Lock()
		n := 0
		for _, set := range h.spilled {
			n += len(set)
		}
		h.mu.Unlock()
		h.lostN.Add(uint64(n))
		h.log.Error("seat releases lost: the lobby's store did not take them before shutdown", zap.Int("seats", n))
	}
}

func (h *hooks) forget(match string) {
	h.mu.Lock()
	delete(h.ending, match)
	h.mu.Unlock()
}

// endingMatch returns a match whose result is queued.
func (h *hooks) endingMatch(id string) (netcode.MatchInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m, ok := h.ending[id]
	return m, ok
}

// endingMatches returns every match whose result is queued.
func (h *hooks) endingMatches() []netcode.MatchInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]netcode.MatchInfo, 0, len(h.ending))
	for _, m := range h.ending {
		out = append(out, m)
	}
	return out
}

// backlogged reports whether seat releases are being coalesced.
func (h *hooks) backlogged() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.resync
}

func (h *hooks) stats() HookStats {
	qs := h.q.Stats()
	h.mu.Lock()
	results := len(h.ending)
	h.mu.Unlock()
	return HookStats{
		Pending: int(qs.Pending), PendingResults: results, Handled: qs.Handled,
		Coalesced: h.coalesced.Load(), ResultRetries: h.retries.Load(), Lost: h.lostN.Load(),
	}
}
