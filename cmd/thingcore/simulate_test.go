package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDeviceSimulate runs `device simulate --things 200` against a real hub:
// every device connects over mutual TLS, every update is accepted, a desired
// change set through the hub's shadow service is applied and reported by
// its device, and the things and certificates are gone at the end. Sized
// for CI with -race on 2 cores: EC keys, 0.5 updates/s per device for 6 s.
func TestDeviceSimulate(t *testing.T) {
	if testing.Short() {
		t.Skip("200 devices: not in -short")
	}
	const devices = 200
	th := startHub(t)
	stderr := newSyncBuffer()
	var stdout bytes.Buffer
	args := []string{"device", "simulate", "--things", strconv.Itoa(devices), "--prefix", "sim", "--key-type", "ec",
		"--rate", "0.5", "--duration", "6s", "--status-interval", "200ms", "--output", "json",
		"--mqtt-host", "localhost", "--mqtt-port", strconv.Itoa(th.mqttPort),
		"--data-dir", th.dataDir, "--endpoint", th.endpoint}
	codec := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		codec <- run(context.Background(), args, &stdout, stderr)
	}()
	t.Cleanup(func() { <-done })

	if !stderr.waitContains("connected 200/200", done, 60*time.Second) {
		t.Fatalf("the devices did not all connect within 60s; stderr:\n%s", tail(stderr.String(), 2000))
	}

	// A desired change made on the hub reaches the device as a delta; the
	// device reports it back and the delta is gone.
	ctx := context.Background()
	const thing = "sim-0042"
	if _, err := th.h.Shadows().Update(ctx, thing, "", []byte(`{"state":{"desired":{"led":"on","interval":7}}}`)); err != nil {
		t.Fatalf("Shadows().Update(%s): %v", thing, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		doc, err := th.h.Shadows().Get(ctx, thing, "")
		if err != nil {
			t.Fatalf("Shadows().Get(%s): %v", thing, err)
		}
		var d struct {
			State struct {
				Reported map[string]any  `json:"reported"`
				Delta    json.RawMessage `json:"delta"`
			} `json:"state"`
		}
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatalf("shadow %s: %v", thing, err)
		}
		// The telemetry counter shows the device also reports; its first
		// report may come after the delta.
		_, counted := d.State.Reported["counter"]
		if d.State.Reported["led"] == "on" && d.State.Reported["interval"] == 7.0 && len(d.State.Delta) == 0 && counted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulated device did not apply the desired state and report telemetry within 10s; shadow: %s", doc)
		}
		select {
		case <-done:
			t.Fatalf("simulate ended before the desired state was applied; shadow: %s\nstderr:\n%s", doc, tail(stderr.String(), 2000))
		case <-time.After(50 * time.Millisecond):
		}
	}

	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("simulate did not end within 60s of its duration")
	}
	if code := <-codec; code != exitOK {
		t.Fatalf("device simulate: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), tail(stderr.String(), 4000))
	}
	var rep simulateReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout.String())
	}
	checks := []struct {
		name      string
		got, want int64
	}{
		{"devices", int64(rep.Devices), devices},
		{"connected", int64(rep.Connected), devices},
		{"failed", int64(rep.Failed), 0},
		{"error_total", rep.ErrorTotal, 0},
		{"updates_rejected", rep.Rejected, 0},
		{"updates_accepted", rep.Accepted, rep.Sent},
		{"things_created", int64(rep.ThingsCreated), devices},
		{"things_deleted", int64(rep.ThingsDeleted), devices},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("summary %s = %d, want %d", c.name, c.got, c.want)
		}
	}
	// 200 devices × 0.5/s × 6 s is 600 updates; the first of each comes at a
	// random point of its first 2 s.
	if rep.Accepted < 300 {
		t.Errorf("summary updates_accepted = %d, want at least 300", rep.Accepted)
	}
	if rep.DeltasApplied < 1 {
		t.Errorf("summary deltas_applied = %d, want at least 1", rep.DeltasApplied)
	}
	if rep.LatencyP99Ms <= 0 {
		t.Errorf("summary latency_p99_ms = %v, want above 0", rep.LatencyP99Ms)
	}
	t.Logf("summary:\n%s", stdout.String())

	// Cleaned up: no thing nor certificate left.
	if r := th.mustAdmin(t, "thing", "list", "--output", "json"); strings.Contains(r.stdout, "sim-") {
		t.Errorf("things left after simulate:\n%s", tail(r.stdout, 1000))
	}
	if r := th.mustAdmin(t, "cert", "list", "--output", "json"); strings.Contains(r.stdout, "ACTIVE") || strings.Contains(r.stdout, "INACTIVE") {
		t.Errorf("certificates left after simulate:\n%s", tail(r.stdout, 1000))
	}
	if _, err := th.h.Shadows().Get(ctx, thing, ""); err == nil {
		t.Errorf("shadow of %s left after simulate", thing)
	}
}

func TestDeviceSimulateUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no source", nil, "give one of --things N, --dirs GLOB or --from DIR"},
		{"two sources", []string{"--things", "2", "--from", "x"}, "give one of"},
		{"bad rate", []string{"--things", "2", "--rate", "0"}, "--rate 0"},
		{"bad protocol", []string{"--things", "2", "--protocol", "mqtt4"}, `--protocol "mqtt4"`},
		{"bad prefix", []string{"--things", "2", "--prefix", "a b"}, `--prefix "a b"`},
		{"keep without things", []string{"--from", "x", "--keep"}, "--keep applies to --things only"},
		{"bad key type", []string{"--things", "2", "--key-type", "dsa"}, `--key-type "dsa"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, append([]string{"device", "simulate"}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("device simulate %v = exit %d, stderr %q; want exit %d and %q", tt.args, r.code, r.stderr, exitUsage, tt.want)
			}
		})
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
