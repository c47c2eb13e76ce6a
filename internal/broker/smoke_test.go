package broker_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

func TestSmokeRawPublishSubscribe(t *testing.T) {
	srv := brokertest.Start(t, brokertest.Options{})
	sub := dialRaw(t, srv.Addr, packet.Version5)
	sub.mustConnect("sub", true)
	sa := sub.subscribe(1, packet.Subscription{Filter: "a/+", QoS: 1})
	if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != packet.GrantedQoS1 {
		t.Fatalf("SUBACK codes = %v, want [1]", sa.ReasonCodes)
	}
	pub := dialRaw(t, srv.Addr, packet.Version311)
	pub.mustConnect("pub", true)
	pub.send(&packet.Publish{Topic: "a/b", QoS: 1, PacketID: 7, Payload: []byte("hi")})
	if ack, ok := pub.recv().(*packet.Ack); !ok || ack.Kind != packet.PUBACK || ack.PacketID != 7 {
		t.Fatalf("publisher got %v, want PUBACK 7", ack)
	}
	got := sub.nextPublish()
	if got.Topic != "a/b" || string(got.Payload) != "hi" || got.QoS != 1 {
		t.Fatalf("subscriber got %+v", got)
	}
	sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: got.PacketID})
}

func TestSmokePahoV3(t *testing.T) {
	srv := brokertest.Start(t, brokertest.Options{})
	recv := make(chan paho.Message, 1)
	o := paho.NewClientOptions().AddBroker("tcp://" + srv.Addr).SetClientID("paho-sub")
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe("x/#", 1, func(_ paho.Client, m paho.Message) { recv <- m }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.Publish("x/y", 1, false, "hello"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case m := <-recv:
		if m.Topic() != "x/y" || string(m.Payload()) != "hello" {
			t.Fatalf("got %s %q", m.Topic(), m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
}
