package testkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a real redis-server (Debian's package) that a test owns:
// it listens on a free loopback port, keeps its data in a temporary
// directory with the append-only file on (fsynced at every write, so a
// restart or a kill loses nothing that was acknowledged), and is stopped
// when the test ends.
type RedisServer struct {
	// Immutable after Redis.
	Addr string // host:port
	URL  string // redis://host:port/0, for redisstore.Open and -redis
	dir  string
	t    testing.TB

	mu     sync.Mutex   // guards cmd and exited
	cmd    *exec.Cmd    // nil while stopped
	exited <-chan error // receives cmd.Wait's result
}

// RedisBinary is the redis-server binary the tests start, found on PATH.
const RedisBinary = "redis-server"

// Redis starts a redis-server for the test and stops it at cleanup. If the
// binary is missing the test fails with how to install it.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath(RedisBinary); err != nil {
		t.Fatalf("testkit: %s not found on PATH; install it with `apt-get install -y redis-server` (make test-go does this when run as root)", RedisBinary)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("testkit: free port: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &RedisServer{Addr: addr, URL: "redis://" + addr + "/0", dir: t.TempDir(), t: t}
	t.Cleanup(func() { s.Kill() })
	s.Start()
	return s
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the server (again) on the same port and data directory and
// waits until it answers PING. Calling it while the server runs is a no-op.
func (s *RedisServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatalf("testkit: redis log: %v", err)
	}
	defer logf.Close()
	// The port was free a moment ago; another process may take it between
	// our probe and redis-server's bind, so retry on a failed start.
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(RedisBinary,
			"--bind", "127.0.0.1", "--port", port, "--dir", s.dir,
			"--appendonly", "yes", "--appendfsync", "always", "--save", "",
			"--daemonize", "no", "--protected-mode", "yes", "--logfile", "",
			"--databases", "4")
		cmd.Stdout, cmd.Stderr = logf, logf
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			s.t.Fatalf("testkit: start redis-server: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitRedis(s.Addr, exited, 15*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			if attempt < 3 {
				continue
			}
			s.t.Fatalf("testkit: redis-server on %s did not start: %v\n%s", s.Addr, err, s.tail())
		}
		s.cmd, s.exited = cmd, exited
		return
	}
}

// Stop shuts the server down gracefully (SIGTERM: it flushes its
// append-only file) and waits for it to exit.
func (s *RedisServer) Stop() { s.signal(syscall.SIGTERM) }

// Kill kills the server (SIGKILL) and waits for it to exit. With
// appendfsync always, every acknowledged write survives.
func (s *RedisServer) Kill() { s.signal(syscall.SIGKILL) }

// Restart stops the server gracefully and starts it again on the same port
// with the same data.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

func (s *RedisServer) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

func (s *RedisServer) tail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitRedis polls addr with PING until it answers PONG (not LOADING), the
// process exits, or the timeout passes.
func waitRedis(addr string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if last = ping(addr); last == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no PONG within %v: %v", timeout, last)
}

func ping(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return errors.New(strings.TrimSpace(line))
	}
	return nil
}
