package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

var (
	clientTypes = []MsgType{MsgHello, MsgInput, MsgPing, MsgLeave}
	serverTypes = []MsgType{MsgWelcome, MsgSnapshot, MsgEvent, MsgMatchOver, MsgError, MsgPong}
)

// addFrameSeeds adds each frame whole and split in half.
func addFrameSeeds(f *testing.F, frames [][]byte) {
	for _, b := range frames {
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[len(b)/2:])
	}
}

func seedFrames(types []MsgType) [][]byte {
	var out [][]byte
	for _, fr := range sampleFrames() {
		t, _ := Type(fr.enc)
		if slices.Contains(types, t) && len(fr.enc) < 4096 {
			out = append(out, fr.enc)
		}
	}
	return out
}

// checkDecode decodes b with every decoder in types and, for each that
// accepts it, checks that Type agrees and that decode -> encode -> decode
// is stable (and that encoding is canonical from then on).
func checkDecode(t *testing.T, b []byte, types []MsgType) {
	typ, typErr := Type(b)
	if typErr != nil && !errors.Is(typErr, ErrMalformed) {
		t.Fatalf("Type error %v does not wrap ErrMalformed", typErr)
	}
	for _, want := range types {
		m, err := decodeAny(want, b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v: error %v does not wrap ErrMalformed", want, err)
			}
			continue
		}
		if typErr != nil || typ != want {
			t.Fatalf("%v decoder accepted a frame Type calls %v, %v", want, typ, typErr)
		}
		enc := encodeAny(nil, m)
		m2, err := decodeAny(want, enc)
		if err != nil {
			t.Fatalf("%v: re-encoded %+v does not decode: %v", want, m, err)
		}
		if !equalMsg(m, m2) {
			t.Fatalf("%v: decode -> encode -> decode changed %+v to %+v", want, m, m2)
		}
		if enc2 := encodeAny(nil, m2); !bytes.Equal(enc, enc2) {
			t.Fatalf("%v: encoding not stable: % x then % x", want, enc, enc2)
		}
	}
}

func FuzzDecodeClient(f *testing.F) {
	addFrameSeeds(f, seedFrames(clientTypes))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b, clientTypes)
	})
}

func FuzzDecodeServer(f *testing.F) {
	addFrameSeeds(f, seedFrames(serverTypes))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b, serverTypes)
	})
}

// fuzzWorld is the mirror state FuzzMirrorApply applies ops onto.
var fuzzWorld = []EntityState{
	{ID: 1, Kind: 1, HP: 100, X: 160, Y: -160},
	{ID: 2, Owner: 7, Score: 300, X: 1 << 30, Y: -1 << 30},
	{ID: 5, Flags: 3},
	{ID: 40, Kind: 2, HP: 1, X: 2147483647, Y: -2147483648},
	{ID: 1000},
}

func FuzzMirrorApply(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	seeds := [][]byte{AppendDiff(nil, nil, fuzzWorld)}
	w := fuzzWorld
	for range 6 {
		next := randWorld(r, w, 64)
		seeds = append(seeds, AppendDiff(nil, w, next))
		w = next
	}
	for _, s := range seeds {
		if len(s) > 0 {
			f.Add(s)
			f.Add(s[:len(s)/2])
			f.Add(s[len(s)/2:])
		}
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		for _, base := range [][]EntityState{nil, fuzzWorld} {
			var m Mirror
			if err := m.Apply(AppendDiff(nil, nil, base)); err != nil {
				t.Fatal(err)
			}
			err := m.Apply(ops)
			got := m.Entities()
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v does not wrap ErrMalformed", err)
				}
				if !slices.Equal(got, base) {
					t.Fatalf("failed apply changed the mirror")
				}
				continue
			}
			if len(got) > MaxMirrorEntities {
				t.Fatalf("%d entities", len(got))
			}
			for i := 1; i < len(got); i++ {
				if got[i].ID <= got[i-1].ID {
					t.Fatalf("ids out of order: %d after %d", got[i].ID, got[i-1].ID)
				}
			}
			// Our encoder reproduces the same change.
			var m2 Mirror
			if err := m2.Apply(AppendDiff(nil, nil, base)); err != nil {
				t.Fatal(err)
			}
			if err := m2.Apply(AppendDiff(nil, base, got)); err != nil {
				t.Fatalf("re-encoded diff: %v", err)
			}
			if !slices.Equal(m2.Entities(), got) {
				t.Fatalf("re-encoded diff gives a different world")
			}
		}
	})
}
