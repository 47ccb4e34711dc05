package benchrun

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The server configurations make bench knows, in their default order.
const (
	ConfigBase     = "base"      // today's main built from a git ref in the same run
	ConfigLoop     = "loop"      // this tree's server, -read-path loop
	ConfigTick     = "tick"      // this tree's server, -read-path tick
	ConfigNullLoop = "null-loop" // this tree's server, null game, -read-path loop
	ConfigNullTick = "null-tick" // this tree's server, null game, -read-path tick
	ConfigFloor    = "floor"     // the raw TCP floor (package floor)
)

// ConfigNames lists every configuration in the default order.
func ConfigNames() []string {
	return []string{ConfigBase, ConfigLoop, ConfigTick, ConfigNullLoop, ConfigNullTick, ConfigFloor}
}

// Kind says how a target is run.
type Kind int

// Target kinds.
const (
	// KindRallypoint is a cmd/server build, driven by cmd/bots through the
	// lobby, the event stream and the game WebSocket.
	KindRallypoint Kind = iota
	// KindFloor is the raw TCP floor: cmd/bench floor-server driven by
	// cmd/bench floor-load.
	KindFloor
)

// Target is one server configuration the bench measures.
type Target struct {
	Name string
	Kind Kind
	// Server is the server's command: its binary and any leading
	// arguments (a subcommand); the bench adds the common flags, then
	// ServerArgs.
	Server     []string
	ServerArgs []string
	// Load is the load generator's command, as Server.
	Load []string
	// UsesInterest makes the target run once per interest radius; the
	// others (no game, no interest) run once per client count.
	UsesInterest bool
	// Rev says what the server was built from, for the results file.
	Rev string
}

// Binaries are what Targets needs: built binaries and where they came from.
type Binaries struct {
	BaseServer string // today's main's cmd/server ("" unless base is selected)
	BaseRev    string // the commit it was built from
	Server     string // this tree's cmd/server
	Rev        string // this tree's revision (git describe)
	Bots       string // this tree's cmd/bots, the load for every Rallypoint target
	Bench      string // the cmd/bench binary, for its floor-server and floor-load subcommands
}

// ParseConfigs splits a comma-separated list of configuration names,
// checking each and refusing duplicates; "all" or an empty list selects
// every configuration.
func ParseConfigs(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return ConfigNames(), nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(ConfigNames(), f) {
			return nil, fmt.Errorf("unknown configuration %q (want some of %s)", f, strings.Join(ConfigNames(), ","))
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("configuration %q named twice", f)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no configuration in %q", s)
	}
	return out, nil
}

// Targets builds the named configurations' targets. nullBytes is the null
// game's fixed snapshot size.
func Targets(names []string, b Binaries, nullBytes int) ([]Target, error) {
	var out []Target
	for _, name := range names {
		t := Target{Name: name, Kind: KindRallypoint, Server: []string{b.Server}, Load: []string{b.Bots}, Rev: b.Rev}
		switch name {
		case ConfigBase:
			if b.BaseServer == "" {
				return nil, fmt.Errorf("configuration %q: no base server built", name)
			}
			t.Server, t.Rev, t.UsesInterest = []string{b.BaseServer}, b.BaseRev, true
		case ConfigLoop, ConfigTick:
			t.ServerArgs, t.UsesInterest = []string{"-read-path", name}, true
		case ConfigNullLoop, ConfigNullTick:
			if nullBytes < 1 {
				return nil, fmt.Errorf("configuration %q: null snapshot size %d", name, nullBytes)
			}
			t.ServerArgs = []string{"-read-path", strings.TrimPrefix(name, "null-"), "-bench-null-snapshot", strconv.Itoa(nullBytes)}
		case ConfigFloor:
			t.Kind, t.Rev = KindFloor, "floor"
			t.Server, t.Load = []string{b.Bench, "floor-server"}, []string{b.Bench, "floor-load"}
		default:
			return nil, fmt.Errorf("unknown configuration %q", name)
		}
		if t.Server[0] == "" || t.Load[0] == "" {
			return nil, fmt.Errorf("configuration %q: a binary is missing", name)
		}
		out = append(out, t)
	}
	return out, nil
}

// Job is one point to measure: a target at a client count, tick rate and
// interest radius.
type Job struct {
	Target   string
	Clients  int
	Hz       int
	Interest float64
}

func (j Job) String() string {
	s := fmt.Sprintf("%s %d clients %d Hz", j.Target, j.Clients, j.Hz)
	if j.Interest > 0 {
		s += fmt.Sprintf(" interest %g", j.Interest)
	}
	return s
}

// Plan orders the jobs of a run: client count by client count, and within
// each, radius by radius the targets that use interest (so the figures a
// ratio compares are measured minutes apart at most), then the others
// once. Targets keep their given order.
func Plan(targets []Target, clients []int, hz int, radii []float64) []Job {
	if len(radii) == 0 {
		radii = []float64{0}
	}
	var jobs []Job
	for _, n := range clients {
		for _, r := range radii {
			for _, t := range targets {
				if t.UsesInterest {
					jobs = append(jobs, Job{Target: t.Name, Clients: n, Hz: hz, Interest: r})
				}
			}
		}
		for _, t := range targets {
			if !t.UsesInterest {
				jobs = append(jobs, Job{Target: t.Name, Clients: n, Hz: hz})
			}
		}
	}
	return jobs
}

// RefJobs are the extra reference points ("hz:clients", e.g. "20:800"):
// every target at that rate and client count, the whole world visible.
func RefJobs(targets []Target, ref string) ([]Job, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, nil
	}
	h, c, ok := strings.Cut(ref, ":")
	hz, err1 := strconv.Atoi(strings.TrimSpace(h))
	n, err2 := strconv.Atoi(strings.TrimSpace(c))
	if !ok || err1 != nil || err2 != nil || hz < 1 || n < 1 {
		return nil, fmt.Errorf("reference point %q: want hz:clients, such as 20:800", ref)
	}
	return Plan(targets, []int{n}, hz, nil), nil
}

// stopCost is what the estimate counts per point for stopping the load
// and the server.
const stopCost = 4 * time.Second

// rampTime is how long n clients take to start at ramp per second, plus a
// second (runPoint adds Config.RampSlack).
func rampTime(n, ramp int) time.Duration {
	if ramp < 1 {
		ramp = 1
	}
	return time.Duration((float64(n)/float64(ramp) + 1) * float64(time.Second))
}

// Estimate is how long measuring jobs takes with cfg's warm-up, window and
// ramp (builds and the micro table not included).
func Estimate(cfg Config, jobs []Job) time.Duration {
	var d time.Duration
	for _, j := range jobs {
		d += rampTime(j.Clients, cfg.Ramp) + cfg.rampSlack() + cfg.Warmup + cfg.Window + stopCost
	}
	return d
}
