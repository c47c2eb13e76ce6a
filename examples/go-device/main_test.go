package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// The example reports telemetry to a real hub, applies a desired interval
// and stops when its context ends.
func TestRunAgainstHub(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "example-dev")
	host, port, _ := strings.Cut(h.Endpoints.MQTT, ":")
	js := fmt.Sprintf(`{"thing_name":"example-dev","client_id":"example-dev","endpoint":%q,"mqtt_port":%s,
		"files":{"certificate_pem":"certificate.pem.crt","private_key_pem":"private.pem.key","root_ca":"root-CA.pem"}}`, host, port)
	if err := os.WriteFile(filepath.Join(d.Dir, "device.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		reported []map[string]any
	)
	unsub, err := h.Broker().Subscribe("$aws/things/example-dev/shadow/update/accepted", func(m *broker.Message) {
		var doc struct {
			State struct {
				Reported map[string]any `json:"reported"`
			} `json:"state"`
		}
		if json.Unmarshal(m.Payload, &doc) == nil && doc.State.Reported != nil {
			mu.Lock()
			reported = append(reported, doc.State.Reported)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	seen := func(cond func(map[string]any) bool) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range reported {
				if cond(r) {
					return true
				}
			}
			return false
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, d.Dir, 100*time.Millisecond, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()

	waitFor(t, "two telemetry reports", seen(func(r map[string]any) bool { return r["counter"] == 2.0 && r["temperature"] != nil }))
	if err := h.Broker().Publish(&broker.Message{Topic: "$aws/things/example-dev/shadow/update",
		Payload: []byte(`{"state":{"desired":{"interval":1,"led":"on"}}}`), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the desired state reported back", seen(func(r map[string]any) bool { return r["interval"] == 1.0 && r["led"] == "on" }))

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v, want nil after its context ends", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return 20s after its context ended")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}
