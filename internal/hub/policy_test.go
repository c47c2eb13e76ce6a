package hub_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// A certificate with no policy attached is refused, and the reason says so.
func TestCertificateWithoutPolicyRefused(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "bare-dev")
	if _, err := h.IoT.DetachPolicy(context.Background(), &iot.DetachPolicyInput{
		PolicyName: aws.String(hub.DefaultPolicyName), Target: aws.String(d.CertARN)}); err != nil {
		t.Fatalf("DetachPolicy: %v", err)
	}
	_, ack, err := connectV5(t, h.Endpoints.MQTT, d.TLSConfig(t), d.Thing, nil)
	if err == nil || ack == nil || ack.ReasonCode != 0x87 {
		t.Fatalf("connect = (%+v, %v), want CONNACK 0x87", ack, err)
	}
	if rs := ack.Properties.ReasonString; !strings.Contains(rs, "has no policy attached") {
		t.Fatalf("reason string %q does not say the certificate has no policy", rs)
	}
}

// Detaching the policy of a connected device stops deliveries on its
// existing subscription at once, without reconnecting; attaching it again
// resumes them.
func TestDetachPolicyStopsDeliveries(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "watcher")
	got := make(chan string, 16)
	o := paho.NewClientOptions().AddBroker("ssl://" + h.Endpoints.MQTT).SetClientID(d.Thing).
		SetTLSConfig(d.TLSConfig(t)).SetAutoReconnect(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	topic := "things/watcher/cmd"
	if tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	publish := func(payload string) {
		t.Helper()
		if err := h.Broker().Publish(&broker.Message{Topic: topic, Payload: []byte(payload), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want string) {
		t.Helper()
		select {
		case p := <-got:
			if p != want {
				t.Fatalf("received %q, want %q", p, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q not delivered", want)
		}
	}
	publish("before")
	expect("before")

	ctx := context.Background()
	if _, err := h.IoT.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String(hub.DefaultPolicyName), Target: aws.String(d.CertARN)}); err != nil {
		t.Fatalf("DetachPolicy: %v", err)
	}
	publish("while detached") // iot:Receive is now denied: not delivered
	h.Logs.WaitFor(t, 10*time.Second, "policies of a live connection changed", d.CertID)
	h.AttachDefaultPolicy(t, d.CertARN)
	publish("after")
	expect("after") // the first message to arrive: the one sent while detached never came
}
