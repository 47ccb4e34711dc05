package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverProcess is cmd/server run as its own process, as a player would
// find it: the real main, its flags and the embedded demo.
type serverProcess struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

// startServerProcess runs the server binary on a free loopback port and
// waits until it says where it listens. The arena's queue keeps its
// defaults there (2 to 16 players, groups start 2 s after their oldest
// ticket), so the harness queues the Go bots right after the pages.
func startServerProcess(bin string, cfg Config, extra []string) (*serverProcess, error) {
	args := []string{
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-data-dir", "", "-log-level", "info",
		"-hz", strconv.Itoa(cfg.Hz), "-interest", "0", "-bot-fill", "-1s",
		"-match-time", strconv.Itoa(cfg.MatchSeconds) + "s",
		"-rate-limit", "1000", "-rate-burst", "1000", "-session-rate-limit", "1000", "-session-rate-burst", "1000",
	}
	cmd := exec.Command(bin, append(args, extra...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProcess{cmd: cmd, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	go func() {
		// zap's production logs are JSON lines; the one that says
		// "rallypoint listening" carries the address.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "rallypoint listening" && l.Addr != "" {
				select {
				case addrc <- l.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
	}()
	select {
	case p.addr = <-addrc:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("e2e: server process exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-p.done
		return nil, errors.New("e2e: server process did not say where it listens within 30 s")
	}
}

// stop asks the server to shut down (SIGTERM), as an operator would, and
// kills it if it has not exited by ctx's deadline.
func (p *serverProcess) stop(ctx context.Context) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && strings.Contains(ee.String(), "signal") {
			return nil
		}
		return err
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New("e2e: server process did not stop in time")
	}
}
