package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
)

// Raw is what web/e2e/play.mjs writes to raw.json: what each page drew and
// what its SDK reported, phase by phase.
type Raw struct {
	Pages map[string]struct {
		Name           string   `json:"name"`
		Entity         uint32   `json:"entity"`
		Results        []string `json:"results"`
		ResultsVisible bool     `json:"resultsVisible"`
	} `json:"pages"`
	ConsoleErrors []struct {
		Page string `json:"page"`
		Text string `json:"text"`
	} `json:"consoleErrors"`
	Info struct {
		Strafers []uint32 `json:"strafers"`
		Observer uint32   `json:"observer"`
		Hz       int      `json:"hz"`
	} `json:"info"`
	Prediction []struct {
		Key    string  `json:"key"`
		Press  int     `json:"press"`
		Frames []Frame `json:"frames"`
	} `json:"prediction"`
	Phases        map[string]json.RawMessage `json:"phases"`
	NorewindError string                     `json:"norewindError"`
	Reconnect     *struct {
		CutAt      float64 `json:"cutAt"`
		Cut        int     `json:"cut"`
		Banner     [][]any `json:"banner"`   // [t, visible, frames]
		States     [][]any `json:"states"`   // [t, status, frames]
		Welcomes   [][]any `json:"welcomes"` // [t, entity, resumed]
		FirstFrame Frame   `json:"firstFrame"`
		MS         float64 `json:"ms"`
	} `json:"reconnect"`
}

// SteadyPhase is a steady run: A moving, B watching.
type SteadyPhase struct {
	JitterMS float64 `json:"jitterMs"`
	A        struct {
		Frames      []Frame     `json:"frames"`
		Corrections [][]float64 `json:"corrections"` // [t, seq, error]
		Snaps       [][]float64 `json:"snaps"`       // snapshot arrivals [t, tick]
	} `json:"A"`
	B struct {
		Frames []Frame     `json:"frames"`
		Snaps  [][]float64 `json:"snaps"`
	} `json:"B"`
}

// gaps are the times between snapshot arrivals, ms.
func gaps(arrivals [][]float64) []float64 {
	var g []float64
	for i := 1; i < len(arrivals); i++ {
		g = append(g, arrivals[i][0]-arrivals[i-1][0])
	}
	return g
}

// LagcompPhase is a shooting run of page B.
type LagcompPhase struct {
	Shots []struct {
		T          float64 `json:"t"`
		Target     uint32  `json:"target"`
		RenderTick float64 `json:"renderTick"`
	} `json:"shots"`
	SkippedFrames int       `json:"skippedFrames"`
	InterpDelays  []float64 `json:"interpDelays"` // the SDK's interpolation delay at each shot, ms
	ViewLags      []float64 `json:"viewLags"`     // the SDK's own view-lag estimate at each shot, ms (-1: none)
	InputWaits    []float64 `json:"inputWaits"`   // the SDK's estimate of the Inputs' wait at the server, ms (-1: none)
	Frames        []Frame   `json:"frames"`
}

// ReadRaw loads raw.json.
func ReadRaw(path string) (*Raw, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Raw
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("e2e: %s: %w", path, err)
	}
	return &r, nil
}

// Phase decodes phase name into v; false if the run did not get there.
func (r *Raw) Phase(name string, v any) (bool, error) {
	m, ok := r.Phases[name]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(m, v)
}

// Inputs the analysis needs besides raw.json: the observer's truth and
// hit counts.
type Inputs struct {
	Truth *Truth
	// Hits returns the Hit events of shooter on targets between the
	// phase's two marks (its begin, and half a second after its last shot).
	Hits func(shooter uint32, targets []uint32, phase string) []Hit
	// Players is how many players the results must list.
	Players int
}

// Analyze computes the play-feel figures and the functional checks (the
// latter as a list of failures).
func Analyze(r *Raw, in Inputs) (rep Report, problems []string) {
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	a, b := r.Pages["A"].Entity, r.Pages["B"].Entity
	if a == 0 || b == 0 {
		fail("pages never reported their avatars (A=%d, B=%d)", a, b)
	}
	for _, e := range r.ConsoleErrors {
		fail("console error on page %s: %s", e.Page, e.Text)
	}

	// prediction_frames: the median press; every press listed.
	var pf []float64
	for _, p := range r.Prediction {
		pf = append(pf, float64(PredictionFrames(p.Frames, p.Press)))
	}
	if len(pf) == 0 {
		fail("no prediction probe ran")
	} else {
		f := NewFigure("prediction_frames", Quantile(pf, 0.5), AtMost, 1, true)
		f.N, f.Max = len(pf), slices.Max(pf)
		f.Note = fmt.Sprintf("median of key presses while standing still; each: %v (-1: never moved)", pf)
		if slices.Min(pf) < 0 {
			f.Pass = false
		}
		rep.Add(f)
	}

	var snapFrames [][]Frame
	var moved float64
	for _, ph := range []struct {
		name   string
		bound  float64
		suffix string
	}{{"steady_jitter", 0.5, ""}, {"steady_nojitter", 0, "_nojitter"}} {
		var s SteadyPhase
		ok, err := r.Phase(ph.name, &s)
		if err != nil || !ok {
			fail("phase %s missing (%v)", ph.name, err)
			continue
		}
		var corr []float64
		for _, c := range s.A.Corrections {
			if len(c) >= 3 {
				corr = append(corr, c[2])
			}
		}
		f := NewFigure("reconcile_error_units_p99"+ph.suffix, Quantile(corr, 0.99), AtMost, ph.bound, true)
		f.N = len(corr)
		if len(corr) > 0 {
			f.Max = slices.Max(corr)
		} else {
			f.Pass = false
		}
		f.Note = fmt.Sprintf("page A's correction events over a %s run, jitter ±%g ms", durationOf(s.A.Frames), s.JitterMS)
		rep.Add(f)

		errs := append(InterpErrors(s.A.Frames, in.Truth), InterpErrors(s.B.Frames, in.Truth)...)
		f = NewFigure("interp_error_units_p99"+ph.suffix, Quantile(errs, 0.99), AtMost, 1, true)
		f.N = len(errs)
		if len(errs) > 0 {
			f.Max = slices.Max(errs)
		} else {
			f.Pass = false
		}
		f.Note = fmt.Sprintf("remote entities drawn vs the observer's path at renderTick, pages A and B, jitter ±%g ms", s.JitterMS)
		rep.Add(f)
		snapFrames = append(snapFrames, s.A.Frames, s.B.Frames)
		g := append(gaps(s.A.Snaps), gaps(s.B.Snaps)...)
		f = NewFigure("snapshot_gap_ms_p99"+ph.suffix, Quantile(g, 0.99), AtMost, 1e9, false)
		f.Target, f.N = "(info)", len(g)
		if len(g) > 0 {
			f.Max = slices.Max(g)
		}
		f.Note = fmt.Sprintf("time between snapshot arrivals in pages A and B (33.3 ms sent), jitter ±%g ms", s.JitterMS)
		rep.Add(f)
		if ph.name == "steady_jitter" {
			moved = pathLength(s.B.Frames, a)
		}
	}
	if moved < 100 {
		fail("page B saw page A's avatar (entity %d) move only %.1f units during the steady run", a, moved)
	}

	// lag compensation
	for _, ph := range []struct {
		name, figure string
		gate         bool
	}{{"lagcomp_rewind", "lagcomp_hit_rate", true}, {"lagcomp_norewind", "lagcomp_hit_rate_rewind_off", false}} {
		var l LagcompPhase
		ok, err := r.Phase(ph.name, &l)
		if err != nil || !ok {
			if ph.gate {
				fail("phase %s missing (%v)", ph.name, err)
			}
			note := "not measured: the run did not get there"
			if !ph.gate && r.NorewindError != "" {
				note = "not measured: " + r.NorewindError
			}
			rep.Add(Figure{Name: ph.figure, Target: ">= 0.95", Gate: ph.gate, Note: note})
			continue
		}
		snapFrames = append(snapFrames, l.Frames)
		hs := in.Hits(b, r.Info.Strafers, ph.name)
		hits := len(hs)
		rate := 0.0
		if len(l.Shots) > 0 {
			rate = float64(hits) / float64(len(l.Shots))
		}
		var shots []Shot
		for _, s := range l.Shots {
			shots = append(shots, Shot{RenderTick: s.RenderTick, Target: s.Target})
		}
		lags := ViewLags(shots, hs)
		f := NewFigure(ph.figure, rate, AtLeast, 0.95, ph.gate)
		f.N = len(l.Shots)
		f.Note = fmt.Sprintf("%d hits / %d shots by page B at strafing Go bots, 100 ms RTT ±20 ms jitter; at the shots (median/max, SDK stats): interpolation delay %.0f/%.0f ms, view lag %.0f/%.0f ms, input wait at the server %.0f/%.0f ms",
			hits, len(l.Shots), Quantile(l.InterpDelays, 0.5), Quantile(l.InterpDelays, 1),
			Quantile(l.ViewLags, 0.5), Quantile(l.ViewLags, 1), Quantile(l.InputWaits, 0.5), Quantile(l.InputWaits, 1))
		if !ph.gate {
			f.Note += "; every Input sent with viewTick 0 (judged at the present, as with the rewind cap at 0)"
		}
		rep.Add(f)
		if ph.gate {
			v := NewFigure("lagcomp_view_lag_ticks_p50", Quantile(lags, 0.5), AtMost, 1e9, false)
			v.Target, v.N = "(info)", len(lags)
			if len(lags) > 0 {
				v.Max = slices.Max(lags)
			}
			v.Note = "server tick of each hit minus the render tick the shooter aimed at: how far back the server rewound, including the Input's wait in its buffer (the 200 ms cap counts from the tick the Input reached the server)"
			rep.Add(v)
		}
	}

	var after struct {
		B struct {
			Frames []Frame `json:"frames"`
		} `json:"B"`
	}
	if ok, _ := r.Phase("after_reconnect", &after); ok {
		if d := pathLength(after.B.Frames, a); d < 30 {
			fail("after the reconnect page B saw A move only %.1f units", d)
		}
	}

	var snaps []Snap
	nframes := 0
	for _, fs := range snapFrames {
		snaps = append(snaps, Snaps(fs, in.Truth, ArenaSpeed)...)
		nframes += len(fs)
	}
	f := NewFigure("snaps", float64(len(snaps)), AtMost, 0, true)
	f.N = nframes
	f.Note = "frames where a remote entity jumped further than 150 units/s allows (steady and shooting runs)"
	if len(snaps) > 0 {
		worst := slices.MaxFunc(snaps, func(x, y Snap) int { return int(x.Distance - y.Distance) })
		f.Max = worst.Distance
		f.Note += fmt.Sprintf("; worst: entity %d jumped %.1f units (allowed %.1f)", worst.ID, worst.Distance, worst.Allowed)
	}
	rep.Add(f)

	// reconnect
	if rc := r.Reconnect; rc == nil {
		fail("the reconnect phase did not finish")
		rep.Add(Figure{Name: "reconnect_ms", Target: "< 2000", Gate: true, Note: "not measured"})
	} else {
		f := NewFigure("reconnect_ms", rc.MS, Below, 2000, true)
		f.Note = "from cutting page A's sockets to its first frame drawn after the resumed Welcome"
		rep.Add(f)
		if rc.Cut == 0 {
			fail("the cut severed no connection of page A")
		}
		shown := false
		for _, bn := range rc.Banner {
			if len(bn) > 1 && bn[1] == true {
				shown = true
			}
		}
		if !shown {
			fail("#reconnecting was never shown during the reconnect")
		}
		okSeat := false
		for _, w := range rc.Welcomes {
			if len(w) > 2 && num(w[1]) == float64(a) && w[2] == true {
				okSeat = true
			}
		}
		if !okSeat {
			fail("A did not resume its seat (entity %d): welcomes %v", a, rc.Welcomes)
		}
		if rc.FirstFrame.Self == nil || rc.FirstFrame.Self.ID != a {
			fail("A's first frame after the reconnect draws %+v, want entity %d", rc.FirstFrame.Self, a)
		}
	}

	for _, name := range []string{"A", "B"} {
		p := r.Pages[name]
		if !p.ResultsVisible || len(p.Results) != in.Players {
			fail("page %s results: visible %v, rows %q", name, p.ResultsVisible, p.Results)
		}
	}
	return rep, problems
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// pathLength is how far entity id was drawn moving over frames.
func pathLength(frames []Frame, id uint32) float64 {
	var d float64
	var px, py float64
	have := false
	for _, f := range frames {
		for _, o := range f.Others {
			if o.ID != id {
				continue
			}
			if have {
				d += math.Hypot(o.X-px, o.Y-py)
			}
			px, py, have = o.X, o.Y, true
		}
	}
	return d
}

func durationOf(fs []Frame) string {
	if len(fs) < 2 {
		return "0 s"
	}
	return fmt.Sprintf("%.1f s", (fs[len(fs)-1].T-fs[0].T)/1000)
}
