// Package wsframe parses the WebSocket frames (RFC 6455) a client sends to
// the game server, for the tick-driven read path: the match goroutine
// reads whatever bytes a socket has, and this package turns them into
// whole client messages, incrementally and with every length checked
// before anything is allocated. It also frames the server's own messages
// (unmasked, never fragmented).
//
// It is bounded: a frame longer than the message limit, a message whose
// fragments add up past it, or one split into too many fragments is
// refused as soon as its header is seen, and nothing here allocates more
// than the limit (the caller owns every buffer). It never panics on
// input; the fuzz targets check that.
package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Opcodes.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Close codes this package reports (the WebSocket layer's own).
const (
	CodeProtocolError uint16 = 1002
	CodeTooLarge      uint16 = 1009
)

// MaxHeader is the longest client frame header: 2 bytes, a 64-bit length
// and a masking key.
const MaxHeader = 14

// MaxControl is the largest control frame payload (RFC 6455 5.5).
const MaxControl = 125

// Error is a frame the parser refuses; Code is the close code to send.
type Error struct {
	Code uint16
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("wsframe: %s (close %d)", e.Msg, e.Code) }

// ErrTooManyFragments is returned (wrapped in nothing) when a message is
// split into more fragments than the Reader allows; the server closes
// such a client with its own code (4006), not a WebSocket one.
var ErrTooManyFragments = errors.New("wsframe: message split into too many fragments")

func protocolError(msg string) error { return &Error{Code: CodeProtocolError, Msg: msg} }

// Header is a parsed client frame header.
type Header struct {
	Fin    bool
	Op     byte
	Length uint64 // payload length
	Mask   [4]byte
	Size   int // header length in bytes
}

// ParseHeader parses the frame header at the start of b. It returns ok
// false when b does not hold the whole header yet, and an *Error for a
// header no client may send: reserved bits set (no extension is
// negotiated), an unknown opcode, an unmasked frame, a fragmented or
// oversized control frame, a 64-bit length with its top bit set, or a
// payload over maxPayload (1009).
func ParseHeader(b []byte, maxPayload int) (h Header, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	b0, b1 := b[0], b[1]
	h.Fin, h.Op = b0&0x80 != 0, b0&0x0f
	if b0&0x70 != 0 {
		return h, false, protocolError("reserved bits set")
	}
	switch h.Op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return h, false, protocolError(fmt.Sprintf("unknown opcode %d", h.Op))
	}
	if b1&0x80 == 0 {
		return h, false, protocolError("unmasked client frame")
	}
	n := uint64(b1 & 0x7f)
	size := 2
	switch n {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	size += 4
	if h.Op >= OpClose && (!h.Fin || n > MaxControl) {
		return h, false, protocolError("fragmented or oversized control frame")
	}
	if len(b) < size {
		return h, false, nil
	}
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		n = binary.BigEndian.Uint64(b[2:10])
		if n>>63 != 0 {
			return h, false, protocolError("payload length with its top bit set")
		}
	}
	if n > uint64(maxPayload) {
		return h, false, &Error{Code: CodeTooLarge, Msg: fmt.Sprintf("frame of %d bytes over the %d-byte limit", n, maxPayload)}
	}
	h.Length, h.Size = n, size
	copy(h.Mask[:], b[size-4:size])
	return h, true, nil
}

// Unmask XORs p with key, as if p started at payload offset pos.
func Unmask(p []byte, key [4]byte, pos int) {
	for i := range p {
		p[i] ^= key[(pos+i)&3]
	}
}

// Frame is one whole client frame, its payload unmasked.
type Frame struct {
	Fin     bool
	Op      byte
	Payload []byte // aliases the buffer passed to Next
}

// Next parses the first whole frame in b, unmasking its payload in place.
// It returns the frame and the bytes it took, or n == 0 when b does not
// hold a whole frame yet (keep the bytes and call again with more), or an
// error (see ParseHeader).
func Next(b []byte, maxPayload int) (f Frame, n int, err error) {
	h, ok, err := ParseHeader(b, maxPayload)
	if err != nil || !ok {
		return f, 0, err
	}
	end := h.Size + int(h.Length) // h.Length <= maxPayload: no overflow
	if len(b) < end {
		return f, 0, nil
	}
	p := b[h.Size:end]
	Unmask(p, h.Mask, 0)
	return Frame{Fin: h.Fin, Op: h.Op, Payload: p}, end, nil
}

// Assembler joins data frames into messages for one connection. Clients
// do not fragment, so the buffer for a fragmented message is only
// allocated when one arrives, and only as large as its fragments (never
// over MaxMessage).
type Assembler struct {
	MaxMessage   int // the message limit in bytes (1009 past it)
	MaxFragments int // the most frames one message may take (ErrTooManyFragments past it); 0: no cap

	op    byte   // opcode of the message in progress (0: none)
	frags int    // its frames so far
	buf   []byte // its payload so far
}

// Pending reports whether a fragmented message is in progress.
func (a *Assembler) Pending() bool { return a.op != 0 }

// Add takes a data frame (text, binary or continuation) and returns the
// whole message when f completes one: its opcode and payload (f's own
// payload when it was not fragmented, else the assembled bytes, valid
// until the next Add). Control frames must not be passed here.
func (a *Assembler) Add(f Frame) (op byte, msg []byte, done bool, err error) {
	switch f.Op {
	case OpText, OpBinary:
		if a.op != 0 {
			return 0, nil, false, protocolError("new message before the last one ended")
		}
		if f.Fin {
			return f.Op, f.Payload, true, nil
		}
		a.op, a.frags, a.buf = f.Op, 1, append(a.buf[:0], f.Payload...)
		return 0, nil, false, nil
	case OpContinuation:
		if a.op == 0 {
			return 0, nil, false, protocolError("continuation frame without a message")
		}
		a.frags++
		if a.MaxFragments > 0 && a.frags > a.MaxFragments {
			return 0, nil, false, ErrTooManyFragments
		}
		if len(a.buf)+len(f.Payload) > a.MaxMessage {
			return 0, nil, false, &Error{Code: CodeTooLarge, Msg: fmt.Sprintf("message over the %d-byte limit", a.MaxMessage)}
		}
		a.buf = append(a.buf, f.Payload...)
		if !f.Fin {
			return 0, nil, false, nil
		}
		op, msg = a.op, a.buf
		a.op, a.frags = 0, 0
		return op, msg, true, nil
	}
	return 0, nil, false, protocolError(fmt.Sprintf("opcode %d is not a data frame", f.Op))
}

// Release drops the assembly buffer (after a message that needed one, so
// an idle connection holds none).
func (a *Assembler) Release() {
	if a.op == 0 {
		a.buf = nil
	}
}

// AppendHeader appends the header of an unmasked server frame with FIN
// set, opcode op and a payload of n bytes.
func AppendHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
}

// AppendFrame appends a whole unmasked server frame.
func AppendFrame(dst []byte, op byte, payload []byte) []byte {
	return append(AppendHeader(dst, op, len(payload)), payload...)
}

// CloseCode reads a close frame's payload: the code the peer sent (1005
// when it sent none), and whether the payload is valid (RFC 6455 7.4: no
// 1-byte payload, no reserved or out-of-range code).
func CloseCode(p []byte) (code uint16, valid bool) {
	switch len(p) {
	case 0:
		return 1005, true
	case 1:
		return 0, false
	}
	code = binary.BigEndian.Uint16(p)
	switch {
	case code < 1000, code >= 5000, code >= 1016 && code < 3000:
		return code, false
	case code == 1004, code == 1005, code == 1006, code == 1015:
		return code, false
	}
	return code, true
}
