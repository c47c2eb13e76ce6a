// Package hubtest runs a real hub for tests: a temporary data directory,
// listeners on 127.0.0.1:0, the admin credentials, and helpers that onboard
// devices through the hub's own AWS-compatible API with AWS's Go SDK. Tests
// only.
package hubtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/policy"
)

// Options configure Start.
type Options struct {
	// Config overrides; DataDir and listener addresses are set by Start
	// unless given.
	Config hub.Config
	// Log receives the hub's log; nil discards it (THINGCORE_TEST_LOG=1
	// sends it to t.Log).
	Log *slog.Logger
}

// Hub is a running hub.
type Hub struct {
	*hub.Hub
	DataDir   string
	Endpoints hub.Endpoints
	Creds     hub.AdminCredentials
	Logs      *LogBuffer
	IoT       *iot.Client // admin client for the control plane
}

// Start runs a hub until the test ends.
func Start(t testing.TB, o Options) *Hub {
	t.Helper()
	cfg := o.Config
	def := hub.DefaultConfig()
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
	}
	if cfg.MQTTAddr == "" {
		cfg.MQTTAddr = "127.0.0.1:0"
	}
	if cfg.HTTPSAddr == "" {
		cfg.HTTPSAddr = "127.0.0.1:0"
	}
	if len(cfg.ServerNames) == 0 {
		cfg.ServerNames = []string{"localhost", "127.0.0.1"}
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = def.ShutdownTimeout
	}
	logs := &LogBuffer{}
	log := o.Log
	if log == nil {
		// Tests read the JSON lines (Logs.WaitFor); THINGCORE_TEST_LOG=1 also
		// shows them in the test output.
		var w io.Writer = logs
		if os.Getenv("THINGCORE_TEST_LOG") == "1" {
			w = io.MultiWriter(logs, testWriter{t})
		}
		log = slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := hub.New(cfg, log)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	serveErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		serveErr <- h.Serve(ctx)
	}()
	select {
	case <-h.Ready():
	case err := <-serveErr:
		cancel()
		t.Fatalf("hub.Serve: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("hub not ready after 30s")
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	th := &Hub{Hub: h, DataDir: cfg.DataDir, Endpoints: h.Endpoints(), Creds: h.AdminCredentials(), Logs: logs}
	th.IoT = th.AdminClient(t, th.Creds.SecretAccessKey)
	return th
}

// HTTPClient trusts the hub's root CA.
func (h *Hub) HTTPClient(t testing.TB) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(h.Endpoints.RootCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}, Timeout: 30 * time.Second}
}

// APIURL is the HTTPS API's base URL.
func (h *Hub) APIURL() string { return "https://" + h.Endpoints.HTTPS }

// AdminClient returns an AWS SDK iot client signing with the admin key id
// and the given secret (pass a wrong one to test refusals).
func (h *Hub) AdminClient(t testing.TB, secret string) *iot.Client {
	t.Helper()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(h.Creds.AccessKeyID, secret, ""),
		HTTPClient:  h.HTTPClient(t),
	}
	return iot.NewFromConfig(cfg, func(o *iot.Options) { o.BaseEndpoint = aws.String(h.APIURL()) })
}

// Device is an onboarded thing with its certificate files.
type Device struct {
	Thing, CertID, CertARN string
	Dir                    string
	CertFile, KeyFile, CA  string
	CertPEM, KeyPEM        []byte
}

// NewDevice creates a thing and an ACTIVE certificate, attaches them, and
// writes certificate.pem.crt, private.pem.key (0600) and root-CA.pem to a
// temporary directory, as `thingcore thing create` does.
func (h *Hub) NewDevice(t testing.TB, thing string) *Device {
	t.Helper()
	ctx := context.Background()
	if _, err := h.IoT.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(thing)}); err != nil {
		t.Fatalf("CreateThing %s: %v", thing, err)
	}
	kc, err := h.IoT.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatalf("CreateKeysAndCertificate: %v", err)
	}
	if _, err := h.IoT.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(thing), Principal: kc.CertificateArn}); err != nil {
		t.Fatalf("AttachThingPrincipal: %v", err)
	}
	h.AttachDefaultPolicy(t, aws.ToString(kc.CertificateArn))
	dir := filepath.Join(t.TempDir(), thing)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := &Device{
		Thing: thing, CertID: aws.ToString(kc.CertificateId), CertARN: aws.ToString(kc.CertificateArn), Dir: dir,
		CertFile: filepath.Join(dir, "certificate.pem.crt"), KeyFile: filepath.Join(dir, "private.pem.key"),
		CA: filepath.Join(dir, "root-CA.pem"), CertPEM: []byte(aws.ToString(kc.CertificatePem)),
		KeyPEM: []byte(aws.ToString(kc.KeyPair.PrivateKey)),
	}
	write := func(path string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(d.CertFile, d.CertPEM, 0o644)
	write(d.KeyFile, d.KeyPEM, 0o600)
	ca, err := os.ReadFile(h.Endpoints.RootCA)
	if err != nil {
		t.Fatal(err)
	}
	write(d.CA, ca, 0o644)
	return d
}

// AttachDefaultPolicy creates the default thing policy (once) and attaches
// it to the certificate, as `thingcore thing create` does.
func (h *Hub) AttachDefaultPolicy(t testing.TB, certARN string) {
	t.Helper()
	ctx := context.Background()
	_, err := h.IoT.CreatePolicy(ctx, &iot.CreatePolicyInput{
		PolicyName:     aws.String(hub.DefaultPolicyName),
		PolicyDocument: aws.String(string(policy.ThingPolicy("us-east-1", "000000000000"))),
	})
	var exists *types.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		t.Fatalf("CreatePolicy: %v", err)
	}
	if _, err := h.IoT.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String(hub.DefaultPolicyName), Target: aws.String(certARN)}); err != nil {
		t.Fatalf("AttachPolicy: %v", err)
	}
}

// TLSConfig returns a client TLS config for the device (SNI localhost).
func (d *Device) TLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	c, err := tls.X509KeyPair(d.CertPEM, d.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(d.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{Certificates: []tls.Certificate{c}, RootCAs: pool, ServerName: "localhost"}
}

// LogBuffer collects the hub's JSON log lines.
type LogBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		b.lines = append(b.lines, l)
	}
	return len(p), nil
}

// Lines returns the log lines so far.
func (b *LogBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// WaitFor polls until a log line contains every one of parts, failing the
// test after timeout; it returns the line.
func (b *LogBuffer) WaitFor(t testing.TB, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range b.Lines() {
			ok := true
			for _, p := range parts {
				if !strings.Contains(l, p) {
					ok = false
					break
				}
			}
			if ok {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q after %s", parts, timeout)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
