package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// frame builds a masked client frame with a non-trivial key.
func frame(op byte, fin bool, payload []byte, lenBits int) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	n := len(payload)
	switch {
	case lenBits == 64:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	case lenBits == 16 || n >= 126:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = append(b, 0x80|byte(n))
	}
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	Unmask(b[start:], key, 0)
	return b
}

func TestNextLengths(t *testing.T) {
	for _, bits := range []int{7, 16, 64} {
		for _, n := range []int{0, 1, 125, 126, 300, 2048} {
			if bits == 7 && n >= 126 {
				continue
			}
			p := bytes.Repeat([]byte{0xab}, n)
			b := frame(OpBinary, true, p, bits)
			// Every prefix is incomplete, the whole is one frame.
			for i := 0; i < len(b); i++ {
				c := append([]byte(nil), b[:i]...)
				if _, k, err := Next(c, 2048); k != 0 || err != nil {
					t.Fatalf("bits %d n %d prefix %d: took %d, err %v", bits, n, i, k, err)
				}
			}
			f, k, err := Next(append([]byte(nil), b...), 2048)
			if err != nil || k != len(b) || !f.Fin || f.Op != OpBinary || !bytes.Equal(f.Payload, p) {
				t.Fatalf("bits %d n %d: %+v took %d err %v", bits, n, f, k, err)
			}
		}
	}
}

func TestNextRefuses(t *testing.T) {
	over := frame(OpBinary, true, make([]byte, 2049), 16)
	huge := binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, 1<<40)
	top := binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, 1<<63)
	tests := []struct {
		name string
		b    []byte
		code uint16
	}{
		{"unmasked", []byte{0x82, 0x01, 0x00}, CodeProtocolError},
		{"rsv", []byte{0xc2, 0x80}, CodeProtocolError},
		{"opcode 3", []byte{0x83, 0x80}, CodeProtocolError},
		{"opcode 0xb", []byte{0x8b, 0x80}, CodeProtocolError},
		{"fragmented ping", []byte{0x09, 0x80}, CodeProtocolError},
		{"long ping", []byte{0x89, 0x80 | 126, 0, 200}, CodeProtocolError},
		{"over the limit", over, CodeTooLarge},
		{"64-bit huge", huge, CodeTooLarge},
		{"64-bit top bit", top, CodeProtocolError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Next(append(tc.b, 0, 0, 0, 0), 2048)
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("err %v, want close %d", err, tc.code)
			}
		})
	}
}

func TestAssembler(t *testing.T) {
	a := Assembler{MaxMessage: 10, MaxFragments: 3}
	step := func(op byte, fin bool, p string) (byte, []byte, bool, error) {
		return a.Add(Frame{Op: op, Fin: fin, Payload: []byte(p)})
	}
	if op, m, done, err := step(OpBinary, true, "ab"); !done || err != nil || op != OpBinary || string(m) != "ab" {
		t.Fatal("whole message", op, m, done, err)
	}
	step(OpBinary, false, "ab")
	step(OpContinuation, false, "cd")
	if op, m, done, err := step(OpContinuation, true, "ef"); !done || err != nil || op != OpBinary || string(m) != "abcdef" {
		t.Fatal("fragmented", op, m, done, err)
	}
	step(OpText, false, "ab")
	step(OpContinuation, false, "")
	step(OpContinuation, false, "")
	if _, _, _, err := step(OpContinuation, false, ""); !errors.Is(err, ErrTooManyFragments) {
		t.Fatal("fragment limit:", err)
	}
	a = Assembler{MaxMessage: 10, MaxFragments: 16}
	step(OpBinary, false, "abcdef")
	if _, _, _, err := step(OpContinuation, true, "ghijk"); err == nil || err.(*Error).Code != CodeTooLarge {
		t.Fatal("size limit:", err)
	}
	a = Assembler{MaxMessage: 10}
	if _, _, _, err := step(OpContinuation, true, "x"); err == nil {
		t.Fatal("a stray continuation was accepted")
	}
	step(OpBinary, false, "x")
	if _, _, _, err := step(OpBinary, true, "y"); err == nil {
		t.Fatal("a message inside a message was accepted")
	}
}

func TestServerFrames(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		b := AppendFrame(nil, OpBinary, make([]byte, n))
		// A server frame is a client frame without the mask: set the mask
		// bit and insert a zero key, and Next must read it back.
		h := AppendHeader(nil, OpBinary, n)
		c := append(append([]byte(nil), h...), 0, 0, 0, 0)
		c[1] |= 0x80
		c = append(c, b[len(h):]...)
		f, k, err := Next(c, 1<<20)
		if err != nil || k != len(c) || len(f.Payload) != n {
			t.Fatalf("n %d: %v took %d", n, err, k)
		}
	}
}

func TestCloseCode(t *testing.T) {
	for _, tc := range []struct {
		p     []byte
		code  uint16
		valid bool
	}{
		{nil, 1005, true}, {[]byte{3}, 0, false}, {[]byte{0x03, 0xe8}, 1000, true},
		{[]byte{0x03, 0xed, 'x'}, 1005, false}, {[]byte{0x0f, 0xa0}, 4000, true}, {[]byte{0x13, 0x88}, 5000, false},
	} {
		if code, valid := CloseCode(tc.p); code != tc.code || valid != tc.valid {
			t.Errorf("CloseCode(%x) = %d %v, want %d %v", tc.p, code, valid, tc.code, tc.valid)
		}
	}
}

// FuzzStream feeds arbitrary bytes, split at an arbitrary point, through
// the parser and assembler the way the server does: it must never panic,
// never report a payload longer than the limit, and parse the same frames
// whether the bytes come whole or in two reads.
func FuzzStream(f *testing.F) {
	f.Add(frame(OpBinary, true, []byte{0x91, 0x01}, 7), 3)
	f.Add(append(frame(OpBinary, false, []byte{0x93}, 16), frame(OpContinuation, true, []byte{1, 2}, 64)...), 5)
	f.Add(append(frame(OpPing, true, []byte("x"), 7), frame(OpClose, true, []byte{3, 0xe8}, 7)...), 1)
	f.Add([]byte{0x82, 0x80 | 127, 0xff, 0, 0, 0, 0, 0, 0, 0}, 4)
	f.Add(frame(OpText, true, []byte("hi"), 7), 0)
	f.Fuzz(func(t *testing.T, b []byte, split int) {
		whole := parseAll(t, append([]byte(nil), b...), len(b))
		split = int(uint(split) % uint(len(b)+1))
		parts := parseAll(t, append([]byte(nil), b...), split)
		if len(whole) != len(parts) {
			t.Fatalf("%d messages whole, %d split at %d", len(whole), len(parts), split)
		}
		for i := range whole {
			if whole[i] != parts[i] {
				t.Fatalf("message %d differs: %q vs %q", i, whole[i], parts[i])
			}
		}
	})
}

// parseAll runs the server's loop over b, delivered in two reads (split
// bytes, then the rest), and returns the events it saw, the last being an
// error if any.
func parseAll(t *testing.T, b []byte, split int) []string {
	const limit = 2048
	a := Assembler{MaxMessage: limit, MaxFragments: 16}
	var out []string
	var pend []byte
	for _, chunk := range [][]byte{b[:split], b[split:]} {
		pend = append(pend, chunk...)
		for {
			f, n, err := Next(pend, limit)
			if err != nil {
				return append(out, "error "+err.Error())
			}
			if n == 0 {
				break
			}
			if len(f.Payload) > limit {
				t.Fatalf("payload of %d bytes", len(f.Payload))
			}
			if f.Op >= OpClose {
				out = append(out, string(rune('A'+f.Op))+string(f.Payload))
			} else {
				op, msg, done, err := a.Add(f)
				if err != nil {
					return append(out, "error "+err.Error())
				}
				if done {
					if len(msg) > limit {
						t.Fatalf("message of %d bytes", len(msg))
					}
					out = append(out, string(rune('a'+op))+string(msg))
				}
			}
			pend = pend[n:]
		}
		pend = append([]byte(nil), pend...)
	}
	return out
}

// TestParseHeaderEdges pins the boundaries: a header is judged as soon as
// its first two bytes are in, control frames may carry exactly 125 bytes,
// a close frame is a control frame, and the limit itself is allowed.
func TestParseHeaderEdges(t *testing.T) {
	// Two bytes are enough to refuse: no waiting for the rest.
	if _, ok, err := ParseHeader([]byte{0xc2, 0x80}, 2048); ok || err == nil {
		t.Fatalf("reserved bits in a 2-byte prefix: ok %v err %v", ok, err)
	}
	if _, ok, err := ParseHeader([]byte{0x82}, 2048); ok || err != nil {
		t.Fatalf("1 byte: ok %v err %v", ok, err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"ping of 125", frame(OpPing, true, make([]byte, 125), 7), true},
		{"pong of 125", frame(OpPong, true, make([]byte, 125), 7), true},
		{"close of 125", frame(OpClose, true, append([]byte{0x03, 0xe8}, make([]byte, 123)...), 7), true},
		{"close of 126", frame(OpClose, true, make([]byte, 126), 16), false},
		{"fragmented close", frame(OpClose, false, []byte{0x03, 0xe8}, 7), false},
		{"binary at the limit", frame(OpBinary, true, make([]byte, 2048), 16), true},
		{"binary over the limit", frame(OpBinary, true, make([]byte, 2049), 16), false},
		{"fragmented binary", frame(OpBinary, false, []byte("x"), 7), true},
	} {
		f, n, err := Next(tc.b, 2048)
		if got := err == nil && n == len(tc.b); got != tc.ok {
			t.Errorf("%s: took %d of %d, err %v; want ok %v", tc.name, n, len(tc.b), err, tc.ok)
		}
		if tc.ok && f.Fin != (tc.b[0]&0x80 != 0) {
			t.Errorf("%s: fin %v", tc.name, f.Fin)
		}
	}
}

// TestUnmaskOffset: unmasking a payload in two pieces, the second from its
// offset, is unmasking it whole (the key cycles on the payload position).
func TestUnmaskOffset(t *testing.T) {
	key := [4]byte{0x01, 0x20, 0x03, 0x40}
	whole := []byte("the quick brown fox")
	want := append([]byte(nil), whole...)
	Unmask(want, key, 0)
	for cut := 0; cut <= len(whole); cut++ {
		got := append([]byte(nil), whole...)
		Unmask(got[:cut], key, 0)
		Unmask(got[cut:], key, cut)
		if !bytes.Equal(got, want) {
			t.Fatalf("cut %d: %x, want %x", cut, got, want)
		}
	}
}

// TestAssemblerLimits: exactly MaxFragments frames and exactly MaxMessage
// bytes are allowed; Pending and Release follow the message in progress.
func TestAssemblerLimits(t *testing.T) {
	a := Assembler{MaxMessage: 6, MaxFragments: 3}
	if a.Pending() {
		t.Fatal("pending before any frame")
	}
	a.Add(Frame{Op: OpBinary, Payload: []byte("ab")})
	if !a.Pending() {
		t.Fatal("not pending after a first fragment")
	}
	a.Release() // in progress: keeps the buffer
	a.Add(Frame{Op: OpContinuation, Payload: []byte("cd")})
	op, msg, done, err := a.Add(Frame{Op: OpContinuation, Fin: true, Payload: []byte("ef")})
	if err != nil || !done || op != OpBinary || string(msg) != "abcdef" {
		t.Fatalf("3 fragments, 6 bytes: op %d msg %q done %v err %v", op, msg, done, err)
	}
	if a.Pending() {
		t.Fatal("pending after the last fragment")
	}
	if a.buf == nil {
		t.Fatal("the buffer went before Release")
	}
	a.Release()
	if a.buf != nil {
		t.Fatal("Release kept the buffer of an idle connection")
	}
	if _, _, _, err := a.Add(Frame{Op: OpPing, Fin: true}); err == nil {
		t.Fatal("a control frame was taken as data")
	}
}

// TestAppendHeaderLengths: the 7-, 16- and 64-bit length forms switch at
// 126 and 65536 bytes.
func TestAppendHeaderLengths(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x82, 0}},
		{125, []byte{0x82, 125}},
		{126, []byte{0x82, 126, 0, 126}},
		{65535, []byte{0x82, 126, 0xff, 0xff}},
		{65536, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		if got := AppendHeader(nil, OpBinary, tc.n); !bytes.Equal(got, tc.want) {
			t.Errorf("n %d: %x, want %x", tc.n, got, tc.want)
		}
	}
}

// TestCloseCodeRanges: RFC 6455 7.4's valid and invalid codes at each edge.
func TestCloseCodeRanges(t *testing.T) {
	for code, valid := range map[uint16]bool{
		999: false, 1000: true, 1003: true, 1004: false, 1005: false, 1006: false, 1007: true,
		1014: true, 1015: false, 1016: false, 2999: false, 3000: true, 4999: true, 5000: false,
	} {
		got, ok := CloseCode(binary.BigEndian.AppendUint16(nil, code))
		if got != code || ok != valid {
			t.Errorf("code %d: got %d valid %v, want valid %v", code, got, ok, valid)
		}
	}
}

// TestAssemblerNoFragmentCap: MaxFragments 0 sets no cap on fragments (the
// message limit still holds).
func TestAssemblerNoFragmentCap(t *testing.T) {
	a := Assembler{MaxMessage: 100}
	a.Add(Frame{Op: OpBinary, Payload: []byte("a")})
	for i := 0; i < 50; i++ {
		if _, _, _, err := a.Add(Frame{Op: OpContinuation, Payload: []byte("b")}); err != nil {
			t.Fatalf("fragment %d: %v", i+2, err)
		}
	}
	if _, msg, done, err := a.Add(Frame{Op: OpContinuation, Fin: true}); err != nil || !done || len(msg) != 51 {
		t.Fatalf("last fragment: %d bytes, done %v, err %v", len(msg), done, err)
	}
}
