package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file holds the msgpack primitives the message codecs are built from:
// appenders that always pick the smallest encoding, and a bounded reader
// over a []byte that never allocates from a length the peer declared.

// msgpack format bytes used here.
const (
	mpNil      = 0xc0
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpExt8     = 0xc7
	mpExt16    = 0xc8
	mpExt32    = 0xc9
	mpFloat32  = 0xca
	mpFloat64  = 0xcb
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpFixExt1  = 0xd4
	mpFixExt16 = 0xd8
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpMap16    = 0xde
	mpMap32    = 0xdf
)

// maxSkipDepth bounds how deeply nested an unknown trailing element may be.
const maxSkipDepth = 8

func appendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(dst, mpArray16, byte(n>>8), byte(n))
	default:
		return append(dst, mpArray32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return append(dst, mpUint16, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return append(dst, mpUint32, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		return binary.BigEndian.AppendUint64(append(dst, mpUint64), v)
	}
}

func appendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, mpInt8, byte(v))
	case v >= math.MinInt16:
		return append(dst, mpInt16, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return append(dst, mpInt32, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(v))
	}
}

func appendFloat32(dst []byte, f float32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, mpFloat32), math.Float32bits(f))
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, mpTrue)
	}
	return append(dst, mpFalse)
}

func appendStr(dst []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, mpStr16, byte(n>>8), byte(n))
	default:
		dst = append(dst, mpStr32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, s...)
}

func appendBinHeader(dst []byte, n int) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(dst, mpBin8, byte(n))
	case n <= math.MaxUint16:
		return append(dst, mpBin16, byte(n>>8), byte(n))
	default:
		return append(dst, mpBin32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// reader is a bounded msgpack reader over one message. Every method checks
// lengths against the bytes that remain before slicing, so a hostile
// declared length costs nothing.
type reader struct {
	b   []byte
	off int
}

func (r *reader) rem() int { return len(r.b) - r.off }

func (r *reader) errf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMalformed, r.off, fmt.Sprintf(format, args...))
}

func (r *reader) truncated() error {
	return fmt.Errorf("%w: truncated at byte %d", ErrMalformed, r.off)
}

func (r *reader) readByte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.truncated()
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// next returns the next n bytes. n must be non-negative.
func (r *reader) next(n int) ([]byte, error) {
	if n > r.rem() {
		return nil, r.truncated()
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p, nil
}

// be reads an n-byte (1, 2, 4 or 8) big-endian unsigned integer.
func (r *reader) be(n int) (uint64, error) {
	p, err := r.next(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	default:
		return binary.BigEndian.Uint64(p), nil
	}
}

// arrayHeader reads an array header. The declared count is checked against
// the remaining bytes (every element takes at least one).
func (r *reader) arrayHeader() (int, error) {
	c, err := r.readByte()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c&0xf0 == 0x90:
		n = uint64(c & 0x0f)
	case c == mpArray16:
		n, err = r.be(2)
	case c == mpArray32:
		n, err = r.be(4)
	default:
		r.off--
		return 0, r.errf("want array, got 0x%02x", c)
	}
	if err != nil {
		return 0, err
	}
	if n > uint64(r.rem()) {
		return 0, r.errf("array of %d elements in %d bytes", n, r.rem())
	}
	return int(n), nil
}

// integer reads any msgpack integer. For negative values neg is true and
// v holds the two's complement bits of the int64.
func (r *reader) integer() (v uint64, neg bool, err error) {
	if r.off >= len(r.b) {
		return 0, false, r.truncated()
	}
	c := r.b[r.off]
	switch {
	case c <= 0x7f:
		r.off++
		return uint64(c), false, nil
	case c >= 0xe0:
		r.off++
		return uint64(int64(int8(c))), true, nil
	case c < mpUint8 || c > mpInt64:
		return 0, false, r.errf("want integer, got 0x%02x", c)
	}
	// 0xcc..0xcf are uint8..uint64, 0xd0..0xd3 int8..int64.
	size := 1 << ((c - mpUint8) & 3)
	p := r.b[r.off+1:]
	if len(p) < size {
		return 0, false, r.truncated()
	}
	switch size {
	case 1:
		v = uint64(p[0])
	case 2:
		v = uint64(binary.BigEndian.Uint16(p))
	case 4:
		v = uint64(binary.BigEndian.Uint32(p))
	default:
		v = binary.BigEndian.Uint64(p)
	}
	r.off += 1 + size
	if c >= mpInt8 {
		// Sign-extend from size bytes.
		shift := 64 - 8*size
		v = uint64(int64(v<<shift) >> shift)
		return v, int64(v) < 0, nil
	}
	return v, false, nil
}

// uint reads any msgpack integer and requires it to be in [0, max].
func (r *reader) uint(max uint64) (uint64, error) {
	start := r.off
	v, neg, err := r.integer()
	if err != nil {
		return 0, err
	}
	if neg || v > max {
		r.off = start
		if neg {
			return 0, r.errf("integer %d out of range [0, %d]", int64(v), max)
		}
		return 0, r.errf("integer %d out of range [0, %d]", v, max)
	}
	return v, nil
}

// int reads any msgpack integer and requires it to be in [min, max].
func (r *reader) int(min, max int64) (int64, error) {
	start := r.off
	v, neg, err := r.integer()
	if err != nil {
		return 0, err
	}
	if neg {
		if int64(v) < min {
			r.off = start
			return 0, r.errf("integer %d out of range [%d, %d]", int64(v), min, max)
		}
		return int64(v), nil
	}
	if max < 0 || v > uint64(max) {
		r.off = start
		return 0, r.errf("integer %d out of range [%d, %d]", v, min, max)
	}
	return int64(v), nil
}

func (r *reader) uint32() (uint32, error) {
	v, err := r.uint(math.MaxUint32)
	return uint32(v), err
}

func (r *reader) uint16() (uint16, error) {
	v, err := r.uint(math.MaxUint16)
	return uint16(v), err
}

func (r *reader) uint8() (uint8, error) {
	v, err := r.uint(math.MaxUint8)
	return uint8(v), err
}

// float32 reads a float32, a float64 (converted) or any integer.
func (r *reader) float32() (float32, error) {
	if len(r.b)-r.off >= 5 && r.b[r.off] == mpFloat32 {
		v := binary.BigEndian.Uint32(r.b[r.off+1:])
		r.off += 5
		return math.Float32frombits(v), nil
	}
	if len(r.b)-r.off >= 9 && r.b[r.off] == mpFloat64 {
		v := binary.BigEndian.Uint64(r.b[r.off+1:])
		r.off += 9
		return float32(math.Float64frombits(v)), nil
	}
	if r.off < len(r.b) && (r.b[r.off] == mpFloat32 || r.b[r.off] == mpFloat64) {
		return 0, r.truncated()
	}
	v, neg, err := r.integer()
	if err != nil {
		return 0, err
	}
	if neg {
		return float32(int64(v)), nil
	}
	return float32(v), nil
}

func (r *reader) bool() (bool, error) {
	c, err := r.readByte()
	if err != nil {
		return false, err
	}
	switch c {
	case mpFalse:
		return false, nil
	case mpTrue:
		return true, nil
	}
	r.off--
	return false, r.errf("want bool, got 0x%02x", c)
}

// str reads a string of at most max bytes and copies it into a Go string
// only after the length checks.
func (r *reader) str(max int) (string, error) {
	c, err := r.readByte()
	if err != nil {
		return "", err
	}
	var n uint64
	switch {
	case c&0xe0 == 0xa0:
		n = uint64(c & 0x1f)
	case c == mpStr8:
		n, err = r.be(1)
	case c == mpStr16:
		n, err = r.be(2)
	case c == mpStr32:
		n, err = r.be(4)
	default:
		r.off--
		return "", r.errf("want string, got 0x%02x", c)
	}
	if err != nil {
		return "", err
	}
	if n > uint64(max) {
		return "", r.errf("string of %d bytes over the limit of %d", n, max)
	}
	p, err := r.next(int(n))
	if err != nil {
		return "", err
	}
	return string(p), nil
}

// bin reads a bin8/16/32 and returns a slice aliasing r.b (capacity
// clipped to its length).
func (r *reader) bin() ([]byte, error) {
	c, err := r.readByte()
	if err != nil {
		return nil, err
	}
	var n uint64
	switch c {
	case mpBin8:
		n, err = r.be(1)
	case mpBin16:
		n, err = r.be(2)
	case mpBin32:
		n, err = r.be(4)
	default:
		r.off--
		return nil, r.errf("want bin, got 0x%02x", c)
	}
	if err != nil {
		return nil, err
	}
	if n > uint64(r.rem()) {
		return nil, r.errf("bin of %d bytes in %d bytes", n, r.rem())
	}
	p, err := r.next(int(n))
	if len(p) == 0 {
		p = nil
	}
	return p, err
}

// skip skips one element of any type. depth is the nesting level of the
// element; budget is the number of elements that may still be visited.
func (r *reader) skip(depth int, budget *int) error {
	if depth > maxSkipDepth {
		return r.errf("nesting deeper than %d", maxSkipDepth)
	}
	*budget--
	if *budget < 0 {
		return r.errf("too many elements")
	}
	c, err := r.readByte()
	if err != nil {
		return err
	}
	var n uint64 // bytes to skip, or elements when container is set
	container, perElem := false, uint64(1)
	switch {
	case c <= 0x7f || c >= 0xe0, c == mpNil, c == mpFalse, c == mpTrue:
		return nil
	case c&0xf0 == 0x80: // fixmap
		n, container, perElem = uint64(c&0x0f), true, 2
	case c&0xf0 == 0x90: // fixarray
		n, container = uint64(c&0x0f), true
	case c&0xe0 == 0xa0: // fixstr
		n = uint64(c & 0x1f)
	case c == mpBin8 || c == mpStr8:
		n, err = r.be(1)
	case c == mpBin16 || c == mpStr16:
		n, err = r.be(2)
	case c == mpBin32 || c == mpStr32:
		n, err = r.be(4)
	case c == mpExt8:
		n, err = r.be(1)
		n++ // the ext type byte
	case c == mpExt16:
		n, err = r.be(2)
		n++
	case c == mpExt32:
		n, err = r.be(4)
		n++
	case c == mpFloat32:
		n = 4
	case c == mpFloat64:
		n = 8
	case c == mpUint8 || c == mpInt8:
		n = 1
	case c == mpUint16 || c == mpInt16:
		n = 2
	case c == mpUint32 || c == mpInt32:
		n = 4
	case c == mpUint64 || c == mpInt64:
		n = 8
	case c >= mpFixExt1 && c <= mpFixExt16:
		n = 1 + 1<<(c-mpFixExt1)
	case c == mpArray16:
		n, err = r.be(2)
		container = true
	case c == mpArray32:
		n, err = r.be(4)
		container = true
	case c == mpMap16:
		n, err = r.be(2)
		container, perElem = true, 2
	case c == mpMap32:
		n, err = r.be(4)
		container, perElem = true, 2
	default: // 0xc1, never used
		r.off--
		return r.errf("invalid format byte 0x%02x", c)
	}
	if err != nil {
		return err
	}
	if !container {
		if n > uint64(r.rem()) {
			return r.truncated()
		}
		r.off += int(n)
		return nil
	}
	n *= perElem
	if n > uint64(r.rem()) {
		return r.errf("container of %d elements in %d bytes", n, r.rem())
	}
	for i := uint64(0); i < n; i++ {
		if err := r.skip(depth+1, budget); err != nil {
			return err
		}
	}
	return nil
}
