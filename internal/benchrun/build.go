package benchrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build builds this tree's cmd/server and cmd/bots into dir and returns
// their paths and this tree's revision (git describe, "-dirty" with
// uncommitted changes).
func Build(ctx context.Context, dir string, log io.Writer) (server, bots, rev string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", abs+string(filepath.Separator), "./cmd/server", "./cmd/bots")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", "", "", fmt.Errorf("go build ./cmd/server ./cmd/bots: %w", err)
	}
	rev, err = git(ctx, "", "describe", "--always", "--dirty", "--abbrev=12")
	if err != nil {
		rev = "unknown"
	}
	return filepath.Join(abs, "server"), filepath.Join(abs, "bots"), rev, nil
}

// BuildBase builds cmd/server as it is at the git ref into dir/base-server:
// it exports that commit's tree (git archive) into a temporary directory,
// builds there and removes the directory. It returns the binary and the
// commit.
func BuildBase(ctx context.Context, ref, dir string, log io.Writer) (bin, commit string, err error) {
	if strings.TrimSpace(ref) == "" || strings.HasPrefix(ref, "-") {
		return "", "", fmt.Errorf("base ref %q: want a commit, branch or tag", ref)
	}
	commit, err = git(ctx, "", "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		return "", "", fmt.Errorf("base ref %q is not a commit here: %w", ref, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp("", "rallypoint-base-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	if err := export(ctx, commit, tmp); err != nil {
		return "", "", err
	}
	bin = filepath.Join(abs, "base-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/server")
	cmd.Dir = tmp
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/server at %s: %w", commit[:12], err)
	}
	return bin, commit[:12], nil
}

// export writes the tree of commit into dir: git archive piped to tar.
func export(ctx context.Context, commit, dir string) error {
	// From a subdirectory git archive exports only that subtree: run it
	// at the top.
	top, err := git(ctx, "", "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", commit)
	archive.Dir = top
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	var errA, errT bytes.Buffer
	archive.Stderr, untar.Stderr = &errA, &errT
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	if err := archive.Run(); err != nil {
		_ = untar.Wait()
		return fmt.Errorf("git archive %s: %w %s", commit, err, strings.TrimSpace(errA.String()))
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("tar -x: %w %s", err, strings.TrimSpace(errT.String()))
	}
	return nil
}

// git runs a git command (in dir, if set) and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if s := strings.TrimSpace(errb.String()); s != "" {
			return "", fmt.Errorf("%w: %s", err, s)
		}
		return "", err
	}
	s := strings.TrimSpace(out.String())
	if s == "" {
		return "", errors.New("git " + args[0] + ": no output")
	}
	return s, nil
}
