package testcert

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

func TestIssue(t *testing.T) {
	ca := NewCA(t)
	tests := []struct {
		name     string
		keyType  string
		server   bool
		hosts    []string
		usage    x509.ExtKeyUsage
		dnsName  string
		pemType  string
		wantRSA  bool
		verifyAs string // DNS name or IP to verify a server cert for
	}{
		{name: "server ec default hosts", keyType: KeyEC, server: true, usage: x509.ExtKeyUsageServerAuth, pemType: "EC PRIVATE KEY", verifyAs: "127.0.0.1"},
		{name: "server rsa custom host", keyType: KeyRSA, server: true, hosts: []string{"hub.example"}, usage: x509.ExtKeyUsageServerAuth, pemType: "RSA PRIVATE KEY", wantRSA: true, verifyAs: "hub.example"},
		{name: "client ec", keyType: KeyEC, usage: x509.ExtKeyUsageClientAuth, pemType: "EC PRIVATE KEY"},
		{name: "client rsa", keyType: KeyRSA, usage: x509.ExtKeyUsageClientAuth, pemType: "RSA PRIVATE KEY", wantRSA: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c tls.Certificate
			if tt.server {
				c = ca.ServerCert(t, tt.keyType, tt.hosts...)
			} else {
				c = ca.ClientCert(t, tt.keyType, "thing-1")
				if got := c.Leaf.Subject.CommonName; got != "thing-1" {
					t.Errorf("CommonName = %q, want %q", got, "thing-1")
				}
			}
			if c.Leaf == nil {
				t.Fatal("Leaf = nil, want the parsed certificate")
			}
			_, isRSA := c.PrivateKey.(*rsa.PrivateKey)
			if _, isEC := c.PrivateKey.(*ecdsa.PrivateKey); isRSA != tt.wantRSA || isEC == tt.wantRSA {
				t.Errorf("PrivateKey type = %T, want RSA %v", c.PrivateKey, tt.wantRSA)
			}
			opts := x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{tt.usage}, DNSName: tt.verifyAs}
			if _, err := c.Leaf.Verify(opts); err != nil {
				t.Errorf("Verify() = %v, want nil", err)
			}

			dir := t.TempDir()
			certPath, keyPath := WriteFiles(t, dir, "dev", c)
			if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
				t.Errorf("LoadX509KeyPair() = %v, want nil", err)
			}
			keyPEM, err := os.ReadFile(keyPath)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(keyPEM); b == nil || b.Type != tt.pemType {
				t.Errorf("key PEM block = %v, want type %q", b, tt.pemType)
			}
			fi, err := os.Stat(keyPath)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("key file mode = %v, want 0600", got)
			}
		})
	}
}

func TestOtherCA(t *testing.T) {
	ca, other := NewCA(t), NewCA(t)
	c := other.ClientCert(t, KeyEC, "stranger")
	_, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err == nil {
		t.Fatal("Verify() with another CA's pool = nil, want an error")
	}
	p := ca.WriteCA(t, t.TempDir())
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(ca.CertPEM) {
		t.Errorf("WriteCA wrote %q, want CertPEM", b)
	}
}

func TestIssueBadKeyType(t *testing.T) {
	ca := NewCA(t)
	if _, err := ca.Issue("dsa", true, ""); err == nil {
		t.Fatal(`Issue("dsa") = nil error, want an error`)
	}
}
