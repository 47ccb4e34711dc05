// Package netcode is Rallypoint's game server: it serves the game WebSocket
// (GET /v1/ws, over github.com/lxzan/gws), hosts matches, and sends every
// client a per-tick delta snapshot of the part of the world it can see.
//
// # Ownership
//
// Each match (a room) runs one game.Loop on one goroutine, which owns the
// simulation, the seats and every client's view: join, leave and resume are
// commands executed on it, and the tick callback encodes and fans out the
// snapshots. Nothing in a room has a mutex except its published MatchInfo.
//
// Each connection has gws's read loop, which decodes client frames, copies
// what it keeps and hands inputs to the match without blocking, and, while
// its bounded outbox has work, one writer goroutine that drains it. The
// match goroutine never writes to a socket; a client that cannot keep up
// has its snapshots dropped and is resynced with a keyframe, and past a
// bound it is closed with wire.CodeSlowConsumer.
//
// # Encoding
//
// Every tick the room quantizes the world once and encodes, once per entity,
// the bytes that turn its previous state into its current one (a tickFrame).
// A client's snapshot is then the concatenation of those fragments for the
// entities it sees, plus full states for entities entering its view and
// removals for those leaving it; with interest management off, clients in
// sync share one precomputed op stream. The cost grows with visible changes,
// not with clients times entities.
//
// netcode never imports the lobby: authentication (Authenticator), seat and
// match lifecycle (Hooks) and placement (Server.CreateMatch) are the seams
// cmd/server wires together.
package netcode
