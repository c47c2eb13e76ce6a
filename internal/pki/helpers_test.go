package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"
)

// now is the fixed clock of every test.
var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// Keys are expensive under -race, so tests share one of each where a fresh
// key proves nothing. They are generated at test time and never written to
// testdata.
var (
	sharedCA = sync.OnceValues(func() (*CA, error) {
		ca, _, err := NewRootCA("thingcore test CA", 0, now)
		return ca, err
	})
	sharedRSA     = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	sharedRSA1024 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 1024) })
	sharedEC      = sync.OnceValues(func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
)

func testCA(t *testing.T) *CA {
	t.Helper()
	ca, err := sharedCA()
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	return ca
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := sharedRSA()
	if err != nil {
		t.Fatalf("generate RSA key: %v", err)
	}
	return k
}

func rsa1024Key(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := sharedRSA1024()
	if err != nil {
		t.Fatalf("generate RSA 1024 key: %v", err)
	}
	return k
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := sharedEC()
	if err != nil {
		t.Fatalf("generate EC key: %v", err)
	}
	return k
}

func newECKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatalf("generate EC key: %v", err)
	}
	return k
}

// certSpec describes a certificate made directly with crypto/x509, for
// shapes our CA would never issue.
type certSpec struct {
	cn        string
	isCA      bool
	keyUsage  x509.KeyUsage
	notBefore time.Time // zero: now - 1h
	notAfter  time.Time // zero: now + 1 year
}

// makeCert signs a certificate for pub with signer; parent nil means
// self-issued (the subject is the issuer, signed by signer whatever pub is).
func makeCert(t *testing.T, s certSpec, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer) (*x509.Certificate, []byte) {
	t.Helper()
	if s.notBefore.IsZero() {
		s.notBefore = now.Add(-time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = now.AddDate(1, 0, 0)
	}
	serial, err := randomSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		IsCA:                  s.isCA,
		BasicConstraintsValid: true,
		KeyUsage:              s.keyUsage,
	}
	if parent == nil {
		p := *tmpl
		p.PublicKey = nil // let signer differ from pub: a self-issued cert with a bad signature
		parent = &p
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("create certificate %q: %v", s.cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustPEM(t *testing.T, data []byte, wantType string) *pem.Block {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("no PEM block in %q", data)
	}
	if b.Type != wantType {
		t.Fatalf("PEM block type = %q, want %q", b.Type, wantType)
	}
	return b
}

// checkErr fails t unless err matches wantErr: "" means no error, otherwise
// the error text must contain wantErr.
func checkErr(t *testing.T, call string, err error, wantErr string) bool {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("%s: unexpected error %v", call, err)
	case wantErr != "" && err == nil:
		t.Fatalf("%s = nil error, want an error containing %q", call, wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("%s: error %q, want it to contain %q", call, err, wantErr)
	}
	return err == nil
}
