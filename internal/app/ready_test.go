package app_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/lobby"
)

// TestReadyz: /healthz says alive whatever happens; /readyz is 200 until
// the App drains or its store stops answering, then 503 with the reason.
func TestReadyz(t *testing.T) {
	store := lobby.NewMemoryStore()
	cfg := testkit.QuickLobby()
	cfg.Store = store
	a, hs := testkit.Serve(t, app.Config{Lobby: cfg})
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode, body
	}
	if code, body := get("/readyz"); code != 200 || body["status"] != "ready" {
		t.Fatalf("readyz: %d %v", code, body)
	}
	a.SetDraining(true)
	if !a.Draining() || !errors.Is(a.Ready(t.Context()), app.ErrDraining) {
		t.Fatal("draining not reported")
	}
	if code, body := get("/readyz"); code != 503 || body["status"] != "not_ready" || body["reason"] != app.ErrDraining.Error() {
		t.Fatalf("readyz while draining: %d %v", code, body)
	}
	if code, body := get("/healthz"); code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz while draining: %d %v", code, body)
	}
	a.SetDraining(false)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz after draining: %d", code)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(a.Ready(t.Context()), lobby.ErrClosed) {
		t.Fatalf("ready with a closed store: %v", a.Ready(t.Context()))
	}
	if code, body := get("/readyz"); code != 503 || body["status"] != "not_ready" {
		t.Fatalf("readyz with a closed store: %d %v", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz with a closed store: %d", code)
	}
}

// TestReadyzWhileDrain: the graceful drain (App.Drain, at SIGTERM) makes
// /readyz answer 503 at once, while /healthz stays 200.
func TestReadyzWhileDrain(t *testing.T) {
	a, hs := testkit.Serve(t, app.Config{Lobby: testkit.QuickLobby()})
	if err := a.Drain(t.Context()); err != nil { // no matches: returns at once
		t.Fatal(err)
	}
	if !a.Draining() || !errors.Is(a.Ready(t.Context()), app.ErrDraining) {
		t.Fatal("drain not reported")
	}
	for path, want := range map[string]int{"/readyz": 503, "/healthz": 200} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s while draining: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
