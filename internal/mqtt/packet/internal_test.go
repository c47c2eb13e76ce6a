package packet

import (
	"bytes"
	"testing"
)

func TestVarint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    int
		wire []byte
	}{
		{"zero", 0, []byte{0x00}},
		{"max-1-byte", 127, []byte{0x7F}},
		{"min-2-bytes", 128, []byte{0x80, 0x01}},
		{"max-2-bytes", 16383, []byte{0xFF, 0x7F}},
		{"min-3-bytes", 16384, []byte{0x80, 0x80, 0x01}},
		{"max-3-bytes", 2097151, []byte{0xFF, 0xFF, 0x7F}},
		{"min-4-bytes", 2097152, []byte{0x80, 0x80, 0x80, 0x01}},
		{"max", MaxRemainingLength, []byte{0xFF, 0xFF, 0xFF, 0x7F}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := appendVarint(nil, tc.v); !bytes.Equal(got, tc.wire) {
				t.Errorf("appendVarint(%d) = % x, want % x", tc.v, got, tc.wire)
			}
			if got := varintLen(tc.v); got != len(tc.wire) {
				t.Errorf("varintLen(%d) = %d, want %d", tc.v, got, len(tc.wire))
			}
			c := cursor{b: tc.wire, pt: PUBLISH}
			if got, err := c.readVarint("test"); err != nil || int(got) != tc.v || len(c.b) != 0 {
				t.Errorf("readVarint(% x) = %d, %v (%d left), want %d", tc.wire, got, err, len(c.b), tc.v)
			}
		})
	}
}

// TestHeaderLimit checks the remaining length limit without building a
// 256 MB packet.
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	if _, err := header(nil, PUBLISH, 0x30, MaxRemainingLength+1); err == nil {
		t.Errorf("header(MaxRemainingLength+1) succeeded, want an error")
	}
	got, err := header(make([]byte, 0, 8), PUBLISH, 0x30, 200)
	if err != nil || !bytes.Equal(got, []byte{0x30, 0xC8, 0x01}) {
		t.Errorf("header(200) = % x, %v; want 30 c8 01", got, err)
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	_, err := Decode(0x36, []byte{0, 1, 'a'}, Version311)
	want := "mqtt packet: PUBLISH: QoS 3 is not valid (reason code 0x81)"
	if err == nil || err.Error() != want {
		t.Errorf("Decode(QoS 3) error = %v, want %q", err, want)
	}
}
