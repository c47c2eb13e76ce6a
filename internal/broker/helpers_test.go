package broker_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// broker is shut down by brokertest's cleanup and every client is closed by
// its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const wait = 5 * time.Second

// versions are the two protocol versions most behaviour is checked on.
var versions = []struct {
	name string
	v    byte
}{{"v311", packet.Version311}, {"v5", packet.Version5}}

// start runs a broker with cfg and allow-all authorization.
func start(t *testing.T, cfg broker.Config) *brokertest.Server {
	t.Helper()
	return brokertest.Start(t, brokertest.Options{Config: cfg})
}

// noRate is a config without the publish rate limit, for tests that publish
// in bursts.
func noRate() broker.Config { return broker.Config{PublishRate: -1} }

// rawClient dials and connects a raw client with a clean session.
func rawClient(t *testing.T, addr string, v byte, id string) *raw {
	t.Helper()
	r := dialRaw(t, addr, v)
	r.mustConnect(id, true)
	return r
}

// connectOK sends cp and fails unless the CONNACK accepts it.
func (r *raw) connectOK(cp *packet.Connect) *packet.Connack {
	r.t.Helper()
	ack := r.connect(cp)
	if ack.ReasonCode != packet.Success {
		r.t.Fatalf("CONNACK 0x%02X (%q), want 0", byte(ack.ReasonCode), ack.Properties.ReasonString)
	}
	return ack
}

// pub sends a PUBLISH and, for QoS 1, waits for its PUBACK and returns it.
func (r *raw) pub(topicName string, qos byte, id uint16, payload string) *packet.Ack {
	r.t.Helper()
	r.send(&packet.Publish{Topic: topicName, QoS: qos, PacketID: id, Payload: []byte(payload)})
	if qos == 0 {
		return nil
	}
	want := packet.PUBACK
	if qos == 2 {
		want = packet.PUBREC
	}
	return r.expectAck(want, id)
}

// expectAck reads until an ack of kind arrives, failing if it is not for id.
func (r *raw) expectAck(kind packet.Type, id uint16) *packet.Ack {
	r.t.Helper()
	for {
		p := r.recv()
		a, ok := p.(*packet.Ack)
		if !ok {
			if pub, isPub := p.(*packet.Publish); isPub {
				r.stash = append(r.stash, pub)
				continue
			}
			r.t.Fatalf("got %s, want %s %d", p.Type(), kind, id)
		}
		if a.Kind != kind || a.PacketID != id {
			r.t.Fatalf("got %s %d, want %s %d", a.Kind, a.PacketID, kind, id)
		}
		return a
	}
}

// expectDisconnect reads until the server closes the connection and checks
// that its last packet was a DISCONNECT with code (v5).
func (r *raw) expectDisconnect(code packet.ReasonCode) *packet.Disconnect {
	r.t.Helper()
	seen := r.expectClosed(wait)
	if len(seen) == 0 {
		r.t.Fatalf("connection closed without DISCONNECT, want DISCONNECT 0x%02X", byte(code))
	}
	d, ok := seen[len(seen)-1].(*packet.Disconnect)
	if !ok {
		r.t.Fatalf("last packet %s, want DISCONNECT 0x%02X", seen[len(seen)-1].Type(), byte(code))
	}
	if d.ReasonCode != code {
		r.t.Fatalf("DISCONNECT reason 0x%02X (%q), want 0x%02X", byte(d.ReasonCode), d.Properties.ReasonString, byte(code))
	}
	return d
}

// expectClosedVersion checks the connection is closed: for v5 with a
// DISCONNECT carrying code, for v3 with no PUBACK/PUBREC before the close.
func (r *raw) expectClosedVersion(code packet.ReasonCode) {
	r.t.Helper()
	if r.version == packet.Version5 {
		r.expectDisconnect(code)
		return
	}
	for _, p := range r.expectClosed(wait) {
		if _, ok := p.(*packet.Ack); ok {
			r.t.Fatalf("got %s before the close, want none", p.Type())
		}
	}
}

// sub subscribes to one filter and fails unless it is granted.
func (r *raw) sub(filter string, qos byte) {
	r.t.Helper()
	sa := r.subscribe(nextID(), packet.Subscription{Filter: filter, QoS: qos})
	if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] >= 0x80 {
		r.t.Fatalf("SUBACK %s = %v, want granted", filter, sa.ReasonCodes)
	}
}

// nextPublishAcked returns the next PUBLISH and acknowledges it (QoS 1).
func (r *raw) nextPublishAcked() *packet.Publish {
	r.t.Helper()
	p := r.nextPublish()
	if p.QoS == 1 {
		r.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
	}
	return p
}

var idSeq uint16 = 100

// nextID returns a packet id for SUBSCRIBEs (tests are not parallel).
func nextID() uint16 { idSeq++; return idSeq }

// barrier proves that nothing was delivered to r before it: pub publishes a
// marker to a topic r subscribes to here, and r's next PUBLISH must be the
// marker. Deliveries to one connection keep their order, so anything routed
// to r before the marker would arrive first.
func barrier(t *testing.T, r, pub *raw, what string) {
	t.Helper()
	marker := "barrier/" + strings.ReplaceAll(t.Name(), "/", "_")
	r.sub(marker, 0)
	pub.pub(marker, 0, 0, "marker")
	got := r.nextPublish()
	if got.Topic != marker {
		t.Fatalf("%s: got PUBLISH %s %q, want none before the marker", what, got.Topic, got.Payload)
	}
}

// expectSilence checks that no PUBLISH arrives within d. Used only where
// absence cannot be shown with a barrier (the publisher is the broker's
// timer, or the client is gone).
func (r *raw) expectSilence(d time.Duration) {
	r.t.Helper()
	if len(r.stash) > 0 {
		r.t.Fatalf("got PUBLISH %s %q, want none", r.stash[0].Topic, r.stash[0].Payload)
	}
	deadline := time.Now().Add(d)
	for {
		p, err := r.read(time.Until(deadline))
		if err != nil {
			return
		}
		if pub, ok := p.(*packet.Publish); ok {
			r.t.Fatalf("got PUBLISH %s %q, want none", pub.Topic, pub.Payload)
		}
	}
}

// startWithRules runs a broker whose authorizer is rules.
func startWithRules(t *testing.T, rules *brokertest.Rules) *brokertest.Server {
	t.Helper()
	return brokertest.Start(t, brokertest.Options{Config: noRate(), Authorizer: rules})
}

// waitDisconnected waits until the broker has finished with id's (latest)
// connection and returns the disconnected event.
func waitDisconnected(t *testing.T, srv *brokertest.Server, id string) broker.Event {
	t.Helper()
	return srv.Events.Wait(t, wait, id+" disconnected", func(ev broker.Event) bool {
		return ev.Kind == broker.EventDisconnected && ev.ClientID == id
	})
}

// waitRetained waits until topicName has a retained message.
func waitRetained(t *testing.T, srv *brokertest.Server, topicName string) {
	t.Helper()
	brokertest.Eventually(t, wait, "retained message on "+topicName, func() bool {
		_, ok := srv.Broker.Retained(topicName)
		return ok
	})
}

// --- paho.mqtt.golang (MQTT 3.1.1) ---

type v3Client struct {
	pahov3.Client
	msgs chan pahov3.Message
}

func connectV3(t *testing.T, addr, id string, clean bool) *v3Client {
	t.Helper()
	msgs := make(chan pahov3.Message, 100)
	o := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ pahov3.Client, m pahov3.Message) { msgs <- m })
	c := pahov3.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho v3 connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(50)
		}
	})
	return &v3Client{Client: c, msgs: msgs}
}

func (c *v3Client) mustSubscribe(t *testing.T, filter string, qos byte) {
	t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho v3 subscribe %s: %v", filter, tok.Error())
	}
}

func (c *v3Client) mustPublish(t *testing.T, topicName string, qos byte, retain bool, payload string) {
	t.Helper()
	tok := c.Publish(topicName, qos, retain, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho v3 publish %s: %v", topicName, tok.Error())
	}
}

func (c *v3Client) next(t *testing.T) pahov3.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("paho v3: no message")
		return nil
	}
}

// --- paho.golang (MQTT 5) ---

type v5Client struct {
	*paho.Client
	msgs     chan *paho.Publish
	connack  *paho.Connack
	serverDC chan *paho.Disconnect
}

func connectV5(t *testing.T, addr string, cp *paho.Connect) *v5Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &v5Client{msgs: make(chan *paho.Publish, 100), serverDC: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: cp.ClientID,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.serverDC <- d },
		OnClientError:      func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		t.Fatalf("paho v5 connect %s: %v", cp.ClientID, err)
	}
	c.connack = ack
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c
}

func (c *v5Client) mustSubscribe(t *testing.T, s *paho.Subscribe) *paho.Suback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sa, err := c.Subscribe(ctx, s)
	if err != nil {
		t.Fatalf("paho v5 subscribe: %v", err)
	}
	return sa
}

func (c *v5Client) mustPublish(t *testing.T, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r, err := c.Publish(ctx, p)
	if err != nil {
		t.Fatalf("paho v5 publish %s: %v", p.Topic, err)
	}
	return r
}

func (c *v5Client) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("paho v5: no message")
		return nil
	}
}

func u32(v uint32) *uint32 { return &v }
