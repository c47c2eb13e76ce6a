package broker_test

import (
	"testing"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

func TestRetained(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name+"/delivered-on-subscribe", func(t *testing.T) {
			// Retained messages go to exact and wildcard filters alike: a
			// documented choice (retained.go), unlike AWS's exact-only rule.
			for _, filter := range []string{"r/a", "r/+", "r/#", "#"} {
				t.Run(filter, func(t *testing.T) {
					srv := start(t, noRate())
					pub := rawClient(t, srv.Addr, v.v, "pub")
					pub.send(&packet.Publish{Topic: "r/a", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("kept")})
					pub.expectAck(packet.PUBACK, 1)
					sub := rawClient(t, srv.Addr, v.v, "sub")
					sub.sub(filter, 1)
					got := sub.nextPublishAcked()
					if got.Topic != "r/a" || string(got.Payload) != "kept" || !got.Retain {
						t.Fatalf("got %s %q retain=%v, want r/a \"kept\" retain=true", got.Topic, got.Payload, got.Retain)
					}
				})
			}
		})
		t.Run(v.name+"/live-delivery-retain-0", func(t *testing.T) {
			srv := start(t, noRate())
			sub := rawClient(t, srv.Addr, v.v, "sub")
			sub.sub("r/a", 0)
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.send(&packet.Publish{Topic: "r/a", Retain: true, Payload: []byte("x")})
			if got := sub.nextPublish(); got.Retain {
				t.Fatal("live delivery has RETAIN 1, want 0")
			}
		})
		t.Run(v.name+"/empty-payload-deletes-and-forwards", func(t *testing.T) {
			srv := start(t, noRate())
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.send(&packet.Publish{Topic: "r/a", Retain: true, Payload: []byte("x")})
			waitRetained(t, srv, "r/a")
			live := rawClient(t, srv.Addr, v.v, "live")
			live.sub("r/a", 0)
			live.nextPublish() // the retained "x"
			pub.send(&packet.Publish{Topic: "r/a", Retain: true})
			if got := live.nextPublish(); len(got.Payload) != 0 || got.Topic != "r/a" {
				t.Fatalf("current subscriber got %s %q, want the empty r/a message", got.Topic, got.Payload)
			}
			if _, ok := srv.Broker.Retained("r/a"); ok {
				t.Fatal("Retained(r/a) found a message after the empty retained publish, want deleted")
			}
			late := rawClient(t, srv.Addr, v.v, "late")
			late.sub("r/a", 0)
			barrier(t, late, pub, "retained message after delete")
		})
		t.Run(v.name+"/replaced", func(t *testing.T) {
			srv := start(t, noRate())
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.send(&packet.Publish{Topic: "r/a", Retain: true, Payload: []byte("one")})
			pub.send(&packet.Publish{Topic: "r/a", Retain: true, Payload: []byte("two")})
			pub.pub("sync", 1, 1, "") // both retained publishes were handled
			sub := rawClient(t, srv.Addr, v.v, "sub")
			sub.sub("r/a", 0)
			if got := sub.nextPublish(); string(got.Payload) != "two" {
				t.Fatalf("got %q, want \"two\"", got.Payload)
			}
			barrier(t, sub, pub, "a second retained message")
		})
	}
	t.Run("v5/dollar-topic-not-retained", func(t *testing.T) {
		srv := start(t, noRate())
		c := rawClient(t, srv.Addr, packet.Version5, "c")
		c.send(&packet.Publish{Topic: "$aws/things/t1/shadow/update", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("{}")})
		if ack := c.expectAck(packet.PUBACK, 1); ack.ReasonCode != packet.TopicNameInvalid {
			t.Fatalf("PUBACK reason 0x%02X, want 0x90", byte(ack.ReasonCode))
		}
		if _, ok := srv.Broker.Retained("$aws/things/t1/shadow/update"); ok {
			t.Fatal("a $ topic was retained")
		}
	})
	t.Run("v5/retain-handling", func(t *testing.T) {
		for _, tc := range []struct {
			name          string
			handling      byte
			first, second bool // retained message on first / repeated subscribe
		}{
			{"0-always", 0, true, true},
			{"1-if-new", 1, true, false},
			{"2-never", 2, false, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := start(t, noRate())
				pub := rawClient(t, srv.Addr, packet.Version5, "pub")
				pub.send(&packet.Publish{Topic: "r/a", Retain: true, Payload: []byte("kept")})
				waitRetained(t, srv, "r/a")
				sub := rawClient(t, srv.Addr, packet.Version5, "sub")
				for i, want := range []bool{tc.first, tc.second} {
					sub.subscribe(nextID(), packet.Subscription{Filter: "r/a", RetainHandling: tc.handling})
					if want {
						if got := sub.nextPublish(); !got.Retain || string(got.Payload) != "kept" {
							t.Fatalf("subscribe %d: got %q retain=%v, want the retained message", i+1, got.Payload, got.Retain)
						}
					} else {
						barrier(t, sub, pub, "retained message")
					}
				}
			})
		}
	})
	t.Run("v5/retain-as-published", func(t *testing.T) {
		srv := start(t, noRate())
		sub := rawClient(t, srv.Addr, packet.Version5, "sub")
		sub.subscribe(1, packet.Subscription{Filter: "rap/on", RetainAsPublished: true},
			packet.Subscription{Filter: "rap/off"})
		pub := rawClient(t, srv.Addr, packet.Version5, "pub")
		pub.send(&packet.Publish{Topic: "rap/on", Retain: true, Payload: []byte("x")})
		if got := sub.nextPublish(); !got.Retain {
			t.Fatal("retain-as-published: live delivery has RETAIN 0, want 1")
		}
		pub.send(&packet.Publish{Topic: "rap/off", Retain: true, Payload: []byte("x")})
		if got := sub.nextPublish(); got.Retain {
			t.Fatal("without retain-as-published: live delivery has RETAIN 1, want 0")
		}
	})
	for _, v := range versions {
		t.Run(v.name+"/not-to-shared-subscriptions", func(t *testing.T) {
			srv := start(t, noRate())
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.send(&packet.Publish{Topic: "r/a", Retain: true, Payload: []byte("kept")})
			waitRetained(t, srv, "r/a")
			sub := rawClient(t, srv.Addr, v.v, "sub")
			sub.sub("$share/g/r/a", 0)
			barrier(t, sub, pub, "retained message on a shared subscription")
		})
	}
}
