package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// wantCode is a ReasonCode an error must carry; 0 means no *Error.
func checkErr(t *testing.T, err, wantErr error, wantCode packet.ReasonCode) {
	t.Helper()
	if wantCode != 0 {
		var perr *packet.Error
		if !errors.As(err, &perr) || perr.Code != wantCode {
			t.Fatalf("error = %v, want *Error with code 0x%02X", err, byte(wantCode))
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("error = %v, want %v", err, wantErr)
	}
}

func TestReadFixedHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		in            string
		maxSize       uint32
		wantHeader    byte
		wantRemaining int
		wantErr       error
		wantCode      packet.ReasonCode
	}{
		{name: "empty", in: "", wantErr: io.EOF},
		{name: "zero-length", in: "c0 00", wantHeader: 0xC0},
		{name: "one-byte", in: "30 7f", wantHeader: 0x30, wantRemaining: 127},
		{name: "two-bytes", in: "30 8001", wantHeader: 0x30, wantRemaining: 128},
		{name: "three-bytes", in: "30 808001", wantHeader: 0x30, wantRemaining: 16384},
		{name: "four-bytes-max", in: "30 ffffff7f", wantHeader: 0x30, wantRemaining: packet.MaxRemainingLength},
		{name: "non-minimal-accepted", in: "30 8000", wantHeader: 0x30, wantRemaining: 0},
		{name: "five-bytes", in: "30 ffffffff01", wantCode: packet.MalformedPacket},
		{name: "eof-after-first-byte", in: "30", wantErr: io.ErrUnexpectedEOF},
		{name: "eof-inside-length", in: "30 ff", wantErr: io.ErrUnexpectedEOF},
		{name: "exactly-max-size", in: "30 7d", maxSize: 127, wantHeader: 0x30, wantRemaining: 125},
		{name: "one-over-max-size", in: "30 7e", maxSize: 127, wantCode: packet.PacketTooLarge},
		{name: "length-bytes-count-toward-max", in: "30 8001", maxSize: 130, wantCode: packet.PacketTooLarge},
		{name: "huge-over-max-size", in: "30 ffffff7f", maxSize: 1 << 20, wantCode: packet.PacketTooLarge},
		{name: "zero-max-size-unlimited", in: "30 ffffff7f", wantHeader: 0x30, wantRemaining: packet.MaxRemainingLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, n, err := packet.ReadFixedHeader(bytes.NewReader(unhex(t, tc.in)), tc.maxSize)
			if tc.wantErr != nil || tc.wantCode != 0 {
				checkErr(t, err, tc.wantErr, tc.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("ReadFixedHeader(%s) error: %v", tc.in, err)
			}
			if h != tc.wantHeader || n != tc.wantRemaining {
				t.Errorf("ReadFixedHeader(%s) = %02x, %d; want %02x, %d", tc.in, h, n, tc.wantHeader, tc.wantRemaining)
			}
		})
	}
}

// TestReadStream reads several packets in a row from one buffered stream.
func TestReadStream(t *testing.T) {
	t.Parallel()
	var stream []byte
	var want []packet.Packet
	for _, g := range goldens {
		if g.version == packet.Version5 && !g.decodeOnly {
			stream = append(stream, unhex(t, g.wire)...)
			want = append(want, g.pkt)
		}
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	for i, w := range want {
		got, err := packet.Read(r, packet.Version5, 1024)
		if err != nil {
			t.Fatalf("Read() #%d error: %v", i, err)
		}
		if diff := cmp.Diff(w, got, equate); diff != "" {
			t.Errorf("Read() #%d mismatch (-want +got):\n%s", i, diff)
		}
	}
	if _, err := packet.Read(r, packet.Version5, 1024); !errors.Is(err, io.EOF) {
		t.Errorf("Read() at end of stream error = %v, want io.EOF", err)
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		version  byte
		maxSize  uint32
		wantErr  error
		wantCode packet.ReasonCode
	}{
		{name: "eof", in: "", wantErr: io.EOF},
		{name: "truncated-body", in: "30 07 0003 612f62", wantErr: io.ErrUnexpectedEOF},
		{name: "missing-body", in: "30 07", wantErr: io.ErrUnexpectedEOF},
		// The body is absent: a too-large error proves Read did not try to read it.
		{name: "too-large-before-body", in: "30 ffffff7f", maxSize: 1 << 16, wantCode: packet.PacketTooLarge},
		// Bad fixed header flags are refused before the body is read.
		{name: "bad-flags-before-body", in: "80 ffffff7f", wantCode: packet.MalformedPacket},
		{name: "qos3-before-body", in: "36 ffffff7f", wantCode: packet.MalformedPacket},
		{name: "auth-in-311", in: "f0 00", version: packet.Version311, wantCode: packet.MalformedPacket},
		{name: "decode-error", in: "40 03 0001 00", version: packet.Version311, wantCode: packet.MalformedPacket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := packet.Read(bytes.NewReader(unhex(t, tc.in)), tc.version, tc.maxSize)
			if p != nil {
				t.Errorf("Read() returned packet %#v with an error", p)
			}
			checkErr(t, err, tc.wantErr, tc.wantCode)
		})
	}
}

func TestDecodePublish(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version byte
		header  byte
		body    string
		want    packet.Publish
		wantErr bool
	}{
		{name: "v4", version: v4, header: 0x33, body: "000161 0001 78",
			want: packet.Publish{QoS: 1, Retain: true, Topic: "a", PacketID: 1, Payload: []byte("x")}},
		{name: "v5-user-property", version: v5, header: 0x30, body: "000161 07 2600016b000176",
			want: packet.Publish{Topic: "a", Properties: packet.Properties{UserProperties: kv}}},
		{name: "not-publish", version: v4, header: 0x40, body: "0001", wantErr: true},
		{name: "malformed", version: v4, header: 0x36, body: "000161", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Stale fields must be overwritten.
			got := packet.Publish{Dup: true, Topic: "stale", Payload: []byte("stale"),
				Properties: props(packet.Properties{TopicAlias: 9}, packet.PropTopicAlias)}
			err := packet.DecodePublish(tc.header, unhex(t, tc.body), tc.version, &got)
			if tc.wantErr {
				var perr *packet.Error
				if !errors.As(err, &perr) {
					t.Fatalf("DecodePublish() error = %v, want *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodePublish() error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, equate); diff != "" {
				t.Errorf("DecodePublish() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
