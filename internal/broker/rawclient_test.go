package broker_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// raw is a bare MQTT connection for tests that must see exact packets
// (reason codes, properties) that a full client library would hide.
type raw struct {
	t       testing.TB
	conn    net.Conn
	br      *bufio.Reader
	version byte
	// stash holds PUBLISH packets read while waiting for another packet
	// (expectAck); nextPublish returns them first.
	stash []*packet.Publish
}

func dialRaw(t testing.TB, addr string, version byte) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, conn: c, br: bufio.NewReader(c), version: version}
}

func (r *raw) send(p packet.Packet) {
	r.t.Helper()
	b, err := packet.Append(nil, p, r.version)
	if err != nil {
		r.t.Fatalf("encode %s: %v", p.Type(), err)
	}
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("write %s: %v", p.Type(), err)
	}
}

// recv reads the next packet, failing after 5 s.
func (r *raw) recv() packet.Packet {
	r.t.Helper()
	p, err := r.read(5 * time.Second)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return p
}

func (r *raw) read(timeout time.Duration) (packet.Packet, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(timeout))
	return packet.Read(r.br, r.version, 0)
}

// expectClosed reads until the server closes the connection, returning the
// packets seen before (typically a DISCONNECT).
func (r *raw) expectClosed(timeout time.Duration) []packet.Packet {
	r.t.Helper()
	var seen []packet.Packet
	deadline := time.Now().Add(timeout)
	for {
		p, err := r.read(time.Until(deadline))
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.t.Fatalf("connection still open after %s (saw %d packets)", timeout, len(seen))
			}
			return seen
		}
		seen = append(seen, p)
	}
}

// connect sends CONNECT and returns the CONNACK.
func (r *raw) connect(c *packet.Connect) *packet.Connack {
	r.t.Helper()
	if c.ProtocolName == "" {
		c.ProtocolName = "MQTT"
	}
	if c.ProtocolVersion == 0 {
		c.ProtocolVersion = r.version
	}
	r.send(c)
	p := r.recv()
	ack, ok := p.(*packet.Connack)
	if !ok {
		r.t.Fatalf("got %s, want CONNACK", p.Type())
	}
	return ack
}

func (r *raw) mustConnect(clientID string, clean bool) *packet.Connack {
	r.t.Helper()
	ack := r.connect(&packet.Connect{ClientID: clientID, CleanStart: clean, KeepAlive: 60})
	if ack.ReasonCode != 0 {
		r.t.Fatalf("CONNACK reason 0x%02X, want 0", byte(ack.ReasonCode))
	}
	return ack
}

func (r *raw) subscribe(id uint16, subs ...packet.Subscription) *packet.Suback {
	r.t.Helper()
	r.send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	for {
		p := r.recv()
		if s, ok := p.(*packet.Suback); ok {
			return s
		}
		if pub, ok := p.(*packet.Publish); ok {
			r.stash = append(r.stash, pub)
		}
	}
}

// nextPublish reads packets until a PUBLISH arrives.
func (r *raw) nextPublish() *packet.Publish {
	r.t.Helper()
	if len(r.stash) > 0 {
		p := r.stash[0]
		r.stash = r.stash[1:]
		return p
	}
	for {
		p := r.recv()
		if pub, ok := p.(*packet.Publish); ok {
			return pub
		}
	}
}
