package hubtest_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/hubtest"
)

// A device onboarded through the API connects over mTLS and publishes to its
// own shadow topic under the default thing policy; it may not publish to
// another thing's.
func TestDeviceOnboardingAndDefaultPolicy(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "dev-1")
	o := paho.NewClientOptions().AddBroker("ssl://" + h.Endpoints.MQTT).SetClientID(d.Thing).
		SetTLSConfig(d.TLSConfig(t)).SetAutoReconnect(false).SetConnectRetry(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish("$aws/things/dev-1/shadow/update", 1, false, `{"state":{"reported":{"t":1}}}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish to own shadow: %v", tok.Error())
	}
	// Another thing's topic: AWS closes an MQTT 3.1.1 connection that
	// publishes where it may not.
	c.Publish("$aws/things/other/shadow/update", 1, false, `{}`)
	h.Logs.WaitFor(t, 10*time.Second, "action denied", "dev-1", "$aws/things/other/shadow/update")
}
