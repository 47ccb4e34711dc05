package game_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeps keeps game pure: it may import nothing else from this module and
// no networking. (Modelled on tailscale's cmd/derper TestDeps.)
func TestDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		// Not a reason to pass silently: the purity check must run.
		t.Fatalf("the go tool must be on PATH to check game's imports: %v", err)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("no go.mod above the test's directory")
		}
		root = parent
	}
	cmd := exec.Command(gobin, "list", "-deps", "./game/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./game/...: %v\n%s", err, out)
	}
	const self = "github.com/rallypoint/rallypoint/game"
	banned := map[string]bool{"net": true, "net/http": true, "github.com/lxzan/gws": true}
	for dep := range strings.FieldsSeq(string(out)) {
		switch {
		case banned[dep]:
			t.Errorf("game depends on networking package %q", dep)
		case strings.HasPrefix(dep, "github.com/rallypoint/rallypoint/") && dep != self && !strings.HasPrefix(dep, self+"/"):
			t.Errorf("game depends on %q from the rest of the module", dep)
		}
	}
}
