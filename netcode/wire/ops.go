package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Entity-op format
//
// The Ops of a Snapshot is a stream of entity ops, sorted by strictly
// increasing entity id. Each op is a header then a payload:
//
//	header  uvarint(gap<<2 | op)   gap = id - previous id (the previous id
//	                               is 0 at the start of each snapshot), so
//	                               gap >= 1 and ids fit in uint32
//	OpMove    int8 dx, int8 dy     change of the quantized X and Y
//	OpUpdate  mask, fields         fields that changed, see below
//	OpEnter   mask, fields         a new entity, relative to the zero
//	                               EntityState (never FieldMove)
//	OpRemove  (nothing)            the entity left the client's view
//
// The mask byte says which fields follow, in bit order:
//
//	FieldKind   u8
//	FieldX      zigzag uvarint, absolute quantized X
//	FieldY      zigzag uvarint, absolute quantized Y
//	FieldHP     u8
//	FieldOwner  uvarint (fits uint32)
//	FieldScore  uvarint (fits uint32)
//	FieldFlags  u8
//	FieldMove   int8 dx, int8 dy; in an update only, instead of FieldX and
//	            FieldY when both deltas fit in an int8
//
// An update has a non-zero mask and never both FieldMove and FieldX or
// FieldY. Positions are quantized: X = Quantize(worldX), in units of
// 1/PosScale world units. A keyframe (Base 0) holds only OpEnter ops.

// EntityState is an entity as the wire carries it: positions quantized to
// 1/PosScale units.
type EntityState struct {
	ID    uint32
	Kind  uint8
	Flags uint8
	HP    uint8
	Owner uint32
	Score uint32
	X, Y  int32 // Quantize of the world position
}

// Op codes: the low two bits of an op header.
const (
	OpMove   = 0 // payload: int8 dx, int8 dy
	OpUpdate = 1 // payload: mask byte, then the fields it names
	OpEnter  = 2 // payload: mask byte, then the non-zero fields
	OpRemove = 3 // no payload
)

// Field bits of the mask byte of OpUpdate and OpEnter, in payload order.
const (
	FieldKind  = 1 << 0 // u8
	FieldX     = 1 << 1 // zigzag uvarint, absolute
	FieldY     = 1 << 2 // zigzag uvarint, absolute
	FieldHP    = 1 << 3 // u8
	FieldOwner = 1 << 4 // uvarint
	FieldScore = 1 << 5 // uvarint
	FieldFlags = 1 << 6 // u8
	FieldMove  = 1 << 7 // int8 dx, int8 dy (updates only)
)

// Quantize converts a world coordinate to wire units: round(v*PosScale),
// saturating at the int32 range; NaN becomes 0.
func Quantize(v float32) int32 {
	if v != v {
		return 0
	}
	f := math.Round(float64(v) * PosScale)
	switch {
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int32(f)
}

// Dequantize converts wire units back to a world coordinate.
func Dequantize(q int32) float32 {
	return float32(float64(q) / PosScale)
}

// AppendOpHeader appends the header of an op: uvarint(gap<<2 | op), where
// gap is the id minus the previous op's id in the stream (or the id itself
// for the first op). Only the low two bits of op are used.
func AppendOpHeader(dst []byte, gap uint32, op uint8) []byte {
	return binary.AppendUvarint(dst, uint64(gap)<<2|uint64(op&3))
}

func fitsInt8(d int64) bool { return d >= math.MinInt8 && d <= math.MaxInt8 }

func zigzag(v int32) uint64 { return uint64(uint32(v<<1) ^ uint32(v>>31)) }

func unzigzag(u uint32) int32 { return int32(u>>1) ^ -int32(u&1) }

// AppendDelta appends the payload that turns prev into cur and returns it
// with the op to put in the header: OpMove when only X and Y changed and
// both deltas fit in an int8, OpUpdate otherwise. When prev and cur are
// equal (ignoring ID) it returns dst unchanged and changed false. The
// caller writes the header (AppendOpHeader) before the payload; since the
// op is only known afterwards, a caller that has not yet written the header
// can compute the delta into a scratch buffer, or use AppendDiff.
func AppendDelta(dst []byte, prev, cur EntityState) (out []byte, op uint8, changed bool) {
	var mask byte
	if cur.Kind != prev.Kind {
		mask |= FieldKind
	}
	if cur.X != prev.X {
		mask |= FieldX
	}
	if cur.Y != prev.Y {
		mask |= FieldY
	}
	if cur.HP != prev.HP {
		mask |= FieldHP
	}
	if cur.Owner != prev.Owner {
		mask |= FieldOwner
	}
	if cur.Score != prev.Score {
		mask |= FieldScore
	}
	if cur.Flags != prev.Flags {
		mask |= FieldFlags
	}
	if mask == 0 {
		return dst, 0, false
	}
	dx := int64(cur.X) - int64(prev.X)
	dy := int64(cur.Y) - int64(prev.Y)
	small := mask&(FieldX|FieldY) != 0 && fitsInt8(dx) && fitsInt8(dy)
	if small {
		if mask&^(FieldX|FieldY) == 0 {
			return append(dst, byte(int8(dx)), byte(int8(dy))), OpMove, true
		}
		mask = mask&^(FieldX|FieldY) | FieldMove
	}
	return appendFields(dst, mask, cur, int8(dx), int8(dy)), OpUpdate, true
}

// AppendFull appends the OpEnter payload for cur: a mask of its non-zero
// fields, then those fields; X and Y are always absolute.
func AppendFull(dst []byte, cur EntityState) []byte {
	var mask byte
	if cur.Kind != 0 {
		mask |= FieldKind
	}
	if cur.X != 0 {
		mask |= FieldX
	}
	if cur.Y != 0 {
		mask |= FieldY
	}
	if cur.HP != 0 {
		mask |= FieldHP
	}
	if cur.Owner != 0 {
		mask |= FieldOwner
	}
	if cur.Score != 0 {
		mask |= FieldScore
	}
	if cur.Flags != 0 {
		mask |= FieldFlags
	}
	return appendFields(dst, mask, cur, 0, 0)
}

func appendFields(dst []byte, mask byte, cur EntityState, dx, dy int8) []byte {
	dst = append(dst, mask)
	if mask&FieldKind != 0 {
		dst = append(dst, cur.Kind)
	}
	if mask&FieldX != 0 {
		dst = binary.AppendUvarint(dst, zigzag(cur.X))
	}
	if mask&FieldY != 0 {
		dst = binary.AppendUvarint(dst, zigzag(cur.Y))
	}
	if mask&FieldHP != 0 {
		dst = append(dst, cur.HP)
	}
	if mask&FieldOwner != 0 {
		dst = binary.AppendUvarint(dst, uint64(cur.Owner))
	}
	if mask&FieldScore != 0 {
		dst = binary.AppendUvarint(dst, uint64(cur.Score))
	}
	if mask&FieldFlags != 0 {
		dst = append(dst, cur.Flags)
	}
	if mask&FieldMove != 0 {
		dst = append(dst, byte(dx), byte(dy))
	}
	return dst
}

// AppendDiff appends the op stream that turns the world prev into cur:
// OpRemove for ids only in prev, OpEnter for ids only in cur, and OpMove or
// OpUpdate for ids in both whose state changed. Both slices must be sorted
// by strictly increasing ID; it panics otherwise. With a nil prev it
// appends a keyframe. It does not allocate when dst has room.
func AppendDiff(dst []byte, prev, cur []EntityState) []byte {
	var last uint32 // id of the last op written
	i, j := 0, 0
	for i < len(prev) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(prev) && prev[i].ID < cur[j].ID):
			checkSorted(prev, i)
			dst = AppendOpHeader(dst, prev[i].ID-last, OpRemove)
			last = prev[i].ID
			i++
		case i == len(prev) || cur[j].ID < prev[i].ID:
			checkSorted(cur, j)
			if cur[j].ID == 0 {
				panic("wire: AppendDiff: entity id 0")
			}
			dst = AppendOpHeader(dst, cur[j].ID-last, OpEnter)
			dst = AppendFull(dst, cur[j])
			last = cur[j].ID
			j++
		default:
			checkSorted(prev, i)
			checkSorted(cur, j)
			// Write the header first, then fix its op: the op bits are the
			// low two bits of the first byte of the uvarint.
			at := len(dst)
			dst = AppendOpHeader(dst, cur[j].ID-last, OpUpdate)
			out, op, changed := AppendDelta(dst, prev[i], cur[j])
			if changed {
				dst = out
				dst[at] = dst[at]&^3 | op
				last = cur[j].ID
			} else {
				dst = dst[:at]
			}
			i++
			j++
		}
	}
	return dst
}

func checkSorted(s []EntityState, i int) {
	if i > 0 && s[i].ID <= s[i-1].ID {
		panic(fmt.Sprintf("wire: AppendDiff: ids not strictly increasing at index %d (%d after %d)", i, s[i].ID, s[i-1].ID))
	}
}
