package device

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// tlsConfig builds the client TLS configuration from c's files.
func (c Config) tlsConfig() (*tls.Config, error) {
	host, port, err := c.hostPort()
	if err != nil {
		return nil, fmt.Errorf("device: endpoint %q: %w", c.Endpoint, err)
	}
	cert, err := loadKeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, err
	}
	t := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ServerName:   host,
		MinVersion:   tls.VersionTLS12,
	}
	if c.ServerName != "" {
		t.ServerName = c.ServerName
	}
	if c.CAFile != "" {
		if t.RootCAs, err = loadCAFile(c.CAFile); err != nil {
			return nil, err
		}
	}
	if port == 443 {
		// AWS IoT Core takes MQTT with client certificates on 443 only with
		// this ALPN protocol; thingcore's ALPN listener accepts it too.
		t.NextProtos = []string{"x-amzn-mqtt-ca"}
	}
	return t, nil
}

// loadKeyPair reads a certificate (PEM, possibly a chain, or DER) and its
// private key (PEM or DER; PKCS#1, PKCS#8 or SEC1) and checks that they
// belong together.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certData, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("device: certificate: %w", err)
	}
	chain, err := parseCertificates(certData)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("device: certificate %s: %w", certFile, err)
	}
	keyData, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("device: private key: %w", err)
	}
	key, err := parsePrivateKey(keyData)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("device: private key %s: %w", keyFile, err)
	}
	leaf := chain[0]
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, fmt.Errorf("device: private key %s does not belong to certificate %s", keyFile, certFile)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// loadCAFile reads CA certificates, PEM or DER, into a pool.
func loadCAFile(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("device: CA file: %w", err)
	}
	certs, err := parseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("device: CA file %s: %w", file, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// isPEM reports whether data looks like PEM rather than DER.
func isPEM(data []byte) bool { return bytes.Contains(data, []byte("-----BEGIN ")) }

// parseCertificates parses every CERTIFICATE block of PEM data, or DER
// (one or more concatenated certificates).
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	if !isPEM(data) {
		certs, err := x509.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("not PEM, and not DER: %w", err)
		}
		if len(certs) == 0 {
			return nil, errors.New("empty")
		}
		return certs, nil
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block in the PEM data")
	}
	return certs, nil
}

// parsePrivateKey parses an unencrypted RSA, EC or Ed25519 key: PEM or DER;
// PKCS#1, PKCS#8 or SEC1.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	der := data
	if isPEM(data) {
		var b *pem.Block
		for rest := data; ; {
			b, rest = pem.Decode(rest)
			if b == nil {
				return nil, errors.New("no PRIVATE KEY block in the PEM data")
			}
			if b.Type == "PRIVATE KEY" || b.Type == "RSA PRIVATE KEY" || b.Type == "EC PRIVATE KEY" {
				break
			}
			if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "" {
				return nil, errors.New("the key is encrypted: decrypt it first (openssl pkey -in KEY -out KEY.plain)")
			}
		}
		der = b.Bytes
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not an RSA or EC private key in PKCS#1, PKCS#8 or SEC1 form")
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
}
