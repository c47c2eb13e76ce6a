package broker_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

func TestSharedSubscriptions(t *testing.T) {
	const messages = 30
	for _, v := range versions {
		t.Run(v.name+"/one-member-per-message", func(t *testing.T) {
			srv := start(t, noRate())
			members := make([]*raw, 3)
			for i := range members {
				members[i] = rawClient(t, srv.Addr, v.v, fmt.Sprintf("m%d", i))
				members[i].sub("$share/g/sh/#", 1)
			}
			other := rawClient(t, srv.Addr, v.v, "other")
			other.sub("$share/h/sh/#", 1)
			pub := rawClient(t, srv.Addr, v.v, "pub")
			for i := range messages {
				pub.pub("sh/x", 1, uint16(i+1), fmt.Sprint(i))
			}
			// Group h has one member: it gets every message.
			for i := range messages {
				if got := other.nextPublishAcked(); string(got.Payload) != fmt.Sprint(i) {
					t.Fatalf("group h message %d = %q, want %q", i, got.Payload, fmt.Sprint(i))
				}
			}
			// Group g: each message reaches exactly one member. Each member
			// drains with a barrier on a topic only it subscribes to.
			seen := map[string]int{}
			for i, m := range members {
				marker := fmt.Sprintf("end/%d", i)
				m.sub(marker, 0)
				pub.pub(marker, 0, 0, "end")
				for {
					got := m.nextPublishAcked()
					if got.Topic == marker {
						break
					}
					seen[string(got.Payload)]++
				}
			}
			for i := range messages {
				if n := seen[fmt.Sprint(i)]; n != 1 {
					t.Errorf("group g got message %d %d times, want 1", i, n)
				}
			}
		})
	}
	t.Run("paho-v3-members", func(t *testing.T) {
		srv := start(t, noRate())
		a := connectV3(t, srv.Addr, "a", true)
		b := connectV3(t, srv.Addr, "b", true)
		a.mustSubscribe(t, "$share/g/p3/x", 1)
		b.mustSubscribe(t, "$share/g/p3/x", 1)
		pub := connectV3(t, srv.Addr, "pub", true)
		for i := range 10 {
			pub.mustPublish(t, "p3/x", 1, false, fmt.Sprint(i))
		}
		brokertest.Eventually(t, wait, "10 messages across the group", func() bool {
			return len(a.msgs)+len(b.msgs) >= 10
		})
		// Prove there are no extra copies: one more message makes exactly 11.
		pub.mustPublish(t, "p3/x", 1, false, "last")
		brokertest.Eventually(t, wait, "11 messages", func() bool { return len(a.msgs)+len(b.msgs) >= 11 })
		if n := len(a.msgs) + len(b.msgs); n != 11 {
			t.Fatalf("group got %d messages, want 11", n)
		}
	})
}

func TestSubscriptionIdentifiers(t *testing.T) {
	subWithID := func(r *raw, filter string, qos byte, id uint32) {
		r.t.Helper()
		s := &packet.Subscribe{PacketID: nextID(), Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}
		s.Properties.SubscriptionIdentifiers = []uint32{id}
		r.send(s)
		for {
			if _, ok := r.recv().(*packet.Suback); ok {
				return
			}
		}
	}
	t.Run("delivered-with-message", func(t *testing.T) {
		srv := start(t, noRate())
		c := rawClient(t, srv.Addr, packet.Version5, "c")
		subWithID(c, "id/a", 0, 7)
		c.pub("id/a", 0, 0, "x")
		if got := c.nextPublish(); !slices.Equal(got.Properties.SubscriptionIdentifiers, []uint32{7}) {
			t.Fatalf("subscription identifiers = %v, want [7]", got.Properties.SubscriptionIdentifiers)
		}
	})
	t.Run("overlapping-deliver-once-at-max-qos", func(t *testing.T) {
		srv := start(t, noRate())
		c := rawClient(t, srv.Addr, packet.Version5, "c")
		subWithID(c, "ov/+", 0, 1)
		subWithID(c, "ov/#", 1, 2)
		pub := rawClient(t, srv.Addr, packet.Version5, "pub")
		pub.pub("ov/x", 1, 1, "x")
		got := c.nextPublishAcked()
		ids := slices.Sorted(slices.Values(got.Properties.SubscriptionIdentifiers))
		if got.QoS != 1 || !slices.Equal(ids, []uint32{1, 2}) {
			t.Fatalf("got QoS %d ids %v, want QoS 1 ids [1 2]", got.QoS, ids)
		}
		barrier(t, c, pub, "a second copy")
	})
}

func TestNoLocal(t *testing.T) {
	srv := start(t, noRate())
	c := rawClient(t, srv.Addr, packet.Version5, "c")
	c.subscribe(1, packet.Subscription{Filter: "nl/a", NoLocal: true})
	other := rawClient(t, srv.Addr, packet.Version5, "other")
	other.sub("nl/a", 0)
	c.pub("nl/a", 0, 0, "own")
	if got := other.nextPublish(); string(got.Payload) != "own" {
		t.Fatalf("other subscriber got %q, want \"own\"", got.Payload)
	}
	other.pub("nl/a", 0, 0, "theirs")
	if got := c.nextPublish(); string(got.Payload) != "theirs" {
		t.Fatalf("no-local subscriber got %q, want \"theirs\" (not its own message)", got.Payload)
	}
	t.Run("shared-no-local-refused", func(t *testing.T) {
		sa := c.subscribe(2, packet.Subscription{Filter: "$share/g/nl/b", NoLocal: true})
		if sa.ReasonCodes[0] != packet.ProtocolError {
			t.Fatalf("SUBACK = 0x%02X, want 0x82", byte(sa.ReasonCodes[0]))
		}
	})
}

func TestMessageExpiry(t *testing.T) {
	withExpiry := func(topicName string, id uint16, seconds uint32, payload string) *packet.Publish {
		p := &packet.Publish{Topic: topicName, QoS: 1, PacketID: id, Payload: []byte(payload)}
		p.Properties.MessageExpiryInterval = seconds
		p.Properties.Set(packet.PropMessageExpiryInterval)
		return p
	}
	t.Run("queued-message-expires", func(t *testing.T) {
		srv := start(t, noRate())
		sub := dialRaw(t, srv.Addr, packet.Version5)
		sub.connectOK(persistentConnect(packet.Version5, "sub", 300))
		sub.sub("ex/#", 1)
		sub.conn.Close()
		waitDisconnected(t, srv, "sub")
		pub := rawClient(t, srv.Addr, packet.Version5, "pub")
		pub.send(withExpiry("ex/short", 1, 1, "short"))
		pub.expectAck(packet.PUBACK, 1)
		pub.send(withExpiry("ex/long", 2, 300, "long"))
		pub.expectAck(packet.PUBACK, 2)
		expired := time.Now().Add(1100 * time.Millisecond)
		time.Sleep(time.Until(expired)) // the message's lifetime must pass; nothing to poll for
		sub = dialRaw(t, srv.Addr, packet.Version5)
		sub.connectOK(persistentConnect(packet.Version5, "sub", 300))
		got := sub.nextPublishAcked()
		if string(got.Payload) != "long" {
			t.Fatalf("first message after resume = %q, want \"long\" (\"short\" expired)", got.Payload)
		}
		if e := got.Properties.MessageExpiryInterval; !got.Properties.Has(packet.PropMessageExpiryInterval) || e > 300 || e < 290 {
			t.Fatalf("remaining expiry = %d, want about 299", e)
		}
	})
	t.Run("live-delivery-carries-remaining", func(t *testing.T) {
		srv := start(t, noRate())
		sub := rawClient(t, srv.Addr, packet.Version5, "sub")
		sub.sub("ex/a", 1)
		pub := rawClient(t, srv.Addr, packet.Version5, "pub")
		pub.send(withExpiry("ex/a", 1, 60, "x"))
		got := sub.nextPublishAcked()
		if e := got.Properties.MessageExpiryInterval; !got.Properties.Has(packet.PropMessageExpiryInterval) || e > 60 || e < 58 {
			t.Fatalf("Message Expiry Interval = %d (present %v), want 59 or 60", e, got.Properties.Has(packet.PropMessageExpiryInterval))
		}
	})
	t.Run("zero-raised-to-one", func(t *testing.T) {
		srv := start(t, noRate())
		sub := rawClient(t, srv.Addr, packet.Version5, "sub")
		sub.sub("ex/z", 1)
		pub := rawClient(t, srv.Addr, packet.Version5, "pub")
		pub.send(withExpiry("ex/z", 1, 0, "x"))
		got := sub.nextPublishAcked()
		if !got.Properties.Has(packet.PropMessageExpiryInterval) || got.Properties.MessageExpiryInterval > 1 {
			t.Fatalf("Message Expiry Interval = %d, want 0 or 1 (0 is raised to 1 s)", got.Properties.MessageExpiryInterval)
		}
	})
	t.Run("v311-subscriber-gets-no-properties", func(t *testing.T) {
		srv := start(t, noRate())
		sub := rawClient(t, srv.Addr, packet.Version311, "sub")
		sub.sub("ex/v3", 1)
		pub := rawClient(t, srv.Addr, packet.Version5, "pub")
		pub.send(withExpiry("ex/v3", 1, 60, "x"))
		if got := sub.nextPublishAcked(); string(got.Payload) != "x" {
			t.Fatalf("v3 subscriber got %q, want \"x\"", got.Payload)
		}
	})
}

// TestClientMaximumPacketSize checks that a message larger than the v5
// client's Maximum Packet Size is not sent to it (MQTT 5 §3.1.2.25).
func TestClientMaximumPacketSize(t *testing.T) {
	srv := start(t, noRate())
	sub := dialRaw(t, srv.Addr, packet.Version5)
	cp := &packet.Connect{ClientID: "sub", CleanStart: true, KeepAlive: 60}
	cp.Properties.MaximumPacketSize = 200
	cp.Properties.Set(packet.PropMaximumPacketSize)
	sub.connectOK(cp)
	sub.sub("mp/#", 1)
	pub := rawClient(t, srv.Addr, packet.Version5, "pub")
	pub.pub("mp/big", 1, 1, string(make([]byte, 500)))
	pub.pub("mp/small", 1, 2, "ok")
	if got := sub.nextPublishAcked(); got.Topic != "mp/small" {
		t.Fatalf("got %s, want mp/small (mp/big exceeds the client's maximum packet size)", got.Topic)
	}
}
