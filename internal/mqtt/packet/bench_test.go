package packet_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// benchPublish is a typical device telemetry message: v5 properties but no
// User Properties.
func benchPublish() *packet.Publish {
	return &packet.Publish{QoS: 1, PacketID: 42, Topic: "devices/thing-1/telemetry",
		Payload: bytes.Repeat([]byte("x"), 256),
		Properties: props(packet.Properties{MessageExpiryInterval: 3600, ContentType: "application/json", TopicAlias: 7},
			packet.PropMessageExpiryInterval, packet.PropContentType, packet.PropTopicAlias)}
}

func encoded(tb testing.TB, p packet.Packet, version byte) (header byte, body []byte) {
	tb.Helper()
	wire, err := packet.Append(nil, p, version)
	if err != nil {
		tb.Fatal(err)
	}
	_, n, err := packet.ReadFixedHeader(bytes.NewReader(wire), 0)
	if err != nil {
		tb.Fatal(err)
	}
	return wire[0], wire[len(wire)-n:]
}

var versions = []struct {
	name    string
	version byte
}{{"v3", packet.Version311}, {"v5", packet.Version5}}

// BenchmarkDecodePublish: 1 alloc/op, the *Publish returned through the
// Packet interface.
func BenchmarkDecodePublish(b *testing.B) {
	for _, v := range versions {
		b.Run(v.name, func(b *testing.B) {
			header, body := encoded(b, benchPublish(), v.version)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := packet.Decode(header, body, v.version); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodePublishInto: 0 allocs/op.
func BenchmarkDecodePublishInto(b *testing.B) {
	for _, v := range versions {
		b.Run(v.name, func(b *testing.B) {
			header, body := encoded(b, benchPublish(), v.version)
			var p packet.Publish
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := packet.DecodePublish(header, body, v.version, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendPublish: 0 allocs/op when dst has capacity.
func BenchmarkAppendPublish(b *testing.B) {
	for _, v := range versions {
		b.Run(v.name, func(b *testing.B) {
			p := benchPublish()
			dst := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = packet.Append(dst[:0], p, v.version); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}

func TestAllocs(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	pub := benchPublish()
	withUser := benchPublish()
	withUser.Properties.UserProperties = kv
	ack := &packet.Ack{Kind: packet.PUBACK, PacketID: 1, ReasonCode: packet.NoMatchingSubscribers,
		Properties: props(packet.Properties{ReasonString: "none", UserProperties: kv}, packet.PropReasonString)}
	sub := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 1}}}
	for _, v := range versions {
		pubHeader, pubBody := encoded(t, pub, v.version)
		tests := []struct {
			name string
			want float64
			f    func()
		}{
			{"decode-publish", 1, func() { _, _ = packet.Decode(pubHeader, pubBody, v.version) }},
			{"decode-publish-into", 0, func() {
				var p packet.Publish
				_ = packet.DecodePublish(pubHeader, pubBody, v.version, &p)
			}},
			{"append-publish", 0, func() { _, _ = packet.Append(make([]byte, 0, 1024)[:0], pub, v.version) }},
			{"append-publish-user-properties", 0, func() { _, _ = packet.Append(make([]byte, 0, 1024)[:0], withUser, v.version) }},
			{"append-ack", 0, func() { _, _ = packet.Append(make([]byte, 0, 64)[:0], ack, v.version) }},
			{"append-subscribe", 0, func() { _, _ = packet.Append(make([]byte, 0, 64)[:0], sub, v.version) }},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%s", v.name, tc.name), func(t *testing.T) {
				if got := testing.AllocsPerRun(100, tc.f); got != tc.want {
					t.Errorf("allocs = %v, want %v", got, tc.want)
				}
			})
		}
	}
}
