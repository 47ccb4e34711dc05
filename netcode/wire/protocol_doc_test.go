package wire_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rallypoint/rallypoint/netcode/wire"
)

// The worked example of docs/protocol.md is built here with the real
// encoders, and the document must show exactly these bytes, so it cannot
// rot: change an encoder or a constant and this test names the frame whose
// hex (and annotation) needs redoing.
//
// In the document each example frame is a fenced block preceded by the
// marker <!-- frame: NAME -->. Each line of the block is hex bytes (two
// lowercase hex digits each, separated by spaces), optionally followed by
// "#" and an annotation. The block's bytes, concatenated, must equal the
// frame. After the block, the document gives the whole frame as one inline
// code span, `hex: 0123...`, for copy and paste into other languages' tests.

const protocolDoc = "../../docs/protocol.md"

// The example world. Positions are in world units; the wire carries them
// quantized (wire.Quantize).
const (
	exPlayer     = 17 // the example client's player id
	exEntity     = 3  // its avatar
	exMatch      = "m7"
	exToken      = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxNyJ9.c2ln"
	exWelcomeAt  = 1200 // Welcome.Tick
	exKeyTick    = 1201 // the keyframe
	exDeltaTick  = 1202 // the delta
	exPingTime   = 5000123
	exPongTick   = 1215
	exResumeTick = 1500
	exResumeSeq  = 42
)

// exKeyWorld is what the client sees at exKeyTick.
func exKeyWorld() []wire.EntityState {
	q := wire.Quantize
	return []wire.EntityState{
		{ID: 1, Kind: 1, HP: 100, Owner: 12, Score: 2, X: q(300.5), Y: q(200)},
		{ID: 3, Kind: 1, HP: 100, Owner: 17, X: q(512.25), Y: q(100.0625)},
		{ID: 4, Kind: 1, HP: 20, Owner: 18, Score: 1, X: q(640), Y: q(0)},
		{ID: 6, Kind: 1, HP: 100, Owner: 20, X: q(700), Y: q(250)},
	}
}

// exDeltaWorld is what the client sees at exDeltaTick: entity 1 ran 5
// units towards -x, the client's avatar 3 ran 5 units towards +x and shot
// entity 4 down (score 1), and entity 6's player left the match.
func exDeltaWorld() []wire.EntityState {
	w := exKeyWorld()
	w[0].X -= 5 * wire.PosScale
	w[1].X += 5 * wire.PosScale
	w[1].Score = 1
	w[2].HP, w[2].Flags = 0, 1
	return w[:3]
}

type docFrame struct {
	name string
	b    []byte
	msg  any // the decoded message the frame must give back
}

func docFrames() []docFrame {
	var fs []docFrame
	add := func(name string, b []byte, msg any) { fs = append(fs, docFrame{name, b, msg}) }

	hello := wire.Hello{Version: 2, Token: exToken}
	add("hello", wire.AppendHello(nil, hello), hello)
	welcome := wire.Welcome{Version: 2, Player: exPlayer, Entity: exEntity, Match: exMatch, Mode: "arena", Hz: 30,
		Tick: exWelcomeAt, LastSeq: 0, Resumed: false, Width: 1000, Height: 1000, Interest: 300, PosScale: wire.PosScale}
	add("welcome", wire.AppendWelcome(nil, welcome), welcome)
	key := wire.Snapshot{Tick: exKeyTick, Base: 0, AckSeq: 0, Ops: wire.AppendDiff(nil, nil, exKeyWorld())}
	add("keyframe", wire.AppendSnapshot(nil, key), key)
	input := wire.Input{Seq: 1, Ack: exKeyTick, DX: 1, DY: 0, Aim: -0.68, Buttons: 1, ViewTick: exKeyTick - 3, ViewFrac: 128}
	add("input", wire.AppendInput(nil, input), input)
	delta := wire.Snapshot{Tick: exDeltaTick, Base: exKeyTick, AckSeq: 1, Ops: wire.AppendDiff(nil, exKeyWorld(), exDeltaWorld())}
	add("delta", wire.AppendSnapshot(nil, delta), delta)
	for _, e := range []struct {
		name string
		ev   wire.Event
	}{
		{"event-hit", wire.Event{Tick: exDeltaTick, Kind: 1, Source: 3, Target: 4, Value: 20}},
		{"event-kill", wire.Event{Tick: exDeltaTick, Kind: 2, Source: 3, Target: 4}},
		{"event-score", wire.Event{Tick: exDeltaTick, Kind: 4, Source: 3, Value: 1}},
	} {
		add(e.name, wire.AppendEvent(nil, e.ev), e.ev)
	}
	ping := wire.Ping{Time: exPingTime}
	add("ping", wire.AppendPing(nil, ping), ping)
	pong := wire.Pong{Time: exPingTime, Tick: exPongTick}
	add("pong", wire.AppendPong(nil, pong), pong)
	add("leave", wire.AppendLeave(nil), nil)
	over := wire.MatchOver{Tick: 5400, Reason: "time", Results: []wire.Result{
		{Player: 17, Entity: 3, Score: 10, Rank: 1},
		{Player: 12, Entity: 1, Score: 7, Rank: 2},
		{Player: 18, Entity: 4, Score: 7, Rank: 2},
	}}
	add("matchover", wire.AppendMatchOver(nil, over), over)
	replaced := wire.Error{Code: wire.CodeReplaced, Message: "replaced by a newer connection for this player"}
	add("error-replaced", wire.AppendError(nil, replaced), replaced)
	badVersion := wire.Error{Code: wire.CodeBadVersion, Message: fmt.Sprintf("unsupported protocol version %d; this server speaks %d to %d",
		3, wire.MinProtocolVersion, wire.ProtocolVersion)}
	add("error-version", wire.AppendError(nil, badVersion), badVersion)
	resumed := welcome
	resumed.Tick, resumed.LastSeq, resumed.Resumed = exResumeTick, exResumeSeq, true
	add("welcome-resumed", wire.AppendWelcome(nil, resumed), resumed)
	return fs
}

var frameMarker = regexp.MustCompile(`^<!-- frame: ([a-z0-9-]+) -->$`)

// docBlocks returns, for each frame marker in the document, the bytes of
// the fenced block that follows it and the text after the block (up to the
// next marker).
func docBlocks(t *testing.T, doc string) (blocks map[string][]byte, after map[string]string) {
	t.Helper()
	blocks, after = map[string][]byte{}, map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var name string
	state := 0 // 0: prose, 1: marker seen, 2: in block, 3: after block
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if m := frameMarker.FindStringSubmatch(s); m != nil {
			if _, dup := blocks[m[1]]; dup {
				t.Errorf("line %d: frame %q appears twice", line, m[1])
			}
			name, state = m[1], 1
			blocks[name] = []byte{}
			continue
		}
		switch state {
		case 1:
			if strings.HasPrefix(s, "```") {
				state = 2
			} else if strings.TrimSpace(s) != "" {
				t.Errorf("line %d: frame %q: marker not followed by a fenced block", line, name)
				state = 0
			}
		case 2:
			if strings.HasPrefix(s, "```") {
				state = 3
				continue
			}
			code, _, _ := strings.Cut(s, "#")
			for _, tok := range strings.Fields(code) {
				b, err := hex.DecodeString(tok)
				if err != nil || len(tok) != 2 || strings.ToLower(tok) != tok {
					t.Errorf("line %d: frame %q: %q is not one lowercase hex byte", line, name, tok)
					continue
				}
				blocks[name] = append(blocks[name], b...)
			}
		case 3:
			after[name] += s + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks, after
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatalf("read the protocol document: %v", err)
	}
	return string(b)
}

// TestProtocolDocFrames checks every example frame of the document against
// the encoders, and that each frame decodes to the message the example
// describes.
func TestProtocolDocFrames(t *testing.T) {
	doc := readDoc(t)
	blocks, after := docBlocks(t, doc)
	want := map[string]bool{}
	for _, f := range docFrames() {
		want[f.name] = true
		t.Run(f.name, func(t *testing.T) {
			h := hex.EncodeToString(f.b)
			got, ok := blocks[f.name]
			if !ok {
				t.Fatalf("docs/protocol.md has no <!-- frame: %s --> block; the frame is %d bytes:\n%s", f.name, len(f.b), h)
			}
			if g := hex.EncodeToString(got); g != h {
				t.Errorf("the annotated bytes of frame %s in docs/protocol.md are\n%s\nbut the encoder gives (%d bytes)\n%s", f.name, g, len(f.b), h)
			}
			if !strings.Contains(after[f.name], "`hex: "+h+"`") {
				t.Errorf("frame %s: docs/protocol.md must follow the block with `hex: %s`", f.name, h)
			}
			checkDecodes(t, f)
		})
	}
	for name := range blocks {
		if !want[name] {
			t.Errorf("docs/protocol.md has a frame %q that this test does not build", name)
		}
	}
}

func checkDecodes(t *testing.T, f docFrame) {
	t.Helper()
	typ, err := wire.Type(f.b)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	switch typ {
	case wire.MsgHello:
		got, err = wire.DecodeHello(f.b)
	case wire.MsgInput:
		got, err = wire.DecodeInput(f.b)
	case wire.MsgPing:
		got, err = wire.DecodePing(f.b)
	case wire.MsgLeave:
		err = wire.DecodeLeave(f.b)
	case wire.MsgWelcome:
		got, err = wire.DecodeWelcome(f.b)
	case wire.MsgSnapshot:
		got, err = wire.DecodeSnapshot(f.b)
	case wire.MsgEvent:
		got, err = wire.DecodeEvent(f.b)
	case wire.MsgMatchOver:
		got, err = wire.DecodeMatchOver(f.b)
	case wire.MsgError:
		got, err = wire.DecodeError(f.b)
	case wire.MsgPong:
		got, err = wire.DecodePong(f.b)
	}
	if err != nil {
		t.Fatalf("decode %s: %v", typ, err)
	}
	if !reflect.DeepEqual(got, f.msg) {
		t.Errorf("decode %s: got %+v, want %+v", typ, got, f.msg)
	}
}

// TestProtocolDocMirror applies the example's keyframe and delta the way a
// client does and checks the worlds the document describes, including the
// dequantized positions it quotes.
func TestProtocolDocMirror(t *testing.T) {
	var snaps []wire.Snapshot
	for _, f := range docFrames() {
		if s, ok := f.msg.(wire.Snapshot); ok {
			snaps = append(snaps, s)
		}
	}
	if len(snaps) != 2 {
		t.Fatalf("%d example snapshots, want 2", len(snaps))
	}
	var m wire.Mirror
	for i, want := range [][]wire.EntityState{exKeyWorld(), exDeltaWorld()} {
		if err := m.ApplySnapshot(snaps[i]); err != nil {
			t.Fatalf("snapshot %d: %v", snaps[i].Tick, err)
		}
		if got := m.Entities(); !reflect.DeepEqual(got, want) {
			t.Errorf("after snapshot %d the mirror holds\n%+v\nwant\n%+v", snaps[i].Tick, got, want)
		}
	}
	doc := readDoc(t)
	for _, e := range append(exKeyWorld(), exDeltaWorld()...) {
		for _, q := range []int32{e.X, e.Y} {
			if s := fmt.Sprint(wire.Dequantize(q)); !strings.Contains(doc, s) {
				t.Errorf("docs/protocol.md never mentions the position %s (quantized %d)", s, q)
			}
		}
	}
}

// TestProtocolDocConstants checks that the document's tables name every
// message type and close code with the values the package defines, and
// states the limits clients must respect.
func TestProtocolDocConstants(t *testing.T) {
	doc := readDoc(t)
	types := []wire.MsgType{wire.MsgHello, wire.MsgInput, wire.MsgPing, wire.MsgLeave, wire.MsgWelcome,
		wire.MsgSnapshot, wire.MsgEvent, wire.MsgMatchOver, wire.MsgError, wire.MsgPong}
	for _, typ := range types {
		if s := fmt.Sprintf("| %d | %s |", typ, typ); !strings.Contains(doc, s) {
			t.Errorf("docs/protocol.md has no message-type row %q", s)
		}
	}
	codes := []uint16{wire.CodeNormal, wire.CodeGoingAway, wire.CodeProtocolError, wire.CodeUnsupportedData,
		wire.CodeTooLarge, wire.CodeInternal, wire.CodeAuthFailed, wire.CodeTokenExpired, wire.CodeTokenRevoked,
		wire.CodeBadVersion, wire.CodeHandshakeTimeout, wire.CodeMalformed, wire.CodeRateLimited,
		wire.CodeSlowConsumer, wire.CodeReplaced, wire.CodeSeatExpired, wire.CodeMatchNotFound,
		wire.CodeMatchFull, wire.CodeIdleTimeout}
	for _, c := range codes {
		if s := fmt.Sprintf("| %d |", c); !strings.Contains(doc, s) {
			t.Errorf("docs/protocol.md has no close-code row starting %q", s)
		}
	}
	for _, s := range []string{
		fmt.Sprintf("ProtocolVersion = %d", wire.ProtocolVersion),
		fmt.Sprintf("MinProtocolVersion = %d", wire.MinProtocolVersion),
		fmt.Sprintf("MaxClientFrame = %d", wire.MaxClientFrame),
		fmt.Sprintf("MaxTokenLen = %d", wire.MaxTokenLen),
		fmt.Sprintf("MaxStringLen = %d", wire.MaxStringLen),
		fmt.Sprintf("MaxResults = %d", wire.MaxResults),
		fmt.Sprintf("PosScale = %d", wire.PosScale),
		fmt.Sprintf("MaxMirrorEntities = %d", wire.MaxMirrorEntities),
		fmt.Sprintf("| %d | OpMove |", wire.OpMove),
		fmt.Sprintf("| %d | OpUpdate |", wire.OpUpdate),
		fmt.Sprintf("| %d | OpEnter |", wire.OpEnter),
		fmt.Sprintf("| %d | OpRemove |", wire.OpRemove),
		fmt.Sprintf("| 0x%02x | FieldKind |", wire.FieldKind),
		fmt.Sprintf("| 0x%02x | FieldX |", wire.FieldX),
		fmt.Sprintf("| 0x%02x | FieldY |", wire.FieldY),
		fmt.Sprintf("| 0x%02x | FieldHP |", wire.FieldHP),
		fmt.Sprintf("| 0x%02x | FieldOwner |", wire.FieldOwner),
		fmt.Sprintf("| 0x%02x | FieldScore |", wire.FieldScore),
		fmt.Sprintf("| 0x%02x | FieldFlags |", wire.FieldFlags),
		fmt.Sprintf("| 0x%02x | FieldMove |", wire.FieldMove),
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/protocol.md does not say %q", s)
		}
	}
}
