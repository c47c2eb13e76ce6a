package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
)

const mosquittoPub = "/usr/bin/mosquitto_pub"

// TestMosquittoPubWithDeviceFolder runs the mosquitto_pub command `thing
// create` prints, from the folder it wrote, and checks that the hub
// received the shadow update: the default policy lets a thing publish to
// its own shadow topics.
func TestMosquittoPubWithDeviceFolder(t *testing.T) {
	if _, err := os.Stat(mosquittoPub); err != nil {
		if os.Getenv("THINGCORE_INTEROP_REQUIRED") == "1" {
			t.Fatalf("%s is required (THINGCORE_INTEROP_REQUIRED=1): %v", mosquittoPub, err)
		}
		t.Skipf("%s not installed", mosquittoPub)
	}
	th := startHub(t)
	for _, tc := range []struct {
		name, keyType string
		qos           string
	}{
		{"rsa qos0 as printed", "rsa", ""},
		{"rsa qos1", "rsa", "1"},
		{"ec qos1", "ec", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			thing := "pub-" + tc.keyType + "-" + map[string]string{"": "0", "1": "1"}[tc.qos]
			dir := th.createThing(t, thing, "--key-type", tc.keyType)
			topic := shadowTopic(thing, "update")
			got := make(chan string, 1)
			unsubscribe, err := th.h.Broker().Subscribe(topic, func(m *broker.Message) {
				select {
				case got <- string(m.Payload):
				default:
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer unsubscribe()

			payload := `{"state":{"reported":{"temperature":22}}}`
			args := []string{"-h", "localhost", "-p", strconv.Itoa(th.mqttPort), "--cafile", fileRootCA,
				"--cert", fileCertPEM, "--key", fileKeyPEM, "-i", thing, "-t", topic, "-m", payload}
			if tc.qos != "" {
				args = append(args, "-q", tc.qos)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, mosquittoPub, args...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
			}
			select {
			case p := <-got:
				if p != payload {
					t.Errorf("hub received %q on %s, want %q", p, topic, payload)
				}
			case <-ctx.Done():
				t.Fatalf("hub received nothing on %s", topic)
			}
		})
	}
}
