package netcode

import (
	"encoding/binary"
	"net"
	"time"

	"github.com/rallypoint/rallypoint/netcode/wire"
)

// maxFragments is the most frames one client message may be split into. A
// message is at most wire.MaxClientFrame bytes and clients do not fragment
// at all; a peer that keeps a message open with empty continuation frames
// is closed long before it could matter.
const maxFragments = 16

// frameMeter sits between the socket and gws's reader and counts the
// client's WebSocket frames as their headers pass: every frame, whatever it
// is (a data frame, a continuation fragment, a ping, a pong, a close), takes
// one token from the connection's message budget. gws only reports whole
// messages and pings, so without this a peer sending pings or empty
// fragments as fast as it can would hold a core and never be limited. It
// parses headers only, never copies payloads, and runs on the connection's
// read goroutine.
type frameMeter struct {
	net.Conn
	c *conn

	// owned by the read goroutine
	pre   []byte   // bytes the HTTP server had buffered past the request
	hdr   [14]byte // the frame header being read
	have  int      // bytes of hdr read so far
	want  int      // header length once known (0: not yet)
	skip  uint64   // payload bytes left of the current frame
	frags int      // frames of the data message in progress (0: none)
	count uint64   // frames seen
	off   bool     // a limit fired: stop metering, the close is under way
}

func (m *frameMeter) Read(p []byte) (n int, err error) {
	if len(m.pre) > 0 {
		n = copy(p, m.pre)
		m.pre = m.pre[n:]
	} else {
		n, err = m.Conn.Read(p)
	}
	if n > 0 && !m.off {
		m.scan(p[:n])
	}
	return n, err
}

// CloseWrite half-closes the TCP connection, for the lingering close.
func (m *frameMeter) CloseWrite() error {
	if cw, ok := m.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// scan advances the header parser over b, calling frame for each header.
func (m *frameMeter) scan(b []byte) {
	for len(b) > 0 && !m.off {
		if m.skip > 0 {
			k := uint64(len(b))
			if k > m.skip {
				k = m.skip
			}
			m.skip -= k
			b = b[k:]
			continue
		}
		m.hdr[m.have] = b[0]
		m.have++
		b = b[1:]
		if m.have == 2 {
			m.want = 2
			switch m.hdr[1] & 0x7f {
			case 126:
				m.want += 2
			case 127:
				m.want += 8
			}
			if m.hdr[1]&0x80 != 0 {
				m.want += 4 // masking key
			}
		}
		if m.have < 2 || m.have < m.want {
			continue
		}
		length := uint64(m.hdr[1] & 0x7f)
		switch length {
		case 126:
			length = uint64(binary.BigEndian.Uint16(m.hdr[2:4]))
		case 127:
			length = binary.BigEndian.Uint64(m.hdr[2:10])
		}
		m.skip, m.have, m.want = length, 0, 0
		m.frame(m.hdr[0]&0x0f, m.hdr[0]&0x80 != 0)
	}
}

// frame charges one frame with opcode op to the connection and enforces
// the fragment limit.
func (m *frameMeter) frame(op byte, fin bool) {
	c := m.c
	m.count++
	if !c.limiter.allow(time.Now().UnixNano()) {
		m.off = true
		c.srv.stats.RateLimited.Add(1)
		c.fail(wire.CodeRateLimited, "too many frames")
		return
	}
	switch op {
	case 0x1, 0x2: // text, binary: a message starts
		m.frags = 0
		if !fin {
			m.frags = 1
		}
	case 0x0: // continuation
		if m.frags++; m.frags > maxFragments {
			m.off = true
			c.srv.stats.Malformed.Add(1)
			c.fail(wire.CodeMalformed, "message split into too many fragments")
			return
		}
		if fin {
			m.frags = 0
		}
	case 0x8, 0x9, 0xA: // close, ping, pong
	default:
		// gws closes with 1002 but hands OnClose an error without the
		// code: note here that the close is for abuse (the seat is lost).
		m.off = true
		if c.abusive.CompareAndSwap(0, uint32(wire.CodeProtocolError)) {
			c.srv.stats.countClose(wire.CodeProtocolError)
			c.noteClose(wire.CodeProtocolError, "unknown opcode", true)
		}
	}
}
