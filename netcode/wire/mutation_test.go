package wire

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// Tests written from mutation testing (make mutate): each pins a bound, a
// count or an error position that a planted bug changed without any other
// test noticing.

func TestSnapshotHeaderLargestOps(t *testing.T) {
	b := AppendSnapshotHeader(nil, 1, 0, 0, math.MaxUint32) // the header only: no ops are allocated
	if want := []byte{mpBin32, 0xff, 0xff, 0xff, 0xff}; !bytes.HasSuffix(b, want) {
		t.Fatalf("header % x does not end with a bin32 of 2^32-1 bytes", b)
	}
	if math.MaxInt == math.MaxInt32 {
		return
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for 2^32 bytes of ops")
		}
	}()
	AppendSnapshotHeader(nil, 1, 0, 0, math.MaxUint32+1)
}

func TestTrailingBytesCounted(t *testing.T) {
	b := append(AppendPing(nil, Ping{Time: 7}), 1, 2, 3)
	if _, err := DecodePing(b); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "3 trailing bytes") {
		t.Fatalf("DecodePing with 3 extra bytes: %v", err)
	}
}

// TestInputLargestFinite: the largest finite floats pass through an input
// unchanged; only NaN and infinities become 0.
func TestInputLargestFinite(t *testing.T) {
	in := Input{Seq: 1, DX: math.MaxFloat32, DY: -math.MaxFloat32, Aim: math.MaxFloat32}
	got, err := DecodeInput(AppendInput(nil, in))
	if err != nil || got.DX != in.DX || got.DY != in.DY || got.Aim != in.Aim {
		t.Fatalf("DecodeInput = %+v, %v; want %+v", got, err, in)
	}
}

// TestReaderErrorsPointAtTheByte: a value of the wrong type is reported at
// its own offset, not past it.
func TestReaderErrorsPointAtTheByte(t *testing.T) {
	tests := []struct {
		name string
		read func(r *reader) error
	}{
		{"bool", func(r *reader) error { _, err := r.bool(); return err }},
		{"str", func(r *reader) error { _, err := r.str(10); return err }},
		{"bin", func(r *reader) error { _, err := r.bin(); return err }},
		{"skip", func(r *reader) error { budget := 100; return r.skip(1, &budget) }},
		{"array", func(r *reader) error { _, err := r.arrayHeader(); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &reader{b: []byte{0x01, 0xc1, 0x00}, off: 1} // 0xc1 is never a valid format byte
			err := tt.read(r)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "at byte 1:") || r.off != 1 {
				t.Fatalf("err %v, offset %d; want an error at byte 1", err, r.off)
			}
		})
	}
}

func TestReaderIntBounds(t *testing.T) {
	r := &reader{b: appendInt(nil, 0)}
	if v, err := r.int(-5, 0); err != nil || v != 0 {
		t.Fatalf("int(-5, 0) of 0 = %d, %v", v, err)
	}
	r = &reader{b: appendInt(nil, 1)}
	if _, err := r.int(-5, 0); !errors.Is(err, ErrMalformed) || r.off != 0 {
		t.Fatalf("int(-5, 0) of 1: %v at %d", err, r.off)
	}
}

// TestReaderFloatAtTheEnd: a float that ends exactly at the end of the
// buffer is read, not reported as truncated.
func TestReaderFloatAtTheEnd(t *testing.T) {
	for _, b := range [][]byte{
		{mpFloat32, 0x3f, 0xc0, 0x00, 0x00},
		{mpFloat64, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0},
	} {
		r := &reader{b: b}
		if v, err := r.float32(); err != nil || v != 1.5 || r.off != len(b) {
			t.Fatalf("float32(% x) = %v, %v", b, v, err)
		}
	}
}

func TestMirrorRemoveMakesRoom(t *testing.T) {
	ops := bytes.Repeat([]byte{0x06, 0}, MaxMirrorEntities) // enter ids 1..Max
	var m Mirror
	if err := m.Apply(ops); err != nil {
		t.Fatal(err)
	}
	// Remove id 1, then enter id Max+1: the count never exceeds the cap.
	step := AppendOpHeader(nil, 1, OpRemove)
	step = append(AppendOpHeader(step, MaxMirrorEntities, OpEnter), 0)
	if err := m.Apply(step); err != nil || m.Len() != MaxMirrorEntities {
		t.Fatalf("remove one, enter one at the cap: %v, len %d", err, m.Len())
	}
}

func TestMirrorTruncatedOps(t *testing.T) {
	var m Mirror
	if err := m.Apply(append(AppendOpHeader(nil, 1, OpEnter), FieldX|FieldY, 2, 4)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ops  []byte
		want string
	}{
		{"header varint", []byte{0x80}, "bad header varint"},
		{"owner varint", append(AppendOpHeader(nil, 1, OpUpdate), FieldOwner), "truncated or bad field"},
		{"owner varint cut", append(AppendOpHeader(nil, 1, OpUpdate), FieldOwner, 0x80), "truncated or bad field"},
		{"move field", append(AppendOpHeader(nil, 1, OpUpdate), FieldHP|FieldMove, 5, 1), "truncated move field"},
		{"move", append(AppendOpHeader(nil, 1, OpMove), 1), "truncated move"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := m.Entities()[0]
			err := m.Apply(tt.ops)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply(% x) = %v, want %q", tt.ops, err, tt.want)
			}
			if m.Len() != 1 || m.Entities()[0] != before {
				t.Fatalf("a failed apply changed the mirror: %+v", m.Entities())
			}
		})
	}
}

func TestCheckSortedMessage(t *testing.T) {
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "at index 1 (3 after 5)") {
			t.Fatalf("panic %q", msg)
		}
	}()
	AppendDiff(nil, nil, []EntityState{{ID: 5}, {ID: 3}})
}

func TestCheckSortedDuplicate(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a duplicate id")
		}
	}()
	AppendDiff(nil, nil, []EntityState{{ID: 5}, {ID: 5}})
}

// TestSkipLimits: skipping unknown trailing elements is bounded by nesting
// depth and by an element budget, each counted exactly, and every ext
// form is skipped whole (type byte included).
func TestSkipLimits(t *testing.T) {
	nested := func(k int) []byte { // k arrays, each holding the next; the last is empty
		b := bytes.Repeat([]byte{0x91}, k-1)
		return append(b, 0x90)
	}
	for k, ok := range map[int]bool{maxSkipDepth: true, maxSkipDepth + 1: false} {
		r := &reader{b: nested(k)}
		budget := 100
		if err := r.skip(1, &budget); (err == nil) != ok || (ok && r.off != len(r.b)) {
			t.Errorf("%d nested arrays: %v (offset %d)", k, err, r.off)
		}
	}
	three := []byte{0x93, 1, 2, 3} // four elements: the array and its three
	for budget, ok := range map[int]bool{4: true, 3: false} {
		r := &reader{b: three}
		left := budget
		if err := r.skip(1, &left); (err == nil) != ok {
			t.Errorf("budget %d for 4 elements: %v", budget, err)
		}
		if ok && left != 0 {
			t.Errorf("budget %d for 4 elements: %d left, want 0", budget, left)
		}
	}
	for _, b := range [][]byte{
		{mpExt8, 2, 7, 0xaa, 0xbb},
		{mpExt16, 0, 2, 7, 0xaa, 0xbb},
		{mpExt32, 0, 0, 0, 2, 7, 0xaa, 0xbb},
		{mpFixExt1, 7, 0xaa},
	} {
		r := &reader{b: append(b, 0x01)}
		budget := 10
		if err := r.skip(1, &budget); err != nil || r.off != len(b) {
			t.Errorf("skip % x: %v, offset %d, want %d", b, err, r.off, len(b))
		}
	}
}
