package netcode

import (
	"sync/atomic"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// Stats are the server's counters, updated atomically where they happen
// and read by metrics exporters and tests.
type Stats struct {
	ConnsOpen        atomic.Int64     // sockets open now
	ConnsTotal       atomic.Uint64    // sockets accepted
	ConnsRefused     atomic.Uint64    // upgrades refused by a socket cap (429/503)
	PendingEvicted   atomic.Uint64    // sockets without a Hello closed to make room for a newer one from their address
	MessagesIn       atomic.Uint64    // client messages received
	InputsIn         atomic.Uint64    // input frames received
	MessagesOut      atomic.Uint64    // messages written
	BytesOut         atomic.Uint64    // payload bytes written (without frame headers)
	Snapshots        atomic.Uint64    // snapshots queued
	Keyframes        atomic.Uint64    // of which keyframes
	KeyframesBy      [3]atomic.Uint64 // keyframes by reason, indexed as KeyframeReasons
	SnapshotsDropped atomic.Uint64    // snapshots dropped because the outbox was full
	Paused           atomic.Uint64    // times a client was paused for unacknowledged snapshots
	Resyncs          atomic.Uint64    // snapshots resumed after a pause
	GapDeltas        atomic.Uint64    // snapshots after a drop or pause sent as a delta against the last one sent (no keyframe)
	Resumes          atomic.Uint64    // sockets that took over a held seat
	Replaced         atomic.Uint64    // sockets closed because a newer one took the seat
	SlowDisconnects  atomic.Uint64    // clients closed as slow consumers
	IdleDisconnects  atomic.Uint64    // clients closed for silence
	RateLimited      atomic.Uint64    // clients closed for flooding
	Malformed        atomic.Uint64    // messages that did not decode
	AuthFailures     atomic.Uint64    // hellos refused
	AuthFailuresBy   [4]atomic.Uint64 // of which, by reason, indexed as AuthFailureReasons
	WriteErrors      atomic.Uint64    // socket writes that failed
	WritesBehind     atomic.Uint64    // tick path: a tick's write the socket did not take whole (a writer finished it)
	Panics           atomic.Uint64    // panics recovered at a connection boundary
	MatchCrashes     atomic.Uint64    // matches ended by a panic
	MatchesStarted   atomic.Uint64
	closes           [5000]atomic.Uint64
}

func (s *Stats) countClose(code uint16) {
	if int(code) < len(s.closes) {
		s.closes[code].Add(1)
	}
}

// Closes reports how many connections the server closed with code.
func (s *Stats) Closes(code uint16) uint64 {
	if int(code) < len(s.closes) {
		return s.closes[code].Load()
	}
	return 0
}

// CloseCodes lists every close code the server can send, for exporters.
func CloseCodes() []uint16 {
	return []uint16{
		wire.CodeNormal, wire.CodeGoingAway, wire.CodeProtocolError, wire.CodeUnsupportedData, wire.CodeTooLarge, wire.CodeInternal, wire.CodeTryAgain,
		wire.CodeAuthFailed, wire.CodeTokenExpired, wire.CodeTokenRevoked, wire.CodeBadVersion,
		wire.CodeHandshakeTimeout, wire.CodeMalformed, wire.CodeRateLimited, wire.CodeSlowConsumer,
		wire.CodeReplaced, wire.CodeSeatExpired, wire.CodeMatchNotFound, wire.CodeMatchFull,
		wire.CodeIdleTimeout,
	}
}

// LoopTotals are game.LoopStats counters summed over matches (see
// Server.LoopTotals).
type LoopTotals struct {
	Ticks          uint64 // ticks run
	DroppedTicks   uint64 // overdue ticks skipped after stalls
	InputsApplied  uint64 // inputs applied to the simulation
	InputsStale    uint64 // inputs dropped: not newer than the last accepted
	InputsOverflow uint64 // inputs dropped: the match's input queue was full
}

func (t *LoopTotals) add(st *game.LoopStats) {
	t.Ticks += st.Ticks.Load()
	t.DroppedTicks += st.DroppedTicks.Load()
	t.InputsApplied += st.InputsApplied.Load()
	t.InputsStale += st.InputsStale.Load()
	t.InputsOverflow += st.InputsOverflow.Load()
}

// Reasons a Hello's token was refused (Stats.AuthFailuresBy).
const (
	authInvalid    = iota // malformed, forged, of the wrong type, or already used (4001)
	authExpired           // 4002
	authRevoked           // the session logged out (4003)
	authWrongMatch        // a token for another match than ?match= (4001)
)

// AuthFailureReasons names the indexes of Stats.AuthFailuresBy.
func AuthFailureReasons() [4]string {
	return [4]string{"invalid", "expired", "revoked", "wrong_match"}
}

func (s *Stats) authFailure(code uint16) {
	switch code {
	case wire.CodeTokenExpired:
		s.AuthFailuresBy[authExpired].Add(1)
	case wire.CodeTokenRevoked:
		s.AuthFailuresBy[authRevoked].Add(1)
	default:
		s.AuthFailuresBy[authInvalid].Add(1)
	}
}
