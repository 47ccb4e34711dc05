package reacte2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// chromiumPaths are where Debian and Ubuntu put Chromium.
var chromiumPaths = []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"}

func findChromium() string {
	if p := os.Getenv("RP_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range chromiumPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// EnsureChromium returns the Chromium binary, installing Debian's package
// when it is missing and the test runs as root (as CI does; Playwright's
// own browser downloads are not used). It skips the test, saying why, only
// when Chromium truly cannot be had. (The same as internal/e2e's helper,
// which is unexported.)
func EnsureChromium(t testing.TB) string {
	t.Helper()
	if p := findChromium(); p != "" {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skip("chromium is not installed and this user cannot install it: run `apt-get install -y chromium` as root")
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		t.Skip("chromium is not installed and there is no apt-get to install it")
	}
	t.Log("installing chromium (apt-get install -y chromium)")
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "chromium"}} {
		cmd := exec.Command(apt, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("chromium could not be installed (apt-get %v: %v):\n%s", args, err, tail(string(out), 2000))
		}
	}
	if p := findChromium(); p != "" {
		return p
	}
	t.Skip("apt-get installed chromium but no binary was found at " + chromiumPaths[0])
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Run runs a command in dir with extra environment, passing each output
// line to logf, and returns the lines that start with prefix (without it).
// The error carries the tail of the output.
func Run(ctx context.Context, dir string, env []string, logf func(string, ...any), prefix string, name string, args ...string) ([]string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var found, last []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			if prefix != "" && strings.HasPrefix(line, prefix) {
				found = append(found, strings.TrimPrefix(line, prefix))
				continue
			}
			last = append(last, line)
			if len(last) > 60 {
				last = last[1:]
			}
			logf("%s", line)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Wait()
	pw.Close()
	<-done
	if err != nil {
		return found, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.Join(last, "\n"))
	}
	return found, nil
}
