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
