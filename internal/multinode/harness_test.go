//go:build !race

package multinode_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// The binaries, built once by TestMain.
var serverBin, botsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rallypoint-multinode-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin, botsBin = filepath.Join(dir, "server"), filepath.Join(dir, "bots")
	for bin, pkg := range map[string]string{serverBin: "./cmd/server", botsBin: "./cmd/bots"} {
		cmd := exec.Command("go", "build", "-o", bin, "github.com/rallypoint/rallypoint/"+strings.TrimPrefix(pkg, "./"))
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			_ = os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a server process: a lobby or a game node.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string // host:port of the public listener

	mu       sync.Mutex
	log      bytes.Buffer // capped
	exited   chan struct{}
	err      error
	exitedAt time.Time // set before exited is closed
}

var listenRe = regexp.MustCompile(`"msg":"rallypoint listening".*?"addr":"([^"]+)"`)

// serverArgs are the flags every server process of these tests gets:
// generous rate limits (every probe and bot shares 127.0.0.1), no data
// directory, no admin listener.
func serverArgs(addr string) []string {
	return []string{"-addr", addr, "-admin-addr", "", "-data-dir", "", "-log-level", "info",
		"-rate-limit", "100000", "-rate-burst", "100000", "-session-rate-limit", "1000", "-session-rate-burst", "1000"}
}

// startProc runs the server binary and waits until it listens.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, exited: make(chan struct{})}
	p.cmd = exec.Command(serverBin, args...)
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := listenRe.FindStringSubmatch(line); m != nil {
				select {
				case addrs <- m[1]:
				default:
				}
			}
			p.mu.Lock()
			if p.log.Len() < 4<<20 {
				p.log.WriteString(line)
				p.log.WriteByte('\n')
			}
			p.mu.Unlock()
		}
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err, p.exitedAt = err, time.Now()
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case p.addr = <-addrs:
	case <-p.exited:
		t.Fatalf("%s exited before listening: %v\n%s", name, p.err, p.tail(40))
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not listen within 60 s\n%s", name, p.tail(40))
	}
	return p
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// term sends SIGTERM (a drain) and waits up to timeout for the exit.
func (p *proc) term(t *testing.T, timeout time.Duration) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Errorf("%s did not exit within %v of SIGTERM\n%s", p.name, timeout, p.tail(30))
		p.kill()
	}
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// tail returns the last n log lines.
func (p *proc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := strings.Split(strings.TrimRight(p.log.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logCount counts log lines containing s.
func (p *proc) logCount(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Count(p.log.String(), s)
}

// logInt returns the integer field of the last log line containing msg
// (-1 if none).
func (p *proc) logInt(msg, field string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := strings.Split(p.log.String(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.Contains(lines[i], msg) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(lines[i]), &m) != nil {
			return -1
		}
		if v, ok := m[field].(float64); ok {
			return int(v)
		}
		return -1
	}
	return -1
}

// freeAddr returns a loopback address with a free port, for a process that
// must come back on the same address (the lobby).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// botsProc is a cmd/bots process.
type botsProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
}

func startBots(t *testing.T, args ...string) *botsProc {
	t.Helper()
	b := &botsProc{done: make(chan struct{})}
	b.cmd = exec.Command(botsBin, args...)
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

// stop interrupts the swarm and returns its summary.
func (b *botsProc) stop(t *testing.T) bots.Summary {
	t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the bots did not stop within 60 s of SIGINT\n%s", lastLines(b.stderr.String(), 20))
	}
	var s bots.Summary
	lines := strings.Split(strings.TrimSpace(b.stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("the bots' summary: %v\nstdout:\n%s\nstderr:\n%s", err, b.stdout.String(), lastLines(b.stderr.String(), 20))
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// api calls the lobby: a JSON request and answer.
func api(ctx context.Context, method, url, bearer string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v: %s", method, url, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.StatusCode, nil
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ticketView is a ticket as GET /v1/tickets/{id} shows it.
type ticketView struct {
	TicketID   string `json:"ticket_id"`
	Status     string `json:"status"`
	Position   int    `json:"position"`
	Assignment *struct {
		MatchID      string `json:"match_id"`
		WSURL        string `json:"ws_url"`
		Token        string `json:"token"`
		SeatReleased bool   `json:"seat_released"`
	} `json:"assignment"`
}

// matchView is GET /v1/matches/{id}.
type matchView struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Result *struct {
		Reason string `json:"reason"`
	} `json:"result"`
}

// probe is one player the test drives itself: a guest session, a ticket,
// and a game socket to the node its assignment names, recording when
// every snapshot arrived.
type probe struct {
	name  string
	lobby string // http://host:port
	sess  bots.Session

	// set by join
	ticket string
	match  string
	wsURL  string
	c      *client.Client
	stop   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	snaps  []time.Time
	downAt time.Time // when the socket went down (zero: up)
}

func newProbe(t *testing.T, lobbyURL, name string) *probe {
	t.Helper()
	p := &probe{name: name, lobby: lobbyURL}
	lc := bots.NewLobbyClient(lobbyURL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := lc.Guest(ctx, name)
	if err != nil {
		t.Fatalf("probe %s: sign in: %v", name, err)
	}
	p.sess = s
	t.Cleanup(p.close)
	return p
}

// newProbeRetry is newProbe for a lobby that may answer 503 for a while: nil
// if the sign-in failed.
func newProbeRetry(ctx context.Context, lobbyURL, name string) *probe {
	s, err := bots.NewLobbyClient(lobbyURL, nil).Guest(ctx, name)
	if err != nil {
		return nil
	}
	return &probe{name: name, lobby: lobbyURL, sess: s}
}

// queue files a ticket and returns its view.
func (p *probe) queue(ctx context.Context, mode string) (ticketView, error) {
	var v ticketView
	_, err := api(ctx, "POST", p.lobby+"/v1/tickets", p.sess.SessionToken, map[string]string{"mode": mode}, &v)
	if err == nil {
		p.ticket = v.TicketID
	}
	return v, err
}

// getTicket reads the probe's ticket.
func (p *probe) getTicket(ctx context.Context, id string) (ticketView, error) {
	var v ticketView
	_, err := api(ctx, "GET", p.lobby+"/v1/tickets/"+id, p.sess.SessionToken, nil, &v)
	return v, err
}

// join queues (unless a ticket is given), waits for the match, and plays.
func (p *probe) join(ctx context.Context, mode string) error {
	if _, err := p.queue(ctx, mode); err != nil {
		return err
	}
	lc := bots.NewLobbyClient(p.lobby, nil)
	as, err := lc.WaitMatched(ctx, p.sess.SessionToken, p.ticket)
	if err != nil {
		return fmt.Errorf("probe %s: wait matched: %w", p.name, err)
	}
	return p.dial(ctx, as.MatchID, as.WSURL, as.Token)
}

func (p *probe) dial(ctx context.Context, match, wsURL, token string) error {
	p.close()
	c, err := client.Dial(ctx, wsURL, token,
		client.WithOnSnapshot(func(*client.Client, wire.Snapshot, bool) {
			now := time.Now()
			p.mu.Lock()
			p.snaps = append(p.snaps, now)
			p.mu.Unlock()
		}),
		client.WithOnState(func(_ *client.Client, up bool, _ error) {
			p.mu.Lock()
			if !up && p.downAt.IsZero() {
				p.downAt = time.Now()
			}
			p.mu.Unlock()
		}))
	if err != nil {
		return fmt.Errorf("probe %s: dial %s: %w", p.name, wsURL, err)
	}
	p.mu.Lock()
	p.match, p.wsURL, p.c, p.downAt = match, wsURL, c, time.Time{}
	p.mu.Unlock()
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func(stop chan struct{}) { // inputs keep the seat alive
		defer p.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-c.Done():
				return
			case <-t.C:
				_ = c.SendInput(game.Input{DX: 0.3})
			}
		}
	}(p.stop)
	return nil
}

func (p *probe) close() {
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
	p.wg.Wait()
	if p.c != nil {
		_ = p.c.Close()
		p.c = nil
	}
}

// down reports when the socket went down (zero: it is up).
func (p *probe) down() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.downAt
}

// gaps returns the snapshot gaps that ended within [from, to).
func (p *probe) gaps(from, to time.Time) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(p.snaps); i++ {
		if !p.snaps[i].Before(from) && p.snaps[i].Before(to) && !p.snaps[i-1].Before(from.Add(-time.Second)) {
			out = append(out, p.snaps[i].Sub(p.snaps[i-1]))
		}
	}
	return out
}

// nodeOf returns the host:port of a socket URL.
func nodeOf(wsURL string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(wsURL, "ws://"), "wss://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

// gapStats summarizes gaps.
type gapStats struct {
	N             int
	P50, P99, Max time.Duration
}

func stats(gs []time.Duration) gapStats {
	if len(gs) == 0 {
		return gapStats{}
	}
	s := append([]time.Duration(nil), gs...)
	for i := 1; i < len(s); i++ { // insertion sort: a few thousand at most
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	q := func(f float64) time.Duration { return s[min(len(s)-1, int(f*float64(len(s))))] }
	return gapStats{N: len(s), P50: q(0.5), P99: q(0.99), Max: s[len(s)-1]}
}

func (g gapStats) String() string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	return fmt.Sprintf("n=%d p50=%sms p99=%sms max=%sms", g.N, ms(g.P50), ms(g.P99), ms(g.Max))
}

// healthz reads a process's /healthz.
func healthz(addr string) (matches, conns int, err error) {
	var h struct {
		Matches     int `json:"matches"`
		Connections int `json:"connections"`
	}
	_, err = api(context.Background(), "GET", "http://"+addr+"/healthz", "", nil, &h)
	return h.Matches, h.Connections, err
}

var errNotYet = errors.New("not yet")
