package benchrun

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestBuildBaseRefusesBadRefs(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for _, ref := range []string{"", "--help", "no-such-ref-0123456789"} {
		if _, _, err := BuildBase(context.Background(), ref, t.TempDir(), io.Discard); err == nil {
			t.Errorf("BuildBase(%q): no error", ref)
		}
	}
}

func TestExport(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	commit, err := git(context.Background(), "", "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	dir := t.TempDir()
	if err := export(context.Background(), commit, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", "cmd/server/main.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("exported tree: %v", err)
		}
	}
}
