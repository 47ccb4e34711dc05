package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// frame is one encoded message with its value and the array a standard
// msgpack library must decode it to (integers as int64, float32 kept).
type frame struct {
	name   string
	msg    any // the message value (Leave{} for Leave)
	enc    []byte
	interp []any
}

func f32(v float32) any { return v }

func sampleFrames() []frame {
	long := strings.Repeat("t", MaxTokenLen)
	longS := strings.Repeat("s", MaxStringLen)
	ops := AppendDiff(nil, nil, []EntityState{{ID: 1, Kind: 2, X: 100, Y: -5}, {ID: 300, HP: 9}})
	bigOps := bytes.Repeat([]byte{0xab}, 70000)
	var fs []frame
	add := func(name string, msg any, enc []byte, interp ...any) {
		fs = append(fs, frame{name, msg, enc, interp})
	}
	for _, h := range []Hello{{}, {Version: 1, Token: "abc"}, {Version: math.MaxUint32, Token: long}, {Version: 200, Token: strings.Repeat("x", 40)}} {
		add("Hello", h, AppendHello(nil, h), int64(1), int64(h.Version), h.Token)
	}
	for _, in := range []Input{{}, {Seq: 1, Ack: 2, DX: 1, DY: -1, Aim: 3.25, Buttons: 1, ViewTick: 1, ViewFrac: 128},
		{Seq: math.MaxUint32, Ack: 65536, DX: -0.5, DY: 0.125, Aim: -math.Pi, Buttons: 255, ViewTick: math.MaxUint32, ViewFrac: 255}} {
		add("Input", in, AppendInput(nil, in), int64(2), int64(in.Seq), int64(in.Ack), f32(in.DX), f32(in.DY), f32(in.Aim), int64(in.Buttons), int64(in.ViewTick), int64(in.ViewFrac))
	}
	for _, p := range []Ping{{}, {Time: 123456789}} {
		add("Ping", p, AppendPing(nil, p), int64(3), int64(p.Time))
	}
	add("Leave", Leave{}, AppendLeave(nil), int64(4))
	for _, w := range []Welcome{{}, {Version: 1, Player: 7, Entity: 70000, Match: "m-1", Mode: "arena", Hz: 30, Tick: 1 << 20,
		LastSeq: 99, Resumed: true, Width: 1024, Height: 768.5, Interest: 200, PosScale: PosScale},
		{Match: longS, Mode: longS, Hz: math.MaxUint16, PosScale: math.MaxUint16, Width: -1}} {
		add("Welcome", w, AppendWelcome(nil, w), int64(16), int64(w.Version), int64(w.Player), int64(w.Entity), w.Match, w.Mode,
			int64(w.Hz), int64(w.Tick), int64(w.LastSeq), w.Resumed, f32(w.Width), f32(w.Height), f32(w.Interest), int64(w.PosScale))
	}
	for _, s := range []Snapshot{{}, {Tick: 10, Base: 9, AckSeq: 3, Ops: ops}, {Tick: math.MaxUint32, Ops: bytes.Repeat([]byte{1}, 300)},
		{Tick: 5, Ops: bigOps}} {
		o := s.Ops
		if o == nil {
			o = []byte{}
		}
		add("Snapshot", s, AppendSnapshot(nil, s), int64(17), int64(s.Tick), int64(s.Base), int64(s.AckSeq), o)
	}
	for _, e := range []Event{{}, {Tick: 5, Kind: 3, Source: 1, Target: 2, Value: -1}, {Value: -33}, {Value: -129},
		{Value: math.MinInt32, Kind: 255}, {Value: math.MaxInt32, Source: math.MaxUint32}} {
		add("Event", e, AppendEvent(nil, e), int64(18), int64(e.Tick), int64(e.Kind), int64(e.Source), int64(e.Target), int64(e.Value))
	}
	many := make([]Result, MaxResults)
	for i := range many {
		many[i] = Result{Player: uint32(i), Entity: uint32(i * 1000), Score: uint32(i * i * 7), Rank: uint16(i + 1)}
	}
	for _, mo := range []MatchOver{{}, {Tick: 9000, Reason: "time", Results: []Result{{1, 2, 3, 1}, {4, 5, 0, 2}}},
		{Reason: longS, Results: many}} {
		rs := []any{}
		for _, r := range mo.Results {
			rs = append(rs, []any{int64(r.Player), int64(r.Entity), int64(r.Score), int64(r.Rank)})
		}
		add("MatchOver", mo, AppendMatchOver(nil, mo), int64(19), int64(mo.Tick), mo.Reason, rs)
	}
	for _, e := range []Error{{}, {Code: CodeAuthFailed, Message: "bad token"}, {Code: math.MaxUint16, Message: longS}} {
		add("Error", e, AppendError(nil, e), int64(20), int64(e.Code), e.Message)
	}
	for _, p := range []Pong{{}, {Time: 1, Tick: 2}, {Time: math.MaxUint32, Tick: 128}} {
		add("Pong", p, AppendPong(nil, p), int64(21), int64(p.Time), int64(p.Tick))
	}
	return fs
}

// decodeAny decodes b with the decoder for t and returns the value as the
// same type sampleFrames uses.
func decodeAny(t MsgType, b []byte) (any, error) {
	switch t {
	case MsgHello:
		return DecodeHello(b)
	case MsgInput:
		return DecodeInput(b)
	case MsgPing:
		return DecodePing(b)
	case MsgLeave:
		return Leave{}, DecodeLeave(b)
	case MsgWelcome:
		return DecodeWelcome(b)
	case MsgSnapshot:
		return DecodeSnapshot(b)
	case MsgEvent:
		return DecodeEvent(b)
	case MsgMatchOver:
		return DecodeMatchOver(b)
	case MsgError:
		return DecodeError(b)
	case MsgPong:
		return DecodePong(b)
	}
	return nil, ErrUnknownType
}

// encodeAny encodes a message value.
func encodeAny(dst []byte, m any) []byte {
	switch m := m.(type) {
	case Hello:
		return AppendHello(dst, m)
	case Input:
		return AppendInput(dst, m)
	case Ping:
		return AppendPing(dst, m)
	case Leave:
		return AppendLeave(dst)
	case Welcome:
		return AppendWelcome(dst, m)
	case Snapshot:
		return AppendSnapshot(dst, m)
	case Event:
		return AppendEvent(dst, m)
	case MatchOver:
		return AppendMatchOver(dst, m)
	case Error:
		return AppendError(dst, m)
	case Pong:
		return AppendPong(dst, m)
	}
	panic("unknown message")
}

var allTypes = []MsgType{MsgHello, MsgInput, MsgPing, MsgLeave, MsgWelcome, MsgSnapshot, MsgEvent, MsgMatchOver, MsgError, MsgPong}

// normalize turns what msgpack/v5 decodes into the comparable form.
func normalize(v any) any {
	switch v := v.(type) {
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		return int64(v)
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = normalize(v[i])
		}
		return out
	}
	return v
}

func equalMsg(a, b any) bool {
	if sa, ok := a.(Snapshot); ok {
		sb, ok := b.(Snapshot)
		return ok && sa.Tick == sb.Tick && sa.Base == sb.Base && sa.AckSeq == sb.AckSeq && bytes.Equal(sa.Ops, sb.Ops)
	}
	if ma, ok := a.(MatchOver); ok {
		mb, ok := b.(MatchOver)
		return ok && ma.Tick == mb.Tick && ma.Reason == mb.Reason && len(ma.Results) == len(mb.Results) &&
			(len(ma.Results) == 0 || reflect.DeepEqual(ma.Results, mb.Results))
	}
	return reflect.DeepEqual(a, b)
}

func TestRoundTrip(t *testing.T) {
	for _, fr := range sampleFrames() {
		t.Run(fr.name, func(t *testing.T) {
			typ, err := Type(fr.enc)
			if err != nil {
				t.Fatalf("Type: %v", err)
			}
			if typ.String() != fr.name {
				t.Fatalf("Type = %v, want %s", typ, fr.name)
			}
			got, err := decodeAny(typ, fr.enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !equalMsg(got, fr.msg) {
				t.Fatalf("decode = %+v, want %+v", got, fr.msg)
			}
			// Encoding into a non-empty dst appends.
			if again := encodeAny([]byte("xy"), got); !bytes.Equal(again[2:], fr.enc) || string(again[:2]) != "xy" {
				t.Fatalf("re-encode differs")
			}
			// Every other decoder refuses it.
			for _, other := range allTypes {
				if other == typ {
					continue
				}
				if _, err := decodeAny(other, fr.enc); !errors.Is(err, ErrMalformed) {
					t.Fatalf("decoder for %v accepted a %v: %v", other, typ, err)
				}
			}
		})
	}
}

func TestInterop(t *testing.T) {
	for _, fr := range sampleFrames() {
		t.Run(fr.name, func(t *testing.T) {
			var got []any
			if err := msgpack.Unmarshal(fr.enc, &got); err != nil {
				t.Fatalf("msgpack.Unmarshal: %v", err)
			}
			// Unmarshal ignores trailing bytes: check the frame is exactly one value.
			dec := msgpack.NewDecoder(bytes.NewReader(fr.enc))
			if err := dec.Skip(); err != nil {
				t.Fatal(err)
			}
			if _, err := dec.PeekCode(); err == nil {
				t.Fatalf("bytes after the message")
			}
			n := normalize(got).([]any)
			for i := range n {
				if b, ok := n[i].([]byte); ok && len(b) == 0 {
					n[i] = []byte{}
				}
			}
			if !reflect.DeepEqual(n, fr.interp) {
				t.Fatalf("msgpack decodes\n%#v\nwant\n%#v", n, fr.interp)
			}
		})
	}
}

func TestSmallestEncoding(t *testing.T) {
	uints := []struct {
		v    uint32
		want []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7f}},
		{128, []byte{0xcc, 0x80}},
		{255, []byte{0xcc, 0xff}},
		{256, []byte{0xcd, 0x01, 0x00}},
		{65535, []byte{0xcd, 0xff, 0xff}},
		{65536, []byte{0xce, 0x00, 0x01, 0x00, 0x00}},
		{math.MaxUint32, []byte{0xce, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tc := range uints {
		t.Run("uint", func(t *testing.T) {
			got := AppendPing(nil, Ping{Time: tc.v})
			if want := append([]byte{0x92, 0x03}, tc.want...); !bytes.Equal(got, want) {
				t.Fatalf("Ping{%d} = % x, want % x", tc.v, got, want)
			}
		})
	}
	ints := []struct {
		v    int32
		want []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7f}},
		{128, []byte{0xcc, 0x80}},
		{-1, []byte{0xff}},
		{-32, []byte{0xe0}},
		{-33, []byte{0xd0, 0xdf}},
		{-128, []byte{0xd0, 0x80}},
		{-129, []byte{0xd1, 0xff, 0x7f}},
		{-32768, []byte{0xd1, 0x80, 0x00}},
		{-32769, []byte{0xd2, 0xff, 0xff, 0x7f, 0xff}},
		{math.MinInt32, []byte{0xd2, 0x80, 0x00, 0x00, 0x00}},
	}
	for _, tc := range ints {
		t.Run("int", func(t *testing.T) {
			got := AppendEvent(nil, Event{Value: tc.v})
			if want := append([]byte{0x96, 0x12, 0, 0, 0, 0}, tc.want...); !bytes.Equal(got, want) {
				t.Fatalf("Event{Value: %d} = % x, want % x", tc.v, got, want)
			}
		})
	}
	t.Run("float32", func(t *testing.T) {
		got := AppendInput(nil, Input{DX: 1})
		if want := []byte{0x99, 0x02, 0, 0, 0xca, 0x3f, 0x80, 0, 0, 0xca, 0, 0, 0, 0, 0xca, 0, 0, 0, 0, 0, 0, 0}; !bytes.Equal(got, want) {
			t.Fatalf("Input = % x, want % x", got, want)
		}
	})
	t.Run("bin", func(t *testing.T) {
		for _, n := range []int{0, 255, 256, 65535, 65536} {
			h := AppendSnapshotHeader(nil, 0, 0, 0, n)
			var want []byte
			switch {
			case n <= 255:
				want = []byte{0xc4, byte(n)}
			case n <= 65535:
				want = []byte{0xc5, byte(n >> 8), byte(n)}
			default:
				want = []byte{0xc6, 0, 1, 0, 0}
			}
			if !bytes.HasSuffix(h, want) || len(h) != 5+len(want) {
				t.Fatalf("bin header for %d = % x", n, h)
			}
		}
	})
}

// Hand-built msgpack values in every form.
func mpU8(v uint8) []byte   { return []byte{0xcc, v} }
func mpU16(v uint16) []byte { return binary.BigEndian.AppendUint16([]byte{0xcd}, v) }
func mpU32(v uint32) []byte { return binary.BigEndian.AppendUint32([]byte{0xce}, v) }
func mpU64(v uint64) []byte { return binary.BigEndian.AppendUint64([]byte{0xcf}, v) }
func mpI8(v int8) []byte    { return []byte{0xd0, byte(v)} }
func mpI16(v int16) []byte  { return binary.BigEndian.AppendUint16([]byte{0xd1}, uint16(v)) }
func mpI32(v int32) []byte  { return binary.BigEndian.AppendUint32([]byte{0xd2}, uint32(v)) }
func mpI64(v int64) []byte  { return binary.BigEndian.AppendUint64([]byte{0xd3}, uint64(v)) }
func mpF32(v float32) []byte {
	return binary.BigEndian.AppendUint32([]byte{0xca}, math.Float32bits(v))
}
func mpF64(v float64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0xcb}, math.Float64bits(v))
}

// arr builds an array of the given encoded elements.
func arr(elems ...[]byte) []byte {
	b := appendArrayHeader(nil, len(elems))
	for _, e := range elems {
		b = append(b, e...)
	}
	return b
}

func fix(v uint8) []byte  { return []byte{v} }
func str(s string) []byte { return appendStr(nil, s) }

func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want any
	}{
		{"input int forms", arr(fix(2), mpU64(5), mpI64(6), fix(1), []byte{0xff}, mpI8(-3), mpI16(1)),
			Input{Seq: 5, Ack: 6, DX: 1, DY: -1, Aim: -3, Buttons: 1}},
		{"input float64", arr(fix(2), mpU32(math.MaxUint32), mpI32(0), mpF64(0.25), mpF64(-0.5), mpF64(1e300), mpU8(255)),
			Input{Seq: math.MaxUint32, Ack: 0, DX: 0.25, DY: -0.5, Aim: 0, Buttons: 255}},
		{"input NaN Inf", arr(fix(2), fix(1), fix(1), mpF32(float32(math.NaN())), mpF64(math.Inf(1)), mpF32(float32(math.Inf(-1))), fix(0)),
			Input{Seq: 1, Ack: 1}},
		{"input big ints as floats", arr(fix(2), fix(1), fix(1), mpU64(1<<40), mpI64(-1<<40), mpU16(300), fix(0)),
			Input{Seq: 1, Ack: 1, DX: 1 << 40, DY: -1 << 40, Aim: 300}},
		{"input version 1 (7 elements)", arr(fix(2), fix(1), fix(2), fix(0), fix(0), fix(0), fix(1)),
			Input{Seq: 1, Ack: 2, Buttons: 1}},
		{"input version 1 and one extra", arr(fix(2), fix(1), fix(2), fix(0), fix(0), fix(0), fix(1), str("x")),
			Input{Seq: 1, Ack: 2, Buttons: 1}},
		{"input view", arr(fix(2), fix(1), fix(2), fix(0), fix(0), fix(0), fix(0), mpU32(70000), mpU8(200)),
			Input{Seq: 1, Ack: 2, ViewTick: 70000, ViewFrac: 200}},
		{"input extra elements", arr(fix(2), fix(1), fix(2), fix(0), fix(0), fix(0), fix(0), fix(9), fix(1),
			str("future"), []byte{0xc0}, arr(arr(arr(fix(1))), []byte{0x81, 0x01, 0x02}), []byte{0xd4, 1, 2}, []byte{0xc7, 2, 5, 1, 2},
			mpF64(1), mpI64(-1), []byte{0xc4, 1, 9}, []byte{0xde, 0, 1, 0xa1, 'k', 0xc3}),
			Input{Seq: 1, Ack: 2, ViewTick: 9, ViewFrac: 1}},
		{"input type as uint8", arr(mpU8(2), fix(1), fix(2), fix(0), fix(0), fix(0), fix(0)), Input{Seq: 1, Ack: 2}},
		{"hello array16 and str8", append([]byte{0xdc, 0, 3, 1, 1, 0xd9, 3}, "tok"...), Hello{Version: 1, Token: "tok"}},
		{"hello str32", append([]byte{0x93, 1, 0xce, 0, 1, 0, 0, 0xdb, 0, 0, 0, 1}, 'x'), Hello{Version: 65536, Token: "x"}},
		{"hello token at limit", arr(fix(1), fix(1), str(strings.Repeat("a", MaxTokenLen))),
			Hello{Version: 1, Token: strings.Repeat("a", MaxTokenLen)}},
		{"ping array32", []byte{0xdd, 0, 0, 0, 2, 3, 0xd2, 0, 0, 0, 7}, Ping{Time: 7}},
		{"leave extra", arr(fix(4), fix(1), arr()), Leave{}},
		{"welcome ints for floats", arr(fix(16), fix(1), fix(2), fix(3), str("m"), str("arena"), mpI64(30), fix(4), fix(5),
			[]byte{0xc3}, mpU16(1024), mpI32(768), fix(0), fix(16), str("extra"), str("extra2")),
			Welcome{Version: 1, Player: 2, Entity: 3, Match: "m", Mode: "arena", Hz: 30, Tick: 4, LastSeq: 5, Resumed: true,
				Width: 1024, Height: 768, PosScale: 16}},
		{"snapshot bin16", append([]byte{0x95, 17, 1, 0, 0, 0xc5, 0, 2}, 6, 0), Snapshot{Tick: 1, Ops: []byte{6, 0}}},
		{"snapshot bin32", append([]byte{0x95, 17, 1, 0, 0, 0xc6, 0, 0, 0, 2}, 6, 0), Snapshot{Tick: 1, Ops: []byte{6, 0}}},
		{"event int64 value", arr(fix(18), fix(1), fix(2), fix(3), fix(4), mpI64(math.MinInt32)),
			Event{Tick: 1, Kind: 2, Source: 3, Target: 4, Value: math.MinInt32}},
		{"event uint32 value", arr(fix(18), fix(1), fix(2), fix(3), fix(4), mpU32(math.MaxInt32)),
			Event{Tick: 1, Kind: 2, Source: 3, Target: 4, Value: math.MaxInt32}},
		{"matchover result extra", arr(fix(19), fix(1), str("r"), arr(arr(fix(1), fix(2), fix(3), fix(4), str("more")))),
			MatchOver{Tick: 1, Reason: "r", Results: []Result{{1, 2, 3, 4}}}},
		{"error code int16", arr(fix(20), mpI16(4001), str("x")), Error{Code: 4001, Message: "x"}},
		{"pong uint64", arr(fix(21), mpU64(1), mpU64(math.MaxUint32)), Pong{Time: 1, Tick: math.MaxUint32}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, err := Type(tc.b)
			if err != nil {
				t.Fatalf("Type: %v", err)
			}
			got, err := decodeAny(typ, tc.b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !equalMsg(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestDecodeMsgpackEncoded decodes frames that msgpack/v5 encodes from Go
// values of various types, as a client in another language might.
func TestDecodeMsgpackEncoded(t *testing.T) {
	tests := []struct {
		name string
		v    []any
		want any
	}{
		{"input int64 and float64", []any{int64(2), int64(10), uint64(9), float64(0.5), 1, -1.5, int16(1)},
			Input{Seq: 10, Ack: 9, DX: 0.5, DY: 1, Aim: -1.5, Buttons: 1}},
		{"hello", []any{1, uint32(1), "tok"}, Hello{Version: 1, Token: "tok"}},
		{"ping", []any{uint8(3), uint64(1 << 31)}, Ping{Time: 1 << 31}},
		{"leave", []any{4}, Leave{}},
		{"welcome", []any{16, 1, 2, 3, "m", "arena", 30, 4, 5, false, 100.0, 50, float32(10), 16},
			Welcome{Version: 1, Player: 2, Entity: 3, Match: "m", Mode: "arena", Hz: 30, Tick: 4, LastSeq: 5,
				Width: 100, Height: 50, Interest: 10, PosScale: 16}},
		{"snapshot", []any{17, 2, 1, 0, []byte{6, 0}}, Snapshot{Tick: 2, Base: 1, Ops: []byte{6, 0}}},
		{"event", []any{18, 1, 2, 3, 4, -5}, Event{Tick: 1, Kind: 2, Source: 3, Target: 4, Value: -5}},
		{"matchover", []any{19, 1, "r", []any{[]any{1, 2, 3, 4}}}, MatchOver{Tick: 1, Reason: "r", Results: []Result{{1, 2, 3, 4}}}},
		{"error", []any{20, 4001, "no"}, Error{Code: 4001, Message: "no"}},
		{"pong", []any{21, 1, 2}, Pong{Time: 1, Tick: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := msgpack.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			typ, err := Type(b)
			if err != nil {
				t.Fatalf("Type(% x): %v", b, err)
			}
			got, err := decodeAny(typ, b)
			if err != nil {
				t.Fatalf("decode(% x): %v", b, err)
			}
			if !equalMsg(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	for _, fr := range sampleFrames() {
		t.Run(fr.name, func(t *testing.T) {
			typ, _ := Type(fr.enc)
			for i := 0; i < len(fr.enc); i++ {
				if _, err := decodeAny(typ, fr.enc[:i]); !errors.Is(err, ErrMalformed) {
					t.Fatalf("prefix of %d/%d bytes: err = %v", i, len(fr.enc), err)
				}
			}
			if _, err := decodeAny(typ, append(bytes.Clone(fr.enc), 0)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("trailing byte accepted: %v", err)
			}
		})
	}
}

func TestDecodeReject(t *testing.T) {
	deep := fix(1)
	for range 9 {
		deep = arr(deep)
	}
	tests := []struct {
		name string
		t    MsgType
		b    []byte
	}{
		{"empty", MsgInput, nil},
		{"not an array", MsgPing, []byte{0x03}},
		{"map", MsgPing, []byte{0x81, 0x03, 0x01}},
		{"empty array", MsgLeave, []byte{0x90}},
		{"too few", MsgInput, arr(fix(2), fix(1), fix(1), fix(0), fix(0), fix(0))},
		{"string for int", MsgPing, arr(fix(3), str("1"))},
		{"float for int", MsgPing, arr(fix(3), mpF32(1))},
		{"nil for int", MsgPing, arr(fix(3), []byte{0xc0})},
		{"bool for float", MsgInput, arr(fix(2), fix(1), fix(1), []byte{0xc3}, fix(0), fix(0), fix(0))},
		{"negative uint", MsgPing, arr(fix(3), []byte{0xff})},
		{"negative int64 uint", MsgPing, arr(fix(3), mpI64(-1))},
		{"uint over uint32", MsgPing, arr(fix(3), mpU64(1<<32))},
		{"huge uint64", MsgPing, arr(fix(3), mpU64(math.MaxUint64))},
		{"buttons 256", MsgInput, arr(fix(2), fix(1), fix(1), fix(0), fix(0), fix(0), mpU16(256))},
		{"hz 65536", MsgWelcome, arr(fix(16), fix(1), fix(2), fix(3), str("m"), str("a"), mpU32(65536), fix(4), fix(5),
			[]byte{0xc3}, fix(0), fix(0), fix(0), fix(16))},
		{"int for bool", MsgWelcome, arr(fix(16), fix(1), fix(2), fix(3), str("m"), str("a"), fix(1), fix(4), fix(5),
			fix(1), fix(0), fix(0), fix(0), fix(16))},
		{"event value over int32", MsgEvent, arr(fix(18), fix(1), fix(2), fix(3), fix(4), mpU32(1<<31))},
		{"event value under int32", MsgEvent, arr(fix(18), fix(1), fix(2), fix(3), fix(4), mpI64(math.MinInt32-1))},
		{"bin for string", MsgHello, arr(fix(1), fix(1), []byte{0xc4, 1, 'a'})},
		{"string for bin", MsgSnapshot, arr(fix(17), fix(1), fix(0), fix(0), str("ab"))},
		{"token over limit", MsgHello, arr(fix(1), fix(1), str(strings.Repeat("a", MaxTokenLen+1)))},
		{"string over limit", MsgError, arr(fix(20), fix(1), str(strings.Repeat("a", MaxStringLen+1)))},
		{"match over limit", MsgWelcome, arr(fix(16), fix(1), fix(2), fix(3), str(strings.Repeat("a", MaxStringLen+1)), str("a"),
			fix(1), fix(4), fix(5), []byte{0xc3}, fix(0), fix(0), fix(0), fix(16))},
		{"too many results", MsgMatchOver, append([]byte{0x94, 19, 1, 0xa1, 'r', 0xdc, 0x01, 0x01}, bytes.Repeat(arr(fix(1), fix(2), fix(3), fix(4)), MaxResults+1)...)},
		{"short result", MsgMatchOver, arr(fix(19), fix(1), str("r"), arr(arr(fix(1), fix(2), fix(3))))},
		{"result not array", MsgMatchOver, arr(fix(19), fix(1), str("r"), arr(fix(1)))},
		{"rank over uint16", MsgMatchOver, arr(fix(19), fix(1), str("r"), arr(arr(fix(1), fix(2), fix(3), mpU32(65536))))},
		{"wrong type", MsgHello, AppendPing(nil, Ping{Time: 1})},
		{"type 256", MsgPing, arr(mpU16(256+3), fix(1))},
		{"negative type", MsgPing, arr([]byte{0xfd}, fix(1))},
		{"skip too deep", MsgLeave, arr(fix(4), deep)},
		{"skip 0xc1", MsgLeave, arr(fix(4), []byte{0xc1})},
		{"skip truncated str", MsgLeave, []byte{0x92, 4, 0xa5, 'a'}},
		{"skip huge map", MsgLeave, []byte{0x92, 4, 0xdf, 0xff, 0xff, 0xff, 0xff, 0, 0}},
		{"skip huge ext", MsgLeave, []byte{0x92, 4, 0xc9, 0xff, 0xff, 0xff, 0xff, 1}},
		{"trailing bytes", MsgLeave, []byte{0x91, 4, 0x91}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeAny(tc.t, tc.b)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			t.Log(err)
		})
	}
}

// TestDecodeHugeDeclaredLength feeds tiny frames that declare gigabytes and
// checks they fail fast without allocating from the declared length.
func TestDecodeHugeDeclaredLength(t *testing.T) {
	tests := []struct {
		name string
		t    MsgType
		b    []byte
	}{
		{"str32 token", MsgHello, []byte{0x93, 1, 1, 0xdb, 0xff, 0xff, 0xff, 0xff}},
		{"str32 message", MsgError, []byte{0x93, 20, 1, 0xdb, 0xff, 0xff, 0xff, 0xff}},
		{"array32 message", MsgPing, []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 3, 1}},
		{"array32 results", MsgMatchOver, []byte{0x94, 19, 1, 0xa0, 0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"array16 results", MsgMatchOver, []byte{0x94, 19, 1, 0xa0, 0xdc, 0xff, 0xff}},
		{"bin32 ops", MsgSnapshot, []byte{0x95, 17, 1, 0, 0, 0xc6, 0xff, 0xff, 0xff, 0xff}},
		{"skipped array32", MsgLeave, []byte{0x92, 4, 0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"skipped bin32", MsgLeave, []byte{0x92, 4, 0xc6, 0xff, 0xff, 0xff, 0xff}},
		{"skipped str32", MsgLeave, []byte{0x92, 4, 0xdb, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			allocs := testing.AllocsPerRun(100, func() {
				_, err = decodeAny(tc.t, tc.b)
			})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if allocs > 12 {
				t.Errorf("%v allocations per failed decode", allocs)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
				t.Errorf("%d bytes allocated for 101 failed decodes", d)
			}
		})
	}
}

func TestType(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		want    MsgType
		unknown bool
		bad     bool
	}{
		{"hello", AppendHello(nil, Hello{}), MsgHello, false, false},
		{"pong", AppendPong(nil, Pong{}), MsgPong, false, false},
		{"uint8 form", arr(mpU8(17)), MsgSnapshot, false, false},
		{"unknown", arr(fix(99), fix(1)), 99, true, true},
		{"zero", arr(fix(0)), 0, true, true},
		{"empty array", []byte{0x90}, 0, false, true},
		{"not array", []byte{0x01}, 0, false, true},
		{"string type", arr(str("a")), 0, false, true},
		{"type too big", arr(mpU16(300)), 0, false, true},
		{"nothing", nil, 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Type(tc.b)
			if got != tc.want || (err != nil) != tc.bad || errors.Is(err, ErrUnknownType) != tc.unknown {
				t.Fatalf("Type = %v, %v; want %v, bad %v, unknown %v", got, err, tc.want, tc.bad, tc.unknown)
			}
			if tc.bad && !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v does not match ErrMalformed", err)
			}
		})
	}
	if s := MsgType(99).String(); s != "MsgType(99)" {
		t.Errorf("String = %q", s)
	}
}

func TestSnapshotOpsAliasing(t *testing.T) {
	b := AppendSnapshot(nil, Snapshot{Tick: 1, Ops: []byte{6, 0, 4, 0}})
	b = append(b, 0xee)[:len(b)] // spare capacity after the frame
	s, err := DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if &s.Ops[0] != &b[len(b)-4] {
		t.Fatal("Ops does not alias the frame")
	}
	if cap(s.Ops) != len(s.Ops) {
		t.Fatalf("cap(Ops) = %d, want %d", cap(s.Ops), len(s.Ops))
	}
}

func TestAppendSnapshotHeaderPanicsOnNegative(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	AppendSnapshotHeader(nil, 1, 0, 0, -1)
}

func TestZeroAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	in := AppendInput(nil, Input{Seq: 1000, Ack: 999, DX: 0.5, DY: -1, Aim: 2, Buttons: 1})
	tests := []struct {
		name string
		f    func()
	}{
		{"DecodeInput", func() {
			if _, err := DecodeInput(in); err != nil {
				t.Fatal(err)
			}
		}},
		{"DecodePing", func() { _, _ = DecodePing(AppendPing(buf[:0], Ping{Time: 5})) }},
		{"DecodeSnapshot", func() { _, _ = DecodeSnapshot(AppendSnapshot(buf[:0], Snapshot{Tick: 5, Ops: []byte{6, 0}})) }},
		{"AppendSnapshotHeader", func() { buf = AppendSnapshotHeader(buf[:0], 1000, 999, 77, 300) }},
		{"AppendInput", func() { buf = AppendInput(buf[:0], Input{Seq: 1}) }},
		{"AppendWelcome", func() { buf = AppendWelcome(buf[:0], Welcome{Match: "m", Mode: "arena"}) }},
		{"AppendEvent", func() { buf = AppendEvent(buf[:0], Event{Value: -1000}) }},
		{"AppendMatchOver", func() { buf = AppendMatchOver(buf[:0], MatchOver{Results: []Result{{1, 2, 3, 4}}}) }},
		{"AppendPong", func() { buf = AppendPong(buf[:0], Pong{Time: 1}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(100, tc.f); a != 0 {
				t.Fatalf("%v allocs, want 0", a)
			}
		})
	}
}

func BenchmarkDecodeInput(b *testing.B) {
	in := AppendInput(nil, Input{Seq: 100000, Ack: 99990, DX: 0.70710677, DY: -0.70710677, Aim: 1.5, Buttons: 1})
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeInput(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendInput(b *testing.B) {
	buf := make([]byte, 0, 64)
	m := Input{Seq: 100000, Ack: 99990, DX: 0.70710677, DY: -0.70710677, Aim: 1.5, Buttons: 1}
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendInput(buf[:0], m)
	}
}
