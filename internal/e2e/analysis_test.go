package e2e

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// path is a synthetic server path: entity 7 runs +x at 5 units a tick
// (150 units/s at 30 Hz) from x=100, and respawns at x=900 at tick 20.
func path() *Truth {
	tr := NewTruth(150, 30)
	for tick := uint32(1); tick <= 40; tick++ {
		x := 100 + 5*float64(tick)
		if tick >= 20 {
			x = 900 + 5*float64(tick-20)
		}
		tr.Add(tick, map[uint32]Sample{7: {X: x, Y: 50}, 9: {X: 10, Y: 10}})
	}
	return tr
}

func TestTruthAt(t *testing.T) {
	tr := path()
	for _, tc := range []struct {
		rt   float64
		x    float64
		okay bool
	}{
		{5, 125, true},
		{5.5, 127.5, true},
		{5.25, 126.25, true},
		{19.5, 0, false}, // respawn between 19 and 20
		{20.5, 902.5, true},
		{40.5, 0, false}, // no tick 41
		{0.5, 0, false},
	} {
		x, y, ok := tr.At(7, tc.rt)
		if ok != tc.okay || ok && (math.Abs(x-tc.x) > 1e-9 || y != 50) {
			t.Errorf("At(7, %v) = %v, %v, %v; want %v, 50, %v", tc.rt, x, y, ok, tc.x, tc.okay)
		}
	}
	if _, _, ok := tr.At(8, 5); ok {
		t.Error("unknown entity placed")
	}
}

// frames draws entity 7 at the truth shifted by lag ticks (a page whose
// render tick label is right but whose drawing lags), 60 frames/s, render
// tick advancing 0.5 per frame from tick 2.
func frames(tr *Truth, lag float64, n int) []Frame {
	var fs []Frame
	for i := range n {
		rt := 2 + 0.5*float64(i)
		x, y, ok := tr.At(7, rt-lag)
		f := Frame{T: float64(i) * 1000 / 60, RenderTick: rt, Self: &Drawn{ID: 1, X: 500, Y: 500}}
		if ok {
			f.Others = append(f.Others, Drawn{ID: 7, X: x, Y: y}, Drawn{ID: 9, X: 10, Y: 10})
		}
		fs = append(fs, f)
	}
	return fs
}

func TestInterpErrors(t *testing.T) {
	tr := path()
	exact := InterpErrors(frames(tr, 0, 30), tr)
	if len(exact) == 0 || Quantile(exact, 0.99) != 0 {
		t.Fatalf("exact interpolation: p99 %v over %d", Quantile(exact, 0.99), len(exact))
	}
	// Drawing a whole tick late is 5 units off for the runner, 0 for the
	// one standing still.
	late := InterpErrors(frames(tr, 1, 30), tr)
	if p := Quantile(late, 0.99); math.Abs(p-5) > 1e-9 {
		t.Fatalf("one tick late: p99 %v, want 5", p)
	}
	// Self is never compared, even if listed among the others.
	f := []Frame{{RenderTick: 5, Self: &Drawn{ID: 7}, Others: []Drawn{{ID: 7, X: 0, Y: 0}}}}
	if e := InterpErrors(f, tr); len(e) != 0 {
		t.Fatalf("self compared: %v", e)
	}
}

func TestSnaps(t *testing.T) {
	tr := path()
	fs := frames(tr, 0, 70) // crosses the respawn at tick 20
	if s := Snaps(fs, tr, 150); len(s) != 0 {
		t.Fatalf("smooth path with a respawn: snaps %+v", s)
	}
	// A 20-unit correction jump in one frame is a snap.
	fs[10].Others[0].X += 20
	for i := 11; i < len(fs); i++ {
		if len(fs[i].Others) > 0 {
			fs[i].Others[0].X += 20
		}
	}
	s := Snaps(fs, tr, 150)
	if len(s) != 1 || s[0].Frame != 10 || s[0].ID != 7 {
		t.Fatalf("snaps %+v, want one at frame 10", s)
	}
	// Entering the view is not a snap.
	enter := []Frame{{T: 0, RenderTick: 2}, {T: 16, RenderTick: 2.5, Others: []Drawn{{ID: 7, X: 500}}}}
	if s := Snaps(enter, tr, 150); len(s) != 0 {
		t.Fatalf("entering: %+v", s)
	}
	// A dead flag cleared is a respawn.
	resp := []Frame{{T: 0, Others: []Drawn{{ID: 3, X: 0, Flags: FlagDead}}}, {T: 16, Others: []Drawn{{ID: 3, X: 400}}}}
	if s := Snaps(resp, nil, 150); len(s) != 0 {
		t.Fatalf("respawn: %+v", s)
	}
}

func TestPredictionFrames(t *testing.T) {
	at := func(x float64) Frame { return Frame{Self: &Drawn{ID: 1, X: x, Y: 0}} }
	fs := []Frame{at(0), at(0), at(0), at(5), at(10)}
	for _, tc := range []struct{ press, want int }{{1, 3}, {2, 2}, {3, 1}, {0, -1}} {
		if got := PredictionFrames(fs, tc.press); got != tc.want {
			t.Errorf("press %d: %d frames, want %d", tc.press, got, tc.want)
		}
	}
	if got := PredictionFrames([]Frame{at(0), at(0)}, 1); got != -1 {
		t.Errorf("never moved: %d", got)
	}
}

func TestQuantile(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i)
	}
	if q := Quantile(xs, 0.99); q != 99 {
		t.Fatalf("p99 %v", q)
	}
	if q := Quantile(xs, 0.5); q != 50 {
		t.Fatalf("p50 %v", q)
	}
	if Quantile(nil, 0.99) != 0 || Quantile([]float64{3}, 0.99) != 3 {
		t.Fatal("edge cases")
	}
}

func TestDrawnJSON(t *testing.T) {
	var f Frame
	err := json.Unmarshal([]byte(`{"t":1.5,"renderTick":100.25,"self":{"id":3,"x":1,"y":2},"others":[[4,10.5,20,1],[5,1,2]]}`), &f)
	if err != nil {
		t.Fatal(err)
	}
	if f.Self.ID != 3 || len(f.Others) != 2 || f.Others[0] != (Drawn{ID: 4, X: 10.5, Y: 20, Flags: 1}) || f.Others[1].ID != 5 {
		t.Fatalf("%+v", f)
	}
	var n Frame
	if err := json.Unmarshal([]byte(`{"t":1,"renderTick":0,"self":null,"others":[]}`), &n); err != nil || n.Self != nil {
		t.Fatal(err)
	}
}

func TestReport(t *testing.T) {
	var r Report
	r.Add(NewFigure("prediction_frames", 1, AtMost, 1, true),
		NewFigure("lagcomp_hit_rate", 0.9, AtLeast, 0.95, true),
		NewFigure("lagcomp_hit_rate_rewind_off", 0.3, AtLeast, 0.95, false),
		NewFigure("reconnect_ms", math.NaN(), Below, 2000, true))
	if f := r.Failed(); len(f) != 2 || f[0].Name != "lagcomp_hit_rate" || f[1].Name != "reconnect_ms" {
		t.Fatalf("failed %+v", f)
	}
	var sb strings.Builder
	if err := r.WriteTable(&sb); err != nil || !strings.Contains(sb.String(), "MISSED") || !strings.Contains(sb.String(), "(miss)") {
		t.Fatalf("%v\n%s", err, sb.String())
	}
	r.Figures[3].Value = 1500
	r.Figures[3].Pass = true
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]Figure
	if err := json.Unmarshal(b, &m); err != nil || m["prediction_frames"].Target != "<= 1" || !m["prediction_frames"].Pass {
		t.Fatalf("%v %s", err, b)
	}
}

func TestViewLags(t *testing.T) {
	shots := []Shot{{RenderTick: 100.5, Target: 1}, {RenderTick: 110.25, Target: 2}, {RenderTick: 115, Target: 1}}
	hits := []Hit{{Tick: 109, Target: 1}, {Tick: 119, Target: 2}, {Tick: 124, Target: 1}, {Tick: 99, Target: 1}, {Tick: 300, Target: 2}}
	got := ViewLags(shots, hits)
	want := []float64{8.5, 8.75, 9}
	if len(got) != len(want) {
		t.Fatalf("lags %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("lags %v, want %v", got, want)
		}
	}
}
