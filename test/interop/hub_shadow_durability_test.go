package interop

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestHubShadowDurabilityKill9 kills the real server with SIGKILL while a
// device sends shadow updates, each setting its own reported key, restarts
// it on the same data directory, and checks that no update the device saw
// on update/accepted was lost: a get returns a version at least the highest
// accepted one and every accepted key (reference §1: an update answered on
// update/accepted survives kill -9).
func TestHubShadowDurabilityKill9(t *testing.T) {
	const n = 200
	bin := buildThingcore(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	h1 := serveHub(t, bin, dataDir)
	dev := onboard(t, h1, h1.iotClient(t), "shadow-durable")
	prefix := "$aws/things/" + dev.thing + "/shadow"

	type acceptedUpdate struct {
		key     string
		version int
	}
	var (
		mu         sync.Mutex
		accepted   []acceptedUpdate
		badAnswers []string
	)
	onMessage := func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		if m.Topic() != prefix+"/update/accepted" {
			badAnswers = append(badAnswers, m.Topic()+" "+string(m.Payload()))
			return
		}
		var doc struct {
			State struct {
				Reported map[string]any `json:"reported"`
			} `json:"state"`
			Version int `json:"version"`
		}
		if err := json.Unmarshal(m.Payload(), &doc); err != nil || len(doc.State.Reported) != 1 {
			badAnswers = append(badAnswers, fmt.Sprintf("%s %s (%v)", m.Topic(), m.Payload(), err))
			return
		}
		for k := range doc.State.Reported {
			accepted = append(accepted, acceptedUpdate{k, doc.Version})
		}
	}
	c := connectDevice(t, h1.mqttAddr, dev, true, onMessage)
	for _, f := range []string{prefix + "/update/accepted", prefix + "/update/rejected"} {
		if tok := c.Subscribe(f, 1, nil); !tok.WaitTimeout(durableWait) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	acceptedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted)
	}

	// Publish every update without waiting; once a quarter are accepted the
	// server is killed, usually while updates are still arriving.
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			body := fmt.Sprintf(`{"state":{"reported":{"k%03d":%d}},"clientToken":"u%03d"}`, i, i, i)
			c.Publish(prefix+"/update", 1, false, body)
		}
	}()
	deadline := time.Now().Add(durableWait)
	for acceptedNow() < n/4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d updates accepted after %s", acceptedNow(), durableWait)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	h1.kill(t)
	<-published
	c.Disconnect(0)

	mu.Lock()
	got := slices.Clone(accepted)
	if len(badAnswers) > 0 {
		t.Errorf("unexpected answers before the kill: %v", badAnswers)
	}
	mu.Unlock()
	t.Logf("%d of %d updates accepted before SIGKILL", len(got), n)
	maxVersion := 0
	seen := map[int]string{}
	for _, a := range got {
		if k, dup := seen[a.version]; dup {
			t.Errorf("version %d accepted twice (%s and %s)", a.version, k, a.key)
		}
		seen[a.version] = a.key
		maxVersion = max(maxVersion, a.version)
	}

	// Restart on the same data and read the shadow back.
	h2 := serveHub(t, bin, dataDir)
	answer := make(chan mqtt.Message, 1)
	c2 := connectDevice(t, h2.mqttAddr, dev, true, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case answer <- m:
		default:
		}
	})
	if tok := c2.Subscribe(prefix+"/get/+", 1, nil); !tok.WaitTimeout(durableWait) || tok.Error() != nil {
		t.Fatalf("subscribe get/+: %v", tok.Error())
	}
	if tok := c2.Publish(prefix+"/get", 1, false, `{"clientToken":"after-restart"}`); !tok.WaitTimeout(durableWait) || tok.Error() != nil {
		t.Fatalf("publish get: %v", tok.Error())
	}
	var m mqtt.Message
	select {
	case m = <-answer:
	case <-time.After(durableWait):
		t.Fatalf("no answer to get after restart within %s\nserver stderr: %s", durableWait, h2.stderr.String())
	}
	if m.Topic() != prefix+"/get/accepted" {
		t.Fatalf("get after restart: %s %s", m.Topic(), m.Payload())
	}
	var doc struct {
		State struct {
			Reported map[string]any `json:"reported"`
		} `json:"state"`
		Version int `json:"version"`
	}
	if err := json.Unmarshal(m.Payload(), &doc); err != nil {
		t.Fatalf("get/accepted %s: %v", m.Payload(), err)
	}
	if doc.Version < maxVersion {
		t.Errorf("version after restart = %d, want >= %d (the highest accepted before SIGKILL)", doc.Version, maxVersion)
	}
	if doc.Version > n {
		t.Errorf("version after restart = %d, more than the %d updates sent", doc.Version, n)
	}
	var lost []string
	for _, a := range got {
		if _, ok := doc.State.Reported[a.key]; !ok {
			lost = append(lost, fmt.Sprintf("%s (v%d)", a.key, a.version))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d accepted updates lost across kill -9: %s", len(lost), strings.Join(lost, ", "))
	}
	// Keys beyond the accepted ones are updates the server stored but whose
	// update/accepted never reached the device; versions count every stored
	// update, so they must match the keys.
	if len(doc.State.Reported) != doc.Version {
		t.Errorf("after restart %d reported keys at version %d; every stored update adds one key and one version",
			len(doc.State.Reported), doc.Version)
	}
	t.Logf("after restart: version %d, %d keys (highest accepted version %d)", doc.Version, len(doc.State.Reported), maxVersion)
}
