package packet_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

var genCorpus = flag.Bool("gen-fuzz-corpus", false, "rewrite the seed corpora under testdata/fuzz from the test tables")

// FuzzDecode holds Decode to never panicking, to returning only *Error, and
// to a round trip: whatever decodes encodes with Append to bytes that decode
// to an equal packet, and encoding that again gives the same bytes.
// data is the first byte followed by the body.
func FuzzDecode(f *testing.F) {
	f.Add(packet.Version5, []byte{0x30, 0x00, 0x01, 'a', 0x00})
	f.Fuzz(func(t *testing.T, version byte, data []byte) {
		if len(data) == 0 {
			return
		}
		p, err := packet.Decode(data[0], data[1:], version)
		if err != nil {
			var perr *packet.Error
			if !errors.As(err, &perr) {
				t.Fatalf("Decode() error %v is not an *Error", err)
			}
			if p != nil {
				t.Fatalf("Decode() returned %#v with error %v", p, err)
			}
			return
		}
		if data[0]>>4 == byte(packet.PUBLISH) {
			var pub packet.Publish
			if err := packet.DecodePublish(data[0], data[1:], version, &pub); err != nil {
				t.Fatalf("DecodePublish() error %v where Decode succeeded", err)
			}
			if diff := cmp.Diff(p, &pub, equate); diff != "" {
				t.Fatalf("DecodePublish() differs from Decode() (-Decode +DecodePublish):\n%s", diff)
			}
		}
		wire, err := packet.Append(nil, p, version)
		if err != nil {
			t.Fatalf("Append(%#v) error: %v", p, err)
		}
		p2, err := packet.Read(bytes.NewReader(wire), version, 0)
		if err != nil {
			t.Fatalf("Read(Append(%#v)) = % x error: %v", p, wire, err)
		}
		if diff := cmp.Diff(p, p2, equate); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
		wire2, err := packet.Append(nil, p2, version)
		if err != nil || !bytes.Equal(wire, wire2) {
			t.Fatalf("second Append() = % x, %v; want % x", wire2, err, wire)
		}
	})
}

// FuzzReadFixedHeader holds ReadFixedHeader to its contract on any input.
func FuzzReadFixedHeader(f *testing.F) {
	f.Add([]byte{0x30, 0x7F}, uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, maxSize uint32) {
		r := bytes.NewReader(data)
		_, n, err := packet.ReadFixedHeader(r, maxSize)
		consumed := len(data) - r.Len()
		if err != nil {
			var perr *packet.Error
			switch {
			case errors.Is(err, io.EOF):
				if len(data) != 0 {
					t.Fatalf("io.EOF after %d bytes", len(data))
				}
			case errors.Is(err, io.ErrUnexpectedEOF):
				if consumed != len(data) || len(data) == 0 || len(data) > 4 {
					t.Fatalf("io.ErrUnexpectedEOF for % x", data)
				}
			case errors.As(err, &perr):
				if perr.Code != packet.MalformedPacket && perr.Code != packet.PacketTooLarge {
					t.Fatalf("unexpected code %v", err)
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if consumed < 2 || consumed > 5 {
			t.Fatalf("consumed %d bytes, want 2 to 5", consumed)
		}
		if n < 0 || n > packet.MaxRemainingLength {
			t.Fatalf("remaining length %d out of range", n)
		}
		if maxSize > 0 && uint64(consumed+n) > uint64(maxSize) {
			t.Fatalf("packet of %d bytes accepted with maxSize %d", consumed+n, maxSize)
		}
	})
}

// TestGenerateFuzzCorpus writes the checked-in seed corpora from the golden
// and malformed tables. Run with -gen-fuzz-corpus after changing them.
func TestGenerateFuzzCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gen-fuzz-corpus to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(dir, name, content string) {
		t.Helper()
		name = strings.ReplaceAll(name, "/", "-")
		if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range goldens {
		wire := unhex(t, g.wire)
		_, n, err := packet.ReadFixedHeader(bytes.NewReader(wire), 0)
		if err != nil {
			t.Fatal(err)
		}
		data := append([]byte{wire[0]}, wire[len(wire)-n:]...)
		write(dir, "golden-"+g.name, fmt.Sprintf("byte(%q)\n[]byte(%q)\n", g.version, data))
	}
	for _, m := range malformedSeeds {
		write(dir, "malformed-"+m.name, fmt.Sprintf("byte(%q)\n[]byte(%q)\n", m.version, append([]byte{m.header}, unhex(t, m.body)...)))
	}
	hdir := filepath.Join("testdata", "fuzz", "FuzzReadFixedHeader")
	if err := os.MkdirAll(hdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name string
		in   string
		max  uint32
	}{
		{"empty", "", 0}, {"zero", "c000", 0}, {"one-byte", "307f", 0}, {"two-bytes", "308001", 0},
		{"four-bytes-max", "30ffffff7f", 0}, {"five-bytes", "30ffffffff01", 0}, {"truncated", "30ff", 0},
		{"at-max-size", "307d", 127}, {"over-max-size", "307e", 127},
	} {
		write(hdir, s.name, fmt.Sprintf("[]byte(%q)\nuint32(%d)\n", unhex(t, s.in), s.max))
	}
}

// malformedSeeds are a few invalid packets for the FuzzDecode corpus.
var malformedSeeds = []struct {
	name    string
	version byte
	header  byte
	body    string
}{
	{"publish-qos3", v4, 0x36, "000161"},
	{"connect-will-flags", v4, 0x10, "00044d515454 04 0a 003c 000163"},
	{"connect5-bad-property", v4, 0x10, "00044d515454 05 02 003c 03 230001 000163"},
	{"publish5-duplicate-property", v5, 0x30, "000161 06 230001 230002"},
	{"publish5-overrun", v5, 0x30, "000161 05 01"},
	{"subscribe5-retain-handling-3", v5, 0x82, "000a 00 000161 30"},
	{"publish5-subscription-id-5-bytes", v5, 0x30, "000161 06 0bffffffff01"},
	{"utf8-surrogate", v4, 0x10, "00044d515454 04 02 003c 0003 eda080"},
}
