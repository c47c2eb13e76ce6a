package broker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

func TestPayloadAndPacketSize(t *testing.T) {
	cfg := broker.Config{MaxPayloadSize: 1024, PublishRate: -1}
	for _, v := range versions {
		t.Run(v.name+"/payload-over-limit", func(t *testing.T) {
			srv := start(t, cfg)
			c := rawClient(t, srv.Addr, v.v, "c")
			c.pub("ok", 1, 1, strings.Repeat("x", 1024)) // at the limit: fine
			c.send(&packet.Publish{Topic: "big", QoS: 1, PacketID: 2, Payload: make([]byte, 1025)})
			c.expectClosedVersion(packet.PacketTooLarge)
			if ev := waitDisconnected(t, srv, "c"); ev.DisconnectReason != broker.ReasonClientError {
				t.Fatalf("disconnect reason %s, want %s", ev.DisconnectReason, broker.ReasonClientError)
			}
		})
		t.Run(v.name+"/packet-over-maximum-refused-before-body", func(t *testing.T) {
			srv := start(t, cfg)
			c := rawClient(t, srv.Addr, v.v, "c")
			// A PUBLISH header announcing 1 MB, and no body: the broker must
			// refuse it from the header alone instead of waiting for the bytes.
			hdr := []byte{0x30, 0x80, 0x80, 0x40} // remaining length 1,048,576
			if _, err := c.conn.Write(hdr); err != nil {
				t.Fatal(err)
			}
			c.expectClosedVersion(packet.PacketTooLarge)
		})
	}
	t.Run("connack-maximum-packet-size", func(t *testing.T) {
		srv := start(t, cfg)
		ack := dialRaw(t, srv.Addr, packet.Version5).mustConnect("c", true)
		if want := uint32(1024 + 8*1024); ack.Properties.MaximumPacketSize != want {
			t.Fatalf("CONNACK Maximum Packet Size = %d, want %d", ack.Properties.MaximumPacketSize, want)
		}
	})
}

func TestSubscriptionLimits(t *testing.T) {
	for _, v := range versions {
		refused := packet.QuotaExceeded
		if v.v == packet.Version311 {
			refused = packet.SubackFailure
		}
		t.Run(v.name+"/nine-filters", func(t *testing.T) {
			srv := start(t, noRate())
			c := rawClient(t, srv.Addr, v.v, "c")
			subs := make([]packet.Subscription, 9)
			for i := range subs {
				subs[i] = packet.Subscription{Filter: fmt.Sprintf("f/%d", i), QoS: 1}
			}
			sa := c.subscribe(1, subs...)
			want := []packet.ReasonCode{1, 1, 1, 1, 1, 1, 1, 1, refused}
			if fmt.Sprint(sa.ReasonCodes) != fmt.Sprint(want) {
				t.Fatalf("SUBACK = %v, want %v", sa.ReasonCodes, want)
			}
		})
		t.Run(v.name+"/fifty-first-subscription", func(t *testing.T) {
			srv := start(t, noRate())
			c := rawClient(t, srv.Addr, v.v, "c")
			for i := range 50 {
				c.sub(fmt.Sprintf("s/%d", i), 0)
			}
			c.sub("s/0", 1) // replacing an existing subscription is not a new one
			sa := c.subscribe(2, packet.Subscription{Filter: "s/50"})
			if sa.ReasonCodes[0] != refused {
				t.Fatalf("51st SUBACK = 0x%02X, want 0x%02X", byte(sa.ReasonCodes[0]), byte(refused))
			}
		})
	}
}

func TestTopicAlias(t *testing.T) {
	aliased := func(topicName string, alias uint16, payload string) *packet.Publish {
		p := &packet.Publish{Topic: topicName, Payload: []byte(payload)}
		p.Properties.TopicAlias = alias
		p.Properties.Set(packet.PropTopicAlias)
		return p
	}
	t.Run("set-then-use", func(t *testing.T) {
		srv := start(t, noRate())
		sub := rawClient(t, srv.Addr, packet.Version5, "sub")
		sub.sub("ta/#", 0)
		c := rawClient(t, srv.Addr, packet.Version5, "c")
		c.send(aliased("ta/x", 8, "one"))
		c.send(aliased("", 8, "two"))
		for _, want := range []string{"one", "two"} {
			if got := sub.nextPublish(); got.Topic != "ta/x" || string(got.Payload) != want {
				t.Fatalf("got %s %q, want ta/x %q", got.Topic, got.Payload, want)
			}
		}
	})
	t.Run("above-maximum", func(t *testing.T) {
		srv := start(t, noRate())
		c := rawClient(t, srv.Addr, packet.Version5, "c")
		c.send(aliased("ta/x", 9, "x"))
		c.expectDisconnect(packet.TopicAliasInvalid)
	})
	t.Run("unknown-alias", func(t *testing.T) {
		srv := start(t, noRate())
		c := rawClient(t, srv.Addr, packet.Version5, "c")
		c.send(aliased("", 2, "x"))
		c.expectDisconnect(packet.ProtocolError)
	})
	t.Run("connack-topic-alias-maximum", func(t *testing.T) {
		srv := start(t, noRate())
		ack := dialRaw(t, srv.Addr, packet.Version5).mustConnect("c", true)
		if ack.Properties.TopicAliasMaximum != 8 {
			t.Fatalf("CONNACK Topic Alias Maximum = %d, want 8", ack.Properties.TopicAliasMaximum)
		}
	})
}

// TestReservedTopics checks AWS's rules for '$' topics and its topic limits.
func TestReservedTopics(t *testing.T) {
	for _, tc := range []struct {
		topic string
		want  packet.ReasonCode // v5 PUBACK; any refusal of a QoS 1 publish closes a v3 connection
	}{
		{"$aws/things/t1/shadow/update", packet.NoMatchingSubscribers},
		{"$aws/things/t1/shadow/name/s1/get", packet.NoMatchingSubscribers},
		{"$aws/rules/r/a/b/c/d/e/f/g", packet.NoMatchingSubscribers}, // rule prefix not counted
		{"$aws/things/t1/shadow/update/accepted", packet.NotAuthorized},
		{"$aws/events/presence/connected/x", packet.NotAuthorized},
		{"$SYS/x", packet.NotAuthorized},
		{"$foo", packet.NotAuthorized},
		{"a/b/c/d/e/f/g/h/i", packet.TopicNameInvalid}, // 8 slashes
		{"a/b/c/d/e/f/g/h", packet.NoMatchingSubscribers},
		{strings.Repeat("x", 257), packet.TopicNameInvalid},
		{strings.Repeat("x", 256), packet.NoMatchingSubscribers},
	} {
		name := tc.topic
		if len(name) > 40 {
			name = fmt.Sprintf("%d-bytes", len(name))
		}
		t.Run("publish/v5/"+strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			srv := start(t, noRate())
			c := rawClient(t, srv.Addr, packet.Version5, "c")
			if ack := c.pub(tc.topic, 1, 1, "{}"); ack.ReasonCode != tc.want {
				t.Fatalf("PUBACK %s = 0x%02X (%q), want 0x%02X", tc.topic, byte(ack.ReasonCode), ack.Properties.ReasonString, byte(tc.want))
			}
		})
		t.Run("publish/v311/"+strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			srv := start(t, noRate())
			c := rawClient(t, srv.Addr, packet.Version311, "c")
			if tc.want >= 0x80 {
				// 3.1.1 cannot refuse in a PUBACK, and acknowledging a dropped
				// QoS 1 message would lose it: the connection is closed.
				c.send(&packet.Publish{Topic: tc.topic, QoS: 1, PacketID: 1, Payload: []byte("{}")})
				c.expectClosedVersion(0)
				return
			}
			c.pub(tc.topic, 1, 1, "{}")
		})
	}
	for _, v := range versions {
		for _, tc := range []struct {
			filter string
			ok     bool
		}{
			{"$aws/things/+/shadow/update", true},
			{"$aws/things/t1/shadow/update/accepted", true},
			{"$aws/events/#", true},
			{"$aws/rules/x", false},
			{"$SYS/#", false},
			{"a/b/c/d/e/f/g/h/#", false},       // 8 slashes
			{"$share/g/a/b/c/d/e/f/g/h", true}, // $share/g/ not counted
		} {
			t.Run("subscribe/"+v.name+"/"+strings.ReplaceAll(tc.filter, "/", "_"), func(t *testing.T) {
				srv := start(t, noRate())
				c := rawClient(t, srv.Addr, v.v, "c")
				sa := c.subscribe(1, packet.Subscription{Filter: tc.filter, QoS: 1})
				if got := sa.ReasonCodes[0] < 0x80; got != tc.ok {
					t.Fatalf("SUBACK %s = 0x%02X, want granted=%v", tc.filter, byte(sa.ReasonCodes[0]), tc.ok)
				}
			})
		}
	}
	t.Run("subscribe/v5/denied-reason-code", func(t *testing.T) {
		srv := start(t, noRate())
		c := rawClient(t, srv.Addr, packet.Version5, "c")
		if sa := c.subscribe(1, packet.Subscription{Filter: "$aws/rules/x"}); sa.ReasonCodes[0] != packet.NotAuthorized {
			t.Fatalf("SUBACK = 0x%02X, want 0x87", byte(sa.ReasonCodes[0]))
		}
	})
}

// TestWildcardsAndDollarTopics checks that filters starting with a wildcard
// never match '$' topics (MQTT §4.7.2).
func TestWildcardsAndDollarTopics(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			srv := start(t, noRate())
			wild := rawClient(t, srv.Addr, v.v, "wild")
			wild.sub("#", 0)
			wild.sub("+/things/#", 0)
			aws := rawClient(t, srv.Addr, v.v, "aws")
			aws.sub("$aws/things/#", 0)
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.pub("$aws/things/t1/shadow/update", 0, 0, "{}")
			if got := aws.nextPublish(); got.Topic != "$aws/things/t1/shadow/update" {
				t.Fatalf("$aws/things/# subscriber got %s, want the shadow update", got.Topic)
			}
			// wild gets the barrier marker (through #) and nothing before it.
			pub.pub("other/x", 0, 0, "x")
			if got := wild.nextPublish(); got.Topic != "other/x" {
				t.Fatalf("# subscriber got %s, want other/x (no $ topic)", got.Topic)
			}
		})
	}
}

func TestPublishRate(t *testing.T) {
	srv := start(t, broker.Config{PublishRate: 3})
	c := rawClient(t, srv.Addr, packet.Version5, "c")
	var codes []packet.ReasonCode
	for i := range 5 {
		codes = append(codes, c.pub("rate/x", 1, uint16(i+1), "x").ReasonCode)
	}
	// The window is one second; the first three fit unless the test straddles
	// a window boundary, so count instead of comparing positions.
	refused := 0
	for _, code := range codes {
		if code == packet.QuotaExceeded {
			refused++
		}
	}
	if refused == 0 {
		t.Fatalf("PUBACK codes %v, want some 0x97 beyond 3 publishes per second", codes)
	}
}

// An MQTT 3.1.1 client over the publish rate is disconnected (THROTTLED)
// instead of getting a PUBACK for a message that was dropped, so the message
// is resent after reconnecting rather than lost.
func TestPublishRateV3ClosesInsteadOfLosing(t *testing.T) {
	srv := start(t, broker.Config{PublishRate: 2})
	c := rawClient(t, srv.Addr, packet.Version311, "throttled")
	// One write: the server closes the connection part-way through.
	var burst []byte
	for i := range 6 {
		burst, _ = packet.Append(burst, &packet.Publish{Topic: "rate/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")}, packet.Version311)
	}
	if _, err := c.conn.Write(burst); err != nil {
		t.Fatal(err)
	}
	acks := 0
	for _, p := range c.expectClosed(5 * time.Second) {
		if _, ok := p.(*packet.Ack); ok {
			acks++
		}
	}
	if acks > 2 {
		t.Fatalf("got %d PUBACKs for 6 publishes at a limit of 2 per second; refused ones must not be acknowledged", acks)
	}
	srv.Events.Wait(t, 5*time.Second, "THROTTLED disconnect", func(ev broker.Event) bool {
		return ev.Kind == broker.EventDisconnected && ev.ClientID == "throttled" && ev.DisconnectReason == broker.ReasonThrottled
	})
}
