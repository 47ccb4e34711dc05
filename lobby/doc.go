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
// State that must be shared by several lobby nodes one day (tickets,
// assignments, revocations, refresh-token rotation, player ids, signing keys)
// lives behind the [TicketStore], [AssignmentStore] and [Store] interfaces.
// This package ships in-memory implementations and a bbolt [Store] that
// persists keys, revocations and identities in Config.DataDir, so a restart
// keeps sessions valid and logouts effective.
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
