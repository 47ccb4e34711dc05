//go:build !race

package multinode_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
)

// TestPlacementChurn places matches while game nodes join, drain (SIGTERM)
// and die (kill -9), with bots queueing all along (arena matches of a few
// seconds, so tickets keep arriving): no match runs on a node that was
// gone when it was placed, and the nodes that joined get matches.
func TestPlacementChurn(t *testing.T) {
	rds := testkit.Redis(t)
	lobbyAddr := freeAddr(t)
	lobbyURL := "http://" + lobbyAddr
	startProc(t, "lobby", append(serverArgs(lobbyAddr), "-role", "lobby", "-redis", rds.URL, "-bot-fill", "500ms",
		"-heartbeat", "500ms", "-heartbeat-ttl", "1500ms")...)
	type node struct {
		p       *proc
		killed  time.Time // SIGKILL sent
		drained bool      // SIGTERM sent: gone once it exited
	}
	nodes := map[string]*node{}
	startNode := func(id string) {
		nodes[id] = &node{p: startProc(t, id, append(serverArgs("127.0.0.1:0"), "-role", "node", "-redis", rds.URL, "-node-id", id,
			"-node-capacity", "400", "-heartbeat", "500ms", "-heartbeat-ttl", "1500ms", "-match-time", "4s", "-drain-timeout", "10s")...)}
	}
	startNode("n1")
	startNode("n2")
	swarm := startBots(t, "-server", lobbyURL, "-bots", "120", "-mode", "arena", "-duration", "0",
		"-ramp", "60", "-hz", "10", "-json", "-max-errors", "1000000", "-log-level", "error")

	start := time.Now()
	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) } // the schedule, not synchronisation
	drain := func(id string) {
		n := nodes[id]
		n.drained = true
		go n.p.term(t, 30*time.Second)
	}
	kill := func(id string) {
		n := nodes[id]
		n.killed = time.Now()
		n.p.kill()
	}
	at(3 * time.Second)
	startNode("n3")
	at(7 * time.Second)
	drain("n1")
	at(10 * time.Second)
	startNode("n4")
	at(13 * time.Second)
	kill("n2")
	at(16 * time.Second)
	startNode("n5")
	at(19 * time.Second)
	drain("n3")
	at(26 * time.Second)
	sum := swarm.stop(t)
	for _, id := range []string{"n1", "n3"} {
		select {
		case <-nodes[id].p.exited:
		case <-time.After(30 * time.Second):
		}
	}

	// Every match record, from Redis.
	recs := matchRecords(t, rds.URL)
	placed := map[string]int{}
	failed, late := 0, 0
	for _, r := range recs {
		if r.State == lobby.MatchFailed {
			failed++
			continue
		}
		placed[r.Node]++
		n := nodes[r.Node]
		if n == nil {
			t.Errorf("match %s on unknown node %q", r.ID, r.Node)
			continue
		}
		// Gone: killed, or exited after its drain (a draining node refuses
		// placements itself; one sent before it knew it drains is fine).
		// Clock slack: Created is the lobby's clock, gone the test's; one
		// machine, so a few ms.
		gone := n.killed
		if n.drained {
			n.p.mu.Lock()
			gone = n.p.exitedAt
			n.p.mu.Unlock()
		}
		if !gone.IsZero() && r.Created.After(gone.Add(50*time.Millisecond)) {
			late++
			t.Errorf("match %s (%s) placed on %s %v after it was gone", r.ID, r.State, r.Node, r.Created.Sub(gone))
		}
	}
	ids := keys(placed)
	sort.Strings(ids)
	var per []string
	for _, id := range ids {
		per = append(per, fmt.Sprintf("%s=%d", id, placed[id]))
	}
	report(t, "churn: %d placements acknowledged (%s), %d withdrawn or refused, %d placed on a gone node", len(recs)-failed, strings.Join(per, " "), failed, late)
	report(t, "churn bots: %d matches, %d connect errors, %d disconnects", sum.Matches, sum.ConnectErrors, sum.Disconnects)
	for _, id := range []string{"n3", "n4", "n5"} {
		if placed[id] == 0 {
			t.Errorf("node %s joined but got no match", id)
		}
	}
	for _, id := range []string{"n1", "n3"} { // drained: they left cleanly, nobody reaped them
		if nodes[id].p.alive() {
			t.Errorf("node %s still runs after its drain", id)
		} else if nodes[id].p.logCount("game node deregistered") != 1 {
			t.Errorf("node %s did not deregister after its drain:\n%s", id, nodes[id].p.tail(20))
		}
	}
	if sum.Matches < 10 {
		t.Errorf("the bots played only %d matches during the churn", sum.Matches)
	}
}

// matchRecords reads every match record of the cluster's directory
// straight from Redis (lobby/redisstore's key layout: doc.go).
func matchRecords(t *testing.T, url string) []lobby.MatchRecord {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []lobby.MatchRecord
	iter := c.Scan(ctx, 0, "rp:match:*", 1000).Iterator()
	for iter.Next(ctx) {
		h, err := c.HGetAll(ctx, iter.Val()).Result()
		if err != nil {
			t.Fatal(err)
		}
		var r lobby.MatchRecord
		if err := json.Unmarshal([]byte(h["data"]), &r); err != nil {
			t.Fatalf("match record %s: %v (%v)", iter.Val(), err, h)
		}
		if s := h["state"]; s != "" {
			r.State = s
		}
		out = append(out, r)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
