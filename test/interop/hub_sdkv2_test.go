package interop

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/hubtest"
)

// TestHubSDKv2 connects the AWS IoT Device SDK v2 for JavaScript (sdkv2.mjs)
// to the hub with a thing folder from the hub's own onboarding, client id =
// thing name, and round-trips a message on the thing's shadow update topic,
// which the default thing policy allows, over MQTT 5 and MQTT 3.1.1.
func TestHubSDKv2(t *testing.T) {
	node := needNodeModules(t, "aws-iot-device-sdk-v2", "aws-crt")
	h := hubtest.Start(t, hubtest.Options{})
	mqttPort, err := strconv.Atoi(hostPort(t, h.Endpoints.MQTT))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, protocol string
		version        int // protocol_version in the hub's connect log
	}{
		{"mqtt5", "5", 5},
		{"mqtt311", "311", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := h.NewDevice(t, "sdkv2-"+tc.name)
			sc := sdkv2Scenario{
				Protocol: tc.protocol, Host: "localhost", Port: mqttPort,
				Cert: d.CertFile, Key: d.KeyFile, CA: d.CA, ClientID: d.Thing,
				Topic:   "$aws/things/" + d.Thing + "/shadow/update",
				Payload: `{"state":{"reported":{"sdk":"` + tc.name + `"}}}`,
			}
			if tc.protocol == "5" {
				// The default policy forbids another thing's shadow.
				sc.ForbiddenTopic = "$aws/things/someone-else/shadow/update"
			}
			var got struct {
				Connected  bool        `json:"connected"`
				Subscribed []int       `json:"subscribed"`
				PubAck     int         `json:"puback"`
				Received   []jsMessage `json:"received"`
				Forbidden  any         `json:"forbiddenPuback"`
			}
			runNode(t, node, "sdkv2.mjs", sc, &got)
			if !got.Connected {
				t.Errorf("connected = false")
			}
			want := []jsMessage{{Topic: sc.Topic, Payload: sc.Payload, QoS: ptr(1)}}
			if d := cmp.Diff(want, got.Received); d != "" {
				t.Errorf("received (-want +got):\n%s", d)
			}
			if len(got.Subscribed) != 1 || got.Subscribed[0] != 1 {
				t.Errorf("SUBACK %v, want [1]", got.Subscribed)
			}
			// No other subscriber, so MQTT 5 may say 0x10 No matching
			// subscribers; anything below 0x80 is a success.
			if got.PubAck >= 0x80 || got.PubAck < 0 {
				t.Errorf("PUBACK reason 0x%02X, want success", got.PubAck)
			}
			if sc.ForbiddenTopic != "" && got.Forbidden != float64(0x87) {
				t.Errorf("PUBACK for another thing's shadow = %v, want 135 (0x87 Not authorized)", got.Forbidden)
			}
			h.Logs.WaitFor(t, 10*time.Second, "client connected", `"client_id":"`+d.Thing+`"`, d.CertID,
				fmt.Sprintf(`"protocol_version":%d`, tc.version))
		})
	}
}
