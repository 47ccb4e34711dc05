package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/netem"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
)

// Config configures an Env. The zero value of every field means its
// default.
type Config struct {
	// Web serves the demo at / (web.Handler()). Required.
	Web http.Handler
	// Pages are the names of the browser pages, each with its own proxy
	// listener. If nil, {"A", "B"} is used.
	Pages []string
	// Strafers is how many Go bots strafe for the lag-compensation test;
	// the first is also the observer. If zero, 3 is used.
	Strafers int
	// Wanderers is how many more Go bots (a bots.Swarm) wander. If zero,
	// 3 is used.
	Wanderers int
	// MatchSeconds is the arena time limit. If zero, 120 is used.
	MatchSeconds int
	// Hz is the tick rate. If zero, 30 is used.
	Hz int
	// Delay and Jitter are the proxies' one-way delay and jitter. If
	// zero, netem's defaults (50 ms, ±20 ms) are used.
	Delay, Jitter time.Duration
	// Configure, if set, may change the server's config before it starts
	// (knobs of newer servers). In-process servers only.
	Configure func(*app.Config)
	// ServerBinary, if set, is a built cmd/server to run as a process
	// instead of the in-process App (Web and Configure are then unused:
	// the binary serves its embedded demo); ServerArgs are added to its
	// flags.
	ServerBinary string
	ServerArgs   []string
}

func (c *Config) setDefaults() error {
	if c.Web == nil && c.ServerBinary == "" {
		return errors.New("e2e: Config.Web (or ServerBinary) is required")
	}
	if c.Pages == nil {
		c.Pages = []string{"A", "B"}
	}
	if c.Strafers == 0 {
		c.Strafers = 3
	}
	if c.Wanderers == 0 {
		c.Wanderers = 3
	}
	if c.MatchSeconds == 0 {
		c.MatchSeconds = 120
	}
	if c.Hz == 0 {
		c.Hz = 30
	}
	if c.Delay == 0 {
		c.Delay = netem.DefaultDelay
	}
	if c.Jitter == 0 {
		c.Jitter = netem.DefaultJitter
	}
	return nil
}

// Players is how many players the arena match waits for: the pages and
// every Go bot.
func (c *Config) Players() int { return len(c.Pages) + c.Strafers + c.Wanderers }

// Env is the server, the proxies, the Go bots and a small control API for
// the Node script (web/e2e/play.mjs) that drives the browsers.
type Env struct {
	Cfg     Config
	App     *app.App         // the in-process server (nil with ServerBinary)
	URL     string           // the server's base URL, straight (not through a proxy)
	Server  *httptest.Server // serves App
	Process *serverProcess   // the server process, with ServerBinary
	Proxies map[string]*netem.Proxy
	Ctl     *httptest.Server
	Obs     *observer

	shooter   atomic.Int64 // the shooting page's entity, for the strafers
	botsCtx   context.Context
	botsOnce  sync.Once
	strafers  []*goPlayer
	swarmDone chan error
	cancel    context.CancelFunc

	mu    sync.Mutex // guards marks, pages, netSets
	marks map[string]uint32
	pages map[string]uint32 // page name -> entity, as the page reported it
	logf  func(format string, args ...any)
}

// Start brings up the server, a proxy per page and the control API. The
// Go bots queue with Bots.
func Start(cfg Config, logf func(string, ...any)) (*Env, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	e := &Env{Cfg: cfg, Proxies: map[string]*netem.Proxy{},
		Obs: newObserver(cfg.Hz), marks: map[string]uint32{}, pages: map[string]uint32{}, logf: logf}
	var target string
	if cfg.ServerBinary != "" {
		p, err := startServerProcess(cfg.ServerBinary, cfg, cfg.ServerArgs)
		if err != nil {
			return nil, err
		}
		e.Process, target = p, p.addr
	} else {
		ac := app.Config{
			Lobby: lobby.Config{
				// One arena match of exactly the pages and the Go bots: it
				// starts the moment the last of them queues, never with
				// server-side bots.
				Modes:         map[string]lobby.ModeRules{game.ModeArena: {MinPlayers: cfg.Players(), MaxPlayers: cfg.Players()}},
				BotFillAfter:  -1,
				FillWait:      time.Hour,
				MatchInterval: 20 * time.Millisecond,
				RateLimit:     1000,
				RateBurst:     1000,
			},
			Game:  netcode.Config{Hz: cfg.Hz, Interest: 0, Grace: 30 * time.Second},
			Games: map[string]game.Config{game.ModeArena: {TimeLimitTicks: cfg.MatchSeconds * cfg.Hz}},
			Web:   cfg.Web,
		}
		if cfg.Configure != nil {
			cfg.Configure(&ac)
		}
		a, err := app.New(ac, nil)
		if err != nil {
			return nil, err
		}
		e.App, e.Server = a, httptest.NewServer(a.Handler())
		target = e.Server.Listener.Addr().String()
	}
	e.URL = "http://" + target
	for i, name := range cfg.Pages {
		p, err := netem.New(netem.Config{Target: target, Delay: cfg.Delay, Jitter: cfg.Jitter, Seed: uint64(i + 1)})
		if err != nil {
			e.Close()
			return nil, err
		}
		e.Proxies[name] = p
	}
	e.Ctl = httptest.NewServer(e.control())
	return e, nil
}

// Begin starts the Go bots, now with the in-process server (its queue
// waits for every player), or once the Node script reports the pages
// queued (POST /queued) with a server process, whose queue starts a group
// 2 s after its oldest ticket.
func (e *Env) Begin(ctx context.Context) error {
	e.botsCtx = ctx
	if e.Process != nil {
		return nil
	}
	return e.startBotsOnce()
}

func (e *Env) startBotsOnce() error {
	var err error
	e.botsOnce.Do(func() { err = e.StartBots(e.botsCtx) })
	return err
}

// StartBots queues the Go bots: the strafers (the first one the observer)
// and the swarm of wanderers. They connect straight to the server. It
// returns when the strafers are queued; they join when the match forms.
func (e *Env) StartBots(ctx context.Context) error {
	ctx, e.cancel = context.WithCancel(ctx)
	type joined struct {
		i   int
		p   *goPlayer
		err error
	}
	ch := make(chan joined, e.Cfg.Strafers)
	for i := range e.Cfg.Strafers {
		go func() {
			var opts []client.Option
			if i == 0 {
				opts = append(opts, client.WithOnSnapshot(e.Obs.onSnapshot), client.WithOnEvent(e.Obs.onEvent))
			}
			p, err := joinGo(ctx, e.URL, fmt.Sprintf("strafer%d", i), game.ModeArena, opts...)
			ch <- joined{i, p, err}
		}()
	}
	swarm, err := bots.NewSwarm(bots.Config{
		Server: e.URL, Bots: e.Cfg.Wanderers, Mode: game.ModeArena, Brain: bots.KindWander,
		OneMatch: true, Seed: 42, NamePrefix: "wanderer",
	}, nil)
	if err != nil {
		return err
	}
	e.swarmDone = make(chan error, 1)
	go func() {
		_, err := swarm.Run(ctx)
		e.swarmDone <- err
	}()
	// The strafers return from joinGo once the match has formed, which
	// needs the pages too: collect them in the background.
	go func() {
		ps := make([]*goPlayer, e.Cfg.Strafers)
		for range e.Cfg.Strafers {
			j := <-ch
			if j.err != nil {
				e.logf("e2e: %v", j.err)
				continue
			}
			ps[j.i] = j.p
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, p := range ps {
			if p == nil {
				continue
			}
			s := &strafer{bearing: float64(i) * 2 * 3.141592653589793 / float64(e.Cfg.Strafers), shooter: &e.shooter}
			p.brain = s.think
			go p.run()
			e.strafers = append(e.strafers, p)
		}
	}()
	return nil
}

// strafersReady returns the strafers' entities once all of them joined.
func (e *Env) strafersReady() ([]uint32, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.strafers) < e.Cfg.Strafers {
		return nil, false
	}
	ids := make([]uint32, len(e.strafers))
	for i, p := range e.strafers {
		ids[i] = p.w.Entity
	}
	return ids, true
}

// Mark returns the observer's tick recorded under name (0: none).
func (e *Env) Mark(name string) uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.marks[name]
}

// PageEntity is the entity a page reported as its own.
func (e *Env) PageEntity(name string) uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pages[name]
}

// Close stops the bots, the proxies, the control API and the server.
func (e *Env) Close() error {
	if e.cancel != nil {
		e.cancel()
	}
	e.mu.Lock()
	ss := e.strafers
	e.strafers = nil
	e.mu.Unlock()
	for _, p := range ss {
		p.close()
	}
	var errs []error
	if e.swarmDone != nil {
		select {
		case err := <-e.swarmDone:
			if err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, err)
			}
		case <-time.After(15 * time.Second):
			errs = append(errs, errors.New("e2e: swarm did not stop"))
		}
	}
	if e.Ctl != nil {
		e.Ctl.Close()
	}
	for _, p := range e.Proxies {
		errs = append(errs, p.Close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if e.App != nil {
		errs = append(errs, e.App.Shutdown(ctx))
		e.Server.Close()
	}
	if e.Process != nil {
		errs = append(errs, e.Process.stop(ctx))
	}
	return errors.Join(errs...)
}

// control is the API the Node script calls (all on loopback):
//
//	GET  /info                      {"strafers": [ids], "observer": id, "tick": t, "hz": hz} (503 until the strafers joined)
//	POST /queued                    the pages are queued: the Go bots may queue (server process)
//	POST /page?name=A&entity=N      the page reports its own entity
//	POST /shooter?entity=N          the strafers gather around entity N (0: stop)
//	POST /net?page=A&delay_ms=50&jitter_ms=20
//	POST /cut?page=A                sever every connection of page A's proxy
//	POST /mark?name=X               record the observer's current tick as X
func (e *Env) control() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	proxy := func(w http.ResponseWriter, r *http.Request) *netem.Proxy {
		p := e.Proxies[r.URL.Query().Get("page")]
		if p == nil {
			http.Error(w, "no such page", http.StatusNotFound)
		}
		return p
	}
	num := func(r *http.Request, k string) int64 {
		v, _ := strconv.ParseInt(r.URL.Query().Get(k), 10, 64)
		return v
	}
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		ids, ok := e.strafersReady()
		if !ok {
			http.Error(w, "strafers not in a match yet", http.StatusServiceUnavailable)
			return
		}
		reply(w, map[string]any{"strafers": ids, "observer": ids[0], "tick": e.Obs.Tick(), "hz": e.Cfg.Hz})
	})
	mux.HandleFunc("POST /queued", func(w http.ResponseWriter, r *http.Request) {
		if err := e.startBotsOnce(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		reply(w, map[string]any{"ok": true})
	})
	mux.HandleFunc("POST /page", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.pages[r.URL.Query().Get("name")] = uint32(num(r, "entity"))
		e.mu.Unlock()
		reply(w, map[string]any{"ok": true})
	})
	mux.HandleFunc("POST /shooter", func(w http.ResponseWriter, r *http.Request) {
		e.shooter.Store(num(r, "entity"))
		reply(w, map[string]any{"ok": true})
	})
	mux.HandleFunc("POST /net", func(w http.ResponseWriter, r *http.Request) {
		if p := proxy(w, r); p != nil {
			p.Set(time.Duration(num(r, "delay_ms"))*time.Millisecond, time.Duration(num(r, "jitter_ms"))*time.Millisecond)
			reply(w, map[string]any{"ok": true})
		}
	})
	mux.HandleFunc("POST /cut", func(w http.ResponseWriter, r *http.Request) {
		if p := proxy(w, r); p != nil {
			reply(w, map[string]any{"cut": p.Cut()})
		}
	})
	mux.HandleFunc("POST /mark", func(w http.ResponseWriter, r *http.Request) {
		t := e.Obs.Tick()
		e.mu.Lock()
		e.marks[r.URL.Query().Get("name")] = t
		e.mu.Unlock()
		reply(w, map[string]any{"tick": t})
	})
	return mux
}

// NodeRun is one run of the Node script.
type NodeRun struct {
	Script   string            // path of the .mjs, relative to Dir
	Dir      string            // web/
	Env      map[string]string // added to the environment
	Progress func(line string) // each line the script prints
}

// Run starts node with the script and waits for it, passing each output
// line to Progress. The error includes the tail of the output.
func (n NodeRun) Run(ctx context.Context) error {
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("e2e: node is required: %w", err)
	}
	cmd := exec.CommandContext(ctx, node, n.Script)
	cmd.Dir = n.Dir
	cmd.Env = os.Environ()
	for k, v := range n.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return err
	}
	var tail []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			tail = append(tail, line)
			if len(tail) > 40 {
				tail = tail[1:]
			}
			if n.Progress != nil {
				n.Progress(line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err = cmd.Wait()
	pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("e2e: %s: %w\n%s", n.Script, err, joinLines(tail))
	}
	return nil
}

func joinLines(ls []string) string {
	s := ""
	for _, l := range ls {
		s += "    " + l + "\n"
	}
	return s
}

// pageURL is the demo through page's proxy, signing in as name at once and
// recording frames.
func (e *Env) pageURL(page, name string) string {
	q := url.Values{"name": {name}, "autoplay": {"1"}, "record": {"1"}}
	return e.Proxies[page].URL() + "/?" + q.Encode()
}

// ArtifactsDir is web/artifacts, created if needed.
func ArtifactsDir(web string) (string, error) {
	d := filepath.Join(web, "artifacts")
	return d, os.MkdirAll(d, 0o755)
}
