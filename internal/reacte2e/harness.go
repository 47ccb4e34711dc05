package reacte2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

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
