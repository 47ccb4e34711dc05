package wire

import (
	"errors"
	"fmt"
	"math"
)

// ErrMalformed is the error (wrapped with detail) every decoder returns for
// bytes that are not a valid message of the expected type: bad msgpack,
// truncation, trailing bytes, a field of the wrong type or out of range, a
// declared length over its cap, or a different message type.
var ErrMalformed = errors.New("wire: malformed message")

// ErrUnknownType is returned (wrapped) by Type when element 0 is a valid
// integer that is not one of the Msg* constants. Errors that match it also
// match ErrMalformed, so callers that do not care about the distinction can
// test for ErrMalformed alone; a peer that wants to ignore messages from a
// newer protocol version can test for ErrUnknownType.
var ErrUnknownType = errors.New("wire: unknown message type")

// Layout sizes: the number of elements each message version 1 defines,
// type included. Decoders accept more (and skip them) but never fewer.
const (
	nHello     = 3
	nInput     = 7
	nPing      = 2
	nLeave     = 1
	nWelcome   = 14
	nSnapshot  = 5
	nEvent     = 6
	nMatchOver = 4
	nError     = 3
	nPong      = 3
	nResult    = 4
)

// Known reports whether t is one of the Msg* constants this package defines.
func (t MsgType) Known() bool {
	switch t {
	case MsgHello, MsgInput, MsgPing, MsgLeave,
		MsgWelcome, MsgSnapshot, MsgEvent, MsgMatchOver, MsgError, MsgPong:
		return true
	}
	return false
}

// String returns the message type's name, e.g. "Hello", or "MsgType(N)".
func (t MsgType) String() string {
	switch t {
	case MsgHello:
		return "Hello"
	case MsgInput:
		return "Input"
	case MsgPing:
		return "Ping"
	case MsgLeave:
		return "Leave"
	case MsgWelcome:
		return "Welcome"
	case MsgSnapshot:
		return "Snapshot"
	case MsgEvent:
		return "Event"
	case MsgMatchOver:
		return "MatchOver"
	case MsgError:
		return "Error"
	case MsgPong:
		return "Pong"
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Encoders. Each appends one complete message to dst and returns the
// extended slice; none allocates when dst has room. Unsigned integers use
// the smallest msgpack encoding. Encoders do not validate: a string longer
// than MaxTokenLen or MaxStringLen, or more than MaxResults results, is
// encoded as given and refused by the peer's decoder.

// AppendHello appends [1, version, token].
func AppendHello(dst []byte, m Hello) []byte {
	dst = append(dst, 0x90|nHello, byte(MsgHello))
	dst = appendUint(dst, uint64(m.Version))
	return appendStr(dst, m.Token)
}

// AppendInput appends [2, seq, ack, dx, dy, aim, buttons]; dx, dy and aim
// are float32.
func AppendInput(dst []byte, m Input) []byte {
	dst = append(dst, 0x90|nInput, byte(MsgInput))
	dst = appendUint(dst, uint64(m.Seq))
	dst = appendUint(dst, uint64(m.Ack))
	dst = appendFloat32(dst, m.DX)
	dst = appendFloat32(dst, m.DY)
	dst = appendFloat32(dst, m.Aim)
	return appendUint(dst, uint64(m.Buttons))
}

// AppendPing appends [3, time].
func AppendPing(dst []byte, m Ping) []byte {
	dst = append(dst, 0x90|nPing, byte(MsgPing))
	return appendUint(dst, uint64(m.Time))
}

// AppendLeave appends [4].
func AppendLeave(dst []byte) []byte {
	return append(dst, 0x90|nLeave, byte(MsgLeave))
}

// AppendWelcome appends [16, version, player, entity, match, mode, hz, tick,
// lastSeq, resumed, width, height, interest, posScale]; floats are float32
// and resumed is a msgpack bool.
func AppendWelcome(dst []byte, m Welcome) []byte {
	dst = append(dst, 0x90|nWelcome, byte(MsgWelcome))
	dst = appendUint(dst, uint64(m.Version))
	dst = appendUint(dst, uint64(m.Player))
	dst = appendUint(dst, uint64(m.Entity))
	dst = appendStr(dst, m.Match)
	dst = appendStr(dst, m.Mode)
	dst = appendUint(dst, uint64(m.Hz))
	dst = appendUint(dst, uint64(m.Tick))
	dst = appendUint(dst, uint64(m.LastSeq))
	dst = appendBool(dst, m.Resumed)
	dst = appendFloat32(dst, m.Width)
	dst = appendFloat32(dst, m.Height)
	dst = appendFloat32(dst, m.Interest)
	return appendUint(dst, uint64(m.PosScale))
}

// AppendSnapshotHeader appends everything of [17, tick, base, ackSeq, ops]
// up to and including the bin header of ops; the caller must then append
// exactly opsLen bytes of entity ops. It lets a server write ops straight
// into the frame without a second buffer. It panics if opsLen is negative.
func AppendSnapshotHeader(dst []byte, tick, base, ackSeq uint32, opsLen int) []byte {
	if opsLen < 0 || uint64(opsLen) > math.MaxUint32 {
		panic("wire: AppendSnapshotHeader: opsLen out of range")
	}
	dst = append(dst, 0x90|nSnapshot, byte(MsgSnapshot))
	dst = appendUint(dst, uint64(tick))
	dst = appendUint(dst, uint64(base))
	dst = appendUint(dst, uint64(ackSeq))
	return appendBinHeader(dst, opsLen)
}

// AppendSnapshot appends [17, tick, base, ackSeq, ops(bin)].
func AppendSnapshot(dst []byte, m Snapshot) []byte {
	dst = AppendSnapshotHeader(dst, m.Tick, m.Base, m.AckSeq, len(m.Ops))
	return append(dst, m.Ops...)
}

// AppendEvent appends [18, tick, kind, source, target, value]; value is a
// msgpack integer in its smallest encoding.
func AppendEvent(dst []byte, m Event) []byte {
	dst = append(dst, 0x90|nEvent, byte(MsgEvent))
	dst = appendUint(dst, uint64(m.Tick))
	dst = appendUint(dst, uint64(m.Kind))
	dst = appendUint(dst, uint64(m.Source))
	dst = appendUint(dst, uint64(m.Target))
	return appendInt(dst, int64(m.Value))
}

// AppendMatchOver appends [19, tick, reason, [[player, entity, score,
// rank], ...]].
func AppendMatchOver(dst []byte, m MatchOver) []byte {
	dst = append(dst, 0x90|nMatchOver, byte(MsgMatchOver))
	dst = appendUint(dst, uint64(m.Tick))
	dst = appendStr(dst, m.Reason)
	dst = appendArrayHeader(dst, len(m.Results))
	for _, res := range m.Results {
		dst = append(dst, 0x90|nResult)
		dst = appendUint(dst, uint64(res.Player))
		dst = appendUint(dst, uint64(res.Entity))
		dst = appendUint(dst, uint64(res.Score))
		dst = appendUint(dst, uint64(res.Rank))
	}
	return dst
}

// AppendError appends [20, code, message].
func AppendError(dst []byte, m Error) []byte {
	dst = append(dst, 0x90|nError, byte(MsgError))
	dst = appendUint(dst, uint64(m.Code))
	return appendStr(dst, m.Message)
}

// AppendPong appends [21, time, tick].
func AppendPong(dst []byte, m Pong) []byte {
	dst = append(dst, 0x90|nPong, byte(MsgPong))
	dst = appendUint(dst, uint64(m.Time))
	return appendUint(dst, uint64(m.Tick))
}

// Decoders. Each takes exactly one message (no bytes may follow the
// top-level array), accepts any msgpack integer form for numeric fields
// (in range for the Go field), and for float fields a float32, a float64
// or any integer. An array with more elements than this version defines is
// accepted and the extra elements are skipped (nesting at most 8 deep);
// fewer is malformed. Errors wrap ErrMalformed. Strings are copied only
// after their length is checked against MaxTokenLen or MaxStringLen.

// Type returns the type of the message in b: element 0 of its top-level
// array. It only peeks; the rest of b is not checked. For an integer that
// is not a known MsgType it returns that value and an error wrapping both
// ErrUnknownType and ErrMalformed.
func Type(b []byte) (MsgType, error) {
	r := reader{b: b}
	n, err := r.arrayHeader()
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, r.errf("empty array")
	}
	v, err := r.uint8()
	if err != nil {
		return 0, err
	}
	t := MsgType(v)
	if !t.Known() {
		return t, fmt.Errorf("%w: %w %d", ErrMalformed, ErrUnknownType, v)
	}
	return t, nil
}

// begin reads the array header and the type element of a message that
// must be of type want with at least fields elements. It returns the
// number of elements in the array.
func (r *reader) begin(want MsgType, fields int) (int, error) {
	n, err := r.arrayHeader()
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, r.errf("empty array")
	}
	v, err := r.uint8()
	if err != nil {
		return 0, err
	}
	if MsgType(v) != want {
		return 0, r.errf("message type %d, want %d (%s)", v, uint8(want), want)
	}
	if n < fields {
		return 0, r.errf("%s with %d elements, want at least %d", want, n, fields)
	}
	return n, nil
}

// end skips the extra elements of an array of n elements of which fields
// were read, and requires the message to end there.
func (r *reader) end(n, fields int) error {
	budget := len(r.b)
	for i := fields; i < n; i++ {
		if err := r.skip(1, &budget); err != nil {
			return err
		}
	}
	if r.off != len(r.b) {
		return r.errf("%d trailing bytes", len(r.b)-r.off)
	}
	return nil
}

// DecodeHello decodes [1, version, token]. The token must be at most
// MaxTokenLen bytes.
func DecodeHello(b []byte) (Hello, error) {
	var m Hello
	r := reader{b: b}
	n, err := r.begin(MsgHello, nHello)
	if err != nil {
		return Hello{}, err
	}
	if m.Version, err = r.uint32(); err != nil {
		return Hello{}, err
	}
	if m.Token, err = r.str(MaxTokenLen); err != nil {
		return Hello{}, err
	}
	if err = r.end(n, nHello); err != nil {
		return Hello{}, err
	}
	return m, nil
}

// finite replaces NaN and ±Inf with 0.
func finite(f float32) float32 {
	if f != f || f > math.MaxFloat32 || f < -math.MaxFloat32 {
		return 0
	}
	return f
}

// DecodeInput decodes [2, seq, ack, dx, dy, aim, buttons]. NaN and
// infinite dx, dy or aim are replaced with 0; range clamping is the
// game's job. It does not allocate unless it fails.
func DecodeInput(b []byte) (Input, error) {
	var m Input
	r := reader{b: b}
	n, err := r.begin(MsgInput, nInput)
	if err != nil {
		return Input{}, err
	}
	if m.Seq, err = r.uint32(); err != nil {
		return Input{}, err
	}
	if m.Ack, err = r.uint32(); err != nil {
		return Input{}, err
	}
	if m.DX, err = r.float32(); err != nil {
		return Input{}, err
	}
	if m.DY, err = r.float32(); err != nil {
		return Input{}, err
	}
	if m.Aim, err = r.float32(); err != nil {
		return Input{}, err
	}
	if m.Buttons, err = r.uint8(); err != nil {
		return Input{}, err
	}
	if err = r.end(n, nInput); err != nil {
		return Input{}, err
	}
	m.DX, m.DY, m.Aim = finite(m.DX), finite(m.DY), finite(m.Aim)
	return m, nil
}

// DecodePing decodes [3, time].
func DecodePing(b []byte) (Ping, error) {
	var m Ping
	r := reader{b: b}
	n, err := r.begin(MsgPing, nPing)
	if err != nil {
		return Ping{}, err
	}
	if m.Time, err = r.uint32(); err != nil {
		return Ping{}, err
	}
	if err = r.end(n, nPing); err != nil {
		return Ping{}, err
	}
	return m, nil
}

// DecodeLeave checks that b is a well-formed [4].
func DecodeLeave(b []byte) error {
	r := reader{b: b}
	n, err := r.begin(MsgLeave, nLeave)
	if err != nil {
		return err
	}
	return r.end(n, nLeave)
}

// DecodeWelcome decodes a Welcome. Match and Mode must be at most
// MaxStringLen bytes.
func DecodeWelcome(b []byte) (Welcome, error) {
	var m Welcome
	r := reader{b: b}
	n, err := r.begin(MsgWelcome, nWelcome)
	if err != nil {
		return Welcome{}, err
	}
	if m.Version, err = r.uint32(); err != nil {
		return Welcome{}, err
	}
	if m.Player, err = r.uint32(); err != nil {
		return Welcome{}, err
	}
	if m.Entity, err = r.uint32(); err != nil {
		return Welcome{}, err
	}
	if m.Match, err = r.str(MaxStringLen); err != nil {
		return Welcome{}, err
	}
	if m.Mode, err = r.str(MaxStringLen); err != nil {
		return Welcome{}, err
	}
	if m.Hz, err = r.uint16(); err != nil {
		return Welcome{}, err
	}
	if m.Tick, err = r.uint32(); err != nil {
		return Welcome{}, err
	}
	if m.LastSeq, err = r.uint32(); err != nil {
		return Welcome{}, err
	}
	if m.Resumed, err = r.bool(); err != nil {
		return Welcome{}, err
	}
	if m.Width, err = r.float32(); err != nil {
		return Welcome{}, err
	}
	if m.Height, err = r.float32(); err != nil {
		return Welcome{}, err
	}
	if m.Interest, err = r.float32(); err != nil {
		return Welcome{}, err
	}
	if m.PosScale, err = r.uint16(); err != nil {
		return Welcome{}, err
	}
	if err = r.end(n, nWelcome); err != nil {
		return Welcome{}, err
	}
	return m, nil
}

// DecodeSnapshot decodes [17, tick, base, ackSeq, ops]. Ops may be a bin8,
// bin16 or bin32; it aliases b (with its capacity clipped, so appending to
// it never writes into b) and is nil when empty. The ops themselves are
// not checked here; Mirror.Apply checks them.
func DecodeSnapshot(b []byte) (Snapshot, error) {
	var m Snapshot
	r := reader{b: b}
	n, err := r.begin(MsgSnapshot, nSnapshot)
	if err != nil {
		return Snapshot{}, err
	}
	if m.Tick, err = r.uint32(); err != nil {
		return Snapshot{}, err
	}
	if m.Base, err = r.uint32(); err != nil {
		return Snapshot{}, err
	}
	if m.AckSeq, err = r.uint32(); err != nil {
		return Snapshot{}, err
	}
	if m.Ops, err = r.bin(); err != nil {
		return Snapshot{}, err
	}
	if err = r.end(n, nSnapshot); err != nil {
		return Snapshot{}, err
	}
	return m, nil
}

// DecodeEvent decodes [18, tick, kind, source, target, value].
func DecodeEvent(b []byte) (Event, error) {
	var m Event
	r := reader{b: b}
	n, err := r.begin(MsgEvent, nEvent)
	if err != nil {
		return Event{}, err
	}
	if m.Tick, err = r.uint32(); err != nil {
		return Event{}, err
	}
	if m.Kind, err = r.uint8(); err != nil {
		return Event{}, err
	}
	if m.Source, err = r.uint32(); err != nil {
		return Event{}, err
	}
	if m.Target, err = r.uint32(); err != nil {
		return Event{}, err
	}
	v, err := r.int(math.MinInt32, math.MaxInt32)
	if err != nil {
		return Event{}, err
	}
	m.Value = int32(v)
	if err = r.end(n, nEvent); err != nil {
		return Event{}, err
	}
	return m, nil
}

// DecodeMatchOver decodes [19, tick, reason, results]. There may be at
// most MaxResults results, each an array of at least 4 elements (extra
// ones are skipped). Results is nil when there are none.
func DecodeMatchOver(b []byte) (MatchOver, error) {
	var m MatchOver
	r := reader{b: b}
	n, err := r.begin(MsgMatchOver, nMatchOver)
	if err != nil {
		return MatchOver{}, err
	}
	if m.Tick, err = r.uint32(); err != nil {
		return MatchOver{}, err
	}
	if m.Reason, err = r.str(MaxStringLen); err != nil {
		return MatchOver{}, err
	}
	k, err := r.arrayHeader()
	if err != nil {
		return MatchOver{}, err
	}
	if k > MaxResults {
		return MatchOver{}, r.errf("%d results over the limit of %d", k, MaxResults)
	}
	if k > 0 {
		m.Results = make([]Result, k)
	}
	for i := range m.Results {
		res := &m.Results[i]
		f, err := r.arrayHeader()
		if err != nil {
			return MatchOver{}, err
		}
		if f < nResult {
			return MatchOver{}, r.errf("result with %d elements, want at least %d", f, nResult)
		}
		if res.Player, err = r.uint32(); err != nil {
			return MatchOver{}, err
		}
		if res.Entity, err = r.uint32(); err != nil {
			return MatchOver{}, err
		}
		if res.Score, err = r.uint32(); err != nil {
			return MatchOver{}, err
		}
		if res.Rank, err = r.uint16(); err != nil {
			return MatchOver{}, err
		}
		budget := len(b)
		for j := nResult; j < f; j++ {
			if err := r.skip(2, &budget); err != nil {
				return MatchOver{}, err
			}
		}
	}
	if err = r.end(n, nMatchOver); err != nil {
		return MatchOver{}, err
	}
	return m, nil
}

// DecodeError decodes [20, code, message]. The message must be at most
// MaxStringLen bytes.
func DecodeError(b []byte) (Error, error) {
	var m Error
	r := reader{b: b}
	n, err := r.begin(MsgError, nError)
	if err != nil {
		return Error{}, err
	}
	if m.Code, err = r.uint16(); err != nil {
		return Error{}, err
	}
	if m.Message, err = r.str(MaxStringLen); err != nil {
		return Error{}, err
	}
	if err = r.end(n, nError); err != nil {
		return Error{}, err
	}
	return m, nil
}

// DecodePong decodes [21, time, tick].
func DecodePong(b []byte) (Pong, error) {
	var m Pong
	r := reader{b: b}
	n, err := r.begin(MsgPong, nPong)
	if err != nil {
		return Pong{}, err
	}
	if m.Time, err = r.uint32(); err != nil {
		return Pong{}, err
	}
	if m.Tick, err = r.uint32(); err != nil {
		return Pong{}, err
	}
	if err = r.end(n, nPong); err != nil {
		return Pong{}, err
	}
	return m, nil
}
