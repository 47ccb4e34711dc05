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
// (so patching it never changes the size), base 0, ackSeq 0 (as a
// positive fixint, or a uint8 to make the rest even), and ops of empty
// entities (OpEnter with no field: 2 bytes each, ids 1, 2, ...).
func nullSnapshot(n int) []byte {
	b := make([]byte, 0, n)
	b = append(b, 0x95, byte(wire.MsgSnapshot), 0xce, 0, 0, 0, 0, 0) // ..., tick, base 0
	for _, ack := range [][]byte{{0}, {0xcc, 0}} {
		for _, bin := range []int{2, 3} {
			ops := n - len(b) - len(ack) - bin
			if ops < 0 || ops%2 != 0 || (bin == 2 && ops > 255) || ops > 65535 {
				continue
			}
			b = append(b, ack...)
			if bin == 2 {
				b = append(b, 0xc4, byte(ops))
			} else {
				b = append(b, 0xc5, byte(ops>>8), byte(ops))
			}
			for ; ops > 0; ops -= 2 {
				b = wire.AppendOpHeader(b, 1, wire.OpEnter)
				b = append(b, 0)
			}
			return b
		}
	}
	panic("netcode: no null snapshot of this size")
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
