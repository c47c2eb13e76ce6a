package broker_test

import (
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// willConnect is a CONNECT with a QoS 1 will on topic "will/<id>".
func willConnect(id string, retain bool) *packet.Connect {
	return &packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 60,
		Will: &packet.Will{Topic: "will/" + id, Payload: []byte("gone"), QoS: 1, Retain: retain}}
}

func expectWill(t *testing.T, w *raw, id string) *packet.Publish {
	t.Helper()
	got := w.nextPublishAcked()
	if got.Topic != "will/"+id || string(got.Payload) != "gone" {
		t.Fatalf("watcher got %s %q, want will/%s \"gone\"", got.Topic, got.Payload, id)
	}
	return got
}

func TestWill(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name+"/connection-lost", func(t *testing.T) {
			srv := start(t, noRate())
			w := rawClient(t, srv.Addr, v.v, "watcher")
			w.sub("will/#", 1)
			c := dialRaw(t, srv.Addr, v.v)
			c.connectOK(willConnect("c", false))
			c.conn.Close()
			expectWill(t, w, "c")
			ev := waitDisconnected(t, srv, "c")
			if ev.DisconnectReason != broker.ReasonConnectionLost {
				t.Fatalf("disconnect reason %s, want %s", ev.DisconnectReason, broker.ReasonConnectionLost)
			}
		})
		t.Run(v.name+"/keep-alive-timeout", func(t *testing.T) {
			srv := start(t, broker.Config{KeepAliveMin: 1, PublishRate: -1})
			w := rawClient(t, srv.Addr, v.v, "watcher")
			w.sub("will/#", 1)
			c := dialRaw(t, srv.Addr, v.v)
			cp := willConnect("c", false)
			cp.KeepAlive = 1
			c.connectOK(cp)
			expectWill(t, w, "c") // after ~1.5 s of silence
		})
		t.Run(v.name+"/not-on-clean-disconnect", func(t *testing.T) {
			srv := start(t, noRate())
			w := rawClient(t, srv.Addr, v.v, "watcher")
			w.sub("will/#", 1)
			c := dialRaw(t, srv.Addr, v.v)
			c.connectOK(willConnect("c", false))
			c.send(&packet.Disconnect{})
			ev := waitDisconnected(t, srv, "c")
			if !ev.ClientInitiated || ev.DisconnectReason != broker.ReasonClientInitiated {
				t.Fatalf("disconnected event = %+v, want client initiated", ev)
			}
			// The will would have been published before the event.
			pub := rawClient(t, srv.Addr, v.v, "pub")
			barrier(t, w, pub, "will after a clean DISCONNECT")
		})
		t.Run(v.name+"/retained-will", func(t *testing.T) {
			srv := start(t, noRate())
			c := dialRaw(t, srv.Addr, v.v)
			c.connectOK(willConnect("c", true))
			c.conn.Close()
			waitDisconnected(t, srv, "c")
			waitRetained(t, srv, "will/c")
			late := rawClient(t, srv.Addr, v.v, "late")
			late.sub("will/c", 1)
			if got := expectWill(t, late, "c"); !got.Retain {
				t.Fatal("retained will delivered with RETAIN 0, want 1")
			}
		})
	}
	t.Run("v5/disconnect-with-will", func(t *testing.T) {
		srv := start(t, noRate())
		w := rawClient(t, srv.Addr, packet.Version5, "watcher")
		w.sub("will/#", 1)
		c := dialRaw(t, srv.Addr, packet.Version5)
		c.connectOK(willConnect("c", false))
		c.send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWill})
		expectWill(t, w, "c")
	})
	t.Run("v5/will-delay", func(t *testing.T) {
		srv := start(t, noRate())
		w := rawClient(t, srv.Addr, packet.Version5, "watcher")
		w.sub("will/#", 1)
		c := dialRaw(t, srv.Addr, packet.Version5)
		cp := willConnect("c", false)
		cp.Will.Properties.WillDelayInterval = 1
		cp.Will.Properties.Set(packet.PropWillDelayInterval)
		cp.Properties.SessionExpiryInterval = 60
		cp.Properties.Set(packet.PropSessionExpiryInterval)
		c.connectOK(cp)
		c.conn.Close()
		lost := time.Now()
		expectWill(t, w, "c")
		if d := time.Since(lost); d < 900*time.Millisecond {
			t.Fatalf("will published %s after the disconnect, want after the 1 s delay", d)
		}
	})
	t.Run("v5/will-delay-cancelled-by-reconnect", func(t *testing.T) {
		srv := start(t, noRate())
		w := rawClient(t, srv.Addr, packet.Version5, "watcher")
		w.sub("will/#", 1)
		cp := willConnect("c", false)
		cp.CleanStart = false
		cp.Will.Properties.WillDelayInterval = 1
		cp.Will.Properties.Set(packet.PropWillDelayInterval)
		cp.Properties.SessionExpiryInterval = 60
		cp.Properties.Set(packet.PropSessionExpiryInterval)
		c := dialRaw(t, srv.Addr, packet.Version5)
		c.connectOK(cp)
		c.conn.Close()
		waitDisconnected(t, srv, "c")
		c = dialRaw(t, srv.Addr, packet.Version5)
		if ack := c.connect(&packet.Connect{ClientID: "c", KeepAlive: 60, Properties: cp.Properties}); !ack.SessionPresent {
			t.Fatal("CONNACK session present = false, want true")
		}
		// The delay timer fires ~1 s after the disconnect; waiting past it
		// is the only way to show that the will did not go out.
		w.expectSilence(1500 * time.Millisecond)
	})
	t.Run("denied-will-topic-refused", func(t *testing.T) {
		rules := &brokertest.Rules{}
		rules.Deny("publish will/c")
		srv := startWithRules(t, rules)
		for _, v := range versions {
			c := dialRaw(t, srv.Addr, v.v)
			ack := c.connect(willConnect("c", false))
			want := packet.NotAuthorized
			if v.v == packet.Version311 {
				want = packet.RetNotAuthorized
			}
			if ack.ReasonCode != want {
				t.Fatalf("%s: CONNACK 0x%02X, want 0x%02X", v.name, byte(ack.ReasonCode), byte(want))
			}
		}
		srv.Events.Wait(t, wait, "connect_failed", func(ev broker.Event) bool {
			return ev.Kind == broker.EventConnectFailed && ev.ClientID == "c" && ev.FailureReason == broker.ReasonAuthorizationFailed
		})
	})
}
