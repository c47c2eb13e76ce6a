package broker_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

func TestInProcessAPI(t *testing.T) {
	t.Run("subscribe-receives-client-publishes", func(t *testing.T) {
		srv := start(t, noRate())
		got := make(chan *broker.Message, 10)
		unsub, err := srv.Broker.Subscribe("svc/+", func(m *broker.Message) { got <- m })
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			c := rawClient(t, srv.Addr, v.v, "c-"+v.name)
			if ack := c.pub("svc/"+v.name, 1, 1, "hi"); v.v == packet.Version5 && ack.ReasonCode != packet.Success {
				t.Fatalf("PUBACK reason 0x%02X, want 0 (an in-process subscriber matched)", byte(ack.ReasonCode))
			}
			select {
			case m := <-got:
				if m.Topic != "svc/"+v.name || string(m.Payload) != "hi" || m.PublisherID != "c-"+v.name {
					t.Fatalf("handler got %s %q from %q", m.Topic, m.Payload, m.PublisherID)
				}
			case <-time.After(wait):
				t.Fatal("handler got nothing")
			}
		}
		unsub()
		c := rawClient(t, srv.Addr, packet.Version5, "after")
		if ack := c.pub("svc/x", 1, 1, "x"); ack.ReasonCode != packet.NoMatchingSubscribers {
			t.Fatalf("PUBACK after unsubscribe 0x%02X, want 0x10", byte(ack.ReasonCode))
		}
	})
	t.Run("publish-reaches-clients", func(t *testing.T) {
		srv := start(t, noRate())
		subs := map[string]*raw{}
		for _, v := range versions {
			subs[v.name] = rawClient(t, srv.Addr, v.v, "s-"+v.name)
			subs[v.name].sub("$aws/things/t1/shadow/update/accepted", 1)
		}
		if err := srv.Broker.Publish(&broker.Message{Topic: "$aws/things/t1/shadow/update/accepted", QoS: 1, Payload: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
		for name, s := range subs {
			if got := s.nextPublishAcked(); got.Topic != "$aws/things/t1/shadow/update/accepted" || got.QoS != 1 {
				t.Fatalf("%s got %s qos %d", name, got.Topic, got.QoS)
			}
		}
	})
	t.Run("has-subscribers", func(t *testing.T) {
		srv := start(t, noRate())
		const name = "$aws/things/t1/shadow/update/documents"
		if srv.Broker.HasSubscribers(name) {
			t.Fatal("HasSubscribers with no subscription = true")
		}
		c := rawClient(t, srv.Addr, packet.Version5, "watcher")
		c.sub("#", 1) // a root wildcard does not match $ topics
		if srv.Broker.HasSubscribers(name) {
			t.Fatal("HasSubscribers with only # = true, want false ($ topics)")
		}
		cases := []struct {
			name   string
			filter string
		}{
			{"client-wildcard", "$aws/things/+/shadow/update/documents"},
			{"client-shared", "$share/g/$aws/things/t1/shadow/#"},
		}
		for _, tc := range cases {
			cl := rawClient(t, srv.Addr, packet.Version5, "c-"+tc.name)
			cl.sub(tc.filter, 1)
			if !srv.Broker.HasSubscribers(name) {
				t.Fatalf("%s: HasSubscribers = false after subscribing %s", tc.name, tc.filter)
			}
			cl.conn.Close()
			waitDisconnected(t, srv, "c-"+tc.name)
		}
		unsub, err := srv.Broker.Subscribe("$aws/things/t1/shadow/update/+", func(*broker.Message) {})
		if err != nil {
			t.Fatal(err)
		}
		if !srv.Broker.HasSubscribers(name) {
			t.Fatal("HasSubscribers = false with an in-process subscriber")
		}
		unsub()
		if srv.Broker.HasSubscribers(name) {
			t.Fatal("HasSubscribers = true after the last subscriber left")
		}
	})
	t.Run("publish-invalid-topic", func(t *testing.T) {
		srv := start(t, noRate())
		if err := srv.Broker.Publish(&broker.Message{Topic: "a/+"}); err == nil {
			t.Fatal("Publish(a/+) = nil, want an error")
		}
	})
}

func TestDisconnectAPI(t *testing.T) {
	t.Run("disconnect-client", func(t *testing.T) {
		srv := start(t, noRate())
		w := rawClient(t, srv.Addr, packet.Version5, "watcher")
		w.sub("will/#", 1)
		c := dialRaw(t, srv.Addr, packet.Version5)
		c.connectOK(willConnect("c", false))
		if !srv.Broker.DisconnectClient("c", packet.AdministrativeAction, broker.ReasonAPIInitiated, "test") {
			t.Fatal("DisconnectClient(c) = false, want true")
		}
		c.expectDisconnect(packet.AdministrativeAction)
		if ev := waitDisconnected(t, srv, "c"); ev.DisconnectReason != broker.ReasonAPIInitiated {
			t.Fatalf("disconnect reason %s, want %s", ev.DisconnectReason, broker.ReasonAPIInitiated)
		}
		expectWill(t, w, "c") // AWS sends the will on DeleteConnection
		if srv.Broker.DisconnectClient("nobody", packet.AdministrativeAction, broker.ReasonAPIInitiated, "") {
			t.Fatal("DisconnectClient(nobody) = true, want false")
		}
	})
	t.Run("disconnect-where", func(t *testing.T) {
		srv := start(t, noRate())
		a := rawClient(t, srv.Addr, packet.Version5, "dev-a")
		b := rawClient(t, srv.Addr, packet.Version311, "dev-b")
		keep := rawClient(t, srv.Addr, packet.Version5, "other")
		n := srv.Broker.DisconnectWhere(func(id string, p broker.Principal) bool {
			return strings.HasPrefix(p.ID(), "dev-")
		}, packet.NotAuthorized, broker.ReasonAuthError, "certificate revoked")
		if n != 2 {
			t.Fatalf("DisconnectWhere = %d, want 2", n)
		}
		a.expectDisconnect(packet.NotAuthorized)
		b.expectClosed(wait)
		keep.send(&packet.Pingreq{})
		if p := keep.recv(); p.Type() != packet.PINGRESP {
			t.Fatalf("unmatched client got %s, want PINGRESP", p.Type())
		}
	})
}

func TestShutdown(t *testing.T) {
	t.Run("clients-get-server-shutting-down", func(t *testing.T) {
		srv := start(t, noRate())
		raw5 := rawClient(t, srv.Addr, packet.Version5, "raw5")
		raw3 := rawClient(t, srv.Addr, packet.Version311, "raw3")
		p5 := connectV5(t, srv.Addr, &paho.Connect{ClientID: "paho5", CleanStart: true, KeepAlive: 60})
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Broker.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		raw5.expectDisconnect(packet.ServerShuttingDown)
		raw3.expectClosed(wait)
		select {
		case d := <-p5.serverDC:
			if d.ReasonCode != byte(packet.ServerShuttingDown) {
				t.Fatalf("paho v5 got DISCONNECT 0x%02X, want 0x8B", d.ReasonCode)
			}
		case <-time.After(wait):
			t.Fatal("paho v5 client got no DISCONNECT")
		}
		if err := srv.Broker.Shutdown(ctx); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
		if err := srv.Broker.Publish(&broker.Message{Topic: "a"}); !errors.Is(err, broker.ErrServerClosed) {
			t.Fatalf("Publish after Shutdown = %v, want ErrServerClosed", err)
		}
	})
	t.Run("serveconn-returns", func(t *testing.T) {
		b, err := broker.New(broker.Config{}, broker.Deps{Authenticator: brokertest.CertOrClientID{}, Authorizer: brokertest.AllowAll{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		served := make(chan struct{})
		go func() { _ = b.Serve(ctx); close(served) }()
		server, client := net.Pipe()
		returned := make(chan struct{})
		go func() { b.ServeConn(server, broker.ConnInfo{Transport: "inproc"}); close(returned) }()
		c := &raw{t: t, conn: client, br: bufio.NewReader(client), version: packet.Version5}
		t.Cleanup(func() { client.Close() })
		c.mustConnect("pipe", true)
		sctx, scancel := context.WithTimeout(context.Background(), wait)
		defer scancel()
		shut := make(chan error, 1)
		go func() { shut <- b.Shutdown(sctx) }()
		c.expectDisconnect(packet.ServerShuttingDown)
		for name, ch := range map[string]chan struct{}{"ServeConn": returned, "Serve": served} {
			select {
			case <-ch:
			case <-time.After(wait):
				t.Fatalf("%s did not return after Shutdown", name)
			}
		}
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	})
}

// TestSlowConsumer floods a subscriber that never reads. The publisher and a
// healthy subscriber must not be held up: QoS 0 messages to the slow client
// are dropped once its outbound buffer is full, and its blocked write times
// out after WriteTimeout, which disconnects it.
func TestSlowConsumer(t *testing.T) {
	srv := start(t, broker.Config{MaxOutboundBytes: 4096, WriteTimeout: time.Second, PublishRate: -1})
	slow := rawClient(t, srv.Addr, packet.Version311, "slow")
	slow.sub("flood/#", 0)
	if tc, ok := slow.conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}

	fast := rawClient(t, srv.Addr, packet.Version311, "fast")
	fast.sub("flood/q1", 1)
	var fastGot atomic.Int64
	fastDone := make(chan struct{})
	go func() { // reads and acknowledges; no t.Fatal off the test goroutine
		defer close(fastDone)
		for {
			p, err := fast.read(10 * time.Second)
			if err != nil {
				return
			}
			if pub, ok := p.(*packet.Publish); ok {
				fastGot.Add(1)
				b, _ := packet.Append(nil, &packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID}, packet.Version311)
				if _, err := fast.conn.Write(b); err != nil {
					return
				}
			}
		}
	}()

	pub := rawClient(t, srv.Addr, packet.Version311, "pub")
	payload := strings.Repeat("x", 8192)
	slowGone := func() bool {
		for _, ev := range srv.Events.All() {
			if ev.Kind == broker.EventDisconnected && ev.ClientID == "slow" {
				return true
			}
		}
		return false
	}
	var acked int64
	deadline := time.Now().Add(30 * time.Second)
	for id := uint16(1); !slowGone(); id++ {
		if time.Now().After(deadline) {
			t.Fatalf("slow consumer still connected after 30 s of flooding (dropped %d)", srv.Broker.Snapshot().MessagesDropped)
		}
		for range 50 {
			pub.pub("flood/0", 0, 0, payload)
		}
		pub.pub("flood/q1", 1, id, "q1") // fails the test if the PUBACK does not come within 5 s
		acked++
	}
	ev := waitDisconnected(t, srv, "slow")
	if ev.DisconnectReason != broker.ReasonConnectionLost || !strings.Contains(ev.Detail, "write") {
		t.Fatalf("slow consumer disconnect %s (%s), want %s after a failed write", ev.DisconnectReason, ev.Detail, broker.ReasonConnectionLost)
	}
	if d := srv.Broker.Snapshot().MessagesDropped; d == 0 {
		t.Fatal("MessagesDropped = 0, want QoS 0 messages dropped for the slow consumer")
	}
	brokertest.Eventually(t, wait, "fast subscriber to get every QoS 1 message", func() bool {
		return fastGot.Load() == acked
	})
	fast.conn.Close()
	<-fastDone
}

// A PUBLISH that an in-process responder takes gets its PUBACK held until
// the responder's answer is queued for the publisher: the ack still comes
// first, acks keep their order, and without an answer the ack leaves on its
// own.
func TestResponderHoldsPubAck(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			srv := start(t, noRate())
			requests := make(chan *broker.Message, 10)
			if _, err := srv.Broker.SubscribeResponder("svc/+/req", func(m *broker.Message) { requests <- m }); err != nil {
				t.Fatal(err)
			}
			c := rawClient(t, srv.Addr, v.v, "dev-"+v.name)
			c.sub("svc/+/resp", 1)
			next := func() packet.Packet {
				t.Helper()
				p, err := c.read(wait)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				return p
			}
			expectAck := func(p packet.Packet, id uint16) {
				t.Helper()
				if a, ok := p.(*packet.Ack); !ok || a.Kind != packet.PUBACK || a.PacketID != id || a.ReasonCode != packet.Success {
					t.Fatalf("got %#v, want PUBACK %d (success)", p, id)
				}
			}

			// The answer follows the held PUBACK.
			c.send(&packet.Publish{Topic: "svc/a/req", QoS: 1, PacketID: 1, Payload: []byte("q")})
			req := <-requests
			if err := srv.Broker.Publish(&broker.Message{Topic: "svc/a/resp", QoS: 1, Payload: []byte("answer to " + string(req.Payload))}); err != nil {
				t.Fatal(err)
			}
			expectAck(next(), 1)
			if p, ok := next().(*packet.Publish); !ok || p.Topic != "svc/a/resp" {
				t.Fatalf("got %#v, want the answer", p)
			} else if p.QoS == 1 {
				c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
			}

			// No answer: the PUBACK leaves on its own; a later PUBACK does
			// not overtake it.
			c.send(&packet.Publish{Topic: "svc/b/req", QoS: 1, PacketID: 2, Payload: []byte("q")})
			c.send(&packet.Publish{Topic: "plain/topic", QoS: 1, PacketID: 3, Payload: []byte("x")})
			expectAck(next(), 2)
			if a, ok := next().(*packet.Ack); !ok || a.PacketID != 3 {
				t.Fatalf("got %#v, want PUBACK 3", a)
			}
			c.send(&packet.Publish{Topic: "svc/c/req", QoS: 1, PacketID: 4, Payload: []byte("q")})
			expectAck(next(), 4)
		})
	}
}
