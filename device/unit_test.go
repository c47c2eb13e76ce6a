package device

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMatchTopic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, filter, topic string
		want                bool
	}{
		{"exact", "a/b", "a/b", true},
		{"exact mismatch", "a/b", "a/c", false},
		{"plus one level", "a/+/c", "a/b/c", true},
		{"plus not two levels", "a/+", "a/b/c", false},
		{"plus empty level", "a/+/c", "a//c", true},
		{"hash below", "a/#", "a/b/c", true},
		{"hash parent", "a/#", "a", true},
		{"hash alone", "#", "a/b", true},
		{"longer filter", "a/b/c", "a/b", false},
		{"longer topic", "a/b", "a/b/c", false},
		{"dollar not by hash", "#", "$aws/things/x", false},
		{"dollar not by plus", "+/things/x", "$aws/things/x", false},
		{"dollar explicit", "$aws/things/x/shadow/get/+", "$aws/things/x/shadow/get/accepted", true},
		{"shadow update plus", "$aws/things/x/shadow/update/+", "$aws/things/x/shadow/update/delta", true},
		{"named not classic", "$aws/things/x/shadow/get/+", "$aws/things/x/shadow/name/n/get/accepted", false},
		{"shared", "$share/g/a/+", "a/b", true},
		{"shared mismatch", "$share/g/a/+", "b/b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := matchTopic(tc.filter, tc.topic); got != tc.want {
				t.Errorf("matchTopic(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		attempt int
		r       float64
		want    time.Duration
	}{
		{"first attempt no wait", 0, 0.5, 0},
		{"attempt 1 low jitter", 1, 0, 500 * time.Millisecond},
		{"attempt 1 half jitter", 1, 0.5, 750 * time.Millisecond},
		{"attempt 3 doubles twice", 3, 0, 2 * time.Second},
		{"capped", 20, 0, 5 * time.Second},
		{"capped high", 20, 1, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := backoff{min: time.Second, max: 10 * time.Second, rand: func() float64 { return tc.r }}
			if got := b.delay(tc.attempt); got.Round(time.Microsecond) != tc.want {
				t.Errorf("delay(%d) with rand %v = %v, want %v", tc.attempt, tc.r, got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{Endpoint: "localhost:8883", ClientID: "dev", CertFile: "c", KeyFile: "k"}
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"no port is 8883", func(c *Config) { c.Endpoint = "localhost" }, ""},
		{"IPv6", func(c *Config) { c.Endpoint = "[::1]:8883" }, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "endpoint is required"},
		{"bad port", func(c *Config) { c.Endpoint = "localhost:0" }, "port"},
		{"no client id", func(c *Config) { c.ClientID = "" }, "client id"},
		{"long client id", func(c *Config) { c.ClientID = strings.Repeat("x", 129) }, "client id"},
		{"no key", func(c *Config) { c.KeyFile = "" }, "key file"},
		{"protocol", func(c *Config) { c.Protocol = "4" }, "protocol"},
		{"keep alive", func(c *Config) { c.KeepAlive = 70000 * time.Second }, "keep alive"},
		{"negative timeout", func(c *Config) { c.ConnectTimeout = -1 }, "connect timeout"},
		{"reconnect order", func(c *Config) { c.ReconnectMin, c.ReconnectMax = time.Minute, time.Second }, "reconnect min"},
		{"queue", func(c *Config) { c.OfflineQueue = -2 }, "offline queue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	js := `{"thing_name":"pico-1","client_id":"pico-1","endpoint":"hub.local","mqtt_port":8884,
	"files":{"certificate_pem":"certificate.pem.crt","private_key_pem":"private.pem.key","root_ca":"root-CA.pem"}}`
	if err := os.WriteFile(filepath.Join(dir, "device.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFolder(dir)
	if err != nil {
		t.Fatalf("LoadFolder: %v", err)
	}
	want := Config{Endpoint: "hub.local:8884", ClientID: "pico-1", ThingName: "pico-1",
		CertFile: filepath.Join(dir, "certificate.pem.crt"), KeyFile: filepath.Join(dir, "private.pem.key"),
		CAFile: filepath.Join(dir, "root-CA.pem")}
	if got != want {
		t.Errorf("LoadFolder = %+v, want %+v", got, want)
	}
	if _, err := LoadFolder(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFolder of an empty folder = %v, want ErrNotExist", err)
	}
}

// selfSigned returns a certificate for key's public key.
func selfSigned(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestLoadKeyPairErrors(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, rsaKey)})
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	for _, tc := range []struct {
		name      string
		cert, key []byte
		wantErr   string
	}{
		{"matching pair", certPEM, rsaPEM, ""},
		{"key of another certificate", certPEM, ecDER, "does not belong"},
		{"encrypted key", certPEM, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "encrypted"},
		{"garbage key", certPEM, []byte("nope"), "not an RSA or EC private key"},
		{"garbage certificate", []byte("nope"), rsaPEM, "not PEM, and not DER"},
		{"PEM without certificate", rsaPEM, rsaPEM, "no CERTIFICATE block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cf, kf := filepath.Join(dir, "c"), filepath.Join(dir, "k")
			if err := os.WriteFile(cf, tc.cert, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(kf, tc.key, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadKeyPair(cf, kf)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("loadKeyPair = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestShadowErrorIs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		code             int
		conflict, absent bool
	}{
		{"409", 409, true, false},
		{"404", 404, false, true},
		{"400", 400, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var err error = &ShadowError{Op: "update", Thing: "t", Code: tc.code, Message: "m"}
			if got := errors.Is(err, ErrVersionConflict); got != tc.conflict {
				t.Errorf("errors.Is(%d, ErrVersionConflict) = %v, want %v", tc.code, got, tc.conflict)
			}
			if got := errors.Is(err, ErrShadowNotFound); got != tc.absent {
				t.Errorf("errors.Is(%d, ErrShadowNotFound) = %v, want %v", tc.code, got, tc.absent)
			}
		})
	}
}

// A client that never reaches its server leaves no goroutine behind.
func TestCloseWhileConnecting(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c"), filepath.Join(dir, "k")
	os.WriteFile(cf, selfSigned(t, rsaKey), 0o600)
	os.WriteFile(kf, x509.MarshalPKCS1PrivateKey(rsaKey), 0o600)
	for _, p := range []Protocol{MQTT5, MQTT311} {
		t.Run(string(p), func(t *testing.T) {
			c, err := New(Config{Endpoint: "127.0.0.1:1", ClientID: "x", CertFile: cf, KeyFile: kf, Protocol: p,
				ReconnectMin: 10 * time.Millisecond, ReconnectMax: 20 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := contextWithTimeout(200 * time.Millisecond)
			defer cancel()
			if err := c.Connect(ctx); err == nil || !strings.Contains(err.Error(), "last error") {
				t.Errorf("Connect to a closed port = %v, want an error with the last attempt's", err)
			}
			ctx2, cancel2 := contextWithTimeout(10 * time.Second)
			defer cancel2()
			if err := c.Close(ctx2); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := c.Close(ctx2); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
