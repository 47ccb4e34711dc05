package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrBaseMismatch is returned (wrapped) by Mirror.ApplySnapshot when a delta
// snapshot's Base is not the tick the mirror holds: a snapshot was lost or
// reordered, and the client needs a keyframe. It does not match
// ErrMalformed.
var ErrBaseMismatch = errors.New("wire: snapshot base does not match mirror tick")

// Mirror is a client's copy of the entities a server has sent it: the
// result of applying each Snapshot's op stream in turn. The Go client uses
// it, and so do server tests, to check what a connection sees. The zero
// Mirror is empty and ready to use. A Mirror is not safe for concurrent use.
//
// Applying is atomic: when Apply or ApplySnapshot fails, the mirror is left
// as it was. In steady state (no growth in entity count) applying does not
// allocate.
type Mirror struct {
	// Tick is the Tick of the last snapshot applied by ApplySnapshot (0:
	// none yet).
	Tick uint32

	ents  []EntityState // sorted by strictly increasing ID
	spare []EntityState // the next apply's output buffer; never aliases ents
}

// Entities returns the entities in increasing ID order. The slice aliases
// the mirror's storage: it must not be modified, and is valid only until
// the next call to Apply, ApplySnapshot or Reset.
func (m *Mirror) Entities() []EntityState { return m.ents }

// Len returns the number of entities in the mirror.
func (m *Mirror) Len() int { return len(m.ents) }

// Get returns the entity with the given id, if the mirror holds it.
func (m *Mirror) Get(id uint32) (EntityState, bool) {
	i := search(m.ents, id)
	if i < len(m.ents) && m.ents[i].ID == id {
		return m.ents[i], true
	}
	return EntityState{}, false
}

// Reset empties the mirror and sets Tick to 0, keeping its storage.
func (m *Mirror) Reset() {
	m.ents = m.ents[:0]
	m.Tick = 0
}

// ApplySnapshot applies s and sets m.Tick to s.Tick. A keyframe (Base 0)
// replaces the mirror's contents; any other snapshot must have Base equal
// to m.Tick, else the error wraps ErrBaseMismatch and the mirror is
// unchanged.
func (m *Mirror) ApplySnapshot(s Snapshot) error {
	var base []EntityState
	if s.Base != 0 {
		if s.Base != m.Tick {
			return fmt.Errorf("%w: snapshot %d has base %d, mirror is at %d", ErrBaseMismatch, s.Tick, s.Base, m.Tick)
		}
		base = m.ents
	}
	if err := m.apply(base, s.Ops); err != nil {
		return err
	}
	m.Tick = s.Tick
	return nil
}

// Apply applies an op stream to the mirror, leaving Tick alone. It is
// strict: an OpEnter for an id the mirror holds, an OpMove, OpUpdate or
// OpRemove for one it does not, ids out of order or beyond uint32, a move
// past the int32 range, a truncated or malformed op, or a result of more
// than MaxMirrorEntities entities is an error wrapping ErrMalformed, and
// the mirror is unchanged.
func (m *Mirror) Apply(ops []byte) error {
	return m.apply(m.ents, ops)
}

// search returns the index of the first entity in s with ID >= id.
func search(s []EntityState, id uint32) int {
	lo, hi := 0, len(s)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if s[h].ID < id {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo
}

func opErr(off int, id uint32, format string, args ...any) error {
	return fmt.Errorf("%w: op for entity %d at byte %d: %s", ErrMalformed, id, off, fmt.Sprintf(format, args...))
}

// apply merges base with ops into m.spare and, on success, makes the result
// the mirror's contents.
func (m *Mirror) apply(base []EntityState, ops []byte) error {
	out := m.spare[:0]
	count := len(base) // entities once all ops so far are applied
	i := 0             // next entity of base not yet copied to out
	var id uint32
	for off := 0; off < len(ops); {
		start := off
		h, n := binary.Uvarint(ops[off:])
		if n <= 0 {
			return opErr(start, id, "bad header varint")
		}
		off += n
		op, gap := uint8(h&3), h>>2
		if gap == 0 || uint64(id)+gap > math.MaxUint32 {
			return opErr(start, id, "bad id gap %d after this entity", gap)
		}
		id += uint32(gap)
		if k := i + search(base[i:], id); k > i {
			out = append(out, base[i:k]...)
			i = k
		}
		exists := i < len(base) && base[i].ID == id
		if exists == (op == OpEnter) {
			if exists {
				return opErr(start, id, "enter of an entity already present")
			}
			return opErr(start, id, "op %d for an unknown entity", op)
		}
		var err error
		switch op {
		case OpRemove:
			count--
			i++
			continue
		case OpEnter:
			count++
			if count > MaxMirrorEntities {
				return opErr(start, id, "more than %d entities", MaxMirrorEntities)
			}
			var e EntityState
			e, off, err = decodeFields(ops, off, EntityState{ID: id}, true)
			if err != nil {
				return err
			}
			out = append(out, e)
		case OpMove:
			if len(ops)-off < 2 {
				return opErr(start, id, "truncated move")
			}
			e := base[i]
			if e, err = move(e, int8(ops[off]), int8(ops[off+1]), start); err != nil {
				return err
			}
			off += 2
			out = append(out, e)
			i++
		case OpUpdate:
			var e EntityState
			e, off, err = decodeFields(ops, off, base[i], false)
			if err != nil {
				return err
			}
			out = append(out, e)
			i++
		}
	}
	out = append(out, base[i:]...)
	m.ents, m.spare = out, m.ents[:0]
	return nil
}

func move(e EntityState, dx, dy int8, off int) (EntityState, error) {
	x, y := int64(e.X)+int64(dx), int64(e.Y)+int64(dy)
	if x < math.MinInt32 || x > math.MaxInt32 || y < math.MinInt32 || y > math.MaxInt32 {
		return e, opErr(off, e.ID, "move out of the int32 range")
	}
	e.X, e.Y = int32(x), int32(y)
	return e, nil
}

// decodeFields decodes a mask and its fields at ops[off:] on top of e.
func decodeFields(ops []byte, off int, e EntityState, enter bool) (EntityState, int, error) {
	start := off
	if off >= len(ops) {
		return e, off, opErr(start, e.ID, "truncated mask")
	}
	mask := ops[off]
	off++
	switch {
	case enter && mask&FieldMove != 0:
		return e, off, opErr(start, e.ID, "enter with FieldMove")
	case !enter && mask == 0:
		return e, off, opErr(start, e.ID, "update with an empty mask")
	case mask&FieldMove != 0 && mask&(FieldX|FieldY) != 0:
		return e, off, opErr(start, e.ID, "FieldMove with FieldX or FieldY")
	}
	u8 := func(p *uint8) bool {
		if off >= len(ops) {
			return false
		}
		*p = ops[off]
		off++
		return true
	}
	u32 := func(p *uint32) bool {
		v, n := binary.Uvarint(ops[off:])
		if n <= 0 || v > math.MaxUint32 {
			return false
		}
		*p = uint32(v)
		off += n
		return true
	}
	ok := true
	if mask&FieldKind != 0 {
		ok = u8(&e.Kind)
	}
	if ok && mask&FieldX != 0 {
		var u uint32
		ok = u32(&u)
		e.X = unzigzag(u)
	}
	if ok && mask&FieldY != 0 {
		var u uint32
		ok = u32(&u)
		e.Y = unzigzag(u)
	}
	if ok && mask&FieldHP != 0 {
		ok = u8(&e.HP)
	}
	if ok && mask&FieldOwner != 0 {
		ok = u32(&e.Owner)
	}
	if ok && mask&FieldScore != 0 {
		ok = u32(&e.Score)
	}
	if ok && mask&FieldFlags != 0 {
		ok = u8(&e.Flags)
	}
	if !ok {
		return e, off, opErr(start, e.ID, "truncated or bad field (mask 0x%02x)", mask)
	}
	if mask&FieldMove != 0 {
		if len(ops)-off < 2 {
			return e, off, opErr(start, e.ID, "truncated move field")
		}
		var err error
		if e, err = move(e, int8(ops[off]), int8(ops[off+1]), start); err != nil {
			return e, off, err
		}
		off += 2
	}
	return e, off, nil
}
