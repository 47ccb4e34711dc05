package benchrun

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Header and Row print the live table, one row per point as it is
// measured (the ratios come with Table at the end).
func Header() string {
	return fmt.Sprintf("%-9s %7s %5s %3s %8s %7s %7s %9s %9s %7s %7s %7s %7s %7s %6s %5s",
		"config", "clients", "conn", "hz", "interest", "cpu_us", "rss_kb", "down_B/s", "wire_B/s",
		"tick", "gap_p50", "gap_p99", "gap_max", "lg_us", "lg_cpu", "busy")
}

// Row formats one point for the live table.
func Row(p Point) string {
	s := fmt.Sprintf("%-9s %7d %5d %3d %8s %7.2f %7.1f %9.0f %9.0f %7.1f %7.1f %7.1f %7.1f %7.2f %5.0f%% %4.0f%%",
		p.Config, p.Clients, p.Connected, p.Hz, interest(p), p.ServerCPUUsPerClientT, p.ServerRSSKBPerClient,
		p.DownBytesPerClientS, p.DownWireBytesPerCS, p.TickRateMin, p.GapP50Ms, p.GapP99Ms, p.GapMaxMs,
		p.LoadgenCPUUsPerClientT, p.LoadgenCPUPct, p.MachineBusyPct)
	return s + flags(p)
}

func interest(p Point) string {
	switch {
	case !usesInterest(p.Config):
		return "-"
	case p.Interest == 0:
		return "off"
	}
	return fmt.Sprintf("%g", p.Interest)
}

// usesInterest says whether a configuration runs a game with interest
// management (the null game and the floor have none).
func usesInterest(config string) bool {
	return config != ConfigNullLoop && config != ConfigNullTick && config != ConfigFloor
}

func flags(p Point) string {
	var f []string
	if p.Saturated {
		f = append(f, "saturated")
	}
	if p.Errors > 0 {
		f = append(f, fmt.Sprintf("%d errors", p.Errors))
	}
	if len(p.Notes) > 0 {
		f = append(f, strings.Join(p.Notes, "; "))
	}
	if len(f) == 0 {
		return ""
	}
	return "  " + strings.Join(f, ", ")
}

// Ratios are a point's server CPU per client-tick over that of its
// comparators measured in the same run; 0 where there is none.
type Ratios struct {
	Base  float64 // loop or tick over base, same clients, rate and radius
	Null  float64 // loop over null-loop, tick over null-tick, same clients and rate
	Floor float64 // any configuration but the floor over the floor, same clients and rate
}

// comparators names the configurations a point of config is compared with
// ("" where none).
func comparators(config string) (base, null, floor string) {
	switch config {
	case ConfigLoop:
		return ConfigBase, ConfigNullLoop, ConfigFloor
	case ConfigTick:
		return ConfigBase, ConfigNullTick, ConfigFloor
	case ConfigFloor:
		return "", "", ""
	}
	return "", "", ConfigFloor
}

// Compare computes each point's ratios (same order as points). Where a
// configuration was measured more than once at the same client count,
// rate and radius, the last measurement counts.
func Compare(points []Point) []Ratios {
	type key struct {
		config   string
		clients  int
		hz       int
		interest float64
	}
	idx := make(map[key]Point, len(points))
	for _, p := range points {
		k := key{p.Config, p.Clients, p.Hz, p.Interest}
		if !usesInterest(p.Config) {
			k.interest = 0
		}
		idx[k] = p
	}
	ratio := func(p Point, config string, interest float64) float64 {
		if config == "" {
			return 0
		}
		if !usesInterest(config) {
			interest = 0
		}
		q, ok := idx[key{config, p.Clients, p.Hz, interest}]
		if !ok || q.ServerCPUUsPerClientT <= 0 || p.ServerCPUUsPerClientT <= 0 {
			return 0
		}
		return p.ServerCPUUsPerClientT / q.ServerCPUUsPerClientT
	}
	out := make([]Ratios, len(points))
	for i, p := range points {
		b, n, f := comparators(p.Config)
		out[i] = Ratios{Base: ratio(p, b, p.Interest), Null: ratio(p, n, p.Interest), Floor: ratio(p, f, p.Interest)}
	}
	return out
}

// Ordered returns the points grouped for reading: by tick rate and client
// count in the order first measured, and within a group the games by
// radius (base, loop, tick), then the null servers, then the floor.
func Ordered(points []Point) []Point {
	type group struct{ hz, clients int }
	var groups []group
	for _, p := range points {
		if g := (group{p.Hz, p.Clients}); !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	rank := func(c string) int {
		if i := slices.Index(ConfigNames(), c); i >= 0 {
			return i
		}
		return len(ConfigNames())
	}
	out := slices.Clone(points)
	slices.SortStableFunc(out, func(a, b Point) int {
		ga, gb := slices.Index(groups, group{a.Hz, a.Clients}), slices.Index(groups, group{b.Hz, b.Clients})
		if ga != gb {
			return ga - gb
		}
		ia, ib := usesInterest(a.Config), usesInterest(b.Config)
		if ia != ib {
			if ia {
				return -1
			}
			return 1
		}
		if ia && a.Interest != b.Interest {
			if a.Interest < b.Interest {
				return -1
			}
			return 1
		}
		return rank(a.Config) - rank(b.Config)
	})
	return out
}

// Table writes the run's summary: every point with its ratios, grouped as
// Ordered does.
func Table(w io.Writer, points []Point) {
	points = Ordered(points)
	ratios := Compare(points)
	fmt.Fprintf(w, "%-9s %7s %3s %8s %7s %6s %6s %6s %7s %9s %7s %6s %7s %6s %5s\n",
		"config", "clients", "hz", "interest", "cpu_us", "/base", "/null", "/floor",
		"rss_kb", "down_B/s", "gap_p99", "tick", "lg_us", "lg_cpu", "busy")
	var last struct{ hz, clients int }
	for i, p := range points {
		if i > 0 && (p.Hz != last.hz || p.Clients != last.clients) {
			fmt.Fprintln(w)
		}
		last.hz, last.clients = p.Hz, p.Clients
		r := ratios[i]
		fmt.Fprintf(w, "%-9s %7d %3d %8s %7.2f %6s %6s %6s %7.1f %9.0f %7.1f %6.1f %7.2f %5.0f%% %4.0f%%%s\n",
			p.Config, p.Clients, p.Hz, interest(p), p.ServerCPUUsPerClientT, ratioText(r.Base), ratioText(r.Null), ratioText(r.Floor),
			p.ServerRSSKBPerClient, p.DownBytesPerClientS, p.GapP99Ms, p.TickRateMin,
			p.LoadgenCPUUsPerClientT, p.LoadgenCPUPct, p.MachineBusyPct, flags(p))
	}
}

func ratioText(r float64) string {
	if r <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}

// Legend explains the configurations and the columns.
func Legend(w io.Writer, baseRev string, nullBytes int) {
	if baseRev == "" {
		baseRev = "the -base ref"
	}
	fmt.Fprintf(w, `configurations (server and load generator are separate processes; compare figures only within one run):
  base       today's main (%s) built in this run: cmd/server before the read-path work, a goroutine per connection in gws's ReadLoop; no -read-path flag
  loop       this tree's cmd/server, -read-path loop (gws ReadLoop, a read goroutine per connection)
  tick       this tree's cmd/server, -read-path tick (each match reads its own sockets once per tick)
  null-loop  this tree's cmd/server, -read-path loop -bench-null-snapshot %d: lobby, handshake, seating and read path as in loop, but no game:
             every client gets one fixed %d-byte snapshot per tick, inputs are read and discarded
  null-tick  the same on -read-path tick
  floor      raw TCP, no WebSocket, no lobby: a goroutine per connection blocking in read of 36-byte messages, a tick goroutine
             writing one 140-byte message per client per tick, driven by its own light epoll load (cmd/bench floor-load,
             inputs spread over the tick like cmd/bots' shards)
  base, loop, tick, null-*: driven by cmd/bots (lobby, event stream, WebSocket, every snapshot decoded into a mirror)
columns:
  cpu_us     server CPU (utime+stime from /proc/PID/stat) per client per tick over the steady window
  /base      cpu_us over base's at the same clients and radius (loop/base, tick/base; issue 10's target: tick/base <= 0.5)
  /null      cpu_us over the null server's on the same read path (loop/null-loop, tick/null-tick; target <= 1.15)
  /floor     cpu_us over the raw TCP floor's at the same clients
  rss_kb     server RSS growth per connected client, from before the first client to the end of the window (target <= 16)
  down_B/s   payload bytes per client per second at the clients;  gap_p99: ms between consecutive snapshots at a client, 99th percentile
  tick       slowest match's achieved tick rate;  lg_us, lg_cpu: load generator CPU per client-tick and in %% of one core
  busy       whole-machine busy %% (2 cores: 100%% is both); "saturated": busy > 95%%, ticks < 95%% of the rate, gap p99 > 100 ms or clients missing
`, baseRev, nullBytes, nullBytes)
}
