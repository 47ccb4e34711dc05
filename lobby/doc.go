// Package lobby is how every Rallypoint client gets into a match and back
// into it after a drop.
//
// It serves the HTTP API under /v1 (see docs/lobby-api.md): guest and
// studio sign-in, signed session/refresh/socket tokens, a matchmaking queue
// per mode with rating windows and bot fill, ticket status over JSON and
// Server-Sent Events, the match directory, and re-issuing socket tokens for a
// held seat (the reconnect path).
//
// The lobby never imports the game server. It meets it through three small
// seams that cmd/server adapts:
//
//   - [Placer] creates a match for a group of players (and bots);
//   - [MatchDirectory] lists the running matches;
//   - the game server calls [Lobby.VerifySocketToken] on every socket hello,
//     and [Lobby.SeatReleased] / [Lobby.MatchEnded] when seats end.
//
// State that several lobby processes and game nodes share (tickets and the
// matchmaking queue, assignments, revocations, refresh-token rotation,
// player ids, signing keys, used socket tokens, the matchmaker lease, ticket
// change notices, results, and the cluster's node registry, match directory
// and placement orders) lives behind the interfaces of store.go, results.go
// and shared.go. This package ships in-memory implementations (the default:
// one process, no outside service) and a bbolt [Store] that persists keys,
// revocations and identities in Config.DataDir, so a restart keeps sessions
// valid and logouts effective; package lobby/redisstore implements them all
// on Redis, and package lobby/storetest is the contract they all pass.
//
// With a shared [Queue], every lobby process accepts tickets, and the one
// holding the "matchmaker" lease ([Leases]) runs each matchmaking step over
// a snapshot of the queue, taking each group out of it atomically
// ([Queue.Dequeue]); [TicketEvents] wakes the event streams of every
// process. A store that does not answer within Config.StoreTimeout fails
// the request with 503 "store_unavailable" ([ErrStoreUnavailable]).
//
// Token flow:
//
//	POST /v1/auth/guest          -> session token (15 min) + refresh token (7 days)
//	POST /v1/tickets   (Bearer)  -> ticket id
//	GET  /v1/tickets/{id}/events -> SSE "matched" {match_id, ws_url, token}
//	WebSocket hello carries the socket token (2 min); the game server calls
//	VerifySocketToken and checks grant.Match against ?match=.
//	After a drop: POST /v1/matches/{id}/token (Bearer) -> fresh socket token.
package lobby
