package netcode

import (
	"encoding/binary"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// The null game (Config.NullSnapshot), a benchmark comparator: the real
// server with the game taken out. Sockets are upgraded, authenticated,
// seated and read exactly as in a real match, but the sim does not step,
// inputs are dropped once decoded, and every tick each client is sent one
// prebuilt message of a fixed size: a keyframe Snapshot whose tick is
// patched in place.

// Bounds of Config.NullSnapshot.
const (
	MinNullSnapshot = 11      // the smallest keyframe with the tick as a uint32
	MaxNullSnapshot = 1 << 16 // bin16 ops
)

// nullTickOff is where the tick's 4 bytes sit in a null snapshot:
// [0x95, 17, 0xce, tick(4), ...].
const nullTickOff = 3

// nullSnapshot builds a valid keyframe Snapshot of exactly n bytes
// (MinNullSnapshot <= n <= MaxNullSnapshot): the tick as a msgpack uint32
// (so patching it never changes the size), base 0, ackSeq 0, and ops of
// empty entities (OpEnter with no field: 2 bytes each, ids 1, 2, ...;
// one entity with an HP field when an odd byte is left).
func nullSnapshot(n int) []byte {
	head := []byte{0x95, byte(wire.MsgSnapshot), 0xce, 0, 0, 0, 0, 0, 0}
	opsLen := n - len(head) - 2 // bin8
	bin := []byte{0xc4, byte(opsLen)}
	if opsLen > 255 {
		opsLen = n - len(head) - 3
		bin = []byte{0xc5, byte(opsLen >> 8), byte(opsLen)}
	}
	b := append(append(make([]byte, 0, n), head...), bin...)
	if opsLen%2 == 1 {
		b = wire.AppendOpHeader(b, 1, wire.OpEnter)
		b = append(b, wire.FieldHP, 100)
		opsLen -= 3
	}
	for ; opsLen > 0; opsLen -= 2 {
		b = wire.AppendOpHeader(b, 1, wire.OpEnter)
		b = append(b, 0)
	}
	return b
}

// nullTick is onTick for the null game: the fixed snapshot to every
// client, with this tick.
func (r *room) nullTick(tick uint32) {
	binary.BigEndian.PutUint32(r.null[nullTickOff:], tick)
	for _, s := range r.order {
		if s.conn == nil {
			continue
		}
		b := append(s.conn.out.buf(), r.null...)
		if s.conn.out.push(b, kindSnapshot, wire.CodeSlowConsumer) == pushed {
			r.srv.stats.Snapshots.Add(1)
		} else {
			r.srv.stats.SnapshotsDropped.Add(1)
		}
	}
	if now := time.Now(); now.Sub(r.lastHouse) >= r.srv.cfg.housekeep {
		r.housekeep(now)
	}
	r.flushTicks()
}

// nullSim is a mode's sim that never steps: joins and leaves are the
// mode's own (so seats get real entities), inputs are ignored, and a step
// only advances the tick.
type nullSim struct{ game.Sim }

func (n nullSim) Apply(game.PlayerID, game.Input) {}

func (n nullSim) Step(events []game.Event) []game.Event {
	n.World().Tick++
	return events
}

func (n nullSim) Result() (game.Result, bool) { return game.Result{}, false }
