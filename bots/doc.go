// Package bots is Rallypoint's headless players: brains that decide inputs
// from the world a player sees, Bots that go through exactly the path a
// human does (guest sign-in, ticket, event stream, game socket, inputs and
// snapshots over the public Go client), and a Swarm that drives thousands
// of them from one process for load tests and the arena-8x32 benchmark.
//
// Brains (game.Wander, Chase, Flee, Replay, named here by kind) implement
// game.Brain and run in two places: in a Bot, over the client's mirror of
// the world, and inside the game server, with no socket, for matchmaking
// bot fill and for steering a disconnected player's avatar (each mode's
// game.Mode.NewBrain). They are deterministic from a seed and do not
// allocate per Think.
//
// A Swarm keeps per-bot cost small: besides the client's read goroutine a
// playing bot owns no goroutine. A few shard goroutines tick their bots at
// the input rate, reusing each bot's entity buffer, and the statistics are
// shared fixed-bucket histograms updated with atomics.
//
// The package sits above netcode/client in the house graph
// (bots ◄── cmd/bots) and never imports the server side.
package bots
