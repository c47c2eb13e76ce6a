package hub_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/hub"
	"github.com/thingcore/thingcore/internal/hubtest"
	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/registry"
)

// waitTimeout bounds every wait for an effect (a log line, an event, a
// disconnect).
const waitTimeout = 10 * time.Second

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// lifecycleEvents records the lifecycle events the hub publishes, through an
// in-process subscription to $aws/events/#.
type lifecycleEvents struct {
	mu   sync.Mutex
	msgs []*broker.Message
}

func watchLifecycle(t testing.TB, h *hubtest.Hub) *lifecycleEvents {
	t.Helper()
	ev := &lifecycleEvents{}
	unsub, err := h.Broker().Subscribe("$aws/events/#", func(m *broker.Message) {
		ev.mu.Lock()
		ev.msgs = append(ev.msgs, m)
		ev.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("Subscribe($aws/events/#): %v", err)
	}
	t.Cleanup(unsub)
	return ev
}

// wait returns the JSON of the first event published on topic.
func (e *lifecycleEvents) wait(t testing.TB, topic string) map[string]any {
	t.Helper()
	var got *broker.Message
	waitUntil(t, waitTimeout, "lifecycle event on "+topic, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, m := range e.msgs {
			if m.Topic == topic {
				got = m
				return true
			}
		}
		return false
	})
	var doc map[string]any
	if err := json.Unmarshal(got.Payload, &doc); err != nil {
		t.Fatalf("event on %s is not JSON: %v\n%s", topic, err, got.Payload)
	}
	return doc
}

// checkEventFields checks the fields every AWS lifecycle event has and that
// no field outside allowed appears.
func checkEventFields(t testing.TB, doc map[string]any, clientID, eventType string, allowed ...string) {
	t.Helper()
	if doc["clientId"] != clientID {
		t.Errorf("clientId = %v, want %q", doc["clientId"], clientID)
	}
	if doc["eventType"] != eventType {
		t.Errorf("eventType = %v, want %q", doc["eventType"], eventType)
	}
	ts, ok := doc["timestamp"].(float64)
	if !ok {
		t.Errorf("timestamp = %v, want epoch milliseconds", doc["timestamp"])
	} else if d := time.Since(time.UnixMilli(int64(ts))); d < -2*time.Minute || d > 2*time.Minute {
		t.Errorf("timestamp = %v, %s from now; want epoch milliseconds of now", ts, d)
	}
	known := map[string]bool{"clientId": true, "thingName": true, "timestamp": true, "eventType": true}
	for _, k := range allowed {
		known[k] = true
	}
	for k := range doc {
		if !known[k] {
			t.Errorf("%s event has field %q, which AWS's %s event does not", eventType, k, eventType)
		}
	}
}

// connectV5 dials the hub's MQTT listener over TLS and sends an MQTT 5
// CONNECT. onDisconnect, if not nil, hears a server DISCONNECT. On success
// the client is disconnected when the test ends.
func connectV5(t testing.TB, addr string, tc *tls.Config, clientID string, onDisconnect func(*paho.Disconnect)) (*paho.Client, *paho.Connack, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnServerDisconnect: onDisconnect, OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true})
	if err != nil {
		return nil, ack, err
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c, ack, nil
}

// connectV3 connects an MQTT 3.1.1 client. It returns the CONNACK return
// code and the connect error; on success the client is disconnected when the
// test ends.
func connectV3(t testing.TB, addr string, tc *tls.Config, clientID string, clean bool, configure func(*mqtt3.ClientOptions)) (mqtt3.Client, byte, error) {
	t.Helper()
	o := mqtt3.NewClientOptions().AddBroker("ssl://" + addr).SetClientID(clientID).SetTLSConfig(tc).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4).
		SetConnectTimeout(waitTimeout).SetKeepAlive(30 * time.Second)
	if configure != nil {
		configure(o)
	}
	c := mqtt3.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(waitTimeout) {
		t.Fatalf("v3 connect %s: no CONNACK after %s", clientID, waitTimeout)
	}
	ct := tok.(*mqtt3.ConnectToken)
	if tok.Error() != nil {
		return nil, ct.ReturnCode(), tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return c, ct.ReturnCode(), nil
}

// deviceCert is a certificate and key for a device, as files would hold them.
type deviceCert struct {
	CertPEM, KeyPEM []byte
	ID              string
}

// tlsConfig is the device's client TLS config, trusting the hub's root CA.
func (d deviceCert) tlsConfig(t testing.TB, rootCA string) *tls.Config {
	t.Helper()
	c, err := tls.X509KeyPair(d.CertPEM, d.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(rootCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{Certificates: []tls.Certificate{c}, RootCAs: pool, ServerName: "localhost"}
}

// mintDeviceCert issues a client certificate shaped like AWS's, signed by
// ca, valid from notBefore to notAfter (which may lie in the past or the
// future: the point is to make certificates the API would not issue).
func mintDeviceCert(t testing.TB, ca *pki.CA, notBefore, notAfter time.Time) deviceCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "AWS IoT Certificate"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("mint certificate: %v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return deviceCert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		ID:      pki.CertificateID(der),
	}
}

// newDataDirCA creates a data directory holding a hub root CA, as the hub
// would on first start, so that a test can mint certificates before the hub
// runs. The hub loads it from <data>/ca/root-ca.{pem,key}.
func newDataDirCA(t testing.TB) (dataDir string, ca *pki.CA) {
	t.Helper()
	dataDir = filepath.Join(t.TempDir(), "data")
	ca, keyPEM, err := pki.NewRootCA("thingcore Root CA", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "ca"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "ca", "root-ca.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hub.RootCAPath(dataDir), ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return dataDir, ca
}

// registerOffline registers ACTIVE certificates directly in the registry of
// a stopped hub's data directory: RegisterCertificate refuses certificates
// outside their validity, and these tests need such certificates registered.
func registerOffline(t testing.TB, dataDir string, certs ...deviceCert) {
	t.Helper()
	ctx := context.Background()
	kv, err := kvstore.Open(ctx, kvstore.Config{Dir: filepath.Join(dataDir, "kv")}, nil)
	if err != nil {
		t.Fatalf("kvstore.Open: %v", err)
	}
	defer kv.Close()
	reg, err := registry.Open(ctx, kv, registry.Config{}, registry.Deps{})
	if err != nil {
		t.Fatalf("registry.Open: %v", err)
	}
	for _, c := range certs {
		if _, err := reg.AddCertificate(ctx, string(c.CertPEM), registry.StatusActive, ""); err != nil {
			t.Fatalf("AddCertificate %s: %v", c.ID, err)
		}
	}
}

// deviceOf is a hubtest device's certificate.
func deviceOf(d *hubtest.Device) deviceCert {
	return deviceCert{CertPEM: d.CertPEM, KeyPEM: d.KeyPEM, ID: d.CertID}
}

func setCertStatus(t testing.TB, h *hubtest.Hub, certID string, status types.CertificateStatus) {
	t.Helper()
	_, err := h.IoT.UpdateCertificate(context.Background(), &iot.UpdateCertificateInput{
		CertificateId: aws.String(certID), NewStatus: status,
	})
	if err != nil {
		t.Fatalf("UpdateCertificate %s %s: %v", certID, status, err)
	}
}

// TestDeviceRefusals connects refused devices one by one, over MQTT 5 and
// 3.1.1, and checks that each refusal is explained three times: in the
// CONNACK, in a Warn log line naming the certificate, the client id and the
// reason, and in a connect_failed lifecycle event with AWS's fields.
func TestDeviceRefusals(t *testing.T) {
	now := time.Now()
	dataDir, ca := newDataDirCA(t)
	expired := mintDeviceCert(t, ca, now.Add(-48*time.Hour), now.Add(-time.Hour))
	notYetValid := mintDeviceCert(t, ca, now.Add(24*time.Hour), now.Add(48*time.Hour))
	registerOffline(t, dataDir, expired, notYetValid)

	h := hubtest.Start(t, hubtest.Options{Config: hub.Config{DataDir: dataDir}})
	events := watchLifecycle(t, h)

	otherCA, _, err := pki.NewRootCA("someone else's CA", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	inactive := h.NewDevice(t, "inactive-dev")
	setCertStatus(t, h, inactive.CertID, types.CertificateStatusInactive)
	revoked := h.NewDevice(t, "revoked-dev")
	setCertStatus(t, h, revoked.CertID, types.CertificateStatusRevoked)
	policyDev := h.NewDevice(t, "policy-dev")

	tests := []struct {
		name string
		cert deviceCert
		// clientID is the client id, to which "-v5" or "-v3" is appended.
		clientID string
		// authenticated: the certificate was accepted and the policy refused
		// the connection, so the event carries principalIdentifier.
		authenticated bool
		reason        []string // parts of the reason in words
	}{
		{name: "unknown CA", cert: mintDeviceCert(t, otherCA, now.Add(-time.Hour), now.Add(time.Hour)),
			clientID: "unknown-ca", reason: []string{"is not registered with this hub"}},
		{name: "hub-signed unregistered", cert: mintDeviceCert(t, ca, now.Add(-time.Hour), now.Add(time.Hour)),
			clientID: "unregistered", reason: []string{"is not registered with this hub"}},
		{name: "inactive", cert: deviceOf(inactive), clientID: "inactive-dev", reason: []string{"is INACTIVE, not ACTIVE"}},
		{name: "revoked", cert: deviceOf(revoked), clientID: "revoked-dev", reason: []string{"is REVOKED, not ACTIVE"}},
		{name: "expired", cert: expired, clientID: "expired-dev",
			reason: []string{"expired at " + expired.notAfter(t).UTC().Format(time.RFC3339)}},
		{name: "not yet valid", cert: notYetValid, clientID: "future-dev",
			reason: []string{"is not valid before " + notYetValid.notBefore(t).UTC().Format(time.RFC3339)}},
		{name: "client id is not the thing name", cert: deviceOf(policyDev), clientID: "not-policy-dev", authenticated: true,
			reason: []string{"not authorized", "default deny", "not-policy-dev", "is not a thing attached to certificate", "attached: policy-dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := tt.cert.tlsConfig(t, h.Endpoints.RootCA)
			for _, version := range []string{"v5", "v3"} {
				t.Run(version, func(t *testing.T) {
					clientID := tt.clientID + "-" + version
					reason := append([]string(nil), tt.reason...)
					for i, r := range reason {
						reason[i] = strings.ReplaceAll(r, tt.clientID, clientID)
					}
					switch version {
					case "v5":
						_, ack, err := connectV5(t, h.Endpoints.MQTT, tc, clientID, nil)
						if err == nil || ack == nil {
							t.Fatalf("connect = (%v, %v), want a CONNACK refusal", ack, err)
						}
						if ack.ReasonCode != 0x87 {
							t.Errorf("CONNACK reason code = 0x%02X, want 0x87 (Not authorized)", ack.ReasonCode)
						}
						var rs string
						if ack.Properties != nil {
							rs = ack.Properties.ReasonString
						}
						if !strings.Contains(rs, tt.cert.ID) {
							t.Errorf("CONNACK reason string %q does not name certificate %s", rs, tt.cert.ID)
						}
						for _, want := range reason {
							if !strings.Contains(rs, want) {
								t.Errorf("CONNACK reason string %q does not say %q", rs, want)
							}
						}
					case "v3":
						_, code, err := connectV3(t, h.Endpoints.MQTT, tc, clientID, true, nil)
						if err == nil {
							t.Fatal("connect succeeded, want a refusal")
						}
						if code != 5 {
							t.Errorf("CONNACK return code = %d (%v), want 5 (not authorized)", code, err)
						}
					}

					line := h.Logs.WaitFor(t, waitTimeout, `"msg":"mqtt: connection refused"`, `"client_id":"`+clientID+`"`)
					if !strings.Contains(line, `"level":"WARN"`) {
						t.Errorf("refusal log line is not at Warn: %s", line)
					}
					if !strings.Contains(line, tt.cert.ID) {
						t.Errorf("refusal log line does not name certificate %s: %s", tt.cert.ID, line)
					}
					if tt.authenticated && !strings.Contains(line, `"cert_id":"`+tt.cert.ID+`"`) {
						t.Errorf("refusal log line has no cert_id %s: %s", tt.cert.ID, line)
					}
					for _, want := range reason {
						if !strings.Contains(line, want) {
							t.Errorf("refusal log line does not say %q: %s", want, line)
						}
					}

					ev := events.wait(t, "$aws/events/presence/connect_failed/"+clientID)
					checkEventFields(t, ev, clientID, "connect_failed",
						"connectFailureReason", "principalIdentifier", "sessionIdentifier", "ipAddress")
					if ev["connectFailureReason"] != "AUTHORIZATION_FAILED" {
						t.Errorf("connectFailureReason = %v, want AUTHORIZATION_FAILED", ev["connectFailureReason"])
					}
					if ev["ipAddress"] != "127.0.0.1" {
						t.Errorf("ipAddress = %v, want 127.0.0.1", ev["ipAddress"])
					}
					// AWS reports the principal that tried; a certificate the hub
					// refused to authenticate is reported without one.
					if p, ok := ev["principalIdentifier"]; (tt.authenticated && p != tt.cert.ID) || (ok && p != tt.cert.ID) {
						t.Errorf("principalIdentifier = %v, want %s", p, tt.cert.ID)
					}
				})
			}
		})
	}

	t.Run("accepted device", func(t *testing.T) {
		d := h.NewDevice(t, "good-dev")
		c, ack, err := connectV5(t, h.Endpoints.MQTT, d.TLSConfig(t), d.Thing, nil)
		if err != nil {
			t.Fatalf("connect: %v (CONNACK %+v)", err, ack)
		}
		conn := events.wait(t, "$aws/events/presence/connected/"+d.Thing)
		checkEventFields(t, conn, d.Thing, "connected", "sessionIdentifier", "principalIdentifier", "ipAddress", "versionNumber")
		if err := c.Disconnect(&paho.Disconnect{ReasonCode: 0}); err != nil {
			t.Fatalf("disconnect: %v", err)
		}
		disc := events.wait(t, "$aws/events/presence/disconnected/"+d.Thing)
		checkEventFields(t, disc, d.Thing, "disconnected", "sessionIdentifier", "principalIdentifier",
			"clientInitiatedDisconnect", "disconnectReason", "versionNumber")

		for _, ev := range []map[string]any{conn, disc} {
			if ev["principalIdentifier"] != d.CertID {
				t.Errorf("%v principalIdentifier = %v, want certificate id %s", ev["eventType"], ev["principalIdentifier"], d.CertID)
			}
			if _, ok := ev["versionNumber"].(float64); !ok {
				t.Errorf("%v versionNumber = %v, want a number", ev["eventType"], ev["versionNumber"])
			}
			if s, _ := ev["sessionIdentifier"].(string); s == "" {
				t.Errorf("%v sessionIdentifier is empty", ev["eventType"])
			}
		}
		if conn["versionNumber"] != disc["versionNumber"] {
			t.Errorf("versionNumber: connected %v, disconnected %v; want the same for one connection", conn["versionNumber"], disc["versionNumber"])
		}
		if conn["sessionIdentifier"] != disc["sessionIdentifier"] {
			t.Errorf("sessionIdentifier: connected %v, disconnected %v; want the same", conn["sessionIdentifier"], disc["sessionIdentifier"])
		}
		if conn["ipAddress"] != "127.0.0.1" {
			t.Errorf("connected ipAddress = %v, want 127.0.0.1", conn["ipAddress"])
		}
		if disc["clientInitiatedDisconnect"] != true || disc["disconnectReason"] != "CLIENT_INITIATED_DISCONNECT" {
			t.Errorf("disconnected: clientInitiatedDisconnect %v, disconnectReason %v; want true, CLIENT_INITIATED_DISCONNECT",
				disc["clientInitiatedDisconnect"], disc["disconnectReason"])
		}
		// The connection is logged at Info with its certificate.
		h.Logs.WaitFor(t, waitTimeout, `"level":"INFO"`, `"msg":"mqtt: client connected"`, `"client_id":"`+d.Thing+`"`, `"cert_id":"`+d.CertID+`"`)
	})
}

func (d deviceCert) parse(t testing.TB) *x509.Certificate {
	t.Helper()
	c, err := pki.ParseCertificatePEM(d.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (d deviceCert) notAfter(t testing.TB) time.Time  { return d.parse(t).NotAfter }
func (d deviceCert) notBefore(t testing.TB) time.Time { return d.parse(t).NotBefore }

// apiErrorCode is the AWS error code of an SDK error ("" if none).
func apiErrorCode(err error) string {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// A device without a certificate completes TLS and is refused at CONNECT,
// where its client id is known: a Warn log line and a connect_failed event
// say why.
func TestNoCertificateRefused(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	events := watchLifecycle(t, h)
	caPEM, err := os.ReadFile(h.Endpoints.RootCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	for _, version := range []string{"v5", "v3"} {
		t.Run(version, func(t *testing.T) {
			clientID := "no-cert-" + version
			if version == "v5" {
				_, ack, err := connectV5(t, h.Endpoints.MQTT, tc, clientID, nil)
				if err == nil || ack == nil || ack.ReasonCode != 0x87 {
					t.Fatalf("connect = (%v, %v), want CONNACK 0x87", ack, err)
				}
			} else {
				_, code, err := connectV3(t, h.Endpoints.MQTT, tc, clientID, true, nil)
				if err == nil || code != 5 {
					t.Fatalf("connect = (%d, %v), want return code 5", code, err)
				}
			}
			line := h.Logs.WaitFor(t, waitTimeout, `"msg":"mqtt: connection refused"`, `"client_id":"`+clientID+`"`, "no client certificate")
			if !strings.Contains(line, `"level":"WARN"`) {
				t.Errorf("refusal log line is not at Warn: %s", line)
			}
			ev := events.wait(t, "$aws/events/presence/connect_failed/"+clientID)
			if ev["connectFailureReason"] != "AUTHORIZATION_FAILED" {
				t.Errorf("connectFailureReason = %v, want AUTHORIZATION_FAILED", ev["connectFailureReason"])
			}
		})
	}
}
