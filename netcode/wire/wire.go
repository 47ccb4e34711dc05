// Package wire is Rallypoint's protocol: the message types that cross a
// game WebSocket, their msgpack encoding, the entity-op format carried in
// snapshots, and the client-side Mirror that applies it. It is the only
// package the server (netcode) and the Go client (netcode/client) share.
//
// # Protocol flow
//
//	client                                server
//	  |--- WebSocket GET /v1/ws ------------->|
//	  |--- Hello{version, token} ------------>|  first message, within the handshake deadline
//	  |<-- Welcome{player, entity, ...} ------|  or Error + close (bad token, bad version)
//	  |<-- Snapshot{tick, base=0, ops} -------|  keyframe: full state of what the client sees
//	  |--- Input{seq, ack, dx, dy, ...} ----->|  one per tick, seq +1 each; each is one tick of movement
//	  |<-- Snapshot{tick, base=tick-1, ops} --|  every tick: only what changed
//	  |<-- Event{...} ------------------------|  reliable game events
//	  |--- Ping{time} / <-- Pong{time, tick} -|  round-trip time
//	  |<-- MatchOver{results} ----------------|  then the server closes with 1000
//
// Every message is one binary WebSocket message holding one msgpack array
// whose first element is the MsgType. See docs/protocol.md for the full
// specification, which is normative; this package implements it.
//
// Decoders of bytes from the other side never allocate from a length the
// peer declared without checking it against a small cap first.
package wire

// ProtocolVersion is the version this package speaks. Version 2 added the
// view (viewTick, viewFrac) to Input for lag compensation; the input model
// (one Input is one tick of movement) is the same for both.
const ProtocolVersion = 2

// MinProtocolVersion is the oldest version a server built from this package
// accepts.
const MinProtocolVersion = 1

// MaxClientFrame is the largest message a client may send, in bytes. The
// server's WebSocket reader refuses longer frames with close code 1009.
const MaxClientFrame = 2048

// MaxTokenLen is the longest token a Hello may carry, in bytes.
const MaxTokenLen = 1024

// MaxStringLen bounds every other string field (match ids, messages, reasons).
const MaxStringLen = 256

// MaxResults bounds the number of results in a MatchOver.
const MaxResults = 256

// MaxMirrorEntities bounds how many entities a Mirror holds; a snapshot that
// would exceed it is rejected.
const MaxMirrorEntities = 1 << 16

// PosScale is the position quantum: positions travel as integers in units of
// 1/PosScale world units (so 1/16 unit).
const PosScale = 16

// MsgType is the first element of every message.
type MsgType uint8

// Client to server messages.
const (
	MsgHello MsgType = 1 // [1, version, token]
	MsgInput MsgType = 2 // [2, seq, ack, dx, dy, aim, buttons, viewTick, viewFrac]
	MsgPing  MsgType = 3 // [3, time]
	MsgLeave MsgType = 4 // [4]
)

// Server to client messages.
const (
	MsgWelcome   MsgType = 16 // [16, version, player, entity, match, mode, hz, tick, lastSeq, resumed, width, height, interest, posScale]
	MsgSnapshot  MsgType = 17 // [17, tick, base, ackSeq, ops(bin)]
	MsgEvent     MsgType = 18 // [18, tick, kind, source, target, value]
	MsgMatchOver MsgType = 19 // [19, tick, reason, [[player, entity, score, rank], ...]]
	MsgError     MsgType = 20 // [20, code, message]
	MsgPong      MsgType = 21 // [21, time, tick]
)

// Hello is the first message a client sends.
type Hello struct {
	Version uint32 // ProtocolVersion the client speaks
	Token   string // join token from the lobby; at most MaxTokenLen bytes
}

// Input is one client input frame: exactly one tick of the player's
// movement. Clients send one per tick.
type Input struct {
	Seq     uint32  // starts at Welcome.LastSeq+1 and grows by one per frame
	Ack     uint32  // tick of the last snapshot the client applied (0: none)
	DX, DY  float32 // movement direction, each in [-1, 1] (clamped by the server)
	Aim     float32 // aim direction in radians
	Buttons uint8   // bit 0: fire

	// ViewTick and ViewFrac (in 1/256 of a tick) are the server tick at
	// which the client was rendering the other entities when it sampled
	// this input; shots are judged against where targets were then (at
	// most 200 ms back). ViewTick 0 means now. Version 2; a version 1
	// client sends neither.
	ViewTick uint32
	ViewFrac uint8
}

// Ping asks for a Pong; Time is opaque to the server (milliseconds by convention).
type Ping struct {
	Time uint32
}

// Leave says the client is leaving the match for good (its seat is freed
// at once instead of being held for the reconnect grace period).
type Leave struct{}

// Welcome answers a good Hello.
type Welcome struct {
	Version  uint32  // the version the server speaks on this connection
	Player   uint32  // the player id
	Entity   uint32  // the player's avatar
	Match    string  // match id
	Mode     string  // game mode, e.g. "arena"
	Hz       uint16  // ticks per second
	Tick     uint32  // the match's current tick
	LastSeq  uint32  // last input seq the server accepted for this player (applied or waiting; 0: none)
	Resumed  bool    // true when this connection took over an existing seat
	Width    float32 // world size in units
	Height   float32
	Interest float32 // area-of-interest radius in units; 0 means the whole world
	PosScale uint16  // position quantum divisor (PosScale)
}

// Snapshot is the per-tick world update for one client. Base is the tick
// this snapshot is a delta from: 0 for a keyframe (the client drops its
// mirror first), otherwise the tick of the previous snapshot sent on this
// connection. Ops is the entity-op stream (see ops.go).
type Snapshot struct {
	Tick   uint32
	Base   uint32
	AckSeq uint32 // last input seq the server applied for this player
	Ops    []byte // aliases the decoded message
}

// Event is a reliable game event; Kind uses game.EventKind values.
type Event struct {
	Tick   uint32
	Kind   uint8
	Source uint32
	Target uint32
	Value  int32
}

// Result is one player's standing in a MatchOver.
type Result struct {
	Player uint32
	Entity uint32
	Score  uint32
	Rank   uint16
}

// MatchOver ends a match; the server closes the socket with 1000 after it.
type MatchOver struct {
	Tick    uint32
	Reason  string
	Results []Result
}

// Error tells the client why the server is about to close, or that a
// message was refused. Code is one of the Code* values.
type Error struct {
	Code    uint16
	Message string
}

// Pong answers a Ping.
type Pong struct {
	Time uint32 // the Ping's Time, echoed
	Tick uint32 // the server's current tick
}

// Close codes the server uses (RFC 6455 private range 4000-4999, plus the
// standard codes gws itself sends). An Error message with the same code and
// a human-readable text precedes the close whenever the socket is writable.
const (
	CodeNormal           uint16 = 1000 // match over, or the client left
	CodeGoingAway        uint16 = 1001 // server shutting down
	CodeProtocolError    uint16 = 1002 // WebSocket-level violation (gws)
	CodeUnsupportedData  uint16 = 1003 // text frame on a binary protocol
	CodeTooLarge         uint16 = 1009 // frame over MaxClientFrame (gws)
	CodeInternal         uint16 = 1011 // server fault; the match may have crashed
	CodeTryAgain         uint16 = 1013 // server overloaded (or its shared store down) while seating you; reconnect with backoff
	CodeAuthFailed       uint16 = 4001 // token missing, malformed, forged, or for another match
	CodeTokenExpired     uint16 = 4002 // token expired; get a new one from the lobby
	CodeTokenRevoked     uint16 = 4003 // session logged out
	CodeBadVersion       uint16 = 4004 // unsupported protocol version
	CodeHandshakeTimeout uint16 = 4005 // no Hello within the deadline
	CodeMalformed        uint16 = 4006 // a message that does not decode
	CodeRateLimited      uint16 = 4007 // too many messages
	CodeSlowConsumer     uint16 = 4008 // the client could not keep up
	CodeReplaced         uint16 = 4009 // another connection took this seat
	CodeSeatExpired      uint16 = 4010 // reconnect came after the grace period
	CodeMatchNotFound    uint16 = 4011 // the match does not exist or has ended
	CodeMatchFull        uint16 = 4012 // no seat for this player
	CodeIdleTimeout      uint16 = 4013 // nothing received for too long
)
