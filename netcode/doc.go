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
// Sockets are read one of two ways (Config.ReadPath). gws answers the
// upgrade on both.
//
// On the tick path (the default), a short-lived goroutine reads a new
// socket until its Hello is handled; once seated, the socket's only reader
// is its match goroutine, which at the start of every tick makes one
// non-blocking read of each seated socket (syscall.RawConn), parses the
// whole frames with netcode/wsframe (bounded, fuzzed), and pushes the
// inputs; only the bytes of a frame not yet whole are kept per connection.
// At the end of the tick it frames each client's messages of the tick
// (snapshot, events, pongs, a ping) into one buffer and writes it without
// blocking. A socket that does not take it whole gets a writer goroutine
// that finishes it and what follows, and ends once it has caught up. So a
// seated connection costs no goroutine and no wake-up per input: an input
// waits in the kernel for the tick that applies it (on Linux the socket is
// also taken out of Go's network poller, so its packets do not wake the
// runtime either).
//
// On the loop path, each connection has gws's read loop, which decodes
// client frames, copies what it keeps and hands inputs to the match
// without blocking, and, while its bounded outbox has work, one writer
// goroutine that drains it.
//
// Either way the match goroutine never blocks on a socket. Each
// connection's outbox is bounded in bytes: a client that cannot keep up
// has its snapshots dropped, and its next snapshot is a delta against the
// last one it was sent (TCP delivered everything before it, so its view is
// not lost; a keyframe is sent only when the match could not keep that
// past world); past the bound, or after SlowTimeout without snapshots
// flowing, it is closed with wire.CodeSlowConsumer.
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
