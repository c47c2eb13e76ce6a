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

// persistentConnect is a CONNECT that keeps its session: clean=false for
// 3.1.1, clean start 0 and a session expiry for v5.
func persistentConnect(v byte, id string, expiry uint32) *packet.Connect {
	c := &packet.Connect{ClientID: id, KeepAlive: 60}
	if v == packet.Version5 {
		c.Properties.SessionExpiryInterval = expiry
		c.Properties.Set(packet.PropSessionExpiryInterval)
	}
	return c
}

func TestPersistentSessionResume(t *testing.T) {
	const n = 5
	for _, v := range versions {
		t.Run(v.name+"/queued-qos1-delivered", func(t *testing.T) {
			srv := start(t, noRate())
			sub := dialRaw(t, srv.Addr, v.v)
			if ack := sub.connect(persistentConnect(v.v, "sub", 300)); ack.SessionPresent {
				t.Fatal("first CONNACK session present = true, want false")
			}
			sub.sub("s/#", 1)
			sub.conn.Close()
			waitDisconnected(t, srv, "sub")

			pub := rawClient(t, srv.Addr, v.v, "pub")
			for i := range n {
				pub.pub("s/x", 1, uint16(i+1), fmt.Sprint(i))
			}
			pub.pub("s/x", 0, 0, "qos0-not-kept")
			pub.pub("sync", 1, 99, "") // the QoS 0 publish has been routed once this is acknowledged

			sub = dialRaw(t, srv.Addr, v.v)
			ack := sub.connect(persistentConnect(v.v, "sub", 300))
			if !ack.SessionPresent {
				t.Fatal("CONNACK session present = false, want true")
			}
			for i := range n {
				got := sub.nextPublishAcked()
				if string(got.Payload) != fmt.Sprint(i) || got.QoS != 1 {
					t.Fatalf("message %d = %q qos %d, want %q qos 1", i, got.Payload, got.QoS, fmt.Sprint(i))
				}
			}
			// The QoS 0 message was not kept, and the subscription survived.
			barrier(t, sub, pub, "QoS 0 message published while offline")
			pub.pub("s/live", 1, 50, "live")
			if got := sub.nextPublishAcked(); string(got.Payload) != "live" {
				t.Fatalf("live message = %q, want \"live\"", got.Payload)
			}
		})
		t.Run(v.name+"/clean-start-discards", func(t *testing.T) {
			srv := start(t, noRate())
			sub := dialRaw(t, srv.Addr, v.v)
			sub.connect(persistentConnect(v.v, "sub", 300))
			sub.sub("s/#", 1)
			sub.conn.Close()
			waitDisconnected(t, srv, "sub")
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.pub("s/x", 1, 1, "queued")

			sub = dialRaw(t, srv.Addr, v.v)
			c := persistentConnect(v.v, "sub", 300)
			c.CleanStart = true
			if ack := sub.connect(c); ack.SessionPresent {
				t.Fatal("CONNACK session present = true after clean start, want false")
			}
			// Neither the queued message nor the subscription survived.
			pub.pub("s/x", 1, 2, "after")
			barrier(t, sub, pub, "after clean start")
		})
	}
	t.Run("paho-v3/queued-qos1-delivered", func(t *testing.T) {
		srv := start(t, noRate())
		sub := connectV3(t, srv.Addr, "sub", false)
		sub.mustSubscribe(t, "s/#", 1)
		sub.Disconnect(50)
		waitDisconnected(t, srv, "sub")
		pub := connectV3(t, srv.Addr, "pub", true)
		for i := range n {
			pub.mustPublish(t, "s/x", 1, false, fmt.Sprint(i))
		}
		sub = connectV3(t, srv.Addr, "sub", false)
		for i := range n {
			if m := sub.next(t); string(m.Payload()) != fmt.Sprint(i) {
				t.Fatalf("message %d = %q, want %q", i, m.Payload(), fmt.Sprint(i))
			}
		}
	})
	t.Run("paho-v5/queued-qos1-delivered", func(t *testing.T) {
		srv := start(t, noRate())
		cp := &paho.Connect{ClientID: "sub", KeepAlive: 60, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(300)}}
		sub := connectV5(t, srv.Addr, cp)
		sub.mustSubscribe(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "s/#", QoS: 1}}})
		_ = sub.Disconnect(&paho.Disconnect{})
		waitDisconnected(t, srv, "sub")
		pub := connectV5(t, srv.Addr, &paho.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 60})
		for i := range n {
			pub.mustPublish(t, &paho.Publish{Topic: "s/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
		}
		sub = connectV5(t, srv.Addr, cp)
		if !sub.connack.SessionPresent {
			t.Fatal("CONNACK session present = false, want true")
		}
		for i := range n {
			if m := sub.next(t); string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("message %d = %q, want %q", i, m.Payload, fmt.Sprint(i))
			}
		}
	})
}

func TestSessionEnds(t *testing.T) {
	t.Run("v5/expiry-zero-ends-on-disconnect", func(t *testing.T) {
		srv := start(t, noRate())
		c := dialRaw(t, srv.Addr, packet.Version5)
		c.connect(&packet.Connect{ClientID: "c", KeepAlive: 60}) // no Session Expiry: 0
		c.sub("a", 1)
		c.conn.Close()
		waitDisconnected(t, srv, "c")
		c = dialRaw(t, srv.Addr, packet.Version5)
		if ack := c.connect(persistentConnect(packet.Version5, "c", 300)); ack.SessionPresent {
			t.Fatal("CONNACK session present = true, want false (expiry 0 ended the session)")
		}
	})
	t.Run("v5/disconnect-sets-expiry-zero", func(t *testing.T) {
		srv := start(t, noRate())
		c := dialRaw(t, srv.Addr, packet.Version5)
		c.connect(persistentConnect(packet.Version5, "c", 300))
		d := &packet.Disconnect{}
		d.Properties.Set(packet.PropSessionExpiryInterval) // value 0
		c.send(d)
		waitDisconnected(t, srv, "c")
		c = dialRaw(t, srv.Addr, packet.Version5)
		if ack := c.connect(persistentConnect(packet.Version5, "c", 300)); ack.SessionPresent {
			t.Fatal("CONNACK session present = true, want false (DISCONNECT set expiry 0)")
		}
	})
	t.Run("v5/disconnect-cannot-raise-zero", func(t *testing.T) {
		srv := start(t, noRate())
		c := dialRaw(t, srv.Addr, packet.Version5)
		c.connect(&packet.Connect{ClientID: "c", KeepAlive: 60})
		d := &packet.Disconnect{}
		d.Properties.SessionExpiryInterval = 60
		d.Properties.Set(packet.PropSessionExpiryInterval)
		c.send(d)
		c.expectDisconnect(packet.ProtocolError)
	})
	t.Run("v5/expiry-elapses", func(t *testing.T) {
		srv := start(t, noRate())
		c := dialRaw(t, srv.Addr, packet.Version5)
		c.connect(persistentConnect(packet.Version5, "c", 1))
		c.sub("a", 1)
		c.conn.Close()
		waitDisconnected(t, srv, "c")
		brokertest.Eventually(t, wait, "session to expire", func() bool {
			return srv.Broker.Snapshot().Sessions == 0
		})
		c = dialRaw(t, srv.Addr, packet.Version5)
		if ack := c.connect(persistentConnect(packet.Version5, "c", 1)); ack.SessionPresent {
			t.Fatal("CONNACK session present = true after expiry, want false")
		}
	})
	t.Run("v5/expiry-clamped-in-connack", func(t *testing.T) {
		srv := start(t, broker.Config{MaxSessionExpiry: time.Minute})
		ack := dialRaw(t, srv.Addr, packet.Version5).connect(persistentConnect(packet.Version5, "c", 3600))
		if !ack.Properties.Has(packet.PropSessionExpiryInterval) || ack.Properties.SessionExpiryInterval != 60 {
			t.Fatalf("CONNACK Session Expiry = %d (present %v), want 60", ack.Properties.SessionExpiryInterval,
				ack.Properties.Has(packet.PropSessionExpiryInterval))
		}
	})
	for _, tc := range []struct {
		name     string
		from, to byte
	}{{"v311-then-v5", packet.Version311, packet.Version5}, {"v5-then-v311", packet.Version5, packet.Version311}} {
		t.Run("no-cross-version/"+tc.name, func(t *testing.T) {
			srv := start(t, noRate())
			c := dialRaw(t, srv.Addr, tc.from)
			c.connect(persistentConnect(tc.from, "c", 300))
			c.sub("a", 1)
			c.conn.Close()
			waitDisconnected(t, srv, "c")
			c = dialRaw(t, srv.Addr, tc.to)
			if ack := c.connect(persistentConnect(tc.to, "c", 300)); ack.SessionPresent {
				t.Fatal("CONNACK session present = true across protocol versions, want false")
			}
			pub := rawClient(t, srv.Addr, tc.to, "pub")
			pub.pub("a", 1, 1, "x")
			barrier(t, c, pub, "subscription of the other version's session")
		})
	}
}

// TestInflightOnResume checks what a resumed session resends: unacknowledged
// QoS 1 messages with DUP and their packet id, and for QoS 2 messages already
// acknowledged with PUBREC only the PUBREL (MQTT 5 §4.4, 3.1.1 §4.4).
func TestInflightOnResume(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name+"/qos1-resent-with-dup", func(t *testing.T) {
			srv := start(t, noRate())
			sub := dialRaw(t, srv.Addr, v.v)
			sub.connectOK(persistentConnect(v.v, "sub", 300))
			sub.sub("in/#", 1)
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.pub("in/a", 1, 1, "x")
			first := sub.nextPublish() // not acknowledged
			sub.conn.Close()
			waitDisconnected(t, srv, "sub")
			sub = dialRaw(t, srv.Addr, v.v)
			sub.connectOK(persistentConnect(v.v, "sub", 300))
			again := sub.nextPublishAcked()
			if !again.Dup || again.PacketID != first.PacketID || string(again.Payload) != "x" {
				t.Fatalf("resent %q dup=%v id=%d, want \"x\" dup=true id=%d", again.Payload, again.Dup, again.PacketID, first.PacketID)
			}
		})
		t.Run(v.name+"/qos2-pubrel-resent", func(t *testing.T) {
			srv := start(t, noRate())
			sub := dialRaw(t, srv.Addr, v.v)
			sub.connectOK(persistentConnect(v.v, "sub", 300))
			sub.sub("in/#", 2)
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.pub("in/a", 2, 1, "x")
			got := sub.nextPublish()
			sub.send(&packet.Ack{Kind: packet.PUBREC, PacketID: got.PacketID})
			sub.expectAck(packet.PUBREL, got.PacketID)
			sub.conn.Close() // before PUBCOMP
			waitDisconnected(t, srv, "sub")
			sub = dialRaw(t, srv.Addr, v.v)
			sub.connectOK(persistentConnect(v.v, "sub", 300))
			p := sub.recv()
			if a, ok := p.(*packet.Ack); !ok || a.Kind != packet.PUBREL || a.PacketID != got.PacketID {
				t.Fatalf("first packet after resume = %s, want PUBREL %d only", p.Type(), got.PacketID)
			}
			sub.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: got.PacketID})
			barrier(t, sub, pub, "the QoS 2 message again")
		})
	}
	t.Run("v5/receive-maximum", func(t *testing.T) {
		srv := start(t, noRate())
		sub := dialRaw(t, srv.Addr, packet.Version5)
		cp := &packet.Connect{ClientID: "sub", CleanStart: true, KeepAlive: 60}
		cp.Properties.ReceiveMaximum = 1
		cp.Properties.Set(packet.PropReceiveMaximum)
		sub.connectOK(cp)
		sub.sub("rm/#", 1)
		pub := rawClient(t, srv.Addr, packet.Version5, "pub")
		pub.pub("rm/a", 1, 1, "1")
		pub.pub("rm/a", 1, 2, "2")
		first := sub.nextPublish()
		// With one message in flight, the second waits for the PUBACK: the
		// QoS 0 barrier overtakes it.
		barrier(t, sub, pub, "a second QoS 1 message beyond Receive Maximum")
		sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: first.PacketID})
		if got := sub.nextPublishAcked(); string(got.Payload) != "2" {
			t.Fatalf("after PUBACK got %q, want \"2\"", got.Payload)
		}
	})
}
