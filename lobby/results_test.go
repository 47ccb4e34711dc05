package lobby

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestResultsLog: results are appended to DataDir/results.jsonl, served by
// GET /v1/matches/{id} once the match is over, and still there after a
// restart; a torn last line (a crash mid-write) is skipped.
func TestResultsLog(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir = dir
	e := newEnv(t, cfg)
	started := time.Now().Add(-90 * time.Second)
	res := MatchResult{ID: "m1", Mode: "arena", Reason: "score", Started: started, Ticks: 2700,
		Players: []ResultEntry{{Player: 7, Entity: 1, Score: 10, Rank: 1}, {Player: 1 << 30, Entity: 2, Score: 3, Rank: 2, Bot: true}}}
	if err := e.l.RecordResult(res); err != nil {
		t.Fatal(err)
	}
	var got struct {
		MatchSummary
		Result MatchResult `json:"result"`
	}
	if resp := e.do("GET", "/v1/matches/m1", "", nil, &got); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET ended match: %d", resp.StatusCode)
	}
	if got.State != "over" || got.Result.Reason != "score" || len(got.Result.Players) != 2 || got.Bots != 1 || len(got.Players) != 1 || got.Result.DurationMS < 89000 {
		t.Errorf("ended match %+v", got)
	}
	e.close()
	f, err := os.OpenFile(filepath.Join(dir, ResultsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, `{"id":"torn","mo`)
	f.Close()

	e2 := newEnv(t, cfg)
	if resp := e2.do("GET", "/v1/matches/m1", "", nil, &got); resp.StatusCode != http.StatusOK || got.Result.Players[0].Score != 10 {
		t.Fatalf("after a restart: %d %+v", resp.StatusCode, got)
	}
	e2.expectError("GET", "/v1/matches/torn", "", nil, 404, "match_not_found")
}

// TestDrainRefusesTickets: while draining, new tickets get 503 draining and
// nothing is placed; sessions still work.
func TestDrainRefusesTickets(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.guest("a")
	e.l.Drain()
	resp := e.expectError("POST", "/v1/tickets", a.SessionToken, map[string]string{"mode": "arena"}, 503, "draining")
	_ = resp
	if len(e.game.requests()) != 0 {
		t.Error("a match was placed while draining")
	}
}

// TestRequestBodies: what a client written from the docs alone found.
func TestRequestBodies(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.guest("a")
	e.expectError("POST", "/v1/tickets", a.SessionToken, map[string]string{}, 400, "bad_request")
	e.expectError("POST", "/v1/auth/guest", "", "{\"name\":\"a\xffb\"}", 400, "invalid_name")
	// Bodies are JSON whatever the Content-Type says (curl -d sends
	// application/x-www-form-urlencoded).
	var g authResp
	if resp := e.do("POST", "/v1/auth/guest", "", `{"name":"curl"}`, &g, "Content-Type", "application/x-www-form-urlencoded"); resp.StatusCode/100 != 2 || g.SessionToken == "" {
		t.Errorf("form-typed JSON body: %d", resp.StatusCode)
	}
	e.expectError("POST", "/v1/auth/guest", "", "name=curl", 400, "bad_request")
}
