// Package ops is Rallypoint's operations surface: Prometheus metrics
// (rallypoint_*), the live /ops page and its Server-Sent Events stream,
// pprof, the runtime log level and the health probes, all served by the
// admin handler on a listener of their own, never on the public address.
//
// Almost every metric is read at scrape time from the counters the services
// already keep (netcode.Stats, the match loops' game.LoopStats summed by
// netcode.Server.LoopTotals, lobby.Metrics) by a custom collector, so the
// game's hot paths keep their plain atomic adds. The few histograms are fed
// from hooks: tick duration and lateness from netcode.Config.TickObserver
// (two lock-free, allocation-free Observe calls per tick on the match
// goroutine) and time to match from lobby.Config.OnMatched. The public
// handler counts requests by mux route pattern and status.
//
// ops imports internal/app, lobby and netcode; none of them imports ops.
// The page's script and styles (uPlot charts) are built from web/ops/ by
// `make ops-web` into assets/ and embedded; a test fails when the
// committed bundle is stale.
package ops
