package lobby

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these; test
// with errors.Is.
var (
	// ErrTokenExpired means a token was well-formed and correctly signed but
	// is past its expiry.
	ErrTokenExpired = errors.New("lobby: token expired")
	// ErrTokenInvalid means a token is malformed, forged, signed by an
	// unknown key, or of the wrong type (a session token presented as a
	// socket token, say).
	ErrTokenInvalid = errors.New("lobby: token invalid")
	// ErrTokenRevoked means the session the token belongs to was logged out
	// (or its refresh token was reused).
	ErrTokenRevoked = errors.New("lobby: token revoked")
	// ErrDraining means the server is shutting down gracefully: running
	// matches finish, but no new ticket is accepted or placed.
	ErrDraining = errors.New("lobby: draining")
	// ErrTokenReused wraps ErrTokenInvalid: a socket token is good for one
	// connection; every reconnect gets a fresh one.
	ErrTokenReused = fmt.Errorf("%w: socket token already used", ErrTokenInvalid)
	// ErrWrongMatch means a socket token was presented for another match.
	ErrWrongMatch = errors.New("lobby: token is for another match")

	// ErrInvalidCredentials is returned by an [Authenticator] that refuses
	// the credentials it was given.
	ErrInvalidCredentials = errors.New("lobby: invalid credentials")
	// ErrInvalidName means a display name is empty, too long or not
	// printable.
	ErrInvalidName = errors.New("lobby: invalid name")
	// ErrBadRequest means a request body could not be decoded or is missing
	// a field.
	ErrBadRequest = errors.New("lobby: bad request")

	// ErrTicketNotFound means no ticket has the given id (or it was pruned).
	ErrTicketNotFound = errors.New("lobby: ticket not found")
	// ErrAlreadyQueued means the player already holds a live ticket.
	ErrAlreadyQueued = errors.New("lobby: player already queued")
	// ErrAlreadyInMatch means the player holds a seat in a match.
	ErrAlreadyInMatch = errors.New("lobby: player already in a match")
	// ErrTicketClosed means the ticket already reached a terminal state.
	ErrTicketClosed = errors.New("lobby: ticket already closed")
	// ErrTicketPlacing means the ticket left the queue and its match is
	// being created; it can no longer be cancelled.
	ErrTicketPlacing = errors.New("lobby: ticket is being placed")
	// ErrInvalidRating means a ticket's rating is outside [0, MaxRating].
	ErrInvalidRating = errors.New("lobby: invalid rating")
	// ErrMatchNotFound means the match directory has no such match.
	ErrMatchNotFound = errors.New("lobby: match not found")
	// ErrUnknownMode means the ticket asked for a mode that is not
	// configured.
	ErrUnknownMode = errors.New("lobby: unknown mode")
	// ErrNotSeated means the player holds no seat in the given match.
	ErrNotSeated = errors.New("lobby: player not seated in match")

	// ErrPlayerIDsExhausted means the player id space (1..MaxPlayerID) is
	// used up.
	ErrPlayerIDsExhausted = errors.New("lobby: player ids exhausted")
	// ErrStoreUnavailable means a networked store (Redis) did not answer in
	// time or refused the call: the request may succeed when retried. The
	// HTTP API answers it with 503 "store_unavailable".
	ErrStoreUnavailable = errors.New("lobby: store unavailable")
	// ErrClosed means the lobby or its store was shut down.
	ErrClosed = errors.New("lobby: closed")
	// ErrFenced means a matchmaker write was refused because the lease it
	// was made under changed hands (another lobby took over): the writer
	// must drop its work, which the new lease holder resolves.
	ErrFenced = errors.New("lobby: matchmaker lease lost (write fenced)")
	// ErrInvalidConfig wraps every error New reports about its Config.
	ErrInvalidConfig = errors.New("lobby: invalid config")
)
