package ops

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	httppprof "net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
)

// Config configures the operations surface. The zero value serves
// everything but /log/level.
type Config struct {
	// Level is the logger's level, served at /log/level: GET reads it, PUT
	// {"level":"debug"} changes it at runtime. If nil, /log/level answers
	// 404.
	Level *zap.AtomicLevel
	// EventInterval is how often /ops/events pushes a summary. If zero, 1
	// second is used.
	EventInterval time.Duration
	// MaxTableRows bounds the matches listed in each summary (the busiest
	// servers run thousands). If zero, 200 is used.
	MaxTableRows int
	// NoMetrics builds the App without the metrics' hooks and without
	// counting requests, for a server with no admin listener to read them
	// (and to measure what the metrics cost). The admin handler still
	// works; its histograms stay empty.
	NoMetrics bool
	// Collectors are registered on /metrics besides the server's own
	// (the cluster's, for instance).
	Collectors []prometheus.Collector
}

// Ops is the App with its operations surface: the public handler counted
// per route, and the admin handler (metrics, /ops, pprof, log level,
// health).
type Ops struct {
	// immutable after New
	cfg     Config
	app     *app.App
	log     *zap.Logger
	metrics *metrics
	reg     *prometheus.Registry
	public  http.Handler
	admin   http.Handler

	streams       context.Context // cancelled by Shutdown: ends /ops/events streams
	cancelStreams context.CancelFunc
}

//go:embed assets
var assets embed.FS

// New builds the App from appCfg with the metrics' hooks installed (tick
// timings, time to match; hooks already in appCfg still run) and registers
// the collectors that read it.
func New(cfg Config, appCfg app.Config, log *zap.Logger) (*Ops, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.EventInterval == 0 {
		cfg.EventInterval = time.Second
	}
	if cfg.EventInterval < 0 {
		return nil, errors.New("ops: EventInterval is negative")
	}
	if cfg.MaxTableRows == 0 {
		cfg.MaxTableRows = 200
	}
	m := newMetrics()
	switch prev := appCfg.Game.TickObserver; {
	case cfg.NoMetrics:
	case prev != nil:
		appCfg.Game.TickObserver = func(mode string) func(game.TickTiming) {
			a, b := prev(mode), m.tickObserver(mode)
			if a == nil {
				return b
			}
			return func(t game.TickTiming) { a(t); b(t) }
		}
	default:
		appCfg.Game.TickObserver = m.tickObserver
	}
	switch prev := appCfg.Lobby.OnMatched; {
	case cfg.NoMetrics:
	case prev != nil:
		appCfg.Lobby.OnMatched = func(mode string, waited time.Duration) { prev(mode, waited); m.matched(mode, waited) }
	default:
		appCfg.Lobby.OnMatched = m.matched
	}
	a, err := app.New(appCfg, log)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := errors.Join(
		reg.Register(collectors.NewGoCollector()),
		reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
		reg.Register(newCollector(a)),
		reg.Register(m.tickDuration), reg.Register(m.tickLateness), reg.Register(m.timeToMatch),
		reg.Register(m.httpRequests),
	); err != nil {
		return nil, errors.Join(err, a.Shutdown(context.Background()))
	}
	for _, c := range cfg.Collectors {
		if c == nil {
			continue
		}
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(err, a.Shutdown(context.Background()))
		}
	}
	o := &Ops{cfg: cfg, app: a, log: log.Named("ops"), metrics: m, reg: reg}
	o.streams, o.cancelStreams = context.WithCancel(context.Background())
	o.public = a.Handler()
	if !cfg.NoMetrics {
		o.public = instrument(m.httpRequests, o.public)
	}
	o.admin = o.adminMux()
	return o, nil
}

// App returns the App.
func (o *Ops) App() *app.App { return o.app }

// Handler is the public handler: the App's, with every request counted by
// route and status in rallypoint_http_requests_total.
func (o *Ops) Handler() http.Handler { return o.public }

// AdminHandler serves the admin listener, which must not be public:
//
//	GET /metrics        Prometheus metrics (rallypoint_*, go_*, process_*)
//	GET /ops            the live operations page
//	GET /ops/events     its event stream: a JSON summary every EventInterval
//	/debug/pprof/       net/http/pprof
//	GET|PUT /log/level  zap's runtime level (if Config.Level is set)
//	GET /healthz        alive
//	GET /readyz         accepting new players
func (o *Ops) AdminHandler() http.Handler { return o.admin }

// Shutdown ends the event streams, then shuts the App down. It is
// idempotent.
func (o *Ops) Shutdown(ctx context.Context) error {
	o.cancelStreams()
	return o.app.Shutdown(ctx)
}

func (o *Ops) adminMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(o.log), ErrorHandling: promhttp.ContinueOnError,
	}))
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux.HandleFunc("GET /ops", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, static, "ops.html")
	})
	mux.Handle("GET /ops/assets/", http.StripPrefix("/ops/assets/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ops/events", o.serveEvents)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ops", http.StatusFound)
	})
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	if o.cfg.Level != nil {
		mux.Handle("/log/level", o.cfg.Level)
	}
	mux.HandleFunc("GET /healthz", o.app.Healthz)
	mux.HandleFunc("GET /readyz", o.app.Readyz)
	return mux
}
