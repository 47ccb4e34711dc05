package netcode

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestFrameMeterParses: the meter finds every frame header in a byte
// stream however it is split, across 7-, 16- and 64-bit lengths, masked or
// not.
func TestFrameMeterParses(t *testing.T) {
	var stream []byte
	frames := 0
	add := func(op byte, fin, mask bool, n int) {
		b0 := op
		if fin {
			b0 |= 0x80
		}
		m := byte(0)
		if mask {
			m = 0x80
		}
		stream = append(stream, b0)
		switch {
		case n < 126:
			stream = append(stream, m|byte(n))
		case n < 1<<16:
			stream = binary.BigEndian.AppendUint16(append(stream, m|126), uint16(n))
		default:
			stream = binary.BigEndian.AppendUint64(append(stream, m|127), uint64(n))
		}
		if mask {
			stream = append(stream, 1, 2, 3, 4)
		}
		stream = append(stream, make([]byte, n)...)
		frames++
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := []int{0, 1, 125, 126, 127, 300, 65535, 65536, 70000}[r.IntN(9)]
		add([]byte{0x0, 0x2, 0x9, 0xA}[r.IntN(4)], true, r.IntN(2) == 0, n)
	}
	for _, chunk := range []int{1, 2, 3, 7, 13, 1024, len(stream)} {
		m := &frameMeter{c: &conn{srv: &Server{}, limiter: newFrameBucket(math.Inf(1), 0)}}
		for b := stream; len(b) > 0; {
			k := min(chunk, len(b))
			m.scan(b[:k])
			b = b[k:]
		}
		if m.count != uint64(frames) || m.have != 0 || m.skip != 0 {
			t.Errorf("chunks of %d: counted %d frames (want %d), %d header bytes and %d payload bytes pending", chunk, m.count, frames, m.have, m.skip)
		}
	}
}
