package broker_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

func TestAuthorization(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name+"/denied-publish", func(t *testing.T) {
			rules := &brokertest.Rules{}
			rules.Deny("publish x/y")
			srv := startWithRules(t, rules)
			sub := rawClient(t, srv.Addr, v.v, "sub")
			sub.sub("x/#", 0)
			c := rawClient(t, srv.Addr, v.v, "c")
			if v.v == packet.Version5 {
				if ack := c.pub("x/y", 1, 1, "no"); ack.ReasonCode != packet.NotAuthorized {
					t.Fatalf("PUBACK reason 0x%02X, want 0x87", byte(ack.ReasonCode))
				}
				barrier(t, sub, c, "denied publish")
				return
			}
			c.send(&packet.Publish{Topic: "x/y", QoS: 1, PacketID: 1, Payload: []byte("no")})
			c.expectClosedVersion(0)
			if ev := waitDisconnected(t, srv, "c"); ev.DisconnectReason != broker.ReasonForbiddenAccess {
				t.Fatalf("disconnect reason %s, want %s", ev.DisconnectReason, broker.ReasonForbiddenAccess)
			}
			barrier(t, sub, rawClient(t, srv.Addr, v.v, "p2"), "denied publish")
		})
		t.Run(v.name+"/denied-subscribe", func(t *testing.T) {
			rules := &brokertest.Rules{}
			rules.Deny("subscribe secret/#")
			srv := startWithRules(t, rules)
			c := rawClient(t, srv.Addr, v.v, "c")
			sa := c.subscribe(1, packet.Subscription{Filter: "secret/#"}, packet.Subscription{Filter: "open/#"})
			want := []packet.ReasonCode{packet.NotAuthorized, 0}
			if v.v == packet.Version311 {
				want[0] = packet.SubackFailure
			}
			if !slices.Equal(sa.ReasonCodes, want) {
				t.Fatalf("SUBACK = %v, want %v", sa.ReasonCodes, want)
			}
		})
		t.Run(v.name+"/denied-receive", func(t *testing.T) {
			rules := &brokertest.Rules{}
			rules.Deny("receive r/secret")
			srv := startWithRules(t, rules)
			a := rawClient(t, srv.Addr, v.v, "a")
			a.sub("r/#", 1)
			b := rawClient(t, srv.Addr, v.v, "b")
			b.sub("r/#", 1)
			pub := rawClient(t, srv.Addr, v.v, "pub")
			pub.pub("r/secret", 1, 1, "s")
			pub.pub("r/open", 1, 2, "o")
			// Rules deny every principal, so both miss r/secret; each gets
			// r/open as its first message.
			for _, c := range []*raw{a, b} {
				if got := c.nextPublishAcked(); got.Topic != "r/open" {
					t.Fatalf("got %s, want r/open (r/secret denied)", got.Topic)
				}
			}
		})
		t.Run(v.name+"/denied-connect", func(t *testing.T) {
			rules := &brokertest.Rules{}
			rules.Deny("connect bad")
			srv := startWithRules(t, rules)
			c := dialRaw(t, srv.Addr, v.v)
			ack := c.connect(&packet.Connect{ClientID: "bad", CleanStart: true, KeepAlive: 60})
			want := packet.NotAuthorized
			if v.v == packet.Version311 {
				want = packet.RetNotAuthorized
			}
			if ack.ReasonCode != want {
				t.Fatalf("CONNACK 0x%02X, want 0x%02X", byte(ack.ReasonCode), byte(want))
			}
			c.expectClosed(wait)
			ev := srv.Events.Wait(t, wait, "connect_failed", func(ev broker.Event) bool {
				return ev.Kind == broker.EventConnectFailed && ev.ClientID == "bad"
			})
			if ev.FailureReason != broker.ReasonAuthorizationFailed {
				t.Fatalf("connect_failed reason %s, want %s", ev.FailureReason, broker.ReasonAuthorizationFailed)
			}
		})
	}
	t.Run("v5/denied-receive-other-principal-gets-it", func(t *testing.T) {
		srv := brokertest.Start(t, brokertest.Options{Config: noRate(), Authorizer: onlyDeny{"eve", broker.ActionReceive, "m/"}})
		eve := rawClient(t, srv.Addr, packet.Version5, "eve")
		eve.sub("m/#", 0)
		bob := rawClient(t, srv.Addr, packet.Version5, "bob")
		bob.sub("m/#", 0)
		bob.pub("m/1", 0, 0, "x")
		if got := bob.nextPublish(); got.Topic != "m/1" {
			t.Fatalf("bob got %s, want m/1", got.Topic)
		}
		barrier(t, eve, bob, "denied receive") // the marker is not under m/, so eve may receive it
	})
	t.Run("authentication-refused", func(t *testing.T) {
		srv := start(t, noRate())
		c := dialRaw(t, srv.Addr, packet.Version5)
		ack := c.connect(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 60, UsernameFlag: true, Username: "deny"})
		if ack.ReasonCode != packet.BadUserNameOrPassword {
			t.Fatalf("CONNACK 0x%02X, want 0x86", byte(ack.ReasonCode))
		}
	})
}

// onlyDeny denies one action on resources under prefix to one principal.
type onlyDeny struct {
	principal string
	action    broker.Action
	prefix    string
}

func (d onlyDeny) Authorize(p broker.Principal, _ string, a broker.Action, resource string) error {
	if p.ID() == d.principal && a == d.action && strings.HasPrefix(resource, d.prefix) {
		return errDenied
	}
	return nil
}

var errDenied = &broker.Refusal{Code: packet.NotAuthorized, FailureReason: "AUTHORIZATION_FAILED", Err: errString("test: denied")}

type errString string

func (e errString) Error() string { return string(e) }

func TestLifecycleEvents(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			srv := start(t, noRate())
			c := rawClient(t, srv.Addr, v.v, "dev")
			c.subscribe(1, packet.Subscription{Filter: "a/b"}, packet.Subscription{Filter: "c/#"})
			c.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"a/b", "never"}})
			if p := c.recv(); p.Type() != packet.UNSUBACK {
				t.Fatalf("got %s, want UNSUBACK", p.Type())
			}
			c.send(&packet.Disconnect{})
			disc := waitDisconnected(t, srv, "dev")

			var conn, subd, unsubd *broker.Event
			for _, ev := range srv.Events.All() {
				if ev.ClientID != "dev" {
					continue
				}
				switch ev.Kind {
				case broker.EventConnected:
					conn = &ev
				case broker.EventSubscribed:
					subd = &ev
				case broker.EventUnsubscribed:
					unsubd = &ev
				}
			}
			if conn == nil || subd == nil || unsubd == nil {
				t.Fatalf("events connected=%v subscribed=%v unsubscribed=%v, want all", conn != nil, subd != nil, unsubd != nil)
			}
			if conn.VersionNumber != disc.VersionNumber || conn.VersionNumber == 0 {
				t.Fatalf("versionNumber connected %d, disconnected %d; want equal and non-zero", conn.VersionNumber, disc.VersionNumber)
			}
			if conn.SessionID == "" || conn.SessionID != disc.SessionID {
				t.Fatalf("sessionIdentifier connected %q, disconnected %q; want equal", conn.SessionID, disc.SessionID)
			}
			if conn.PrincipalID != "dev" || disc.PrincipalID != "dev" {
				t.Fatalf("principal %q / %q, want dev", conn.PrincipalID, disc.PrincipalID)
			}
			if conn.RemoteAddr == "" {
				t.Fatal("connected event has no remote address")
			}
			if !slices.Equal(subd.Topics, []string{"a/b", "c/#"}) {
				t.Fatalf("subscribed topics %v, want [a/b c/#]", subd.Topics)
			}
			if !slices.Equal(unsubd.Topics, []string{"a/b"}) {
				t.Fatalf("unsubscribed topics %v, want [a/b]", unsubd.Topics)
			}
			if !disc.ClientInitiated || disc.DisconnectReason != broker.ReasonClientInitiated {
				t.Fatalf("disconnected: clientInitiated %v reason %s, want true %s", disc.ClientInitiated, disc.DisconnectReason, broker.ReasonClientInitiated)
			}
		})
	}
	t.Run("version-increases-per-connection", func(t *testing.T) {
		srv := start(t, noRate())
		var got []int64
		for range 2 {
			c := rawClient(t, srv.Addr, packet.Version5, "dev")
			c.send(&packet.Disconnect{})
			c.expectClosed(wait)
			brokertest.Eventually(t, wait, "disconnected events", func() bool {
				n := 0
				for _, ev := range srv.Events.All() {
					if ev.Kind == broker.EventDisconnected {
						n++
					}
				}
				return n == len(got)+1
			})
			evs := srv.Events.All()
			got = append(got, evs[len(evs)-1].VersionNumber)
		}
		if got[1] <= got[0] {
			t.Fatalf("versionNumbers %v, want increasing", got)
		}
	})
}
