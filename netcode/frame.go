package netcode

import (
	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// tickFrame holds one tick's encoding work, shared by every client of a
// match: the quantized world at this tick and the previous one, and for
// each entity the bytes of its change since the previous tick (encoded
// once) and of its full state (encoded at most once, when someone needs it).
//
// Invariant that makes sharing correct: a client that is sent a delta at
// tick t holds, for every entity it knows, exactly the state that entity
// had at tick t-1 (prev). Snapshots travel over TCP in order, and any
// client that missed one is sent a keyframe instead.
type tickFrame struct {
	tick    uint32
	prev    []wire.EntityState // previous tick, sorted by ID
	cur     []wire.EntityState // this tick, sorted by ID
	changes []change           // parallel to cur
	buf     []byte             // every fragment of this tick

	// The whole world as sets, built on first use in a tick (interest off):
	prevIDs  []uint32 // ids of prev
	allIdx   []int32  // 0..len(cur)-1
	setsThis bool     // prevIDs and allIdx are this tick's

	gapTmp                     []byte // one entity's delta payload, for appendOpsFrom
	allDelta, allKey           []byte // whole-world op streams, built lazily
	allDeltaValid, allKeyValid bool
	discard                    []uint32
}

type change struct {
	changed bool
	op      uint8
	off, n  int32 // delta payload in buf
	hasFull bool
	fullOff int32 // full payload in buf
	fullN   int32
}

func stateOf(e *game.Entity) wire.EntityState {
	return wire.EntityState{
		ID:    uint32(e.ID),
		Kind:  uint8(e.Kind),
		Flags: e.Flags,
		HP:    e.HP,
		Owner: uint32(e.Owner),
		Score: e.Score,
		X:     wire.Quantize(e.X),
		Y:     wire.Quantize(e.Y),
	}
}

// build quantizes the world of tick and encodes every entity's change.
func (f *tickFrame) build(tick uint32, ents []game.Entity) {
	f.tick = tick
	f.prev, f.cur = f.cur, f.prev[:0]
	for i := range ents {
		f.cur = append(f.cur, stateOf(&ents[i]))
	}
	if cap(f.changes) < len(f.cur) {
		f.changes = make([]change, len(f.cur), cap(f.cur))
	}
	f.changes = f.changes[:len(f.cur)]
	f.buf = f.buf[:0]
	i := 0
	for j := range f.cur {
		c := &f.cur[j]
		for i < len(f.prev) && f.prev[i].ID < c.ID {
			i++
		}
		ch := change{}
		if i < len(f.prev) && f.prev[i].ID == c.ID {
			off := len(f.buf)
			f.buf, ch.op, ch.changed = wire.AppendDelta(f.buf, f.prev[i], *c)
			ch.off, ch.n = int32(off), int32(len(f.buf)-off)
		}
		f.changes[j] = ch
	}
	f.allDeltaValid, f.allKeyValid, f.setsThis = false, false, false
}

// wholeWorldSets fills prevIDs and allIdx for this tick.
func (f *tickFrame) wholeWorldSets() {
	if f.setsThis {
		return
	}
	f.prevIDs, f.allIdx = f.prevIDs[:0], f.allIdx[:0]
	for i := range f.prev {
		f.prevIDs = append(f.prevIDs, f.prev[i].ID)
	}
	for j := range f.cur {
		f.allIdx = append(f.allIdx, int32(j))
	}
	f.setsThis = true
}

// full returns the full-state payload of cur[j], encoding it on first use.
func (f *tickFrame) full(j int32) []byte {
	ch := &f.changes[j]
	if !ch.hasFull {
		off := len(f.buf)
		f.buf = wire.AppendFull(f.buf, f.cur[j])
		ch.hasFull, ch.fullOff, ch.fullN = true, int32(off), int32(len(f.buf)-off)
	}
	return f.buf[ch.fullOff : ch.fullOff+ch.fullN]
}

// appendOps appends to dst the op stream that turns a client holding known
// (sorted ids, states as of the previous tick) into one holding visible
// (sorted indices into cur), and appends the ids of visible to next.
func (f *tickFrame) appendOps(dst []byte, known []uint32, visible []int32, next []uint32) ([]byte, []uint32) {
	var prevID uint32
	ki, vi := 0, 0
	for ki < len(known) || vi < len(visible) {
		kid, vid := uint64(1)<<33, uint64(1)<<33
		if ki < len(known) {
			kid = uint64(known[ki])
		}
		if vi < len(visible) {
			vid = uint64(f.cur[visible[vi]].ID)
		}
		switch {
		case kid == vid: // still in view: send the change, if any
			ch := &f.changes[visible[vi]]
			if ch.changed {
				dst = wire.AppendOpHeader(dst, uint32(kid)-prevID, ch.op)
				dst = append(dst, f.buf[ch.off:ch.off+ch.n]...)
				prevID = uint32(kid)
			}
			next = append(next, uint32(vid))
			ki++
			vi++
		case kid < vid: // left the view or the world
			dst = wire.AppendOpHeader(dst, uint32(kid)-prevID, wire.OpRemove)
			prevID = uint32(kid)
			ki++
		default: // entered the view
			full := f.full(visible[vi])
			dst = wire.AppendOpHeader(dst, uint32(vid)-prevID, wire.OpEnter)
			dst = append(dst, full...)
			prevID = uint32(vid)
			next = append(next, uint32(vid))
			vi++
		}
	}
	return dst, next
}

// allDeltaOps is the op stream for a client that held the whole previous
// world and sees the whole world now: the same bytes for every such client.
func (f *tickFrame) allDeltaOps() []byte {
	if !f.allDeltaValid {
		f.wholeWorldSets()
		f.allDelta, f.discard = f.appendOps(f.allDelta[:0], f.prevIDs, f.allIdx, f.discard[:0])
		f.allDeltaValid = true
	}
	return f.allDelta
}

// allKeyOps is the keyframe op stream of the whole world.
func (f *tickFrame) allKeyOps() []byte {
	if !f.allKeyValid {
		f.wholeWorldSets()
		f.allKey, f.discard = f.appendOps(f.allKey[:0], nil, f.allIdx, f.discard[:0])
		f.allKeyValid = true
	}
	return f.allKey
}

// allIndices returns 0..len(cur)-1.
func (f *tickFrame) allIndices() []int32 {
	f.wholeWorldSets()
	return f.allIdx
}

// appendOpsFrom is appendOps for a client that holds known (sorted ids)
// as they were in base (a past world, sorted by id, holding every id of
// known), not as of the previous tick: each entity it keeps is encoded
// from its state in base. It is what a client gets after a gap (a dropped
// or paused snapshot). ok is false, and the ops are unusable, if known
// names an entity base lacks.
func (f *tickFrame) appendOpsFrom(dst []byte, base []wire.EntityState, known []uint32, visible []int32, next []uint32) (_ []byte, _ []uint32, ok bool) {
	var prevID uint32
	ki, vi, bi := 0, 0, 0
	for ki < len(known) || vi < len(visible) {
		kid, vid := uint64(1)<<33, uint64(1)<<33
		if ki < len(known) {
			kid = uint64(known[ki])
		}
		if vi < len(visible) {
			vid = uint64(f.cur[visible[vi]].ID)
		}
		switch {
		case kid == vid: // still in view: its change since base, if any
			for bi < len(base) && uint64(base[bi].ID) < kid {
				bi++
			}
			if bi == len(base) || uint64(base[bi].ID) != kid {
				return dst, next, false
			}
			var op uint8
			var changed bool
			f.gapTmp, op, changed = wire.AppendDelta(f.gapTmp[:0], base[bi], f.cur[visible[vi]])
			if changed {
				dst = wire.AppendOpHeader(dst, uint32(kid)-prevID, op)
				dst = append(dst, f.gapTmp...)
				prevID = uint32(kid)
			}
			next = append(next, uint32(vid))
			ki++
			vi++
		case kid < vid: // left the view or the world
			dst = wire.AppendOpHeader(dst, uint32(kid)-prevID, wire.OpRemove)
			prevID = uint32(kid)
			ki++
		default: // entered the view
			full := f.full(visible[vi])
			dst = wire.AppendOpHeader(dst, uint32(vid)-prevID, wire.OpEnter)
			dst = append(dst, full...)
			prevID = uint32(vid)
			next = append(next, uint32(vid))
			vi++
		}
	}
	return dst, next, true
}
