package ops_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/ops"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is the whole server on loopback: the public handler and the admin
// handler on listeners of their own, as cmd/server runs them.
type env struct {
	ops           *ops.Ops
	public, admin *httptest.Server
}

func serve(t *testing.T, cfg ops.Config) *env {
	t.Helper()
	o, err := ops.New(cfg, app.Config{Lobby: testkit.QuickLobby()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ops: o, public: httptest.NewServer(o.Handler()), admin: httptest.NewServer(o.AdminHandler())}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := o.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		e.public.Close()
		e.admin.Close()
	})
	return e
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func scrape(t *testing.T, e *env) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, e.admin.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value sums the family's samples whose labels include want (counter or
// gauge value, or a histogram's sample count).
func value(f *dto.MetricFamily, want ...string) float64 {
	if f == nil {
		return -1
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

func code(c uint16) string { return strconv.Itoa(int(c)) }

// families is every rallypoint_ family the collector and hooks export.
var families = []string{
	"rallypoint_connections", "rallypoint_connections_total", "rallypoint_connections_refused_total",
	"rallypoint_matches", "rallypoint_players", "rallypoint_bots", "rallypoint_seats_held", "rallypoint_matches_started_total",
	"rallypoint_tick_duration_seconds", "rallypoint_tick_lateness_seconds", "rallypoint_ticks_total", "rallypoint_dropped_ticks_total",
	"rallypoint_snapshots_sent_total", "rallypoint_snapshots_dropped_total", "rallypoint_keyframes_sent_total", "rallypoint_sent_bytes_total",
	"rallypoint_messages_sent_total", "rallypoint_messages_received_total",
	"rallypoint_inputs_received_total", "rallypoint_inputs_applied_total", "rallypoint_inputs_dropped_total",
	"rallypoint_close_codes_sent_total", "rallypoint_rate_limited_total", "rallypoint_auth_failures_total",
	"rallypoint_slow_consumer_pauses_total", "rallypoint_slow_consumer_resyncs_total", "rallypoint_slow_consumer_kicks_total",
	"rallypoint_idle_kicks_total", "rallypoint_reconnects_total", "rallypoint_malformed_messages_total",
	"rallypoint_write_errors_total", "rallypoint_panics_total", "rallypoint_match_crashes_total",
	"rallypoint_queue_length", "rallypoint_time_to_match_seconds", "rallypoint_tickets_total",
	"rallypoint_tokens_issued_total", "rallypoint_tokens_refused_total", "rallypoint_placements_failed_total",
	"rallypoint_sse_streams_open", "rallypoint_sse_streams_refused_total", "rallypoint_draining", "rallypoint_http_requests_total",
	"rallypoint_hook_events_pending", "rallypoint_hook_results_pending", "rallypoint_hook_events_delivered_total",
	"rallypoint_hook_seat_releases_coalesced_total", "rallypoint_hook_result_retries_total", "rallypoint_hook_events_lost_total",
}

// TestMetricsAfterTraffic: a player signs in, queues, is matched, plays
// over the real socket, is replaced by a second socket of its own, and a
// stranger's bad token is refused; then every family is exported with the
// traffic in it, and the exposition passes promlint.
func TestMetricsAfterTraffic(t *testing.T) {
	e := serve(t, ops.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc := bots.NewLobbyClient(e.public.URL, nil)
	s, err := lc.Guest(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := lc.Queue(ctx, s.SessionToken, "bench")
	if err != nil {
		t.Fatal(err)
	}
	as, err := lc.WaitMatched(ctx, s.SessionToken, ticket)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, as.WSURL, as.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 10; i++ {
		if err := c.SendInput(game.Input{DX: 1}); err != nil {
			t.Fatal(err)
		}
		tick := c.Tick()
		testkit.WaitFor(t, "a tick", func() bool { return c.Tick() > tick })
	}
	// A second socket for the same seat replaces the first.
	as2, err := lc.MatchToken(ctx, s.SessionToken, as.MatchID)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := client.Dial(ctx, as2.WSURL, as2.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	// A forged token is refused.
	if _, err := client.Dial(ctx, as.WSURL, "forged"); err == nil {
		t.Fatal("forged token accepted")
	}

	var fams map[string]*dto.MetricFamily
	testkit.WaitFor(t, "the traffic in /metrics", func() bool {
		fams = scrape(t, e)
		return value(fams["rallypoint_reconnects_total"], "kind", "replaced") == 1 &&
			value(fams["rallypoint_close_codes_sent_total"], "code", code(wire.CodeAuthFailed)) == 1 &&
			value(fams["rallypoint_keyframes_sent_total"]) >= 2 &&
			value(fams["rallypoint_inputs_applied_total"]) >= 10
	})
	for _, name := range families {
		if fams[name] == nil {
			t.Errorf("family %s missing", name)
		}
	}
	atLeast := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"rallypoint_connections", []string{"state", "playing"}, 1},
		{"rallypoint_connections_total", nil, 3},
		{"rallypoint_matches", []string{"mode", "bench", "state", "running"}, 1},
		{"rallypoint_players", []string{"mode", "bench"}, 1},
		{"rallypoint_ticks_total", nil, 10},
		{"rallypoint_tick_duration_seconds", []string{"mode", "bench"}, 10},
		{"rallypoint_tick_lateness_seconds", []string{"mode", "bench"}, 10},
		{"rallypoint_snapshots_sent_total", nil, 10},
		{"rallypoint_keyframes_sent_total", nil, 2},
		{"rallypoint_sent_bytes_total", nil, 100},
		{"rallypoint_inputs_received_total", nil, 10},
		{"rallypoint_auth_failures_total", nil, 1},
		{"rallypoint_close_codes_sent_total", []string{"code", code(wire.CodeReplaced)}, 1},
		{"rallypoint_time_to_match_seconds", []string{"mode", "bench"}, 1},
		{"rallypoint_tickets_total", []string{"outcome", "matched"}, 1},
		{"rallypoint_tokens_issued_total", nil, 3},
		{"rallypoint_tokens_refused_total", nil, 1},
		{"rallypoint_http_requests_total", []string{"route", "POST /v1/auth/{provider}", "code", "200"}, 1},
		{"rallypoint_http_requests_total", []string{"route", "POST /v1/tickets", "code", "201"}, 1},
		{"rallypoint_http_requests_total", []string{"route", "GET /v1/ws", "code", "101"}, 3},
		{"rallypoint_http_requests_total", []string{"route", "GET /v1/tickets/{id}/events", "code", "200"}, 1},
	}
	for _, c := range atLeast {
		if v := value(fams[c.name], c.labels...); v < c.min {
			t.Errorf("%s%v = %v, want >= %v", c.name, c.labels, v, c.min)
		}
	}
	if v := value(fams["rallypoint_queue_length"], "mode", "arena"); v != 0 {
		t.Errorf("arena queue %v", v)
	}
	if v := value(fams["rallypoint_inputs_dropped_total"], "reason", "stale"); v < 0 {
		t.Error("no stale series")
	}
	if v := value(fams["rallypoint_inputs_dropped_total"], "reason", "overflow"); v < 0 {
		t.Error("no overflow series")
	}

	_, body := get(t, e.admin.URL+"/metrics")
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "rallypoint_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestAdminOnlyOnAdmin: the public handler serves none of the admin
// routes; the admin handler serves them all.
func TestAdminOnlyOnAdmin(t *testing.T) {
	lvl := zap.NewAtomicLevelAt(zap.InfoLevel)
	e := serve(t, ops.Config{Level: &lvl})
	for _, path := range []string{"/metrics", "/ops", "/ops/events", "/ops/assets/ops.js", "/debug/pprof/", "/debug/pprof/cmdline", "/log/level"} {
		code, body := get(t, e.public.URL+path)
		if code == 200 || bytes.Contains(body, []byte("rallypoint_")) {
			t.Errorf("public %s: %d", path, code)
		}
	}
	for _, path := range []string{"/metrics", "/ops", "/ops/assets/ops.js", "/ops/assets/ops.css", "/debug/pprof/", "/log/level", "/healthz", "/readyz"} {
		if code, body := get(t, e.admin.URL+path); code != 200 {
			t.Errorf("admin %s: %d %s", path, code, body)
		}
	}
	// The level changes at runtime.
	req, _ := http.NewRequest(http.MethodPut, e.admin.URL+"/log/level", strings.NewReader(`{"level":"debug"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || lvl.Level() != zap.DebugLevel {
		t.Errorf("PUT /log/level: %d, level %v", resp.StatusCode, lvl.Level())
	}
	// Draining shows in /readyz on both listeners and in the metrics.
	e.ops.App().SetDraining(true)
	for _, base := range []string{e.public.URL, e.admin.URL} {
		if code, _ := get(t, base+"/readyz"); code != 503 {
			t.Errorf("%s/readyz while draining: %d", base, code)
		}
	}
	if v := value(scrape(t, e)["rallypoint_draining"]); v != 1 {
		t.Errorf("rallypoint_draining %v", v)
	}
}

// BenchmarkScrape is one /metrics scrape of a server running 50 bot
// matches (Prometheus scrapes every 15 s or so).
func BenchmarkScrape(b *testing.B) {
	o, err := ops.New(ops.Config{}, app.Config{Lobby: testkit.QuickLobby()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = o.Shutdown(ctx)
	}()
	for i := 0; i < 50; i++ {
		if _, err := o.App().Game().CreateMatch(netcode.MatchSpec{Mode: "bench", Bots: 8}); err != nil {
			b.Fatal(err)
		}
	}
	h := o.AdminHandler()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
