// Package cluster runs Rallypoint as lobby processes plus game nodes that
// share their state through the stores of package lobby (Redis in
// production, see lobby/redisstore and docs/scaling.md):
//
//   - Node is a game node's agent: it heartbeats the node's address, load
//     and draining flag into the NodeRegistry, takes the placements sent to
//     it, creates those matches in its netcode.Server, acknowledges them in
//     the MatchStore, and marks them ended once they are over.
//   - Placer (lobby.Placer) puts each match on the least-loaded live node
//     that is not draining and waits for its acknowledgement; Directory
//     (lobby.MatchDirectory and lobby.MatchLocator) answers the lobby's
//     match listings and the reconnect path from the MatchStore.
//   - Monitor, in every lobby process, reaps game nodes whose heartbeat
//     lapsed (exactly one lobby claims each): their matches become lost,
//     with a "node_lost" result, their seats are released, and their
//     players' tickets say "lost" and requeue with priority.
//
// Nothing here runs on a match goroutine: the agent polls its server's
// match list, and seats and results go through the App's hooks.
package cluster
