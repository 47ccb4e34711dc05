// Package multinode holds the multi-process tests of a Rallypoint cluster
// (docs/scaling.md): the real cmd/server binary as one lobby and several
// game nodes, a real redis-server, and the real cmd/bots swarm, plus probe
// players driven from the test through the lobby API and the Go client.
// They kill and restart nodes, the lobby and Redis mid-run and report what
// the failover cost. Run them with `make multinode` (part of `make test`);
// they are skipped under the race detector, since they measure timing.
package multinode
