package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/testkit"
)

// TestRoleFlags: bad role flags fail at start with a message that says
// what to do.
func TestRoleFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-role", "bogus"}, "unknown role"},
		{[]string{"-role", "lobby"}, "needs -redis"},
		{[]string{"-role", "node"}, "needs -redis"},
		{[]string{"-role", "node", "-redis", "redis://127.0.0.1:1/0", "-public-ws-url", "http://x/v1/ws"}, "not a ws://"},
	} {
		err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "", "-data-dir", "", "-log-level", "error"}, c.args...), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRolesOnRedis: a lobby serves the API but not the game socket, a node
// the game socket but not the API; -role all with -redis is both, and a
// guest's match lands on it with its own address in ws_url.
func TestRolesOnRedis(t *testing.T) {
	rds := testkit.Redis(t)
	lobbyBase, stopLobby := serveRun(t, "-role", "lobby", "-redis", rds.URL)
	nodeBase, stopNode := serveRun(t, "-role", "node", "-redis", rds.URL, "-node-id", "n1")
	if c := getStatus(t, lobbyBase+"/v1/ws?match=x"); c != http.StatusNotFound {
		t.Errorf("lobby GET /v1/ws: %d, want 404", c)
	}
	if c := getStatus(t, lobbyBase+"/v1/matches"); c != http.StatusOK {
		t.Errorf("lobby GET /v1/matches: %d", c)
	}
	if c := getStatus(t, nodeBase+"/v1/matches"); c != http.StatusNotFound {
		t.Errorf("node GET /v1/matches: %d, want 404", c)
	}
	if c := getStatus(t, nodeBase+"/healthz"); c != http.StatusOK {
		t.Errorf("node GET /healthz: %d", c)
	}
	if err := stopNode(); err != nil {
		t.Errorf("node shutdown: %v", err)
	}
	if err := stopLobby(); err != nil {
		t.Errorf("lobby shutdown: %v", err)
	}

	// -role all with -redis: a cluster of one process.
	base, stop := serveRun(t, "-redis", rds.URL, "-bot-fill", "100ms", "-drain-timeout", "1s")
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	resp, err := http.Post(base+"/v1/auth/guest", "application/json", strings.NewReader(`{"name":"ada"}`))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Token string `json:"session_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	req, _ := http.NewRequest("POST", base+"/v1/tickets", strings.NewReader(`{"mode":"bench"}`))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tk struct {
		ID string `json:"ticket_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tk)
	resp.Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/v1/tickets/"+tk.ID, nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Status     string `json:"status"`
			Assignment *struct {
				WSURL string `json:"ws_url"`
			} `json:"assignment"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if v.Status == "matched" {
			if want := "ws" + strings.TrimPrefix(base, "http") + "/v1/ws?match="; !strings.HasPrefix(v.Assignment.WSURL, want) {
				t.Fatalf("ws_url %q, want %s...", v.Assignment.WSURL, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not matched within 20 s: %+v", v)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
