package device_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingcore/thingcore/device"
	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
)

const waitTimeout = 20 * time.Second

// config is a Config for a hubtest device, with quick reconnects.
func config(h *hubtest.Hub, d *hubtest.Device, p device.Protocol) device.Config {
	return device.Config{
		Endpoint: h.Endpoints.MQTT, ClientID: d.Thing, Protocol: p,
		CertFile: d.CertFile, KeyFile: d.KeyFile, CAFile: d.CA,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 300 * time.Millisecond,
	}
}

// connect creates a client, connects it and closes it when the test ends.
func connect(t *testing.T, cfg device.Config) *device.Client {
	t.Helper()
	c, err := device.New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

func closeClient(t *testing.T, c *device.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// inbox collects the payloads of received messages.
type inbox struct {
	mu   sync.Mutex
	msgs []string
}

func (b *inbox) handle(m device.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, string(m.Payload))
}

func (b *inbox) got() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

func (b *inbox) has(p string) bool {
	for _, m := range b.got() {
		if m == p {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// checkNoClientGoroutines fails if goroutines of the MQTT libraries are
// still running once every client is closed.
func checkNoClientGoroutines(t *testing.T) {
	t.Helper()
	var stacks string
	leaked := func() bool {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		return strings.Contains(stacks, "eclipse/paho") || strings.Contains(stacks, "thingcore/device.(*")
	}
	deadline := time.Now().Add(waitTimeout)
	for leaked() {
		if time.Now().After(deadline) {
			t.Fatalf("client goroutines still running after Close:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// A device publishes to its own topic and receives it back, over MQTT 5 and
// MQTT 3.1.1, at QoS 0 and 1.
func TestPublishSubscribeRoundTrip(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	for _, tc := range []struct {
		name  string
		proto device.Protocol
		thing string
	}{
		{"MQTT 5", device.MQTT5, "rt-v5"},
		{"MQTT 3.1.1", device.MQTT311, "rt-v311"},
		{"default protocol", "", "rt-default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := h.NewDevice(t, tc.thing)
			c := connect(t, config(h, d, tc.proto))
			ctx := ctxTimeout(t)
			topic := "things/" + d.Thing + "/echo"
			var in inbox
			if err := c.Subscribe(ctx, topic, device.AtLeastOnce, in.handle); err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			for _, q := range []device.QoS{device.AtMostOnce, device.AtLeastOnce} {
				p := fmt.Sprintf("hello qos %d", q)
				if err := c.Publish(ctx, device.Message{Topic: topic, Payload: []byte(p), QoS: q}); err != nil {
					t.Fatalf("Publish QoS %d: %v", q, err)
				}
				waitFor(t, "message "+p, func() bool { return in.has(p) })
			}
			if err := c.Unsubscribe(ctx, topic); err != nil {
				t.Fatalf("Unsubscribe: %v", err)
			}
			if !c.Connected() {
				t.Error("Connected() = false after a round trip, want true")
			}
			closeClient(t, c)
			if err := c.Publish(ctx, device.Message{Topic: topic}); !errors.Is(err, device.ErrClosed) {
				t.Errorf("Publish after Close = %v, want ErrClosed", err)
			}
		})
	}
	checkNoClientGoroutines(t)
}

// Under MQTT 5 a policy refusal is a *ReasonError with code 0x87.
func TestPublishRefusedByPolicy(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "refused")
	c := connect(t, config(h, d, device.MQTT5))
	ctx := ctxTimeout(t)
	err := c.Publish(ctx, device.Message{Topic: "things/someone-else/x", QoS: device.AtLeastOnce})
	var re *device.ReasonError
	if !errors.As(err, &re) || re.Code != 0x87 {
		t.Fatalf("Publish to another thing's topic = %v, want a *ReasonError with code 0x87", err)
	}
	err = c.Subscribe(ctx, "things/someone-else/#", device.AtLeastOnce, func(device.Message) {})
	if !errors.As(err, &re) || re.Code != 0x87 {
		t.Fatalf("Subscribe to another thing's topics = %v, want a *ReasonError with code 0x87", err)
	}
}

// Publishes before the connection are queued up to the limit and sent in
// order once connected; one more is refused with a *QueueFullError.
func TestOfflineQueue(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	for _, tc := range []struct {
		name  string
		proto device.Protocol
	}{
		{"MQTT 5", device.MQTT5},
		{"MQTT 3.1.1", device.MQTT311},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := h.NewDevice(t, "queue-"+strings.ReplaceAll(string(tc.proto), ".", ""))
			topic := "things/" + d.Thing + "/queued"
			var in inbox
			unsub, err := h.Broker().Subscribe(topic, func(m *broker.Message) { in.handle(device.Message{Payload: m.Payload}) })
			if err != nil {
				t.Fatal(err)
			}
			defer unsub()

			cfg := config(h, d, tc.proto)
			cfg.OfflineQueue = 3
			c, err := device.New(cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeClient(t, c) })
			ctx := ctxTimeout(t)
			want := []string{"m1", "m2", "m3"}
			for _, p := range want {
				if err := c.Publish(ctx, device.Message{Topic: topic, Payload: []byte(p), QoS: device.AtLeastOnce}); err != nil {
					t.Fatalf("Publish %s while offline: %v", p, err)
				}
			}
			err = c.Publish(ctx, device.Message{Topic: topic, Payload: []byte("m4"), QoS: device.AtLeastOnce})
			var qf *device.QueueFullError
			if !errors.As(err, &qf) || !errors.Is(err, device.ErrQueueFull) || qf.Limit != 3 {
				t.Fatalf("Publish beyond the queue = %v, want a *QueueFullError with limit 3", err)
			}
			if n := c.Queued(); n != 3 {
				t.Errorf("Queued() = %d, want 3", n)
			}
			if err := c.Connect(ctx); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			waitFor(t, "queued messages delivered", func() bool { return len(in.got()) >= len(want) })
			if got := in.got(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("delivered %q, want %q in order", got, want)
			}
			if n := c.Queued(); n != 0 {
				t.Errorf("Queued() after delivery = %d, want 0", n)
			}
		})
	}
	t.Run("disabled", func(t *testing.T) {
		d := h.NewDevice(t, "queue-off")
		cfg := config(h, d, device.MQTT5)
		cfg.OfflineQueue = -1
		c, err := device.New(cfg, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer closeClient(t, c)
		err = c.Publish(context.Background(), device.Message{Topic: "things/queue-off/x"})
		if !errors.Is(err, device.ErrNotConnected) {
			t.Errorf("Publish offline without a queue = %v, want ErrNotConnected", err)
		}
	})
	checkNoClientGoroutines(t)
}

// Clients reconnect when the hub restarts on the same address: persistent
// sessions keep their subscriptions, clean ones subscribe again, and a
// publish made during the outage is delivered after it.
func TestReconnectAfterHubRestart(t *testing.T) {
	// Devices do not leave by themselves: a short drain keeps the test quick.
	cfg := hub.Config{DataDir: filepath.Join(t.TempDir(), "data"), ShutdownTimeout: 200 * time.Millisecond}
	h1 := hubtest.Start(t, hubtest.Options{Config: cfg})
	cfg.MQTTAddr = h1.Endpoints.MQTT

	type client struct {
		name  string
		c     *device.Client
		topic string
		in    *inbox
	}
	var clients []client
	for _, tc := range []struct {
		name  string
		proto device.Protocol
		clean bool
	}{
		{"MQTT 5 persistent", device.MQTT5, false},
		{"MQTT 5 clean", device.MQTT5, true},
		{"MQTT 3.1.1 persistent", device.MQTT311, false},
		{"MQTT 3.1.1 clean", device.MQTT311, true},
	} {
		d := h1.NewDevice(t, fmt.Sprintf("restart-%d", len(clients)))
		dc := config(h1, d, tc.proto)
		dc.CleanStart = tc.clean
		c := connect(t, dc)
		cl := client{name: tc.name, c: c, topic: "things/" + d.Thing + "/echo", in: &inbox{}}
		if err := c.Subscribe(ctxTimeout(t), cl.topic, device.AtLeastOnce, cl.in.handle); err != nil {
			t.Fatalf("%s: Subscribe: %v", tc.name, err)
		}
		clients = append(clients, cl)
	}

	ctx := ctxTimeout(t)
	if err := h1.Shutdown(ctx); err != nil {
		t.Fatalf("hub Shutdown: %v", err)
	}
	for _, cl := range clients {
		waitFor(t, cl.name+" sees the connection lost", func() bool { return !cl.c.Connected() })
		if err := cl.c.Publish(ctx, device.Message{Topic: cl.topic, Payload: []byte("during outage"), QoS: device.AtLeastOnce}); err != nil {
			t.Fatalf("%s: Publish during the outage: %v", cl.name, err)
		}
		if n := cl.c.Queued(); n != 1 {
			t.Errorf("%s: Queued() during the outage = %d, want 1", cl.name, n)
		}
	}

	hubtest.Start(t, hubtest.Options{Config: cfg})
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			waitFor(t, "reconnected", cl.c.Connected)
			waitFor(t, "the message queued during the outage", func() bool { return cl.in.has("during outage") })
			if err := cl.c.Publish(ctx, device.Message{Topic: cl.topic, Payload: []byte("after restart"), QoS: device.AtLeastOnce}); err != nil {
				t.Fatalf("Publish after restart: %v", err)
			}
			waitFor(t, "a message published after the restart", func() bool { return cl.in.has("after restart") })
		})
	}
}

// The certificate, key and CA load from PEM and DER, RSA and EC keys in
// PKCS#1, PKCS#8 and SEC1 form.
func TestCertificateAndKeyForms(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	rsaDev := h.NewDevice(t, "forms-rsa")
	ecDev := newECDevice(t, h, "forms-ec")

	for _, tc := range []struct {
		name string
		dev  *hubtest.Device
		cert func(der []byte) []byte
		key  func(t *testing.T, keyPEM []byte) []byte
		ca   func(der []byte) []byte
	}{
		{"RSA PEM PKCS#1", rsaDev, pemCert, asIs, pemCert},
		{"RSA DER PKCS#1", rsaDev, derCert, keyDER(pkcs1), derCert},
		{"RSA PEM PKCS#8", rsaDev, pemCert, keyPEMAs(pkcs8), pemCert},
		{"RSA DER PKCS#8", rsaDev, derCert, keyDER(pkcs8), pemCert},
		{"EC PEM SEC1", ecDev, pemCert, asIs, pemCert},
		{"EC DER SEC1", ecDev, derCert, keyDER(sec1), derCert},
		{"EC PEM PKCS#8", ecDev, pemCert, keyPEMAs(pkcs8), pemCert},
		{"EC DER PKCS#8", ecDev, derCert, keyDER(pkcs8), derCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certDER := firstDER(t, tc.dev.CertPEM)
			caDER := firstDER(t, mustRead(t, tc.dev.CA))
			cfg := config(h, tc.dev, device.MQTT5)
			cfg.CertFile = writeFile(t, dir, "cert", tc.cert(certDER))
			cfg.KeyFile = writeFile(t, dir, "key", tc.key(t, tc.dev.KeyPEM))
			cfg.CAFile = writeFile(t, dir, "ca", tc.ca(caDER))
			c := connect(t, cfg)
			topic := "things/" + tc.dev.Thing + "/forms"
			if err := c.Publish(ctxTimeout(t), device.Message{Topic: topic, QoS: device.AtLeastOnce}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			closeClient(t, c)
		})
	}
	checkNoClientGoroutines(t)
}

// A folder like `thingcore thing create` writes loads into a Config that
// connects.
func TestLoadFolderConnects(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "folder-dev")
	writeDeviceJSON(t, d.Dir, d.Thing, h.Endpoints.MQTT)
	cfg, err := device.LoadFolder(d.Dir)
	if err != nil {
		t.Fatalf("LoadFolder: %v", err)
	}
	cfg.ReconnectMin = 20 * time.Millisecond
	c := connect(t, cfg)
	if err := c.Publish(ctxTimeout(t), device.Message{Topic: "things/folder-dev/hello", QoS: device.AtLeastOnce}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// writeDeviceJSON writes device.json as `thingcore thing create` does.
func writeDeviceJSON(t *testing.T, dir, thing, endpoint string) {
	t.Helper()
	host, port, _ := strings.Cut(endpoint, ":")
	js := fmt.Sprintf(`{
  "thing_name": %q, "client_id": %q, "endpoint": %q, "mqtt_port": %s,
  "certificate_id": "x", "certificate_arn": "y", "key_type": "rsa",
  "files": {"certificate_pem": "certificate.pem.crt", "private_key_pem": "private.pem.key", "public_key_pem": "public.pem.key",
            "root_ca": "root-CA.pem", "certificate_der": "cert/certificate.crt.der", "private_key_der": "cert/privateKey.key.der"},
  "topics": {"shadow_update": "$aws/things/%s/shadow/update"}
}
`, thing, thing, host, port, thing)
	writeFile(t, dir, "device.json", []byte(js))
}

// Connect with a ctx that ends says why the attempts fail.
func TestConnectErrorSaysWhy(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "why-dev")
	cfg := config(h, d, device.MQTT5)
	cfg.ClientID = "not-the-thing-name" // the default policy refuses it
	c, err := device.New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = c.Connect(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error") {
		t.Fatalf("Connect = %v, want DeadlineExceeded with the last attempt's error", err)
	}
}

func newECDevice(t *testing.T, h *hubtest.Hub, thing string) *hubtest.Device {
	t.Helper()
	ctx := context.Background()
	if _, err := h.IoT.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(thing)}); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: thing}}, key)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.IoT.CreateCertificateFromCsr(ctx, &iot.CreateCertificateFromCsrInput{
		CertificateSigningRequest: aws.String(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))),
		SetAsActive:               true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.IoT.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(thing), Principal: out.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	h.AttachDefaultPolicy(t, aws.ToString(out.CertificateArn))
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := &hubtest.Device{Thing: thing, Dir: dir, CertPEM: []byte(aws.ToString(out.CertificatePem)),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})}
	d.CertFile = writeFile(t, dir, "certificate.pem.crt", d.CertPEM)
	d.KeyFile = writeFile(t, dir, "private.pem.key", d.KeyPEM)
	d.CA = writeFile(t, dir, "root-CA.pem", mustRead(t, h.Endpoints.RootCA))
	return d
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func firstDER(t *testing.T, pemData []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(pemData)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
func derCert(der []byte) []byte               { return der }
func asIs(_ *testing.T, keyPEM []byte) []byte { return keyPEM }

type keyForm int

const (
	pkcs1 keyForm = iota
	pkcs8
	sec1
)

// convertKey re-encodes a PEM private key as DER in the given form.
func convertKey(t *testing.T, keyPEM []byte, f keyForm) []byte {
	t.Helper()
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		t.Fatal("no PEM key")
	}
	var key any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		t.Fatal(err)
	}
	var der []byte
	switch f {
	case pkcs1:
		der = x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))
	case pkcs8:
		der, err = x509.MarshalPKCS8PrivateKey(key)
	case sec1:
		der, err = x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	}
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func keyDER(f keyForm) func(*testing.T, []byte) []byte {
	return func(t *testing.T, keyPEM []byte) []byte { return convertKey(t, keyPEM, f) }
}

func keyPEMAs(f keyForm) func(*testing.T, []byte) []byte {
	return func(t *testing.T, keyPEM []byte) []byte {
		typ := map[keyForm]string{pkcs1: "RSA PRIVATE KEY", pkcs8: "PRIVATE KEY", sec1: "EC PRIVATE KEY"}[f]
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: convertKey(t, keyPEM, f)})
	}
}
