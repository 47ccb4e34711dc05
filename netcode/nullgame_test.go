package netcode

import (
	"encoding/binary"
	"testing"

	"github.com/rallypoint/rallypoint/netcode/wire"
)

// TestNullSnapshot: the null game's message is exactly the size asked
// for, a valid keyframe a mirror applies, at every size and with any tick
// patched in.
func TestNullSnapshot(t *testing.T) {
	for n := MinNullSnapshot; n <= 700; n++ {
		b := nullSnapshot(n)
		for _, tick := range []uint32{1, 255, 1 << 20, 1<<32 - 1} {
			binary.BigEndian.PutUint32(b[nullTickOff:], tick)
			if len(b) != n {
				t.Fatalf("size %d: %d bytes", n, len(b))
			}
			s, err := wire.DecodeSnapshot(b)
			if err != nil || s.Tick != tick || s.Base != 0 {
				t.Fatalf("size %d tick %d: %+v, %v", n, tick, s, err)
			}
			var m wire.Mirror
			if err := m.ApplySnapshot(s); err != nil {
				t.Fatalf("size %d: %v", n, err)
			}
		}
	}
	if b := nullSnapshot(MaxNullSnapshot); len(b) != MaxNullSnapshot {
		t.Fatalf("max: %d bytes", len(b))
	}
	if _, err := wire.DecodeSnapshot(nullSnapshot(MaxNullSnapshot)); err != nil {
		t.Fatal(err)
	}
}
