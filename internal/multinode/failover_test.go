//go:build !race

package multinode_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/internal/testkit"
)

// report prints a measured figure to the test log and to stdout, so
// `make multinode` shows it.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	fmt.Println("multinode: " + line)
}

// TestFailover runs one lobby, two game nodes, a few hundred bots (cmd/bots)
// and probe players, then kills one node (kill -9), kills and restarts the
// lobby, and restarts Redis, checking after each what the players see and
// measuring what the failover cost.
func TestFailover(t *testing.T) {
	rds := testkit.Redis(t)
	lobbyAddr := freeAddr(t)
	lobbyURL := "http://" + lobbyAddr
	lobbyArgs := append(serverArgs(lobbyAddr), "-role", "lobby", "-redis", rds.URL, "-bot-fill", "-1s",
		"-heartbeat", "1s", "-heartbeat-ttl", "3s")
	lob := startProc(t, "lobby", lobbyArgs...)
	// A second lobby process on the same Redis: it serves the same queue
	// and takes over while the first is down.
	lobby2 := startProc(t, "lobby2", append(serverArgs("127.0.0.1:0"), "-role", "lobby", "-redis", rds.URL, "-bot-fill", "-1s",
		"-heartbeat", "1s", "-heartbeat-ttl", "3s")...)
	lobby2URL := "http://" + lobby2.addr
	nodeArgs := func(id string) []string {
		return append(serverArgs("127.0.0.1:0"), "-role", "node", "-redis", rds.URL, "-node-id", id,
			"-node-capacity", "600", "-heartbeat", "1s", "-heartbeat-ttl", "3s")
	}
	nodes := map[string]*proc{}
	for _, id := range []string{"node-a", "node-b"} {
		p := startProc(t, id, nodeArgs(id)...)
		nodes[p.addr] = p
	}
	ctx := context.Background()

	// A few hundred bots in the bench mode (groups of 8, no time limit).
	const nBots = 240
	swarm := startBots(t, "-server", lobbyURL, "-bots", fmt.Sprint(nBots), "-mode", "bench", "-duration", "0",
		"-ramp", "80", "-hz", "15", "-json", "-max-errors", "1000000", "-log-level", "error")
	waitFor(t, 90*time.Second, "the bots' matches on both nodes", func() bool {
		total := 0
		for addr := range nodes {
			m, c, err := healthz(addr)
			if err != nil || m == 0 {
				return false
			}
			total += c
		}
		return total >= nBots*9/10
	})
	for addr, p := range nodes {
		m, c, _ := healthz(addr)
		report(t, "before the kill: %s runs %d matches, %d sockets", p.name, m, c)
	}
	socketsBefore := 0 // every socket of both nodes, probes included (set below)

	// Probe players, in full groups of 8, until both nodes hold some.
	var probes []*probe
	byNode := map[string][]*probe{}
	for wave := 0; wave < 8 && (len(byNode) < 2 || wave < 2); wave++ {
		var batch []*probe
		for i := range 8 {
			batch = append(batch, newProbe(t, lobbyURL, fmt.Sprintf("probe%d_%d", wave, i)))
		}
		errs := make(chan error, len(batch))
		for _, p := range batch {
			go func() {
				jctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				defer cancel()
				errs <- p.join(jctx, "bench")
			}()
		}
		for range batch {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range batch {
			byNode[nodeOf(p.wsURL)] = append(byNode[nodeOf(p.wsURL)], p)
		}
		probes = append(probes, batch...)
	}
	if len(byNode) < 2 {
		t.Fatalf("every probe was placed on one node: %v", keys(byNode))
	}
	// The victim: node A; the survivor: node B.
	var victim, survivor *proc
	for addr, p := range nodes {
		if p.name == "node-a" {
			victim = p
		} else {
			survivor = p
		}
		report(t, "probes on %s (%s): %d", p.name, addr, len(byNode[addr]))
	}
	lostProbes, keptProbes := byNode[victim.addr], byNode[survivor.addr]
	for addr := range nodes {
		_, c, err := healthz(addr)
		if err != nil {
			t.Fatal(err)
		}
		socketsBefore += c
	}
	keptStats := map[*probe][2]uint64{} // reconnects, keyframes before the kill
	for _, p := range keptProbes {
		st := p.c.Stats()
		keptStats[p] = [2]uint64{st.Reconnects, st.Keyframes}
	}

	// Measure the survivor's probes for a while, then kill node A.
	time.Sleep(5 * time.Second) // a measurement window, not synchronisation
	killAt := time.Now()
	victim.kill()
	lostMatches := map[string]bool{}
	for _, p := range lostProbes {
		lostMatches[p.match] = true
	}

	// Detection: the lobby marks node A's matches lost.
	var detected time.Time
	waitFor(t, 30*time.Second, "node A's matches marked lost", func() bool {
		for id := range lostMatches {
			var m matchView
			if _, err := api(ctx, "GET", lobbyURL+"/v1/matches/"+id, "", nil, &m); err != nil || m.State != "lost" {
				return false
			}
			if m.Result == nil || m.Result.Reason != "node_lost" {
				t.Fatalf("lost match %s: result %+v, want reason node_lost", id, m.Result)
			}
		}
		detected = time.Now()
		return true
	})
	// Told: every probe of node A reads status "lost" on its ticket, and
	// its event stream, resumed after "matched", says "lost" too.
	waitFor(t, 15*time.Second, "every probe of node A to read ticket status lost", func() bool {
		for _, p := range lostProbes {
			if v, err := p.getTicket(ctx, p.ticket); err != nil || v.Status != "lost" {
				return false
			}
		}
		return true
	})
	for _, p := range lostProbes {
		if p.down().IsZero() {
			t.Errorf("probe %s on the killed node still has a socket", p.name)
		}
	}
	if ev := streamEvent(t, lobbyURL, lostProbes[0].ticket, "2"); ev != "lost" {
		t.Fatalf("the ticket stream resumed after matched says %q, want lost", ev)
	}
	toldAt := time.Now()

	// Requeued: each probe of node A queues again (its seat is released:
	// no already_in_match) at the front, is matched on node B and plays.
	positions := make([]int, 0, len(lostProbes))
	errs := make(chan error, len(lostProbes))
	for _, p := range lostProbes {
		v, err := p.queue(ctx, "bench")
		if err != nil {
			t.Fatalf("probe %s requeues: %v", p.name, err)
		}
		positions = append(positions, v.Position)
	}
	for _, p := range lostProbes {
		go func() {
			jctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			as, err := bots.NewLobbyClient(p.lobby, nil).WaitMatched(jctx, p.sess.SessionToken, p.ticket)
			if err == nil {
				err = p.dial(jctx, as.MatchID, as.WSURL, as.Token)
			}
			errs <- err
		}()
	}
	for range lostProbes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	requeued := time.Now()
	for _, p := range lostProbes {
		if nodeOf(p.wsURL) != survivor.addr {
			t.Fatalf("probe %s was placed on %s after node A died; only %s is alive", p.name, p.wsURL, survivor.addr)
		}
	}
	// The bots of node A: cmd/bots retries its socket (8 attempts, backoff
	// up to 2 s), then asks for a token (not_seated) and queues again.
	// All sockets are back, on node B, when it holds what both held.
	botsBack := time.Duration(0)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if _, c, err := healthz(survivor.addr); err == nil && c >= socketsBefore {
			botsBack = time.Since(killAt)
			break
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	time.Sleep(3 * time.Second) // the survivor's after-window, again a measurement
	windowEnd := time.Now()

	var before, after []time.Duration
	for _, p := range keptProbes {
		before = append(before, p.gaps(killAt.Add(-5*time.Second), killAt)...)
		after = append(after, p.gaps(killAt, windowEnd)...)
		if !p.down().IsZero() {
			t.Errorf("probe %s on the surviving node lost its socket at %v", p.name, p.down().Sub(killAt))
		}
		st := p.c.Stats()
		if st.Reconnects != keptStats[p][0] {
			t.Errorf("probe %s on the surviving node reconnected", p.name)
		}
		if k := st.Keyframes - keptStats[p][1]; k > 0 {
			t.Logf("probe %s on the surviving node got %d keyframes after the kill (a dropped snapshot)", p.name, k)
		}
	}
	bs, as := stats(before), stats(after)
	report(t, "survivor's snapshot gaps, 5 s before the kill: %v", bs)
	report(t, "survivor's snapshot gaps, from the kill until %.1f s after: %v", windowEnd.Sub(killAt).Seconds(), as)
	if as.N < bs.N/4 {
		t.Errorf("the surviving node's probes got %d snapshots after the kill, %d before", as.N, bs.N)
	}
	if as.Max > 2*time.Second {
		t.Errorf("a probe on the surviving node waited %v for a snapshot after the kill", as.Max)
	}
	report(t, "node killed -> its matches marked lost (detection): %v (heartbeat 1 s, ttl 3 s)", detected.Sub(killAt).Round(time.Millisecond))
	report(t, "node killed -> players told (ticket status lost, checked): %v", toldAt.Sub(killAt).Round(time.Millisecond))
	report(t, "node killed -> all %d probes requeued, matched on the survivor and playing: %v; requeue positions %v",
		len(lostProbes), requeued.Sub(killAt).Round(time.Millisecond), positions)
	const deadMsg = `"msg":"game node dead: its matches are lost"`
	if n := lob.logCount(deadMsg) + lobby2.logCount(deadMsg); n != 1 {
		t.Errorf("the dead node was reaped %d times by the two lobbies, want once", n)
	}
	reaped := max(lob.logInt(deadMsg, "matches"), lobby2.logInt(deadMsg, "matches"))
	if reaped < len(lostMatches) {
		t.Errorf("the lobby reports %d lost matches; the probes alone were in %d", reaped, len(lostMatches))
	}
	if botsBack == 0 {
		t.Errorf("node B holds fewer sockets than both nodes held before the kill (%d), 90 s on", socketsBefore)
	} else {
		report(t, "node killed -> every socket back (%d, bots and probes), on the survivor: %v", socketsBefore, botsBack.Round(100*time.Millisecond))
	}
	report(t, "lost: the %d matches of node A (%d with probes) and their in-flight ticks; each has a node_lost result, its seats released", reaped, len(lostMatches))

	// The lobby: kill -9 and restart on the same address. Nothing of the
	// tickets, sessions, seats or results is lost.
	waitQueued := newProbe(t, lobbyURL, "waiting")
	qv, err := waitQueued.queue(ctx, "arena") // alone in the arena queue (no bot fill): stays queued
	if err != nil {
		t.Fatal(err)
	}
	playing := keptProbes[0]
	lob.kill()
	lobbyDown := time.Now()
	// The other lobby serves everything meanwhile: the same sessions and
	// tickets, and it takes the matchmaker over (the lease lapses in 3 s).
	for _, p := range probes {
		var v ticketView
		if _, err := api(ctx, "GET", lobby2URL+"/v1/tickets/"+p.ticket, p.sess.SessionToken, nil, &v); err != nil {
			t.Fatalf("the second lobby, probe %s's ticket: %v", p.name, err)
		}
	}
	other := newProbe(t, lobby2URL, "other")
	jctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	if err := other.join(jctx, "bench"); err != nil {
		t.Fatalf("a new player on the second lobby while the first is down: %v", err)
	}
	cancel()
	report(t, "lobby killed -> a new player placed through the other lobby and playing: %v", time.Since(lobbyDown).Round(time.Millisecond))
	restartAt := time.Now()
	firstLobby := lob
	lob = startProc(t, "lobby", lobbyArgs...)
	waitFor(t, 30*time.Second, "the restarted lobby to be ready", func() bool {
		_, err := api(ctx, "GET", lobbyURL+"/readyz", "", nil, nil)
		return err == nil
	})
	report(t, "lobby restarted -> ready: %v", time.Since(restartAt).Round(time.Millisecond))
	for _, p := range probes { // every session is still valid, every ticket readable
		if _, err := p.getTicket(ctx, p.ticket); err != nil {
			t.Fatalf("after the lobby restart, probe %s: %v", p.name, err)
		}
	}
	for _, p := range keptProbes { // and every assignment: seat held, on its node
		v, err := p.getTicket(ctx, p.ticket)
		if err != nil || v.Status != "matched" || v.Assignment == nil || v.Assignment.Token == "" || nodeOf(v.Assignment.WSURL) != survivor.addr {
			t.Fatalf("after the lobby restart, probe %s's assignment: %+v %v", p.name, v.Assignment, err)
		}
	}
	if v, err := waitQueued.getTicket(ctx, qv.TicketID); err != nil || v.Status != "queued" || v.Position != 1 {
		t.Fatalf("after the lobby restart, the queued ticket (still in the queue, at the front): %+v, %v", v, err)
	}
	for id := range lostMatches {
		var m matchView
		if _, err := api(ctx, "GET", lobbyURL+"/v1/matches/"+id, "", nil, &m); err != nil || m.State != "lost" || m.Result == nil {
			t.Fatalf("after the lobby restart, lost match %s: %+v, %v", id, m, err)
		}
	}
	var tok struct {
		WSURL string `json:"ws_url"`
		Token string `json:"token"`
	}
	if _, err := api(ctx, "POST", lobbyURL+"/v1/matches/"+playing.match+"/token", playing.sess.SessionToken, nil, &tok); err != nil {
		t.Fatalf("after the lobby restart, the reconnect token of a seated probe: %v", err)
	}
	if nodeOf(tok.WSURL) != survivor.addr {
		t.Fatalf("the reconnect token points at %s, the match runs on %s", tok.WSURL, survivor.addr)
	}
	if !playing.down().IsZero() {
		t.Fatalf("probe %s lost its game socket while the lobby restarted", playing.name)
	}
	fresh := newProbe(t, lobbyURL, "fresh1")
	jctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	if err := fresh.join(jctx, "bench"); err != nil {
		t.Fatalf("a new player after the lobby restart: %v", err)
	}
	cancel()

	// Redis: restart it (append-only file on). Everything recovers by
	// itself: nodes heartbeat again, the lobby places matches again.
	redisDown := time.Now()
	rds.Restart()
	// A new player: sign-in, ticket, match, socket. The first attempts may
	// meet the store still reconnecting (503); a player retries.
	var fresh2 *probe
	var lastErr error
	for deadline := time.Now().Add(60 * time.Second); ; {
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		fresh2 = newProbeRetry(jctx, lobbyURL, "fresh2")
		if fresh2 != nil {
			lastErr = fresh2.join(jctx, "bench")
		}
		cancel()
		if fresh2 != nil && lastErr == nil {
			t.Cleanup(fresh2.close)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new player placed within 60 s of the Redis restart: %v", lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	report(t, "redis restarted -> a new player placed and playing: %v", time.Since(redisDown).Round(time.Millisecond))
	for id := range lostMatches {
		var m matchView
		if _, err := api(ctx, "GET", lobbyURL+"/v1/matches/"+id, "", nil, &m); err != nil || m.State != "lost" {
			t.Fatalf("after the Redis restart, lost match %s: %+v, %v", id, m, err)
		}
	}
	if v, err := waitQueued.getTicket(ctx, qv.TicketID); err != nil || v.Status != "queued" {
		t.Fatalf("after the Redis restart, the queued ticket: %+v, %v", v, err)
	}
	for _, p := range keptProbes {
		if !p.down().IsZero() {
			t.Errorf("probe %s on the surviving node lost its socket (Redis restart?)", p.name)
		}
	}
	if !survivor.alive() || !lob.alive() || !lobby2.alive() {
		t.Fatal("a process died")
	}
	if n := firstLobby.logCount(deadMsg) + lob.logCount(deadMsg) + lobby2.logCount(deadMsg); n != 1 {
		t.Errorf("the lobbies reaped %d nodes in all, want 1 (a live node reaped after the Redis restart?)", n)
	}

	sum := swarm.stop(t)
	report(t, "bots: %d started, %d matches, %d reconnects, %d connect errors, %d disconnects (the killed node's), snapshot gap p99 %.1f ms",
		sum.Bots, sum.Matches, sum.Reconnects, sum.ConnectErrors, sum.Disconnects, sum.SnapshotGapMS.P99)
}

// streamEvent opens a ticket's event stream resumed after lastID and
// returns the first event's name.
func streamEvent(t *testing.T, lobbyURL, ticket, lastID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", lobbyURL+"/v1/tickets/"+ticket+"/events", nil)
	req.Header.Set("Last-Event-ID", lastID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			return ev
		}
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
