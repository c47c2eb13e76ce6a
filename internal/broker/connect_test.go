package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

func TestTakeover(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			srv := start(t, noRate())
			old := rawClient(t, srv.Addr, v.v, "dup")
			neu := rawClient(t, srv.Addr, v.v, "dup")
			if v.v == packet.Version5 {
				old.expectDisconnect(packet.SessionTakenOver)
			} else {
				if seen := old.expectClosed(wait); len(seen) != 0 {
					t.Fatalf("old v3 connection got %s before the close, want nothing", seen[0].Type())
				}
			}
			ev := waitDisconnected(t, srv, "dup")
			if ev.DisconnectReason != broker.ReasonDuplicateClientID {
				t.Fatalf("disconnect reason %s, want %s", ev.DisconnectReason, broker.ReasonDuplicateClientID)
			}
			// The new connection works.
			neu.sub("t", 1)
			neu.pub("t", 1, 1, "x")
			if got := neu.nextPublishAcked(); string(got.Payload) != "x" {
				t.Fatalf("new connection got %q, want \"x\"", got.Payload)
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	t.Run("v5/server-keep-alive", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			cfg     broker.Config
			asked   uint16
			want    uint16
			present bool
		}{
			{"below-min", broker.Config{}, 5, 30, true},
			{"zero-is-max", broker.Config{}, 0, 1200, true},
			{"above-max", broker.Config{}, 5000, 1200, true},
			{"in-range", broker.Config{}, 60, 0, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := start(t, tc.cfg)
				ack := dialRaw(t, srv.Addr, packet.Version5).connectOK(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: tc.asked})
				if got := ack.Properties.Has(packet.PropServerKeepAlive); got != tc.present {
					t.Fatalf("Server Keep Alive present = %v, want %v", got, tc.present)
				}
				if tc.present && ack.Properties.ServerKeepAlive != tc.want {
					t.Fatalf("Server Keep Alive = %d, want %d", ack.Properties.ServerKeepAlive, tc.want)
				}
			})
		}
	})
	for _, v := range versions {
		t.Run(v.name+"/timeout", func(t *testing.T) {
			srv := start(t, broker.Config{KeepAliveMin: 1, PublishRate: -1})
			c := dialRaw(t, srv.Addr, v.v)
			began := time.Now()
			c.connectOK(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 1})
			c.expectClosedVersion(packet.KeepAliveTimeout)
			if d := time.Since(began); d < 1400*time.Millisecond {
				t.Fatalf("closed after %s, want about 1.5 s (1.5 × keep-alive)", d)
			}
			ev := waitDisconnected(t, srv, "c")
			if ev.DisconnectReason != broker.ReasonKeepAliveTimeout {
				t.Fatalf("disconnect reason %s, want %s", ev.DisconnectReason, broker.ReasonKeepAliveTimeout)
			}
		})
		t.Run(v.name+"/pingreq-keeps-alive", func(t *testing.T) {
			srv := start(t, broker.Config{KeepAliveMin: 1, PublishRate: -1})
			c := dialRaw(t, srv.Addr, v.v)
			c.connectOK(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 1})
			for range 4 { // 4 × 0.5 s = 2 s, longer than 1.5 × keep-alive
				time.Sleep(500 * time.Millisecond) // the client's own ping interval, not a wait for an effect
				c.send(&packet.Pingreq{})
				if p := c.recv(); p.Type() != packet.PINGRESP {
					t.Fatalf("got %s, want PINGRESP", p.Type())
				}
			}
		})
	}
}

func TestConnectHandshake(t *testing.T) {
	t.Run("no-connect-timeout", func(t *testing.T) {
		srv := start(t, broker.Config{ConnectTimeout: 500 * time.Millisecond})
		c := dialRaw(t, srv.Addr, packet.Version311)
		began := time.Now()
		c.expectClosed(wait)
		if d := time.Since(began); d < 400*time.Millisecond {
			t.Fatalf("closed after %s, want after the 500 ms connect timeout", d)
		}
	})
	for _, v := range versions {
		t.Run(v.name+"/first-packet-not-connect", func(t *testing.T) {
			srv := start(t, noRate())
			c := dialRaw(t, srv.Addr, v.v)
			c.send(&packet.Pingreq{})
			if seen := c.expectClosed(wait); len(seen) != 0 {
				t.Fatalf("got %s, want the connection closed", seen[0].Type())
			}
		})
		t.Run(v.name+"/second-connect", func(t *testing.T) {
			srv := start(t, noRate())
			c := rawClient(t, srv.Addr, v.v, "c")
			c.send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v.v, ClientID: "c", CleanStart: true, KeepAlive: 60})
			c.expectClosedVersion(packet.ProtocolError)
			if ev := waitDisconnected(t, srv, "c"); ev.DisconnectReason != broker.ReasonClientError {
				t.Fatalf("disconnect reason %s, want %s", ev.DisconnectReason, broker.ReasonClientError)
			}
		})
	}
}

func TestClientID(t *testing.T) {
	t.Run("v5/empty-gets-assigned", func(t *testing.T) {
		srv := start(t, noRate())
		ack := dialRaw(t, srv.Addr, packet.Version5).connectOK(&packet.Connect{CleanStart: true, KeepAlive: 60})
		if !ack.Properties.Has(packet.PropAssignedClientIdentifier) || ack.Properties.AssignedClientIdentifier == "" {
			t.Fatal("CONNACK has no Assigned Client Identifier")
		}
	})
	t.Run("v311/empty-clean-accepted", func(t *testing.T) {
		srv := start(t, noRate())
		dialRaw(t, srv.Addr, packet.Version311).connectOK(&packet.Connect{CleanStart: true, KeepAlive: 60})
	})
	for _, tc := range []struct {
		name  string
		v     byte
		id    string
		clean bool
		want  packet.ReasonCode
	}{
		{"v311/empty-persistent", packet.Version311, "", false, packet.RetIdentifierRejected},
		{"v311/too-long", packet.Version311, strings.Repeat("a", 129), true, packet.RetIdentifierRejected},
		{"v5/too-long", packet.Version5, strings.Repeat("a", 129), true, packet.ClientIdentifierNotValid},
		{"v311/dollar", packet.Version311, "$me", true, packet.RetIdentifierRejected},
		{"v5/dollar", packet.Version5, "$me", true, packet.ClientIdentifierNotValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, noRate())
			c := dialRaw(t, srv.Addr, tc.v)
			ack := c.connect(&packet.Connect{ClientID: tc.id, CleanStart: tc.clean, KeepAlive: 60})
			if ack.ReasonCode != tc.want {
				t.Fatalf("CONNACK 0x%02X, want 0x%02X", byte(ack.ReasonCode), byte(tc.want))
			}
			c.expectClosed(wait)
		})
	}
	t.Run("128-bytes-accepted", func(t *testing.T) {
		srv := start(t, noRate())
		dialRaw(t, srv.Addr, packet.Version5).connectOK(&packet.Connect{ClientID: strings.Repeat("a", 128), CleanStart: true, KeepAlive: 60})
	})
}
