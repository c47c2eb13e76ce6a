// Package testcert issues a throwaway PKI (a root CA, server and client
// certificates) for tests and benchmark tools. It is for tests and bench tools
// only: production code must never import it. Keys are generated fresh on
// every call and never leave memory unless written with WriteFiles.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Key types accepted by ServerCert, ClientCert and Issue.
const (
	KeyEC  = "ec"  // ECDSA P-256
	KeyRSA = "rsa" // RSA 2048
)

// validity is how long issued certificates are valid; backdated by an hour so
// small clock differences between processes do not matter.
const validity = 24 * time.Hour

// CA is a self-signed root that issues server and client certificates.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	Pool    *x509.CertPool // holds only Cert
}

// NewCA returns a fresh ECDSA P-256 root CA, failing t on error.
func NewCA(t testing.TB) *CA {
	t.Helper()
	ca, err := NewCAErr()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// NewCAErr returns a fresh ECDSA P-256 root CA.
func NewCAErr() (*CA, error) {
	key, err := newKey(KeyEC)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "thingcore test root CA", Organization: []string{"thingcore test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("testcert: create ca: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testcert: parse ca: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Pool:    pool,
	}, nil
}

// ServerCert issues a server certificate with a keyType key ("ec" or "rsa")
// for hosts (IP addresses or DNS names; default "localhost", "127.0.0.1",
// "::1"), failing t on error. Leaf is set.
func (ca *CA) ServerCert(t testing.TB, keyType string, hosts ...string) tls.Certificate {
	t.Helper()
	c, err := ca.Issue(keyType, true, "", hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ClientCert issues a client certificate with a keyType key ("ec" or "rsa")
// and the given subject common name, failing t on error. Leaf is set.
func (ca *CA) ClientCert(t testing.TB, keyType, commonName string) tls.Certificate {
	t.Helper()
	c, err := ca.Issue(keyType, false, commonName)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Issue issues a certificate signed by ca with a keyType key ("ec" or "rsa").
// A server certificate (isServer) carries hosts as SANs (default "localhost",
// "127.0.0.1", "::1") and commonName defaults to its first host; a client
// certificate carries commonName and hosts, if any. Leaf is set.
func (ca *CA) Issue(keyType string, isServer bool, commonName string, hosts ...string) (tls.Certificate, error) {
	key, err := newKey(keyType)
	if err != nil {
		return tls.Certificate{}, err
	}
	if isServer && len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if commonName == "" && len(hosts) > 0 {
		commonName = hosts[0]
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if isServer {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if keyType == KeyRSA {
		// RSA key exchange encrypts the premaster secret to the key.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testcert: issue %q: %w", commonName, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testcert: parse %q: %w", commonName, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// WriteCA writes the CA certificate as PEM to dir/ca.pem and returns its
// path, failing t on error.
func (ca *CA) WriteCA(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, ca.CertPEM, 0o644); err != nil {
		t.Fatalf("testcert: write ca: %v", err)
	}
	return p
}

// WriteFiles writes c as dir/base.pem (certificate chain) and dir/base.key
// (private key, mode 0600), failing t on error. See WriteFilesErr.
func WriteFiles(t testing.TB, dir, base string, c tls.Certificate) (certPath, keyPath string) {
	t.Helper()
	certPath, keyPath, err := WriteFilesErr(dir, base, c)
	if err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// WriteFilesErr writes c as dir/base.pem (certificate chain, PEM) and
// dir/base.key (PEM, mode 0600: PKCS#1 "RSA PRIVATE KEY" for RSA keys, SEC1
// "EC PRIVATE KEY" for EC keys, the forms most embedded TLS stacks read).
func WriteFilesErr(dir, base string, c tls.Certificate) (certPath, keyPath string, err error) {
	var certPEM []byte
	for _, der := range c.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	var block *pem.Block
	switch k := c.PrivateKey.(type) {
	case *rsa.PrivateKey:
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return "", "", fmt.Errorf("testcert: marshal key: %w", err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		return "", "", fmt.Errorf("testcert: unsupported private key type %T", c.PrivateKey)
	}
	certPath = filepath.Join(dir, base+".pem")
	keyPath = filepath.Join(dir, base+".key")
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("testcert: write cert: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", "", fmt.Errorf("testcert: write key: %w", err)
	}
	return certPath, keyPath, nil
}

func newKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case KeyEC:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("testcert: generate ec key: %w", err)
		}
		return k, nil
	case KeyRSA:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("testcert: generate rsa key: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("testcert: key type %q: %w", keyType, errKeyType)
	}
}

var errKeyType = errors.New("want \"ec\" or \"rsa\"")

func serial() *big.Int {
	// 128 random bits; rand.Int never fails with crypto/rand.Reader.
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	return n.Add(n, big.NewInt(1))
}
