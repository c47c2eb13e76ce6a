package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

func TestQoSRoundTripPahoV3(t *testing.T) {
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			srv := start(t, noRate())
			sub := connectV3(t, srv.Addr, "sub", true)
			sub.mustSubscribe(t, "q/#", qos)
			pub := connectV3(t, srv.Addr, "pub", true)
			pub.mustPublish(t, "q/a", qos, false, "hello")
			m := sub.next(t)
			if m.Topic() != "q/a" || string(m.Payload()) != "hello" || m.Qos() != qos {
				t.Fatalf("got %s %q qos %d, want q/a \"hello\" qos %d", m.Topic(), m.Payload(), m.Qos(), qos)
			}
		})
	}
}

func TestQoSRoundTripPahoV5(t *testing.T) {
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			srv := start(t, noRate())
			sub := connectV5(t, srv.Addr, &paho.Connect{ClientID: "sub", CleanStart: true, KeepAlive: 60})
			sa := sub.mustSubscribe(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "q/#", QoS: qos}}})
			if sa.Reasons[0] != qos {
				t.Fatalf("SUBACK = %v, want [%d]", sa.Reasons, qos)
			}
			pub := connectV5(t, srv.Addr, &paho.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 60})
			r := pub.mustPublish(t, &paho.Publish{Topic: "q/a", QoS: qos, Payload: []byte("hello")})
			if qos > 0 && r.ReasonCode != 0 {
				t.Fatalf("publish reason 0x%02X, want 0", r.ReasonCode)
			}
			m := sub.next(t)
			if m.Topic != "q/a" || string(m.Payload) != "hello" || m.QoS != qos {
				t.Fatalf("got %s %q qos %d, want q/a \"hello\" qos %d", m.Topic, m.Payload, m.QoS, qos)
			}
		})
	}
}

// TestQoSAckFlowsRaw checks the exact acknowledgement packets in both
// directions: PUBACK for QoS 1, PUBREC/PUBREL/PUBCOMP for QoS 2.
func TestQoSAckFlowsRaw(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name+"/qos1", func(t *testing.T) {
			srv := start(t, noRate())
			sub := rawClient(t, srv.Addr, v.v, "sub")
			sub.sub("a", 1)
			pub := rawClient(t, srv.Addr, v.v, "pub")
			ack := pub.pub("a", 1, 11, "x")
			if ack.ReasonCode != packet.Success {
				t.Fatalf("PUBACK reason 0x%02X, want 0", byte(ack.ReasonCode))
			}
			got := sub.nextPublish()
			if got.QoS != 1 || got.PacketID == 0 || got.Dup || string(got.Payload) != "x" {
				t.Fatalf("subscriber got %+v, want QoS 1 with a packet id", got)
			}
			sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: got.PacketID})
			// An acknowledged message is not resent: a second message gets
			// through and is the next packet.
			pub.pub("a", 1, 12, "y")
			if got := sub.nextPublish(); string(got.Payload) != "y" || got.Dup {
				t.Fatalf("subscriber got %q dup=%v, want \"y\" dup=false", got.Payload, got.Dup)
			}
		})
		t.Run(v.name+"/qos2", func(t *testing.T) {
			srv := start(t, noRate())
			sub := rawClient(t, srv.Addr, v.v, "sub")
			sub.sub("a", 2)
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.pub("a", 2, 21, "x") // waits for PUBREC 21
			// A retransmitted PUBLISH (DUP) before PUBREL is acknowledged
			// again but not delivered twice.
			pub.send(&packet.Publish{Topic: "a", QoS: 2, PacketID: 21, Dup: true, Payload: []byte("x")})
			pub.expectAck(packet.PUBREC, 21)
			pub.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 21})
			if comp := pub.expectAck(packet.PUBCOMP, 21); comp.ReasonCode != packet.Success {
				t.Fatalf("PUBCOMP reason 0x%02X, want 0", byte(comp.ReasonCode))
			}

			got := sub.nextPublish()
			if got.QoS != 2 || string(got.Payload) != "x" {
				t.Fatalf("subscriber got %+v, want QoS 2 \"x\"", got)
			}
			sub.send(&packet.Ack{Kind: packet.PUBREC, PacketID: got.PacketID})
			sub.expectAck(packet.PUBREL, got.PacketID)
			sub.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: got.PacketID})
			// Exactly once: the next publish is the new message, not the
			// retransmission.
			pub.pub("a", 0, 0, "after")
			if got := sub.nextPublish(); string(got.Payload) != "after" {
				t.Fatalf("subscriber got %q, want \"after\" (no duplicate of \"x\")", got.Payload)
			}
		})
	}
	t.Run("v5/pubrel-unknown-id", func(t *testing.T) {
		srv := start(t, noRate())
		c := rawClient(t, srv.Addr, packet.Version5, "c")
		c.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 99})
		if comp := c.expectAck(packet.PUBCOMP, 99); comp.ReasonCode != packet.PacketIdentifierNotFound {
			t.Fatalf("PUBCOMP reason 0x%02X, want 0x92", byte(comp.ReasonCode))
		}
	})
	t.Run("v5/no-subscribers", func(t *testing.T) {
		srv := start(t, noRate())
		c := rawClient(t, srv.Addr, packet.Version5, "c")
		if ack := c.pub("nobody/here", 1, 1, "x"); ack.ReasonCode != packet.NoMatchingSubscribers {
			t.Fatalf("PUBACK reason 0x%02X, want 0x10", byte(ack.ReasonCode))
		}
	})
}

// TestMaxQoS1 checks the AWS-strict mode.
func TestMaxQoS1(t *testing.T) {
	cfg := broker.Config{MaxQoS: 1, PublishRate: -1}
	t.Run("v5/connack-maximum-qos", func(t *testing.T) {
		srv := start(t, cfg)
		ack := dialRaw(t, srv.Addr, packet.Version5).mustConnect("c", true)
		if !ack.Properties.Has(packet.PropMaximumQoS) || ack.Properties.MaximumQoS != 1 {
			t.Fatalf("CONNACK Maximum QoS present=%v value=%d, want 1", ack.Properties.Has(packet.PropMaximumQoS), ack.Properties.MaximumQoS)
		}
	})
	t.Run("v5/default-omits-maximum-qos", func(t *testing.T) {
		srv := start(t, noRate())
		ack := dialRaw(t, srv.Addr, packet.Version5).mustConnect("c", true)
		if ack.Properties.Has(packet.PropMaximumQoS) {
			t.Fatalf("CONNACK Maximum QoS = %d, want absent (QoS 2 supported)", ack.Properties.MaximumQoS)
		}
	})
	for _, v := range versions {
		t.Run(v.name+"/suback-grants-1", func(t *testing.T) {
			srv := start(t, cfg)
			c := rawClient(t, srv.Addr, v.v, "c")
			sa := c.subscribe(1, packet.Subscription{Filter: "a", QoS: 2})
			if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != packet.GrantedQoS1 {
				t.Fatalf("SUBACK = %v, want [1]", sa.ReasonCodes)
			}
		})
		t.Run(v.name+"/qos2-publish-closes", func(t *testing.T) {
			srv := start(t, cfg)
			c := rawClient(t, srv.Addr, v.v, "c")
			c.send(&packet.Publish{Topic: "a", QoS: 2, PacketID: 1, Payload: []byte("x")})
			c.expectClosedVersion(packet.QoSNotSupported)
		})
	}
	t.Run("paho-v5/qos2-subscription-downgraded", func(t *testing.T) {
		srv := start(t, cfg)
		sub := connectV5(t, srv.Addr, &paho.Connect{ClientID: "sub", CleanStart: true, KeepAlive: 60})
		sa := sub.mustSubscribe(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "a", QoS: 2}}})
		if sa.Reasons[0] != 1 {
			t.Fatalf("SUBACK = %v, want [1]", sa.Reasons)
		}
		sub.mustPublish(t, &paho.Publish{Topic: "a", QoS: 1, Payload: []byte("x")})
		if m := sub.next(t); m.QoS != 1 {
			t.Fatalf("got QoS %d, want 1", m.QoS)
		}
	})
}

// A client that leaves more QoS 2 publishes awaiting PUBREL than the broker's
// Receive Maximum is disconnected with 0x93.
func TestReceiveMaximumExceeded(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.ReceiveMaximum = 2
	cfg.PublishRate = -1
	srv := brokertest.Start(t, brokertest.Options{Config: cfg})
	c := dialRaw(t, srv.Addr, packet.Version5)
	if ack := c.mustConnect("rm", true); ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("CONNACK Receive Maximum = %d, want 2", ack.Properties.ReceiveMaximum)
	}
	for id := uint16(1); id <= 3; id++ {
		c.send(&packet.Publish{Topic: "rm/x", QoS: 2, PacketID: id, Payload: []byte("x")})
	}
	var disc *packet.Disconnect
	for _, p := range c.expectClosed(5 * time.Second) {
		if d, ok := p.(*packet.Disconnect); ok {
			disc = d
		}
	}
	if disc == nil || disc.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Fatalf("DISCONNECT = %+v, want reason 0x93", disc)
	}
}
