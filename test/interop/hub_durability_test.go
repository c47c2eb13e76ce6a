package interop

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// durableWait bounds each wait of the durability test for an effect.
const durableWait = 20 * time.Second

// buildThingcore builds cmd/thingcore into a temporary directory. When the
// build fails the test is skipped, or fails with THINGCORE_INTEROP_REQUIRED=1.
func buildThingcore(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "thingcore")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/thingcore/thingcore/cmd/thingcore")
	if out, err := cmd.CombinedOutput(); err != nil {
		missing(t, fmt.Sprintf("go build ./cmd/thingcore: %v\n%s", err, out))
	}
	return bin
}

// freeAddr returns a 127.0.0.1 address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// hubProc is a `thingcore serve` process.
type hubProc struct {
	*proc
	dataDir, mqttAddr, httpsAddr string
}

// serveHub starts `thingcore serve` on dataDir with fresh ports and waits
// until its HTTPS API completes a TLS handshake with the hub's root CA.
func serveHub(t *testing.T, bin, dataDir string) *hubProc {
	t.Helper()
	h := &hubProc{dataDir: dataDir, mqttAddr: freeAddr(t), httpsAddr: freeAddr(t)}
	// AWS's limit of 100 publishes per second per connection discards the
	// excess, and an MQTT 3.1.1 publisher still gets its PUBACK: lift it,
	// so that every PUBACK means the message was accepted.
	config := filepath.Join(t.TempDir(), "thingcore.json")
	if err := os.WriteFile(config, []byte(`{"broker": {"publish_rate": -1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.proc = start(t, nil, bin, "serve", "--config", config, "--data-dir", dataDir, "--mqtt-addr", h.mqttAddr,
		"--https-addr", h.httpsAddr, "--server-name", "localhost", "--server-name", "127.0.0.1", "--insecure-allow-all")
	deadline := time.Now().Add(durableWait)
	for {
		select {
		case <-h.done:
			t.Fatalf("thingcore serve exited: %v\nstdout: %s\nstderr: %s", h.err, h.stdout.String(), h.stderr.String())
		default:
		}
		if pool, err := h.rootCAs(); err == nil {
			c, err := tls.Dial("tcp", h.httpsAddr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
			if err == nil {
				c.Close()
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("thingcore serve: HTTPS %s not answering after %s\nstderr: %s", h.httpsAddr, durableWait, h.stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func (h *hubProc) rootCAs() (*x509.CertPool, error) {
	pem, err := os.ReadFile(filepath.Join(h.dataDir, "ca", "root-ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in root-ca.pem")
	}
	return pool, nil
}

// iotClient is an AWS SDK client for the hub's API, signing with the admin
// credentials the hub wrote on first start.
func (h *hubProc) iotClient(t *testing.T) *iot.Client {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.dataDir, "admin-credentials.json"))
	if err != nil {
		t.Fatalf("admin credentials: %v", err)
	}
	var creds struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	if err := json.Unmarshal(data, &creds); err != nil || creds.AccessKeyID == "" {
		t.Fatalf("admin-credentials.json: %v %s", err, data)
	}
	pool, err := h.rootCAs()
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		HTTPClient:  &http.Client{Transport: tr, Timeout: durableWait},
	}
	return iot.NewFromConfig(cfg, func(o *iot.Options) { o.BaseEndpoint = aws.String("https://" + h.httpsAddr) })
}

// durableDevice is a thing with an ACTIVE certificate.
type durableDevice struct {
	thing string
	tls   *tls.Config
}

func onboard(t *testing.T, h *hubProc, c *iot.Client, thing string) durableDevice {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(thing)}); err != nil {
		t.Fatalf("CreateThing %s: %v", thing, err)
	}
	kc, err := c.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatalf("CreateKeysAndCertificate: %v", err)
	}
	if _, err := c.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(thing), Principal: kc.CertificateArn}); err != nil {
		t.Fatalf("AttachThingPrincipal: %v", err)
	}
	cert, err := tls.X509KeyPair([]byte(aws.ToString(kc.CertificatePem)), []byte(aws.ToString(kc.KeyPair.PrivateKey)))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := h.rootCAs()
	if err != nil {
		t.Fatal(err)
	}
	return durableDevice{thing: thing, tls: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost"}}
}

// connectDevice connects an MQTT 3.1.1 client, never reconnecting. It is
// disconnected when the test ends.
func connectDevice(t *testing.T, addr string, d durableDevice, clean bool, onMessage mqtt.MessageHandler) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("ssl://" + addr).SetClientID(d.thing).SetTLSConfig(d.tls).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(durableWait).
		SetWriteTimeout(durableWait).SetDefaultPublishHandler(onMessage)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(durableWait) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", d.thing, addr, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c
}

// TestHubDurabilityKill9 kills the real server with SIGKILL while a device
// publishes QoS 1 messages to an offline persistent session, restarts it on
// the same data directory, and checks that every message the server
// acknowledged with a PUBACK reaches the subscriber (duplicates allowed,
// none missing).
func TestHubDurabilityKill9(t *testing.T) {
	const (
		n     = 200
		topic = "things/durable-sub/inbox"
	)
	bin := buildThingcore(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	h1 := serveHub(t, bin, dataDir)
	admin := h1.iotClient(t)
	subDev := onboard(t, h1, admin, "durable-sub")
	pubDev := onboard(t, h1, admin, "durable-pub")

	// The publisher watches for the subscriber's disconnected event, so that
	// the messages are queued for an offline session.
	gone := make(chan struct{})
	var goneOnce sync.Once
	pub := connectDevice(t, h1.mqttAddr, pubDev, true, nil)
	if tok := pub.Subscribe("$aws/events/presence/disconnected/"+subDev.thing, 1, func(mqtt.Client, mqtt.Message) {
		goneOnce.Do(func() { close(gone) })
	}); !tok.WaitTimeout(durableWait) || tok.Error() != nil {
		t.Fatalf("subscribe to lifecycle events: %v", tok.Error())
	}
	sub := connectDevice(t, h1.mqttAddr, subDev, false, nil)
	if tok := sub.Subscribe(topic, 1, nil); !tok.WaitTimeout(durableWait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	sub.Disconnect(250)
	select {
	case <-gone:
	case <-time.After(durableWait):
		t.Fatalf("no disconnected event for %s after %s", subDev.thing, durableWait)
	}

	// Publish without waiting for PUBACKs; once a quarter of the messages
	// are acknowledged the server is killed, usually while publishing goes
	// on (the log says how many were acknowledged).
	var (
		tokMu  sync.Mutex
		tokens []mqtt.Token
	)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			tok := pub.Publish(topic, 1, false, fmt.Sprintf("msg-%03d", i))
			tokMu.Lock()
			tokens = append(tokens, tok)
			tokMu.Unlock()
		}
	}()
	ackedNow := func() int {
		tokMu.Lock()
		defer tokMu.Unlock()
		k := 0
		for _, tok := range tokens {
			select {
			case <-tok.Done():
				if tok.Error() == nil {
					k++
				}
			default:
			}
		}
		return k
	}
	deadline := time.Now().Add(durableWait)
	for ackedNow() < n/4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d PUBACKs after %s", ackedNow(), durableWait)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	h1.kill(t)
	<-published
	// PUBACKs already received complete their tokens at once; paho may
	// never complete the token of a publish that raced with the lost
	// connection, so the wait for stragglers is short.
	acked := map[string]bool{}
	unfinished := 0
	stragglers := time.Now().Add(3 * time.Second)
	for i, tok := range tokens {
		switch {
		case !tok.WaitTimeout(max(time.Until(stragglers), time.Millisecond)):
			unfinished++
		case tok.Error() == nil:
			acked[fmt.Sprintf("msg-%03d", i)] = true
		}
	}
	if unfinished > 0 {
		t.Logf("%d publish tokens never completed after the kill (counted as not acknowledged)", unfinished)
	}
	t.Logf("%d of %d messages acknowledged before SIGKILL", len(acked), n)
	if len(acked) < n/4 {
		t.Fatalf("only %d messages acknowledged; want at least %d (a quarter were acknowledged before the kill)", len(acked), n/4)
	}
	pub.Disconnect(0)

	h2 := serveHub(t, bin, dataDir)
	var (
		mu       sync.Mutex
		received = map[string]int{}
	)
	connectDevice(t, h2.mqttAddr, subDev, false, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		received[string(m.Payload())]++
		mu.Unlock()
	})
	missingMsgs := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for p := range acked {
			if received[p] == 0 {
				out = append(out, p)
			}
		}
		slices.Sort(out)
		return out
	}
	deadline = time.Now().Add(durableWait)
	for len(missingMsgs()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if m := missingMsgs(); len(m) > 0 {
		t.Fatalf("%d acknowledged messages lost across kill -9 and restart: %v\nserver stderr: %s", len(m), m, h2.stderr.String())
	}
	mu.Lock()
	dups := 0
	for _, c := range received {
		dups += c - 1
	}
	t.Logf("after restart: %d distinct messages received (%d acknowledged), %d duplicates", len(received), len(acked), dups)
	mu.Unlock()
}
