package benchrun

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// run400 is one run's points at 400 clients, in the order a plan measures
// them.
func run400() []Point {
	pt := func(config string, interest, cpu float64) Point {
		return Point{Config: config, Clients: 400, Connected: 400, Hz: 30, Interest: interest, ServerCPUUsPerClientT: cpu,
			ServerRSSKBPerClient: 20, DownBytesPerClientS: 4000, GapP99Ms: 40, TickRateMin: 30, MachineBusyPct: 50}
	}
	return []Point{
		pt("base", 0, 18), pt("loop", 0, 16.2), pt("tick", 0, 9),
		pt("base", 300, 20), pt("loop", 300, 18), pt("tick", 300, 8),
		pt("null-loop", 0, 15), pt("null-tick", 0, 7.5), pt("floor", 0, 12),
	}
}

func TestCompare(t *testing.T) {
	pts := run400()
	got := Compare(pts)
	want := []Ratios{
		{Floor: 1.5},                         // base
		{Base: 0.9, Null: 1.08, Floor: 1.35}, // loop: 16.2/18, 16.2/15, 16.2/12
		{Base: 0.5, Null: 1.2, Floor: 0.75},  // tick
		{Floor: 20.0 / 12},
		{Base: 0.9, Null: 1.2, Floor: 1.5}, // the null servers have no radius: the same ones count
		{Base: 0.4, Null: 8 / 7.5, Floor: 8.0 / 12},
		{Floor: 1.25},  // null-loop
		{Floor: 0.625}, // null-tick
		{},             // floor
	}
	for i := range want {
		if !near(got[i].Base, want[i].Base) || !near(got[i].Null, want[i].Null) || !near(got[i].Floor, want[i].Floor) {
			t.Errorf("%s interest %g: ratios %+v, want %+v", pts[i].Config, pts[i].Interest, got[i], want[i])
		}
	}

	// Missing comparators give no ratio; a zero figure never divides.
	lone := []Point{pts[2], {Config: "base", Clients: 800, Hz: 30, ServerCPUUsPerClientT: 18}, {Config: "floor", Clients: 400, Hz: 30}}
	for i, r := range Compare(lone) {
		if r != (Ratios{}) {
			t.Errorf("lone point %d: %+v, want no ratios", i, r)
		}
	}
	// Another rate is another comparison.
	other := run400()
	for i := range other {
		other[i].Hz = 20
	}
	other[0].ServerCPUUsPerClientT = 36
	if r := Compare(append(run400(), other...)); !near(r[2].Base, 0.5) || !near(r[11].Base, 0.25) {
		t.Errorf("30 Hz tick/base %v, 20 Hz %v; want 0.5 and 0.25", r[2].Base, r[11].Base)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestOrdered(t *testing.T) {
	pts := run400()
	// Measured in another order, with 800 clients first.
	shuffled := []Point{pts[8], pts[3], pts[0], pts[7], pts[5], pts[1], pts[6], pts[4], pts[2]}
	p800 := pts[2]
	p800.Clients = 800
	shuffled = append([]Point{p800}, shuffled...)
	var got []string
	for _, p := range Ordered(shuffled) {
		got = append(got, p.Config+"@"+strconv.Itoa(p.Clients)+"/"+interest(p))
	}
	want := []string{"tick@800/off", "base@400/off", "loop@400/off", "tick@400/off", "base@400/300", "loop@400/300", "tick@400/300",
		"null-loop@400/-", "null-tick@400/-", "floor@400/-"}
	if !slices.Equal(got, want) {
		t.Fatalf("Ordered:\n got %v\nwant %v", got, want)
	}
}

func itoa(n int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10)))
}

func TestTable(t *testing.T) {
	pts := run400()
	pts[5].Saturated = true
	pts[5].Notes = []string{"no match ticks reported"}
	var b bytes.Buffer
	Table(&b, pts)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 1+len(pts) {
		t.Fatalf("%d lines, want a header and %d rows:\n%s", len(lines), len(pts), b.String())
	}
	head := strings.Fields(lines[0])
	wantHead := []string{"config", "clients", "hz", "interest", "cpu_us", "/base", "/null", "/floor", "rss_kb", "down_B/s", "gap_p99", "tick", "lg_us", "lg_cpu", "busy"}
	if !slices.Equal(head, wantHead) {
		t.Fatalf("header %v", head)
	}
	row := func(config, radius string) []string {
		for _, l := range lines[1:] {
			if f := strings.Fields(l); f[0] == config && f[3] == radius {
				return f
			}
		}
		t.Fatalf("no row for %s %s:\n%s", config, radius, b.String())
		return nil
	}
	if f := row("tick", "off"); f[4] != "9.00" || f[5] != "0.50" || f[6] != "1.20" || f[7] != "0.75" {
		t.Errorf("tick row %v", f)
	}
	if f := row("base", "300"); f[5] != "-" || f[6] != "-" || f[7] != "1.67" {
		t.Errorf("base row %v", f)
	}
	if f := row("floor", "-"); f[5] != "-" || f[6] != "-" || f[7] != "-" {
		t.Errorf("floor row %v", f)
	}
	if f := row("tick", "300"); !strings.Contains(strings.Join(f, " "), "saturated, no match ticks reported") {
		t.Errorf("tick 300 row does not say it saturated: %v", f)
	}
	// Numbers end under the end of their column's header.
	for _, col := range []string{"cpu_us", "/floor", "gap_p99", "busy"} {
		end := strings.Index(lines[0], col) + len(col)
		for _, l := range lines[1:] {
			if len(l) < end || l[end-1] == ' ' || (len(l) > end && l[end] != ' ') {
				t.Errorf("column %s not aligned in %q", col, l)
			}
		}
	}

	// Two client counts are two blocks.
	more := append(run400(), Point{Config: "floor", Clients: 800, Hz: 30, ServerCPUUsPerClientT: 11})
	b.Reset()
	Table(&b, more)
	if !strings.Contains(b.String(), "\n\nfloor") {
		t.Errorf("no blank line between client counts:\n%s", b.String())
	}
}

func TestRow(t *testing.T) {
	p := run400()[2]
	h, r := Header(), Row(p)
	if len(strings.Fields(h)) != len(strings.Fields(r)) {
		t.Fatalf("header and row disagree:\n%s\n%s", h, r)
	}
	p.Errors, p.Saturated = 3, true
	if r := Row(p); !strings.HasSuffix(r, "  saturated, 3 errors") {
		t.Fatalf("Row = %q", r)
	}
}

func TestLegend(t *testing.T) {
	var b bytes.Buffer
	Legend(&b, "f079f9156fca", 135)
	s := b.String()
	for _, want := range append(ConfigNames(), "f079f9156fca", "-bench-null-snapshot 135", "/base", "/null", "/floor", "busy") {
		if !strings.Contains(s, want) {
			t.Errorf("legend does not mention %q", want)
		}
	}
	if strings.Contains(s, "%!") {
		t.Errorf("legend has a formatting error:\n%s", s)
	}
}
