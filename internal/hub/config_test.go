package hub_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/hub"
)

func TestLoadConfigFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		json    string
		check   func(hub.Config) bool
		wantErr bool
	}{
		{"duration strings", `{"shutdown_timeout":"3s","broker":{"max_session_expiry":"2h","keep_alive_max":600}}`,
			func(c hub.Config) bool {
				return c.ShutdownTimeout == 3*time.Second && c.Broker.MaxSessionExpiry == 2*time.Hour && c.Broker.KeepAliveMax == 600
			}, false},
		{"nanoseconds still work", `{"kv_sync_interval":500000000}`,
			func(c hub.Config) bool { return c.KVSyncInterval == 500*time.Millisecond }, false},
		{"defaults kept", `{"mqtt_addr":":1883"}`,
			func(c hub.Config) bool {
				return c.MQTTAddr == ":1883" && c.HTTPSAddr == ":8443" && c.DataDir == "./thingcore-data"
			}, false},
		{"unknown field", `{"mqtt_adr":":1"}`, nil, true},
		{"bad duration", `{"shutdown_timeout":"soon"}`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "thingcore.json")
			if err := os.WriteFile(path, []byte(tc.json), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := hub.LoadConfigFile(path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("LoadConfigFile(%s) error = %v, want error %v", tc.json, err, tc.wantErr)
			}
			if err == nil && !tc.check(cfg) {
				t.Fatalf("LoadConfigFile(%s) = %+v", tc.json, cfg)
			}
		})
	}
}

// The console's plain HTTP listener is for loopback only.
func TestConsoleHTTPAddrLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"192.168.1.10:8080", false},
	} {
		cfg := hub.DefaultConfig()
		cfg.ConsoleHTTPAddr = tc.addr
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate with console_http_addr %q = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}

func TestGCPaceHeapValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		heap int
		ok   bool
	}{
		{"default", 0, true},
		{"off", -1, true},
		{"size", 512, true},
		{"below off", -2, false},
	} {
		cfg := hub.DefaultConfig()
		cfg.GCPaceHeapMiB = tc.heap
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate with gc_pace_heap_mib %d = %v, want ok %v", tc.name, tc.heap, err, tc.ok)
		}
	}
}
