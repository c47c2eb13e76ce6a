package interop

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
)

// port returns the port of a "host:port" address as a number.
func port(t *testing.T, addr string) int {
	t.Helper()
	p, err := strconv.Atoi(brokertest.Port(addr))
	if err != nil {
		t.Fatalf("port of %q: %v", addr, err)
	}
	return p
}

type sdkv2Scenario struct {
	Protocol string `json:"protocol"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Cert     string `json:"cert"`
	Key      string `json:"key"`
	CA       string `json:"ca"`
	ClientID string `json:"clientId"`
	Topic    string `json:"topic"`
	Payload  string `json:"payload"`
	// ForbiddenTopic, for MQTT 5, is published to after the round trip; the
	// PUBACK reason code is reported as forbiddenPuback.
	ForbiddenTopic string `json:"forbiddenTopic,omitempty"`
}

// TestSDKv2 round-trips a message through the mTLS listener with the AWS IoT
// Device SDK v2 for JavaScript (aws-crt), MQTT 5 and MQTT 3.1.1 clients.
func TestSDKv2(t *testing.T) {
	node := needNodeModules(t, "aws-iot-device-sdk-v2", "aws-crt")
	for _, tc := range []struct {
		name, protocol, keyType string
	}{
		{"mqtt5-ec", "5", "ec"},
		{"mqtt5-rsa", "5", "rsa"},
		{"mqtt311-ec", "311", "ec"},
		{"mqtt311-rsa", "311", "rsa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := brokertest.Start(t, brokertest.Options{TLS: true})
			cn := "sdkv2-" + tc.name
			f := srv.ClientFiles(t, tc.keyType, cn)
			sc := sdkv2Scenario{
				Protocol: tc.protocol, Host: "localhost", Port: port(t, srv.TLSAddr),
				Cert: f.Cert, Key: f.Key, CA: f.CA,
				ClientID: cn, Topic: "sdk/" + tc.name, Payload: `{"hello":"` + tc.name + `"}`,
			}
			var got struct {
				Connected  bool        `json:"connected"`
				Subscribed []int       `json:"subscribed"`
				PubAck     int         `json:"puback"`
				Received   []jsMessage `json:"received"`
			}
			runNode(t, node, "sdkv2.mjs", sc, &got)
			want := []jsMessage{{Topic: sc.Topic, Payload: sc.Payload, QoS: ptr(1)}}
			if d := cmp.Diff(want, got.Received); d != "" {
				t.Errorf("received (-want +got):\n%s", d)
			}
			if len(got.Subscribed) != 1 || got.Subscribed[0] != 1 {
				t.Errorf("SUBACK %v, want [1]", got.Subscribed)
			}
			if got.PubAck != 0 {
				t.Errorf("PUBACK reason 0x%02X, want 0", got.PubAck)
			}
			// The broker saw the certificate's identity and the protocol.
			wantVersion := byte(4)
			if tc.protocol == "5" {
				wantVersion = 5
			}
			srv.Events.Wait(t, procTimeout, cn+" connected", func(ev broker.Event) bool {
				return ev.Kind == broker.EventConnected && ev.ClientID == cn && ev.PrincipalID == cn && ev.ProtocolVersion == wantVersion
			})
		})
	}
}
