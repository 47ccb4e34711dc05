// Command server runs Rallypoint: the lobby API, matchmaking and the game
// WebSocket on one address, and the admin listener (metrics, /ops, pprof,
// log level, health) on another.
//
//	go run ./cmd/server -addr 127.0.0.1:8080 -admin-addr 127.0.0.1:9090
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/cluster"
	"github.com/rallypoint/rallypoint/internal/ops"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the first signal drains; a second one kills the process at once
	}()
	if err := run(ctx, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully. ready, if set, is
// called with the bound public address once the server accepts connections.
func run(ctx context.Context, args []string, ready func(addr string)) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	adminAddr := fs.String("admin-addr", "127.0.0.1:9090", "admin listener: /metrics, /ops, /debug/pprof, /log/level, /healthz, /readyz (keep it private; empty: off, and no metrics are kept)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	dataDir := fs.String("data-dir", ".rallypoint", "where signing keys and revocations persist (empty: in memory)")
	hz := fs.Int("hz", 30, "tick rate of new matches")
	interest := fs.Float64("interest", 300, "area-of-interest radius in world units (0: every client sees the whole world)")
	grace := fs.Duration("grace", 30*time.Second, "how long a dropped player's seat is held")
	botFill := fs.Duration("bot-fill", 2*time.Second, "wait before open seats are filled with bots (negative: never)")
	maxRewind := fs.Duration("max-rewind", 200*time.Millisecond, "lag compensation: how far back a shot is judged against where targets were (0: off)")
	matchTime := fs.Duration("match-time", 0, "arena match time limit (0: the mode's default, 3m)")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "at SIGTERM/SIGINT: how long running matches may play on before they are ended with their results (a second signal exits at once)")
	origins := fs.String("origins", "", "comma-separated CORS allowlist, e.g. http://localhost:5173")
	publicWS := fs.String("public-ws-url", "", "game socket URL handed to clients, e.g. wss://node-3.example.com/v1/ws; on a game node, the URL it advertises (default: derived from each request; a node: ws://<-addr>/v1/ws)")
	role := fs.String("role", "all", "what this process serves: all (lobby and game), lobby (the /v1 API without /v1/ws; needs -redis), node (a game node: /v1/ws; needs -redis). See docs/scaling.md")
	redisURL := fs.String("redis", "", "shared state in Redis, e.g. redis://127.0.0.1:6379/0 (required for -role lobby and node; with -role all the process joins a cluster)")
	nodeID := fs.String("node-id", "", "a game node's id in the registry (default: host name and a random suffix)")
	nodeCap := fs.Int("node-capacity", 2000, "a game node's capacity: the most players (humans and bots) the lobby places on it")
	heartbeat := fs.Duration("heartbeat", time.Second, "how often a game node reports itself to the registry (and how often lobbies look for dead nodes, twice as often)")
	heartbeatTTL := fs.Duration("heartbeat-ttl", 3*time.Second, "how long a game node's heartbeat keeps it alive: a node silent this long is dead and its matches are lost")
	rateLimit := fs.Float64("rate-limit", 10, "anonymous lobby requests (sign-in, refresh) per second per client address")
	rateBurst := fs.Int("rate-burst", 200, "anonymous lobby request burst per client address (a hundred bots, or a LAN party, signing in at once)")
	sessionRate := fs.Float64("session-rate-limit", 5, "authenticated lobby requests (tickets, tokens, logout) per second per session")
	sessionBurst := fs.Int("session-rate-burst", 20, "authenticated lobby request burst per session")
	trusted := fs.String("trusted-proxies", "", "comma-separated reverse proxies (CIDRs or IPs) whose X-Forwarded-For names the client, for rate limits and socket caps")
	cpuProfile := fs.String("cpu-profile", "", "write a CPU profile to this file until shutdown (benchmarks)")
	memRate := fs.Int("mem-profile-rate", 0, "runtime.MemProfileRate for heap profiles (0: Go's default)")
	readPath := fs.String("read-path", "", "how game sockets are read: tick (the match reads every socket once per tick and writes once per client per tick) or loop (a gws read goroutine per connection); empty: $RALLYPOINT_READ_PATH if set, else "+netcode.DefaultReadPath)
	nullSnapshot := fs.Int("bench-null-snapshot", 0, "benchmark only: when N > 0, every match is a null game that skips the game step and encoding and sends each client a fixed N-byte keyframe per tick (inputs are read and dropped)")
	gcPercent := fs.Int("gc-percent", 20, "GC target percent (0: GOGC or Go's default). Matches allocate almost nothing per tick, so a low target costs little CPU and keeps per-connection memory down (see README, Server flags)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level zapcore.Level
	if err := level.Set(*logLevel); err != nil {
		return err
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(level)
	log, err := zc.Build()
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit

	if *gcPercent > 0 {
		debug.SetGCPercent(*gcPercent)
	}
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	allow := splitList(*origins)
	if *dataDir != "" {
		if err := os.MkdirAll(*dataDir, 0o700); err != nil {
			return err
		}
	}
	games := gameConfigs(*hz, *maxRewind, *matchTime)
	appCfg := app.Config{
		Lobby: lobby.Config{
			DataDir:        *dataDir,
			ReconnectGrace: *grace,
			BotFillAfter:   *botFill,
			AllowedOrigins: allow,
			PublicWSURL:    *publicWS,
			RateLimit:      rate.Limit(*rateLimit),
			RateBurst:      *rateBurst,

			SessionRateLimit: rate.Limit(*sessionRate),
			SessionRateBurst: *sessionBurst,
			TrustedProxies:   splitList(*trusted),
		},
		Game:  netcode.Config{Hz: *hz, Interest: float32(*interest), Grace: *grace, ReadPath: *readPath, NullSnapshot: *nullSnapshot},
		Games: games,
		Web:   web.Handler(), // the browser demo at /, embedded
		Role:  app.Role(*role),
	}
	cl, err := cluster.Prepare(ctx, cluster.Options{Role: app.Role(*role), RedisURL: *redisURL, NodeID: *nodeID, PublicWSURL: *publicWS,
		Capacity: *nodeCap, Heartbeat: *heartbeat, TTL: *heartbeatTTL}, &appCfg, log)
	if err != nil {
		return err
	}
	if cl != nil && appCfg.Role == app.RoleNode {
		appCfg.Lobby.PublicWSURL = "" // a node advertises it through the registry
	}
	o, err := ops.New(ops.Config{Level: &zc.Level, NoMetrics: *adminAddr == "", Collectors: cl.Collectors()}, appCfg, log)
	if err != nil {
		return errors.Join(err, cl.Close())
	}
	defer cl.Close() //nolint:errcheck // after the App shut down; nothing to do about it at exit
	srv := newHTTPServer(*addr, o.Handler(), log)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return errors.Join(err, o.Shutdown(context.Background()))
	}
	admin := &http.Server{Handler: o.AdminHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(log.Named("admin"))}
	var adminLn net.Listener
	if *adminAddr != "" {
		if adminLn, err = net.Listen("tcp", *adminAddr); err != nil {
			return errors.Join(fmt.Errorf("admin listener: %w", err), ln.Close(), o.Shutdown(context.Background()))
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if adminLn != nil {
		go func() { errc <- admin.Serve(adminLn) }()
		log.Info("admin listening", zap.String("addr", adminLn.Addr().String()))
	}
	if err := cl.Start(o.App(), ln.Addr().String()); err != nil {
		return errors.Join(err, srv.Close(), admin.Close(), o.Shutdown(context.Background()))
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	log.Info("rallypoint listening", zap.String("addr", ln.Addr().String()), zap.String("role", *role), zap.Int("hz", *hz), zap.Float64("interest", *interest), zap.String("data_dir", *dataDir))

	select {
	case err := <-errc:
		return errors.Join(err, srv.Close(), admin.Close(), cl.Shutdown(context.Background()), o.Shutdown(context.Background()))
	case <-ctx.Done():
	}
	// Drain: no new tickets or matches (and /readyz says so); running
	// matches play on for up to -drain-timeout.
	a := o.App()
	log.Info("draining", zap.Duration("timeout", *drainTimeout), zap.Int("matches", len(a.Game().Matches())))
	dctx, dcancel := context.WithTimeout(context.Background(), *drainTimeout)
	if err := a.Drain(dctx); err != nil {
		log.Info("drain timeout: ending the remaining matches with their results", zap.Int("matches", len(a.Game().Matches())))
	}
	dcancel()
	log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Stop accepting while the App ends event streams, matches and sockets
	// (http.Server.Shutdown waits for open SSE requests and does not close
	// hijacked WebSockets). The admin listener serves until the end.
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Shutdown(ctx) }()
	oerr := o.Shutdown(ctx)  // matches still running end with their results
	cerr := cl.Shutdown(ctx) // then the node marks them ended and deregisters
	err = errors.Join(oerr, cerr, <-httpDone, admin.Shutdown(ctx))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// gameConfigs turns the game flags into each mode's game.Config.
func gameConfigs(hz int, maxRewind, matchTime time.Duration) map[string]game.Config {
	gc := game.Config{MaxRewind: maxRewind}
	if maxRewind <= 0 {
		gc.MaxRewind = -1 // the flag's 0 means off; the config's 0 means default
	}
	games := make(map[string]game.Config)
	for _, m := range game.Modes() {
		games[m.Name] = gc
	}
	if matchTime > 0 {
		arena := gc
		arena.TimeLimitTicks = max(1, int(matchTime.Seconds()*float64(hz)))
		games[game.ModeArena] = arena
	}
	return games
}

// newHTTPServer is the public listener's server: bounded headers, bodies
// and idle keep-alives. Game sockets and event streams clear the read
// deadline once they start, so ReadTimeout only bounds request bodies.
func newHTTPServer(addr string, h http.Handler, log *zap.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
