package registry_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/registry"
	"github.com/thingcore/thingcore/internal/testcert"
)

// fakeClock advances one second on every reading, so creation times are
// distinct and ordered without sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// openKV opens a kvstore in a fresh temporary directory.
func openKV(t *testing.T) *kvstore.Store {
	t.Helper()
	kv, err := kvstore.Open(context.Background(), kvstore.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("kvstore.Open: %v", err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	return kv
}

// newRegistry opens a registry on a fresh store with a fake clock.
func newRegistry(t *testing.T, deps registry.Deps) *registry.Registry {
	t.Helper()
	if deps.Now == nil {
		deps.Now = (&fakeClock{t: epoch}).Now
	}
	r, err := registry.Open(context.Background(), openKV(t), registry.Config{Region: "eu-west-1", AccountID: "123456789012"}, deps)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

// certPEM returns a fresh client certificate signed by ca as PEM, and its
// expected id (hex SHA-256 of the DER).
func certPEM(t *testing.T, ca *testcert.CA, cn string) (string, string) {
	t.Helper()
	c := ca.ClientCert(t, testcert.KeyEC, cn)
	der := c.Certificate[0]
	sum := sha256.Sum256(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), hex.EncodeToString(sum[:])
}

// addCert registers a fresh certificate with the given status.
func addCert(t *testing.T, r *registry.Registry, ca *testcert.CA, status registry.CertStatus) registry.Certificate {
	t.Helper()
	p, _ := certPEM(t, ca, "device")
	c, err := r.AddCertificate(context.Background(), p, status, "")
	if err != nil {
		t.Fatalf("AddCertificate: %v", err)
	}
	return c
}

// fixedCertPEM returns the same self-signed Ed25519 certificate on every
// call (Ed25519 signatures are deterministic): for golden files.
func fixedCertPEM(t *testing.T, cn string) string {
	t.Helper()
	seed := sha256.Sum256([]byte(cn))
	key := ed25519.NewKeyFromSeed(seed[:])
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// wantErr checks err against a sentinel (nil for success).
func wantErr(t *testing.T, op string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s = %v, want success", op, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s = %v, want %v", op, err, want)
	}
}

// message returns the AWS message of a registry error.
func message(t *testing.T, err error) string {
	t.Helper()
	var e *registry.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is not a *registry.Error", err)
	}
	return e.Message
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  registry.Config
		ok   bool
	}{
		{"defaults", registry.Config{}, true},
		{"explicit", registry.Config{Region: "ap-southeast-2", AccountID: "123456789012"}, true},
		{"bad region", registry.Config{Region: "mars"}, false},
		{"short account", registry.Config{AccountID: "1234"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
		})
	}
}

func TestParsePrincipal(t *testing.T) {
	r := newRegistry(t, registry.Deps{})
	id := "a0c01f5835079de0a7514643d68ef8414ab739a1e94ee4162977b02b12842847"
	tests := []struct {
		name   string
		in     string
		wantID string
		ok     bool
	}{
		{"bare id", id, id, true},
		{"upper case id", "A0C01F5835079DE0A7514643D68EF8414AB739A1E94EE4162977B02B12842847", id, true},
		{"our arn", "arn:aws:iot:eu-west-1:123456789012:cert/" + id, id, true},
		{"other region arn", "arn:aws:iot:us-east-1:999999999999:cert/" + id, id, true},
		{"short id", "abc", "", false},
		{"not hex", "z" + id[1:], "", false},
		{"thing arn", "arn:aws:iot:eu-west-1:123456789012:thing/" + id, "", false},
		{"cognito id", "us-east-1:12345678-1234-1234-1234-123456789012", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := r.ParsePrincipal(tt.in)
			if got != tt.wantID || ok != tt.ok {
				t.Errorf("ParsePrincipal(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.wantID, tt.ok)
			}
		})
	}
	if got, want := r.CertificateARN(id), "arn:aws:iot:eu-west-1:123456789012:cert/"+id; got != want {
		t.Errorf("CertificateARN = %q, want %q", got, want)
	}
	if got, want := r.ThingARN("a:b"), "arn:aws:iot:eu-west-1:123456789012:thing/a:b"; got != want {
		t.Errorf("ThingARN = %q, want %q", got, want)
	}
}
