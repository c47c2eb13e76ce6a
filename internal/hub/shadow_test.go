package hub_test

import (
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/hubtest"
)

// A device with the default policy updates and reads its own shadow over
// MQTT; the seed recipe's bare JSON is rejected with AWS's 400 while other
// subscribers of the update topic still get it, and the log says how to fix
// it.
func TestDeviceShadowOverMQTT(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "pico")
	got := make(chan [2]string, 16)
	o := paho.NewClientOptions().AddBroker("ssl://" + h.Endpoints.MQTT).SetClientID(d.Thing).
		SetTLSConfig(d.TLSConfig(t)).SetAutoReconnect(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	prefix := "$aws/things/pico/shadow"
	for _, f := range []string{prefix + "/update", prefix + "/update/+", prefix + "/get/+"} {
		if tok := c.Subscribe(f, 1, func(_ paho.Client, m paho.Message) { got <- [2]string{m.Topic(), string(m.Payload())} }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	publish := func(topic, payload string) {
		t.Helper()
		if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	// expect waits for a message on topic containing contains, in any order
	// relative to other expected messages: the service may answer before
	// the broker has echoed the request to the device's own subscription.
	var seen []string       // every message, for the failure message
	var backlog [][2]string // received, not yet expected
	expect := func(topic, contains string) {
		t.Helper()
		match := func(m [2]string) bool { return m[0] == topic && strings.Contains(m[1], contains) }
		for i, m := range backlog {
			if match(m) {
				backlog = append(backlog[:i], backlog[i+1:]...)
				return
			}
		}
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-got:
				seen = append(seen, m[0]+" "+m[1])
				if match(m) {
					return
				}
				backlog = append(backlog, m)
			case <-deadline:
				t.Fatalf("no message on %s containing %s; received:\n%s\nhub log:\n%s", topic, contains,
					strings.Join(seen, "\n"), strings.Join(h.Logs.Lines(), "\n"))
			}
		}
	}

	publish(prefix+"/update", `{"temperature":22.5}`)
	expect(prefix+"/update", `{"temperature":22.5}`)
	expect(prefix+"/update/rejected", `{"code":400,"message":"Missing required node: state"}`)
	h.Logs.WaitFor(t, 5*time.Second, "Missing required node: state", `{\"state\":{\"reported\":{...}}}`, `"thing":"pico"`)

	publish(prefix+"/update", `{"state":{"reported":{"temperature":22.5}},"clientToken":"a"}`)
	expect(prefix+"/update/accepted", `"version":1`)
	publish(prefix+"/update", `{"state":{"desired":{"led":"on"}}}`)
	expect(prefix+"/update/delta", `"state":{"led":"on"}`)
	publish(prefix+"/get", `{"clientToken":"g"}`)
	expect(prefix+"/get/accepted", `"clientToken":"g"`)
}
