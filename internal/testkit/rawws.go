package testkit

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Frame returns one masked client WebSocket frame (mask key 0, so the
// payload goes out as is), for frames no library sends: floods of pings,
// fragments, oversized messages.
func Frame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	if n := len(payload); n < 126 {
		b = append(b, 0x80|byte(n))
	} else {
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	}
	return append(append(b, 0, 0, 0, 0), payload...)
}

// RawWS is a hand-made WebSocket client over a raw TCP connection.
type RawWS struct {
	Conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex
}

// DialRaw upgrades a TCP connection to base (http://host:port) at
// /v1/ws?match=match. It returns the socket, or nil and the HTTP status
// (0 if the connection failed) when the server did not switch protocols.
func DialRaw(base, match string) (*RawWS, int) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return nil, 0
	}
	req := "GET /v1/ws?match=" + match + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, 0
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, 0
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, resp.StatusCode
	}
	return &RawWS{Conn: conn, br: br}, resp.StatusCode
}

// Send writes frames until one fails (the server closed).
func (w *RawWS) Send(frames ...[]byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_ = w.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	for _, f := range frames {
		if _, err := w.Conn.Write(f); err != nil {
			return err
		}
	}
	return nil
}

// ReadFrame reads one server frame within the given time and returns its
// opcode and payload (server frames are never masked).
func (w *RawWS) ReadFrame(within time.Duration) (op byte, payload []byte, err error) {
	_ = w.Conn.SetReadDeadline(time.Now().Add(within))
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(w.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(w.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if n > 1<<24 {
		return 0, nil, io.ErrUnexpectedEOF
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(w.br, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, p, nil
}

// Closed reads server frames until a close frame and returns its code (0
// if the connection ended without one, or within passed) and how many
// pongs came before it.
func (w *RawWS) Closed(within time.Duration) (code uint16, pongs int) {
	_ = w.Conn.SetReadDeadline(time.Now().Add(within))
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return 0, pongs
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(w.br, l[:]); err != nil {
				return 0, pongs
			}
			n = uint64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(w.br, l[:]); err != nil {
				return 0, pongs
			}
			n = binary.BigEndian.Uint64(l[:])
		}
		if n > 1<<20 {
			return 0, pongs
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(w.br, p); err != nil {
			return 0, pongs
		}
		switch h[0] & 0x0f {
		case 0xA:
			pongs++
		case 0x8:
			if len(p) >= 2 {
				return binary.BigEndian.Uint16(p), pongs
			}
			return 0, pongs
		}
	}
}
