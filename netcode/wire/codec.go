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
	nInputV1   = 7 // an Input from a version 1 client
	nInput     = 9
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

// AppendInput appends [2, seq, ack, dx, dy, aim, buttons, viewTick,
// viewFrac]; dx, dy and aim
// are float32.
func AppendInput(dst []byte, m Input) []byte {
	dst = append(dst, 0x90|nInput, byte(MsgInput))
	dst = appendUint(dst, uint64(m.Seq))
	dst = appendUint(dst, uint64(m.Ack))
	dst = appendFloat32(dst, m.DX)
	dst = appendFloat32(dst, m.DY)
	dst = appendFloat32(dst, m.Aim)
	dst = appendUint(dst, uint64(m.Buttons))
	dst = appendUint(dst, uint64(m.ViewTick))
	return appendUint(dst, uint64(m.ViewFrac))
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

// dec reads one message's fields with a sticky error: after the first
// failure every read returns a zero value, and done reports that failure.
// Decoders then read their fields in order, as in a struct literal, and
// check once.
type dec struct {
	r   reader
	n   int // elements in the message's array
	err error
}

// decode starts reading a message of type t with at least fields elements.
func decode(b []byte, t MsgType, fields int) dec {
	d := dec{r: reader{b: b}}
	d.n, d.err = d.r.begin(t, fields)
	return d
}

func (d *dec) u32() (v uint32) {
	if d.err == nil {
		v, d.err = d.r.uint32()
	}
	return v
}

func (d *dec) u16() (v uint16) {
	if d.err == nil {
		v, d.err = d.r.uint16()
	}
	return v
}

func (d *dec) u8() (v uint8) {
	if d.err == nil {
		v, d.err = d.r.uint8()
	}
	return v
}

func (d *dec) i32() int32 {
	var v int64
	if d.err == nil {
		v, d.err = d.r.int(math.MinInt32, math.MaxInt32)
	}
	return int32(v)
}

func (d *dec) f32() (v float32) {
	if d.err == nil {
		v, d.err = d.r.float32()
	}
	return v
}

func (d *dec) boolean() (v bool) {
	if d.err == nil {
		v, d.err = d.r.bool()
	}
	return v
}

func (d *dec) str(max int) (v string) {
	if d.err == nil {
		v, d.err = d.r.str(max)
	}
	return v
}

func (d *dec) bin() (v []byte) {
	if d.err == nil {
		v, d.err = d.r.bin()
	}
	return v
}

// done skips the elements past fields and requires the message to end
// there; it returns the first error of the whole decode.
func (d *dec) done(fields int) error {
	if d.err == nil {
		d.err = d.r.end(d.n, fields)
	}
	return d.err
}

// DecodeHello decodes [1, version, token]. The token must be at most
// MaxTokenLen bytes.
func DecodeHello(b []byte) (Hello, error) {
	d := decode(b, MsgHello, nHello)
	m := Hello{Version: d.u32(), Token: d.str(MaxTokenLen)}
	if err := d.done(nHello); err != nil {
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

// DecodeInput decodes [2, seq, ack, dx, dy, aim, buttons, viewTick,
// viewFrac], or the 7 elements of a version 1 Input (no view: judged at the
// present). NaN and
// infinite dx, dy or aim are replaced with 0; range clamping is the
// game's job. It does not allocate unless it fails.
func DecodeInput(b []byte) (Input, error) {
	d := decode(b, MsgInput, nInputV1)
	m := Input{Seq: d.u32(), Ack: d.u32(), DX: d.f32(), DY: d.f32(), Aim: d.f32(), Buttons: d.u8()}
	fields := nInputV1
	if d.n >= nInput {
		m.ViewTick, m.ViewFrac = d.u32(), d.u8()
		fields = nInput
	}
	if err := d.done(fields); err != nil {
		return Input{}, err
	}
	m.DX, m.DY, m.Aim = finite(m.DX), finite(m.DY), finite(m.Aim)
	return m, nil
}

// DecodePing decodes [3, time].
func DecodePing(b []byte) (Ping, error) {
	d := decode(b, MsgPing, nPing)
	m := Ping{Time: d.u32()}
	if err := d.done(nPing); err != nil {
		return Ping{}, err
	}
	return m, nil
}

// DecodeLeave checks that b is a well-formed [4].
func DecodeLeave(b []byte) error {
	d := decode(b, MsgLeave, nLeave)
	return d.done(nLeave)
}

// DecodeWelcome decodes a Welcome. Match and Mode must be at most
// MaxStringLen bytes; Width, Height and Interest must be finite.
func DecodeWelcome(b []byte) (Welcome, error) {
	d := decode(b, MsgWelcome, nWelcome)
	m := Welcome{
		Version: d.u32(), Player: d.u32(), Entity: d.u32(),
		Match: d.str(MaxStringLen), Mode: d.str(MaxStringLen),
		Hz: d.u16(), Tick: d.u32(), LastSeq: d.u32(), Resumed: d.boolean(),
		Width: d.f32(), Height: d.f32(), Interest: d.f32(), PosScale: d.u16(),
	}
	if d.err == nil && (finite(m.Width) != m.Width || finite(m.Height) != m.Height || finite(m.Interest) != m.Interest) {
		d.err = d.r.errf("welcome with a non-finite world size or interest radius")
	}
	if err := d.done(nWelcome); err != nil {
		return Welcome{}, err
	}
	return m, nil
}

// DecodeSnapshot decodes [17, tick, base, ackSeq, ops]. Ops may be a bin8,
// bin16 or bin32; it aliases b (with its capacity clipped, so appending to
// it never writes into b) and is nil when empty. The ops themselves are
// not checked here; Mirror.Apply checks them.
func DecodeSnapshot(b []byte) (Snapshot, error) {
	d := decode(b, MsgSnapshot, nSnapshot)
	m := Snapshot{Tick: d.u32(), Base: d.u32(), AckSeq: d.u32(), Ops: d.bin()}
	if err := d.done(nSnapshot); err != nil {
		return Snapshot{}, err
	}
	return m, nil
}

// DecodeEvent decodes [18, tick, kind, source, target, value].
func DecodeEvent(b []byte) (Event, error) {
	d := decode(b, MsgEvent, nEvent)
	m := Event{Tick: d.u32(), Kind: d.u8(), Source: d.u32(), Target: d.u32(), Value: d.i32()}
	if err := d.done(nEvent); err != nil {
		return Event{}, err
	}
	return m, nil
}

// DecodeMatchOver decodes [19, tick, reason, results]. There may be at
// most MaxResults results, each an array of at least 4 elements (extra
// ones are skipped). Results is nil when there are none.
func DecodeMatchOver(b []byte) (MatchOver, error) {
	d := decode(b, MsgMatchOver, nMatchOver)
	m := MatchOver{Tick: d.u32(), Reason: d.str(MaxStringLen)}
	if d.err == nil {
		m.Results, d.err = d.results(len(b))
	}
	if err := d.done(nMatchOver); err != nil {
		return MatchOver{}, err
	}
	return m, nil
}

// results reads the results array of a MatchOver.
func (d *dec) results(budget int) ([]Result, error) {
	r := &d.r
	k, err := r.arrayHeader()
	if err != nil {
		return nil, err
	}
	if k > MaxResults {
		return nil, r.errf("%d results over the limit of %d", k, MaxResults)
	}
	if k == 0 {
		return nil, nil
	}
	out := make([]Result, k)
	for i := range out {
		f, err := r.arrayHeader()
		if err != nil {
			return nil, err
		}
		if f < nResult {
			return nil, r.errf("result with %d elements, want at least %d", f, nResult)
		}
		out[i] = Result{Player: d.u32(), Entity: d.u32(), Score: d.u32(), Rank: d.u16()}
		if d.err != nil {
			return nil, d.err
		}
		for j := nResult; j < f; j++ {
			if err := r.skip(2, &budget); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// DecodeError decodes [20, code, message]. The message must be at most
// MaxStringLen bytes.
func DecodeError(b []byte) (Error, error) {
	d := decode(b, MsgError, nError)
	m := Error{Code: d.u16(), Message: d.str(MaxStringLen)}
	if err := d.done(nError); err != nil {
		return Error{}, err
	}
	return m, nil
}

// DecodePong decodes [21, time, tick].
func DecodePong(b []byte) (Pong, error) {
	d := decode(b, MsgPong, nPong)
	m := Pong{Time: d.u32(), Tick: d.u32()}
	if err := d.done(nPong); err != nil {
		return Pong{}, err
	}
	return m, nil
}
