package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
)

// Frame is what the demo records after drawing each animation frame with
// ?record=1 (window.__rp.frames): the time, the server tick it rendered
// remote entities at, and the drawn positions.
type Frame struct {
	T          float64 `json:"t"`          // ms, the page's performance.now()
	RenderTick float64 `json:"renderTick"` // fractional server tick of remote entities
	Self       *Drawn  `json:"self"`       // the local (predicted) avatar, or nil
	Others     []Drawn `json:"others"`     // remote entities as drawn
}

// Drawn is one entity as drawn. Others travel as [id, x, y, flags].
type Drawn struct {
	ID    uint32  `json:"id"`
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
	Flags uint8   `json:"flags"`
}

// UnmarshalJSON reads {id, x, y} or [id, x, y, flags].
func (d *Drawn) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var a []float64
		if err := json.Unmarshal(b, &a); err != nil {
			return err
		}
		if len(a) < 3 {
			return fmt.Errorf("e2e: drawn entity %s: want [id, x, y, flags]", b)
		}
		*d = Drawn{ID: uint32(a[0]), X: a[1], Y: a[2]}
		if len(a) > 3 {
			d.Flags = uint8(a[3])
		}
		return nil
	}
	type plain Drawn
	return json.Unmarshal(b, (*plain)(d))
}

// FlagDead is the entity flag of a downed avatar (protocol.md, section 8).
const FlagDead = 0x01

// Sample is one entity's true position at a tick.
type Sample struct {
	X, Y  float64
	Flags uint8
}

// Truth is every entity's position per server tick, as a client connected
// straight to the server (not through the proxy) mirrored it.
type Truth struct {
	// MaxStep is the farthest an entity may move in one tick without it
	// being a teleport (a respawn): speed / hz, plus rounding.
	MaxStep float64
	ticks   map[uint32]map[uint32]Sample
}

// NewTruth returns an empty Truth for entities moving at most speed units
// per second at hz ticks per second.
func NewTruth(speed float64, hz int) *Truth {
	return &Truth{MaxStep: speed/float64(hz) + 0.25, ticks: make(map[uint32]map[uint32]Sample)}
}

// Add records the world at tick (a later call for the same tick wins).
func (t *Truth) Add(tick uint32, world map[uint32]Sample) { t.ticks[tick] = world }

// Len is the number of ticks recorded.
func (t *Truth) Len() int { return len(t.ticks) }

// Get returns id's sample at tick.
func (t *Truth) Get(id, tick uint32) (Sample, bool) {
	w, ok := t.ticks[tick]
	if !ok {
		return Sample{}, false
	}
	s, ok := w[id]
	return s, ok
}

// At is id's true position at the fractional tick rt, interpolated
// linearly between floor(rt) and floor(rt)+1. ok is false when either
// tick is unknown, or the entity teleported (respawned) between them.
func (t *Truth) At(id uint32, rt float64) (x, y float64, ok bool) {
	if rt < 1 || math.IsNaN(rt) {
		return 0, 0, false
	}
	t0 := uint32(math.Floor(rt))
	f := rt - float64(t0)
	a, ok := t.Get(id, t0)
	if !ok {
		return 0, 0, false
	}
	if f == 0 {
		return a.X, a.Y, true
	}
	b, ok := t.Get(id, t0+1)
	if !ok || math.Hypot(b.X-a.X, b.Y-a.Y) > t.MaxStep {
		return 0, 0, false
	}
	return a.X + (b.X-a.X)*f, a.Y + (b.Y-a.Y)*f, true
}

// teleported reports whether id jumped further than a tick's step anywhere
// between ticks lo and hi (inclusive), or went from dead to alive.
func (t *Truth) teleported(id uint32, lo, hi float64) bool {
	a, b := uint32(max(1, math.Floor(lo))), uint32(math.Ceil(hi))
	prev, have := Sample{}, false
	for k := a; k <= b; k++ {
		s, ok := t.Get(id, k)
		if !ok {
			have = false
			continue
		}
		if have && (math.Hypot(s.X-prev.X, s.Y-prev.Y) > t.MaxStep || prev.Flags&FlagDead != 0 && s.Flags&FlagDead == 0) {
			return true
		}
		prev, have = s, true
	}
	return false
}

// InterpErrors returns, for every remote entity in every frame, the
// distance between where the page drew it and where the server had it at
// the frame's render tick. Entities the truth cannot place (unknown ticks,
// a respawn between the two ticks) are skipped; self is never compared.
func InterpErrors(frames []Frame, truth *Truth) []float64 {
	var errs []float64
	for _, f := range frames {
		for _, o := range f.Others {
			if f.Self != nil && o.ID == f.Self.ID {
				continue
			}
			x, y, ok := truth.At(o.ID, f.RenderTick)
			if !ok {
				continue
			}
			errs = append(errs, math.Hypot(o.X-x, o.Y-y))
		}
	}
	return errs
}

// Snap is a frame where a remote entity jumped further than its speed
// allows.
type Snap struct {
	Frame    int     // index in the frames given
	ID       uint32  // the entity
	Distance float64 // how far it jumped, units
	Allowed  float64 // how far it could have gone, units
}

// Snaps finds frames where a remote entity moved further since the
// previous frame than speed (units/s) allows in the time between the two
// frames (at least a 60 Hz frame: a frame stamped sooner after a late one
// is still on screen for a refresh interval; with 50 % slack for
// render-clock adjustment and half a unit for quantization). Respawns (dead flag cleared, or the truth teleporting in
// between) and entities entering the view (absent in the previous frame)
// are not snaps.
func Snaps(frames []Frame, truth *Truth, speed float64) []Snap {
	var out []Snap
	prev := map[uint32]Drawn{}
	next := map[uint32]Drawn{}
	for i, f := range frames {
		clear(next)
		for _, o := range f.Others {
			next[o.ID] = o
		}
		if i > 0 {
			dt := max((f.T-frames[i-1].T)/1000, 1.0/60)
			allowed := speed*dt*1.5 + 0.5
			for _, o := range f.Others {
				p, ok := prev[o.ID]
				if !ok || (f.Self != nil && o.ID == f.Self.ID) {
					continue // entered the view
				}
				d := math.Hypot(o.X-p.X, o.Y-p.Y)
				if d <= allowed {
					continue
				}
				if p.Flags&FlagDead != 0 && o.Flags&FlagDead == 0 {
					continue // respawned
				}
				if truth != nil && truth.teleported(o.ID, frames[i-1].RenderTick-1, f.RenderTick+1) {
					continue
				}
				out = append(out, Snap{Frame: i, ID: o.ID, Distance: d, Allowed: allowed})
			}
		}
		prev, next = next, prev
	}
	return out
}

// PredictionFrames counts animation frames from a key press to the local
// avatar moving on screen: press is the number of frames drawn before the
// key went down, so frames[press] is the first frame drawn after it; 1
// means that frame already shows the move. It returns -1 if the avatar
// never moves.
func PredictionFrames(frames []Frame, press int) int {
	if press < 1 || press > len(frames) || frames[press-1].Self == nil {
		return -1
	}
	at := *frames[press-1].Self
	for i := press; i < len(frames); i++ {
		s := frames[i].Self
		if s != nil && s.ID == at.ID && (s.X != at.X || s.Y != at.Y) {
			return i - press + 1
		}
	}
	return -1
}

// Shot is a shot a page fired: at the target it drew, at render tick
// RenderTick.
type Shot struct {
	RenderTick float64
	Target     uint32
}

// Hit is a Hit event the observer saw: the server tick that judged the
// shot, and the entity hit.
type Hit struct {
	Tick   uint32
	Target uint32
}

// ViewLags pairs each hit with the last shot at its target aimed before
// the hit's tick and returns, per pair, how many ticks the server judged
// the shot after the moment the shooter saw (hit tick - render tick): the
// rewind lag compensation needs. Hits without such a shot, or more than
// 60 ticks after it, are left out.
func ViewLags(shots []Shot, hits []Hit) []float64 {
	var lags []float64
	for _, h := range hits {
		best := -1.0
		for _, s := range shots {
			if s.Target == h.Target && s.RenderTick < float64(h.Tick) && s.RenderTick > best {
				best = s.RenderTick
			}
		}
		if best >= 0 && float64(h.Tick)-best <= 60 {
			lags = append(lags, float64(h.Tick)-best)
		}
	}
	return lags
}

// Quantile is the nearest-rank q-quantile of xs (0 for none).
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Figure is one play-feel measurement next to its target.
type Figure struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`         // e.g. "<= 0.5"
	Pass   bool    `json:"pass"`           // the value meets the target
	Gate   bool    `json:"gate"`           // a miss fails the test
	N      int     `json:"n,omitempty"`    // samples behind the value
	Note   string  `json:"note,omitempty"` // how it was measured
	Max    float64 `json:"max,omitempty"`  // the largest sample, where useful
}

// Target kinds for NewFigure.
const (
	AtMost  = "<="
	AtLeast = ">="
	Below   = "<"
)

// NewFigure checks value against a target written as op and bound.
func NewFigure(name string, value float64, op string, bound float64, gate bool) Figure {
	var pass bool
	switch op {
	case AtMost:
		pass = value <= bound
	case AtLeast:
		pass = value >= bound
	case Below:
		pass = value < bound
	}
	if math.IsNaN(value) {
		pass = false
	}
	return Figure{Name: name, Value: value, Target: fmt.Sprintf("%s %g", op, bound), Pass: pass, Gate: gate}
}

// Report is the play-feel table.
type Report struct {
	Figures []Figure `json:"figures"`
}

// Add appends figures.
func (r *Report) Add(f ...Figure) { r.Figures = append(r.Figures, f...) }

// Failed lists the gating figures that missed their targets.
func (r *Report) Failed() []Figure {
	var out []Figure
	for _, f := range r.Figures {
		if f.Gate && !f.Pass {
			out = append(out, f)
		}
	}
	return out
}

// MarshalJSON writes the figures as an object keyed by name, in order,
// each with its value and target.
func (r Report) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteString("{\n")
	for i, f := range r.Figures {
		v, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  %q: %s", f.Name, v)
		if i < len(r.Figures)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return []byte(b.String()), nil
}

// WriteTable prints the figures as a table: name, value, target, verdict.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-34s %12s %10s  %-6s %s\n", "play feel", "value", "target", "", "n / note")
	for _, f := range r.Figures {
		verdict := "ok"
		switch {
		case !f.Pass && f.Gate:
			verdict = "MISSED"
		case !f.Pass:
			verdict = "(miss)"
		}
		note := f.Note
		if f.Max != 0 {
			note = fmt.Sprintf("max=%.3g %s", f.Max, note)
		}
		if f.N > 0 {
			note = fmt.Sprintf("n=%d %s", f.N, note)
		}
		fmt.Fprintf(&b, "%-34s %12.3f %10s  %-6s %s\n", f.Name, f.Value, f.Target, verdict, strings.TrimSpace(note))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
