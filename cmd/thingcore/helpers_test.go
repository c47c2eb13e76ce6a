package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/thingcore/thingcore/internal/hub"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testHub is a real hub on 127.0.0.1 random ports, stopped on cleanup.
type testHub struct {
	h        *hub.Hub
	dataDir  string
	endpoint string // https://localhost:PORT
	mqttPort int
}

// startHub starts a hub with a fresh data directory; opts adjust its
// configuration.
func startHub(t *testing.T, opts ...func(*hub.Config)) *testHub {
	t.Helper()
	cfg := hub.DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.MQTTAddr = "127.0.0.1:0"
	cfg.HTTPSAddr = "127.0.0.1:0"
	cfg.ServerNames = []string{"localhost", "127.0.0.1"}
	cfg.KVSyncInterval = 10 * time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	h, err := hub.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- h.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub Shutdown: %v", err)
		}
		if err := <-errc; err != nil {
			t.Errorf("hub Serve: %v", err)
		}
	})
	select {
	case <-h.Ready():
	case err := <-errc:
		errc <- err
		t.Fatalf("hub Serve before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("hub not ready within 30s")
	}
	eps := h.Endpoints()
	return &testHub{
		h: h, dataDir: cfg.DataDir,
		endpoint: "https://" + net.JoinHostPort("localhost", port(t, eps.HTTPS)),
		mqttPort: mustAtoi(t, port(t, eps.MQTT)),
	}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// admin runs an admin command against the hub: args plus --data-dir and
// --endpoint (flags may follow the positional arguments).
func (th *testHub) admin(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, append(args, "--data-dir", th.dataDir, "--endpoint", th.endpoint)...)
}

// mustAdmin is admin that fails the test unless the command exits 0.
func (th *testHub) mustAdmin(t *testing.T, args ...string) result {
	t.Helper()
	r := th.admin(t, args...)
	if r.code != exitOK {
		t.Fatalf("thingcore %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// createThing runs `thing create NAME --out DIR` with the hub's MQTT port
// and returns the folder.
func (th *testHub) createThing(t *testing.T, name string, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	args := append([]string{"thing", "create", name, "--out", dir, "--mqtt-port", strconv.Itoa(th.mqttPort)}, extra...)
	th.mustAdmin(t, args...)
	return dir
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs one command line in-process.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers;
// a reader can wait for some text to appear.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // signalled (without blocking) on every write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{written: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	select {
	case b.written <- struct{}{}:
	default:
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitContains waits until the buffer holds s, or stop is closed, or the
// timeout passes; it reports whether s appeared.
func (b *syncBuffer) waitContains(s string, stop <-chan struct{}, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for !strings.Contains(b.String(), s) {
		select {
		case <-b.written:
		case <-stop:
			return strings.Contains(b.String(), s)
		case <-deadline:
			return false
		}
	}
	return true
}
