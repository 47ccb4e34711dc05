package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// syntheticRaw is a run where everything went right: A (entity 7) runs
// along x as B (entity 8) draws it exactly on the observer's path.
func syntheticRaw(t *testing.T) (*Raw, *Truth) {
	t.Helper()
	tr := NewTruth(150, 30)
	for tick := uint32(1); tick <= 200; tick++ {
		tr.Add(tick, map[uint32]Sample{7: {X: 5 * float64(tick), Y: 100}, 8: {X: 500, Y: 500}})
	}
	frames := func(self, other uint32) []Frame {
		var fs []Frame
		for i := range 120 {
			rt := 10 + 0.5*float64(i)
			x, y, _ := tr.At(other, rt)
			fs = append(fs, Frame{T: float64(i) * 1000 / 60, RenderTick: rt, Self: &Drawn{ID: self, X: 1, Y: 1}, Others: []Drawn{{ID: other, X: x, Y: y}}})
		}
		return fs
	}
	steady := map[string]any{
		"jitterMs": 20,
		"A":        map[string]any{"frames": frames(7, 8), "corrections": [][]float64{{1, 1, 0}, {2, 2, 0}}},
		"B":        map[string]any{"frames": frames(8, 7)},
	}
	probe := []Frame{{Self: &Drawn{ID: 7, X: 1}}, {Self: &Drawn{ID: 7, X: 1}}, {Self: &Drawn{ID: 7, X: 6}}}
	raw := map[string]any{
		"pages": map[string]any{
			"A": map[string]any{"entity": 7, "results": []string{"1", "2", "3"}, "resultsVisible": true},
			"B": map[string]any{"entity": 8, "results": []string{"1", "2", "3"}, "resultsVisible": true},
		},
		"info":       map[string]any{"strafers": []uint32{9}, "observer": 9, "hz": 30},
		"prediction": []map[string]any{{"key": "ArrowRight", "press": 2, "frames": probe}},
		"phases": map[string]any{
			"steady_jitter":    steady,
			"steady_nojitter":  steady,
			"lagcomp_rewind":   map[string]any{"shots": []map[string]any{{"t": 1, "target": 9, "renderTick": 50}, {"t": 2, "target": 9, "renderTick": 65}}, "interpDelays": []float64{100, 110}},
			"lagcomp_norewind": map[string]any{"shots": []map[string]any{{"t": 1, "target": 9, "renderTick": 90}}},
			"after_reconnect":  map[string]any{"B": map[string]any{"frames": frames(8, 7)}},
		},
		"reconnect": map[string]any{"cut": 1, "banner": [][]any{{1, true, 1}, {2, false, 2}}, "welcomes": [][]any{{2, 7, true}},
			"firstFrame": Frame{Self: &Drawn{ID: 7}}, "ms": 450},
	}
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var r Raw
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r, tr
}

func TestAnalyze(t *testing.T) {
	r, tr := syntheticRaw(t)
	hits := map[string][]Hit{"lagcomp_rewind": {{Tick: 57, Target: 9}, {Tick: 72, Target: 9}}}
	in := Inputs{Truth: tr, Players: 3, Hits: func(_ uint32, _ []uint32, phase string) []Hit { return hits[phase] }}
	rep, problems := Analyze(r, in)
	if len(problems) != 0 || len(rep.Failed()) != 0 {
		t.Fatalf("a good run: problems %q, failed %+v", problems, rep.Failed())
	}
	got := map[string]float64{}
	for _, f := range rep.Figures {
		got[f.Name] = f.Value
	}
	for name, want := range map[string]float64{
		"prediction_frames": 1, "reconcile_error_units_p99": 0, "interp_error_units_p99": 0, "snaps": 0,
		"lagcomp_hit_rate": 1, "lagcomp_hit_rate_rewind_off": 0, "lagcomp_view_lag_ticks_p50": 7, "reconnect_ms": 450,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}

	// The same run with a console error, a lost seat and a missed shot.
	r.ConsoleErrors = append(r.ConsoleErrors, struct {
		Page string `json:"page"`
		Text string `json:"text"`
	}{"A", "boom"})
	r.Reconnect.Welcomes = [][]any{{2.0, 99.0, true}}
	hits["lagcomp_rewind"] = hits["lagcomp_rewind"][:1]
	rep, problems = Analyze(r, in)
	all := strings.Join(problems, "\n")
	if !strings.Contains(all, "boom") || !strings.Contains(all, "did not resume its seat") {
		t.Fatalf("problems %q", problems)
	}
	if f := rep.Failed(); len(f) != 1 || f[0].Name != "lagcomp_hit_rate" || f[0].Value != 0.5 {
		t.Fatalf("failed %+v", f)
	}
}
