package broker_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// The transport's mTLS connections implement broker.Parker, so an idle
// client holds no goroutine. These tests run the behaviours that depend on
// an idle reader (keep-alive, takeover, will, delivery to an idle
// subscriber, shutdown) over mTLS, where the connections park.

// startTLS runs a broker with an mTLS listener.
func startTLS(t *testing.T, cfg broker.Config) *brokertest.Server {
	t.Helper()
	return brokertest.Start(t, brokertest.Options{Config: cfg, TLS: true})
}

// dialRawTLS dials the broker's mTLS listener as device "thing-1".
func dialRawTLS(t *testing.T, srv *brokertest.Server, version byte) *raw {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", srv.TLSAddr, srv.ClientTLS(t, "thing-1"))
	if err != nil {
		t.Fatalf("dial %s: %v", srv.TLSAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, conn: c, br: bufio.NewReader(c), version: version}
}

// readers counts goroutines in the broker's read loop.
func readers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "broker.(*client).readLoop") {
			n++
		}
	}
	return n
}

// waitParked waits until no connection has a reader goroutine: every
// connection is idle and parked.
func waitParked(t *testing.T) {
	t.Helper()
	brokertest.Eventually(t, wait, "idle connections parked (no reader goroutine)", func() bool {
		return readers() == 0
	})
}

func TestParkedConnections(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name+"/delivery-to-idle-subscriber", func(t *testing.T) {
			srv := startTLS(t, noRate())
			sub := dialRawTLS(t, srv, v.v)
			sub.mustConnect("sub", true)
			sub.sub("t/#", 1)
			pub := dialRawTLS(t, srv, v.v)
			pub.mustConnect("pub", true)
			for i := range 3 {
				waitParked(t)
				pub.pub("t/x", 1, uint16(i+1), "hello")
				if got := sub.nextPublishAcked(); string(got.Payload) != "hello" {
					t.Fatalf("subscriber got %q, want \"hello\"", got.Payload)
				}
			}
		})
		t.Run(v.name+"/keep-alive-timeout", func(t *testing.T) {
			srv := startTLS(t, broker.Config{KeepAliveMin: 1, PublishRate: -1})
			c := dialRawTLS(t, srv, v.v)
			began := time.Now()
			c.connectOK(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 1})
			waitParked(t)
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
			srv := startTLS(t, broker.Config{KeepAliveMin: 1, PublishRate: -1})
			c := dialRawTLS(t, srv, v.v)
			c.connectOK(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 1})
			for range 4 { // 4 × 0.5 s = 2 s, longer than 1.5 × keep-alive
				time.Sleep(500 * time.Millisecond) // the client's own ping interval, not a wait for an effect
				c.send(&packet.Pingreq{})
				if p := c.recv(); p.Type() != packet.PINGRESP {
					t.Fatalf("got %s, want PINGRESP", p.Type())
				}
			}
		})
		t.Run(v.name+"/takeover", func(t *testing.T) {
			srv := startTLS(t, noRate())
			old := dialRawTLS(t, srv, v.v)
			old.mustConnect("dup", true)
			waitParked(t)
			neu := dialRawTLS(t, srv, v.v)
			neu.mustConnect("dup", true)
			if v.v == packet.Version5 {
				old.expectDisconnect(packet.SessionTakenOver)
			} else if seen := old.expectClosed(wait); len(seen) != 0 {
				t.Fatalf("old v3 connection got %s before the close, want nothing", seen[0].Type())
			}
			ev := waitDisconnected(t, srv, "dup")
			if ev.DisconnectReason != broker.ReasonDuplicateClientID {
				t.Fatalf("disconnect reason %s, want %s", ev.DisconnectReason, broker.ReasonDuplicateClientID)
			}
			neu.sub("t", 1)
			neu.pub("t", 1, 1, "x")
			if got := neu.nextPublishAcked(); string(got.Payload) != "x" {
				t.Fatalf("new connection got %q, want \"x\"", got.Payload)
			}
		})
		t.Run(v.name+"/will-on-connection-lost", func(t *testing.T) {
			srv := startTLS(t, noRate())
			w := dialRawTLS(t, srv, v.v)
			w.mustConnect("watcher", true)
			w.sub("will/#", 1)
			c := dialRawTLS(t, srv, v.v)
			c.connectOK(willConnect("c", false))
			waitParked(t)
			_ = c.conn.(*tls.Conn).NetConn().Close() // as a killed device: no TLS close_notify
			expectWill(t, w, "c")
			ev := waitDisconnected(t, srv, "c")
			if ev.DisconnectReason != broker.ReasonConnectionLost {
				t.Fatalf("disconnect reason %s, want %s", ev.DisconnectReason, broker.ReasonConnectionLost)
			}
		})
		t.Run(v.name+"/shutdown-disconnects-idle-clients", func(t *testing.T) {
			srv := startTLS(t, noRate())
			c := dialRawTLS(t, srv, v.v)
			c.mustConnect("c", true)
			waitParked(t)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := srv.Broker.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown() = %v, want nil (parked connections end)", err)
			}
			c.expectClosedVersion(packet.ServerShuttingDown)
		})
	}
}
