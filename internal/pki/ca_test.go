package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"net"
	"testing"
	"time"
)

func TestNewRootCA(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("IsCA = %v, BasicConstraintsValid = %v, want both true", c.IsCA, c.BasicConstraintsValid)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("KeyUsage = %v, want CertSign", c.KeyUsage)
	}
	if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("public key = %T, want ECDSA P-256", c.PublicKey)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("self-signature: %v", err)
	}
	if got, want := c.NotAfter, now.Add(DefaultCAValidity).UTC().Truncate(time.Second); !got.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", got, want)
	}
	if got, want := c.NotBefore, now.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", got, want)
	}
	if c.Subject.CommonName != "thingcore test CA" {
		t.Errorf("CommonName = %q", c.Subject.CommonName)
	}
	if skid, _ := subjectKeyID(c.PublicKey); !bytes.Equal(c.SubjectKeyId, skid) {
		t.Errorf("SubjectKeyId = %x, want %x", c.SubjectKeyId, skid)
	}
	if b := mustPEM(t, ca.CertPEM, "CERTIFICATE"); !bytes.Equal(b.Bytes, c.Raw) {
		t.Error("CertPEM does not hold Cert")
	}

	errs := []struct {
		name     string
		cn       string
		validity time.Duration
		wantErr  string
	}{
		{name: "empty common name", validity: time.Hour, wantErr: "CA common name is empty"},
		{name: "negative validity", cn: "x", validity: -time.Hour, wantErr: "negative"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := NewRootCA(tt.cn, tt.validity, now)
			checkErr(t, "NewRootCA", err, tt.wantErr)
		})
	}
}

func TestLoadCA(t *testing.T) {
	t.Parallel()
	ca, keyPEM, err := NewRootCA("load me", time.Hour*24, now)
	if err != nil {
		t.Fatal(err)
	}
	ecDER := mustPEM(t, keyPEM, "EC PRIVATE KEY").Bytes
	ecKeyParsed, err := x509.ParseECPrivateKey(ecDER)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ecKeyParsed)
	if err != nil {
		t.Fatal(err)
	}
	rk := rsaKey(t)
	_, rsaCAPEM := makeCert(t, certSpec{cn: "rsa ca", isCA: true, keyUsage: x509.KeyUsageCertSign}, rk.Public(), nil, rk)
	_, leafPEM := makeCert(t, certSpec{cn: "leaf", keyUsage: x509.KeyUsageDigitalSignature}, ecKeyParsed.Public(), nil, ecKeyParsed)
	_, noSignPEM := makeCert(t, certSpec{cn: "no sign", isCA: true, keyUsage: x509.KeyUsageDigitalSignature}, ecKeyParsed.Public(), nil, ecKeyParsed)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: ecDER})

	tests := []struct {
		name    string
		cert    []byte
		key     []byte
		wantErr string
	}{
		{name: "sec1 key", cert: ca.CertPEM, key: keyPEM},
		{name: "pkcs8 key", cert: ca.CertPEM, key: pemBlock("PRIVATE KEY", pkcs8)},
		{name: "ec parameters before key", cert: ca.CertPEM, key: append(pemBlock("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), keyPEM...)},
		{name: "rsa ca pkcs1 key", cert: rsaCAPEM, key: pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk))},
		{name: "key of another CA", cert: rsaCAPEM, key: keyPEM, wantErr: "CA key does not match the CA certificate"},
		{name: "not a CA", cert: leafPEM, key: keyPEM, wantErr: "CA certificate is not a CA"},
		{name: "key usage without cert sign", cert: noSignPEM, key: keyPEM, wantErr: "does not allow signing certificates"},
		{name: "key file holds a certificate", cert: ca.CertPEM, key: ca.CertPEM, wantErr: "PEM block is a certificate, not a private key"},
		{name: "encrypted key", cert: ca.CertPEM, key: encrypted, wantErr: "private key is encrypted"},
		{name: "cert file holds a key", cert: keyPEM, key: keyPEM, wantErr: "CA certificate: PEM block is a private key, not a certificate"},
		{name: "garbage key", cert: ca.CertPEM, key: []byte("hello"), wantErr: "not PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := LoadCA(tt.cert, tt.key)
			if !checkErr(t, "LoadCA", err, tt.wantErr) {
				return
			}
			if _, _, err := got.IssueServer(KeyEC, []string{"x.example"}, time.Hour, now); err != nil {
				t.Errorf("loaded CA cannot issue: %v", err)
			}
		})
	}
}

func TestIssueDevice(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tests := []struct {
		name    string
		keyType KeyType
		wantRSA bool
		keyPEM  string
	}{
		{name: "default is rsa", keyType: "", wantRSA: true, keyPEM: "RSA PRIVATE KEY"},
		{name: "ec", keyType: KeyEC, keyPEM: "EC PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dc, err := ca.IssueDevice(tt.keyType, now)
			if err != nil {
				t.Fatalf("IssueDevice: %v", err)
			}
			c := dc.Cert
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("Verify as client: %v", err)
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now}); err == nil {
				t.Error("Verify as server succeeded, want the client-only EKU to refuse it")
			}
			sum := sha256.Sum256(c.Raw)
			if want := hex.EncodeToString(sum[:]); dc.CertificateID != want || len(dc.CertificateID) != 64 {
				t.Errorf("CertificateID = %q, want %q", dc.CertificateID, want)
			}
			if b := mustPEM(t, dc.CertificatePEM, "CERTIFICATE"); !bytes.Equal(b.Bytes, c.Raw) {
				t.Error("CertificatePEM does not hold Cert")
			}
			key, err := parsePrivateKeyPEM(dc.PrivateKeyPEM)
			if err != nil {
				t.Fatalf("private key: %v", err)
			}
			mustPEM(t, dc.PrivateKeyPEM, tt.keyPEM)
			pub, err := x509.ParsePKIXPublicKey(mustPEM(t, dc.PublicKeyPEM, "PUBLIC KEY").Bytes)
			if err != nil {
				t.Fatalf("public key: %v", err)
			}
			signerPub := key.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool })
			if !signerPub.Equal(pub) || !signerPub.Equal(c.PublicKey) {
				t.Error("public key PEM, private key and certificate do not share one key")
			}
			if _, err := tls.X509KeyPair(dc.CertificatePEM, dc.PrivateKeyPEM); err != nil {
				t.Errorf("tls.X509KeyPair: %v", err)
			}
			_, isRSA := c.PublicKey.(*rsa.PublicKey)
			if isRSA != tt.wantRSA {
				t.Errorf("public key %T, want RSA %v", c.PublicKey, tt.wantRSA)
			}
			if isRSA && c.PublicKey.(*rsa.PublicKey).N.BitLen() != 2048 {
				t.Errorf("RSA key is %d bits, want 2048", c.PublicKey.(*rsa.PublicKey).N.BitLen())
			}
			wantKU := x509.KeyUsageDigitalSignature
			if tt.wantRSA {
				wantKU |= x509.KeyUsageKeyEncipherment
			}
			checkLeaf(t, ca, c, wantKU, x509.ExtKeyUsageClientAuth)
			if c.Subject.CommonName != "AWS IoT Certificate" {
				t.Errorf("CommonName = %q, want AWS IoT Certificate", c.Subject.CommonName)
			}
			if !c.NotAfter.Equal(DeviceNotAfter) {
				t.Errorf("NotAfter = %v, want %v", c.NotAfter, DeviceNotAfter)
			}
		})
	}
}

// checkLeaf checks what every end-entity certificate we issue shares.
func checkLeaf(t *testing.T, ca *CA, c *x509.Certificate, ku x509.KeyUsage, eku x509.ExtKeyUsage) {
	t.Helper()
	if c.KeyUsage != ku {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, ku)
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != eku {
		t.Errorf("ExtKeyUsage = %v, want [%v]", c.ExtKeyUsage, eku)
	}
	if c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("IsCA = %v, BasicConstraintsValid = %v, want false, true", c.IsCA, c.BasicConstraintsValid)
	}
	if got, want := c.NotBefore, now.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", got, want)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
	}
	if skid, _ := subjectKeyID(c.PublicKey); len(c.SubjectKeyId) != 20 || !bytes.Equal(c.SubjectKeyId, skid) {
		t.Errorf("SubjectKeyId = %x, want %x", c.SubjectKeyId, skid)
	}
	if !bytes.Equal(c.AuthorityKeyId, ca.Cert.SubjectKeyId) {
		t.Errorf("AuthorityKeyId = %x, want the CA's SubjectKeyId %x", c.AuthorityKeyId, ca.Cert.SubjectKeyId)
	}
	if !bytes.Equal(c.RawIssuer, ca.Cert.RawSubject) {
		t.Errorf("issuer = %v, want %v", c.Issuer, ca.Cert.Subject)
	}
}

func TestIssueDeviceLimits(t *testing.T) {
	t.Parallel()
	short, _, err := NewRootCA("short-lived", 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		ca           *CA
		keyType      KeyType
		at           time.Time
		wantNotAfter time.Time
		wantErr      string
	}{
		{name: "capped at CA expiry", ca: short, keyType: KeyEC, at: now, wantNotAfter: short.Cert.NotAfter},
		{name: "CA expired", ca: short, keyType: KeyEC, at: now.Add(72 * time.Hour), wantErr: "CA certificate expired at"},
		{name: "unknown key type", ca: short, keyType: "dsa", at: now, wantErr: `unknown key type "dsa"`},
		{name: "nil CA", ca: nil, keyType: KeyEC, at: now, wantErr: "CA has no certificate or key"},
		{name: "past 2049", ca: testCA(t), keyType: KeyEC, at: time.Date(2050, 1, 1, 2, 0, 0, 0, time.UTC), wantErr: "would expire at 2049-12-31T23:59:59Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dc, err := tt.ca.IssueDevice(tt.keyType, tt.at)
			if !checkErr(t, "IssueDevice", err, tt.wantErr) {
				return
			}
			if !dc.Cert.NotAfter.Equal(tt.wantNotAfter) {
				t.Errorf("NotAfter = %v, want %v", dc.Cert.NotAfter, tt.wantNotAfter)
			}
		})
	}
}

func TestIssueServer(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tests := []struct {
		name     string
		keyType  KeyType
		names    []string
		validity time.Duration
		verifyAs []string
		wantRSA  bool
		wantErr  string
	}{
		{name: "default ec with names and ips", names: []string{"hub.local", "127.0.0.1", "::1"}, verifyAs: []string{"hub.local", "127.0.0.1", "::1"}},
		{name: "rsa wildcard", keyType: KeyRSA, names: []string{"*.iot.example"}, validity: time.Hour, verifyAs: []string{"a1b2.iot.example"}, wantRSA: true},
		{name: "no names", keyType: KeyEC, wantErr: "at least one DNS name or IP address"},
		{name: "empty name", keyType: KeyEC, names: []string{"a.example", ""}, wantErr: "server certificate name is empty"},
		{name: "negative validity", keyType: KeyEC, names: []string{"a.example"}, validity: -time.Second, wantErr: "negative"},
		{name: "unknown key type", keyType: "ed25519", names: []string{"a.example"}, wantErr: "unknown key type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			certPEM, keyPEM, err := ca.IssueServer(tt.keyType, tt.names, tt.validity, now)
			if !checkErr(t, "IssueServer", err, tt.wantErr) {
				return
			}
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatalf("tls.X509KeyPair: %v", err)
			}
			c := pair.Leaf
			for _, name := range tt.verifyAs {
				if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: name}); err != nil {
					t.Errorf("Verify for %q: %v", name, err)
				}
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: "other.example"}); err == nil {
				t.Error("Verify for other.example succeeded")
			}
			validity := tt.validity
			if validity == 0 {
				validity = DefaultServerValidity
			}
			if want := now.Add(validity); !c.NotAfter.Equal(want) {
				t.Errorf("NotAfter = %v, want %v", c.NotAfter, want)
			}
			wantKU := x509.KeyUsageDigitalSignature
			if tt.wantRSA {
				wantKU |= x509.KeyUsageKeyEncipherment
			}
			checkLeaf(t, ca, c, wantKU, x509.ExtKeyUsageServerAuth)
			if ip := net.ParseIP(tt.names[0]); ip == nil && c.Subject.CommonName != tt.names[0] {
				t.Errorf("CommonName = %q, want %q", c.Subject.CommonName, tt.names[0])
			}
		})
	}
}

func TestSerialsDiffer(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	seen := map[string]bool{}
	for range 8 {
		dc, err := ca.IssueDevice(KeyEC, now)
		if err != nil {
			t.Fatal(err)
		}
		if s := dc.Cert.SerialNumber.String(); seen[s] {
			t.Fatalf("serial %s issued twice", s)
		} else {
			seen[s] = true
		}
	}
}

// makeCSR returns a PEM CSR for key; mutate may alter the template.
func makeCSR(t *testing.T, key crypto.Signer, blockType string, mutate func(*x509.CertificateRequest)) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "my-device"}}
	if mutate != nil {
		mutate(tmpl)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("CreateCertificateRequest: %v", err)
	}
	return pemBlock(blockType, der)
}

func TestSignCSR(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)

	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := makeCSR(t, ecKey(t), "CERTIFICATE REQUEST", nil)
	tampered := bytes.Clone(mustPEM(t, good, "CERTIFICATE REQUEST").Bytes)
	tampered[len(tampered)-3] ^= 0xff // inside the signature
	// A CSR whose key is swapped for another after signing.
	var swapped []byte
	{
		der := mustPEM(t, makeCSR(t, ecKey(t), "CERTIFICATE REQUEST", nil), "CERTIFICATE REQUEST").Bytes
		other := newECKey(t, elliptic.P256())
		oldSPKI, _ := x509.MarshalPKIXPublicKey(ecKey(t).Public())
		newSPKI, _ := x509.MarshalPKIXPublicKey(other.Public())
		swapped = bytes.Replace(der, oldSPKI, newSPKI, 1)
	}
	askCA := func(r *x509.CertificateRequest) {
		r.DNSNames = []string{"evil.example"}
		bc, _ := asn1.Marshal(struct{ IsCA bool }{true})
		r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}}
	}

	tests := []struct {
		name    string
		csr     []byte
		key     crypto.PublicKey
		wantErr string
	}{
		{name: "rsa 2048", csr: makeCSR(t, rsaKey(t), "CERTIFICATE REQUEST", nil), key: rsaKey(t).Public()},
		{name: "ec p256", csr: good, key: ecKey(t).Public()},
		{name: "ec p384 legacy block type", csr: makeCSR(t, newECKey(t, elliptic.P384()), "NEW CERTIFICATE REQUEST", nil)},
		{name: "ec p521", csr: makeCSR(t, newECKey(t, elliptic.P521()), "CERTIFICATE REQUEST", nil)},
		{name: "requested extensions ignored", csr: makeCSR(t, ecKey(t), "CERTIFICATE REQUEST", askCA), key: ecKey(t).Public()},
		{name: "tampered signature", csr: pemBlock("CERTIFICATE REQUEST", tampered), wantErr: "CSR signature is invalid"},
		{name: "swapped key", csr: pemBlock("CERTIFICATE REQUEST", swapped), wantErr: "CSR signature is invalid"},
		{name: "rsa 1024", csr: makeCSR(t, rsa1024Key(t), "CERTIFICATE REQUEST", nil), wantErr: "key is RSA 1024 bits; at least 2048 required"},
		{name: "ec p224", csr: makeCSR(t, newECKey(t, elliptic.P224()), "CERTIFICATE REQUEST", nil), wantErr: "key is ECDSA on curve P-224"},
		{name: "ed25519", csr: makeCSR(t, edKey, "CERTIFICATE REQUEST", nil), wantErr: "key is Ed25519"},
		{name: "openssl rsa csr fixture", csr: readFixture(t, "device-csr.pem")},
		{name: "der csr", csr: readFixture(t, "ec-csr.der"), wantErr: "not PEM: input is a certificate signing request in DER form"},
		{name: "certificate not csr", csr: ca.CertPEM, wantErr: "PEM block is a certificate, not a certificate signing request"},
		{name: "garbage", csr: []byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), wantErr: "is malformed"},
		{name: "empty", csr: nil, wantErr: "input is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			certPEM, id, err := ca.SignCSR(tt.csr, now)
			if !checkErr(t, "SignCSR", err, tt.wantErr) {
				return
			}
			c, err := ParseCertificatePEM(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			if id != CertificateID(c.Raw) {
				t.Errorf("id = %q, want %q", id, CertificateID(c.Raw))
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if tt.key != nil && !tt.key.(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey) {
				t.Error("certificate key is not the CSR's key")
			}
			if c.IsCA || len(c.DNSNames) != 0 || c.Subject.CommonName != "AWS IoT Certificate" {
				t.Errorf("IsCA = %v, DNSNames = %v, CN = %q; want the CSR's requests ignored", c.IsCA, c.DNSNames, c.Subject.CommonName)
			}
			again, id2, err := ca.SignCSR(tt.csr, now)
			if err != nil || id2 == id || bytes.Equal(again, certPEM) {
				t.Errorf("second SignCSR: id %q (first %q), err %v; want a distinct certificate", id2, id, err)
			}
		})
	}
}

// TestSubjectKeyID pins RFC 7093 method 1 against a hand computation.
func TestSubjectKeyID(t *testing.T) {
	t.Parallel()
	k := ecKey(t)
	point, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(point)
	got, err := subjectKeyID(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sum[:20]) {
		t.Errorf("subjectKeyID = %x, want %x", got, sum[:20])
	}
	if _, err := subjectKeyID(struct{}{}); err == nil {
		t.Error("subjectKeyID of a non-key succeeded")
	}
}
