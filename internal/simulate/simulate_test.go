package simulate

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/thingcore/thingcore/device"
)

// The engine against a real hub with 200 devices is tested through the CLI
// (cmd/thingcore TestDeviceSimulate), which also creates and deletes the
// things. These are the pure parts.

func TestHistogramQuantile(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{3 * ms}, 0.99, 3 * ms},
		{"median of 1..100ms", seq(1, 100, ms), 0.5, 50 * ms},
		{"p99 of 1..100ms", seq(1, 100, ms), 0.99, 99 * ms},
		{"p0 is the smallest", seq(1, 100, ms), 0, 1 * ms},
		{"p100 is the largest", seq(1, 100, ms), 1, 100 * ms},
		{"sub-microsecond", []time.Duration{5, 5, 5}, 0.5, 5},
		{"negative counts as 0", []time.Duration{-time.Second}, 0.5, 0},
		{"an hour", []time.Duration{time.Hour}, 0.5, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r recorder
			for _, d := range tt.samples {
				r.Observe(d)
			}
			got := r.Snapshot().Quantile(tt.q)
			// Buckets are at most 12.5% wide and Quantile answers their middle.
			if diff := got - tt.want; diff < -tt.want/16 || diff > tt.want/16 {
				t.Errorf("Quantile(%v) = %v, want %v ± 6%%", tt.q, got, tt.want)
			}
		})
	}
}

func seq(from, to int, unit time.Duration) []time.Duration {
	var s []time.Duration
	for i := from; i <= to; i++ {
		s = append(s, time.Duration(i)*unit)
	}
	return s
}

func TestHistogramSub(t *testing.T) {
	t.Parallel()
	var r recorder
	for range 100 {
		r.Observe(time.Millisecond)
	}
	before := r.Snapshot()
	for range 10 {
		r.Observe(time.Second)
	}
	win := r.Snapshot().Sub(before)
	if got := win.Count(); got != 10 {
		t.Errorf("window Count() = %d, want 10", got)
	}
	if got := win.Quantile(0.5); got < 900*time.Millisecond || got > 1100*time.Millisecond {
		t.Errorf("window Quantile(0.5) = %v, want about 1s", got)
	}
}

func TestBucketsContinuous(t *testing.T) {
	t.Parallel()
	// Every bucket's middle falls in that bucket, and buckets grow with the
	// duration.
	prev := -1
	for i := range histBuckets {
		mid := bucketMid(i)
		if got := bucketOf(mid); got != i {
			t.Fatalf("bucketOf(bucketMid(%d) = %v) = %d, want %d", i, mid, got, i)
		}
		if i <= prev {
			t.Fatalf("bucket %d after %d", i, prev)
		}
		prev = i
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	dev := func(id string) device.Config {
		return device.Config{Endpoint: "localhost:8883", ClientID: id, CertFile: "c.pem", KeyFile: "k.pem"}
	}
	tests := []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"valid", Config{Devices: []device.Config{dev("a"), dev("b")}}, ""},
		{"no devices", Config{}, "no devices"},
		{"duplicate client id", Config{Devices: []device.Config{dev("a"), dev("a")}}, `client id "a" twice`},
		{"bad device", Config{Devices: []device.Config{dev("")}}, "device 0"},
		{"negative rate", Config{Devices: []device.Config{dev("a")}, Rate: -1}, "rate -1"},
		{"jitter too big", Config{Devices: []device.Config{dev("a")}, Jitter: 1}, "jitter 1"},
		{"negative duration", Config{Devices: []device.Config{dev("a")}, Duration: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestJittered(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name     string
		jitter   float64
		min, max time.Duration
	}{
		{"none", 0, 5 * time.Second, 5 * time.Second},
		{"20%", 0.2, 4 * time.Second, 6 * time.Second},
		{"90%", 0.9, 500 * time.Millisecond, 9500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 1000 {
				if got := jittered(r, 5*time.Second, tt.jitter); got < tt.min || got > tt.max {
					t.Fatalf("jittered(5s, %v) = %v, want %v to %v", tt.jitter, got, tt.min, tt.max)
				}
			}
		})
	}
}

func TestTelemetry(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for i := int64(1); i <= 1000; i++ {
		m := Telemetry(r, i)
		temp, hum := m["temperature"].(float64), m["humidity"].(float64)
		if temp < 20 || temp >= 30 || hum < 40 || hum >= 50 || m["counter"] != i {
			t.Fatalf("Telemetry(%d) = %v, want temperature 20..30, humidity 40..50, counter %d", i, m, i)
		}
	}
}

func TestStatusLine(t *testing.T) {
	t.Parallel()
	var r recorder
	for range 99 {
		r.Observe(2 * time.Millisecond)
	}
	r.Observe(40 * time.Millisecond)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := Status{At: t0}
	cur := Status{Phase: PhaseRunning, At: t0.Add(2 * time.Second), Devices: 1000, Connected: 998, Accepted: 400,
		Errors: map[string]int64{ErrKindTimeout: 2}, DeltasApplied: 3, Latency: r.Snapshot()}
	got := cur.Line(prev)
	for _, want := range []string{"running", "connected 998/1000", "updates/s 200.0", "errors 2", "p50 2.0ms", "p99 2.0ms", "deltas 3"} {
		if !strings.Contains(got, want) {
			t.Errorf("Line() = %q, want it to contain %q", got, want)
		}
	}
}
