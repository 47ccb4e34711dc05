package app_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStrangerJSClient runs web/test/stranger-client.mjs, a JavaScript
// client written from docs/protocol.md and docs/lobby-api.md alone (with
// @msgpack/msgpack and Node's standard WebSocket), against the real server:
// sign-in, queue, join, apply 60 snapshots, move, acks, ping, a forged
// token's close code, leave. `make test` installs node_modules (npm ci).
func TestStrangerJSClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required for the protocol client test (make test / .ci/run install it):", err)
	}
	web, _ := filepath.Abs("../../web")
	if _, err := os.Stat(filepath.Join(web, "node_modules", "@msgpack", "msgpack")); err != nil {
		t.Fatal("web/node_modules is missing: run `npm ci --prefix web` (make test does)")
	}
	hs := newApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "--no-warnings", "test/stranger-client.mjs", hs.URL)
	cmd.Dir = web
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "protocol client: ok") {
		t.Fatalf("protocol client failed: %v\n%s", err, out)
	}
}
