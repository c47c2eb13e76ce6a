package pki

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
)

// sample is one encoded item of a known kind, made at test time.
type sample struct {
	name string
	kind Kind
	der  []byte
}

func samples(t *testing.T) []sample {
	t.Helper()
	rk, ek := rsaKey(t), ecKey(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	must := func(der []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	return []sample{
		{name: "certificate", kind: KindCertificate, der: testCA(t).Cert.Raw},
		{name: "rsa pkcs1 private key", kind: KindRSAPrivateKey, der: x509.MarshalPKCS1PrivateKey(rk)},
		{name: "ec sec1 private key", kind: KindECPrivateKey, der: must(x509.MarshalECPrivateKey(ek))},
		{name: "rsa pkcs8 private key", kind: KindPKCS8PrivateKey, der: must(x509.MarshalPKCS8PrivateKey(rk))},
		{name: "ec pkcs8 private key", kind: KindPKCS8PrivateKey, der: must(x509.MarshalPKCS8PrivateKey(ek))},
		{name: "ed25519 pkcs8 private key", kind: KindPKCS8PrivateKey, der: must(x509.MarshalPKCS8PrivateKey(edKey))},
		{name: "rsa pkix public key", kind: KindPublicKey, der: must(x509.MarshalPKIXPublicKey(rk.Public()))},
		{name: "ec pkix public key", kind: KindPublicKey, der: must(x509.MarshalPKIXPublicKey(ek.Public()))},
		{name: "rsa pkcs1 public key", kind: KindRSAPublicKey, der: x509.MarshalPKCS1PublicKey(&rk.PublicKey)},
		{name: "csr", kind: KindCSR, der: mustPEM(t, makeCSR(t, ek, "CERTIFICATE REQUEST", nil), "CERTIFICATE REQUEST").Bytes},
	}
}

func TestDetectSamples(t *testing.T) {
	t.Parallel()
	for _, s := range samples(t) {
		pemData := pemBlock(pemTypes[s.kind], s.der)
		for _, form := range []struct {
			name  string
			data  []byte
			isPEM bool
		}{
			{name: "der", data: s.der},
			{name: "pem", data: pemData, isPEM: true},
			{name: "pem crlf with leading text", data: append([]byte("Bag Attributes\r\n"), bytes.ReplaceAll(pemData, []byte("\n"), []byte("\r\n"))...), isPEM: true},
		} {
			t.Run(s.name+"/"+form.name, func(t *testing.T) {
				t.Parallel()
				kind, isPEM, err := Detect(form.data)
				if err != nil || kind != s.kind || isPEM != form.isPEM {
					t.Errorf("Detect = %q, %v, %v; want %q, %v, nil", kind, isPEM, err, s.kind, form.isPEM)
				}
			})
		}
		t.Run(s.name+"/to pem round trip", func(t *testing.T) {
			t.Parallel()
			got, kind, err := ToPEM(s.der)
			if err != nil || kind != s.kind {
				t.Fatalf("ToPEM = %q, %v; want kind %q", kind, err, s.kind)
			}
			if !bytes.Equal(got, pemData) {
				t.Errorf("ToPEM = %q, want %q", got, pemData)
			}
			if k, isPEM, err := Detect(got); k != s.kind || !isPEM || err != nil {
				t.Errorf("Detect(ToPEM) = %q, %v, %v", k, isPEM, err)
			}
		})
	}
}

func TestDetectErrors(t *testing.T) {
	t.Parallel()
	ek := ecKey(t)
	sec1, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	ecParams := pemBlock("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7})
	tests := []struct {
		name      string
		in        []byte
		wantKind  Kind
		wantIsPEM bool
		wantErr   string
	}{
		{name: "ec parameters then key", in: append(bytes.Clone(ecParams), pemBlock("EC PRIVATE KEY", sec1)...), wantKind: KindECPrivateKey, wantIsPEM: true},
		{name: "legacy csr block", in: pemBlock("NEW CERTIFICATE REQUEST", mustPEM(t, makeCSR(t, ek, "CERTIFICATE REQUEST", nil), "CERTIFICATE REQUEST").Bytes), wantKind: KindCSR, wantIsPEM: true},
		{name: "empty", in: nil, wantErr: "input is empty"},
		{name: "whitespace", in: []byte(" \n\t"), wantErr: "input is empty"},
		{name: "text", in: []byte("hello world"), wantErr: "not PEM, and not a DER certificate, key or CSR"},
		{name: "der garbage", in: []byte{0x30, 0x03, 0x02, 0x01, 0x05}, wantErr: "not PEM, and not a DER certificate, key or CSR"},
		{name: "truncated pem", in: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n"), wantErr: "malformed PEM"},
		{name: "only ec parameters", in: ecParams, wantIsPEM: true, wantErr: "PEM holds only EC parameters, no key"},
		{name: "unsupported block", in: pemBlock("X509 CRL", []byte{0x30, 0}), wantIsPEM: true, wantErr: `PEM block type "X509 CRL" is not supported`},
		{name: "encrypted pkcs8", in: pemBlock("ENCRYPTED PRIVATE KEY", []byte{0x30, 0}), wantIsPEM: true, wantErr: "private key is encrypted"},
		{name: "encrypted traditional", in: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1}}), wantIsPEM: true, wantErr: "private key is encrypted"},
		{name: "certificate block holding a key", in: pemBlock("CERTIFICATE", sec1), wantKind: KindCertificate, wantIsPEM: true, wantErr: `PEM "CERTIFICATE" block is not a valid certificate`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kind, isPEM, err := Detect(tt.in)
			if kind != tt.wantKind || isPEM != tt.wantIsPEM {
				t.Errorf("Detect = %q, %v; want %q, %v", kind, isPEM, tt.wantKind, tt.wantIsPEM)
			}
			checkErr(t, "Detect", err, tt.wantErr)
		})
	}
}

func TestToPEMErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{name: "already pem", in: testCA(t).CertPEM, wantErr: "input is already PEM"},
		{name: "empty", in: nil, wantErr: "input is empty"},
		{name: "garbage", in: []byte{0x30, 0x80, 0xff}, wantErr: "not PEM, and not a DER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := ToPEM(tt.in)
			checkErr(t, "ToPEM", err, tt.wantErr)
		})
	}
}

func TestCertToDER(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	keyPEM := pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey(t)))
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{name: "pem", in: ca.CertPEM},
		{name: "der", in: ca.Cert.Raw},
		{name: "key before certificate", in: append(bytes.Clone(keyPEM), ca.CertPEM...)},
		{name: "unsupported block before certificate", in: append(pemBlock("X509 CRL", []byte{1}), ca.CertPEM...)},
		{name: "key only", in: keyPEM, wantErr: "input holds a private key, not a certificate"},
		{name: "der key", in: mustPEM(t, keyPEM, "RSA PRIVATE KEY").Bytes, wantErr: "input is a private key, not a certificate"},
		{name: "unsupported only", in: pemBlock("X509 CRL", []byte{1}), wantErr: `PEM block type "X509 CRL" is not supported`},
		{name: "malformed certificate", in: pemBlock("CERTIFICATE", []byte{0x30, 0}), wantErr: `PEM "CERTIFICATE" block is malformed`},
		{name: "garbage", in: []byte("certificate.pem.crt"), wantErr: "not PEM, and not a DER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := CertToDER(tt.in)
			if !checkErr(t, "CertToDER", err, tt.wantErr) {
				return
			}
			if !bytes.Equal(got, ca.Cert.Raw) {
				t.Error("CertToDER did not return the certificate's DER")
			}
		})
	}
}

func TestKeyToDER(t *testing.T) {
	t.Parallel()
	rk, ek := rsaKey(t), ecKey(t)
	pkcs1 := x509.MarshalPKCS1PrivateKey(rk)
	sec1, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	rsa8, _ := x509.MarshalPKCS8PrivateKey(rk)
	ec8, _ := x509.MarshalPKCS8PrivateKey(ek)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ed8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	ca := testCA(t)
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr string
	}{
		{name: "rsa pkcs1 pem", in: pemBlock("RSA PRIVATE KEY", pkcs1), want: pkcs1},
		{name: "rsa pkcs8 pem", in: pemBlock("PRIVATE KEY", rsa8), want: pkcs1},
		{name: "rsa pkcs8 der", in: rsa8, want: pkcs1},
		{name: "rsa pkcs1 der", in: pkcs1, want: pkcs1},
		{name: "ec sec1 pem", in: pemBlock("EC PRIVATE KEY", sec1), want: sec1},
		{name: "ec pkcs8 pem", in: pemBlock("PRIVATE KEY", ec8), want: sec1},
		{name: "ec parameters then key", in: append(pemBlock("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), pemBlock("EC PRIVATE KEY", sec1)...), want: sec1},
		{name: "certificate then key", in: append(bytes.Clone(ca.CertPEM), pemBlock("RSA PRIVATE KEY", pkcs1)...), want: pkcs1},
		{name: "ed25519", in: pemBlock("PRIVATE KEY", ed8), wantErr: "only RSA and EC keys are supported"},
		{name: "certificate", in: ca.CertPEM, wantErr: "input holds a certificate, not a private key"},
		{name: "public key der", in: mustPEM(t, mustPublicPEM(t, rk.Public()), "PUBLIC KEY").Bytes, wantErr: "input is a public key, not a private key"},
		{name: "encrypted", in: pemBlock("ENCRYPTED PRIVATE KEY", []byte{0x30, 0}), wantErr: "private key is encrypted"},
		{name: "rsa block holding ec key", in: pemBlock("RSA PRIVATE KEY", sec1), wantErr: `PEM "RSA PRIVATE KEY" block is malformed`},
		{name: "empty", in: []byte{}, wantErr: "input is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := KeyToDER(tt.in)
			if !checkErr(t, "KeyToDER", err, tt.wantErr) {
				return
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("KeyToDER = %x, want %x", got, tt.want)
			}
		})
	}
}

func mustPublicPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PUBLIC KEY", der)
}

func TestParseCertificatePEM(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	keyPEM := pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey(t)))
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{name: "pem", in: ca.CertPEM},
		{name: "crlf and trailing chain", in: append(bytes.ReplaceAll(ca.CertPEM, []byte("\n"), []byte("\r\n")), ca.CertPEM...)},
		{name: "empty", in: nil, wantErr: "input is empty"},
		{name: "der", in: ca.Cert.Raw, wantErr: "not PEM: input is a certificate in DER form"},
		{name: "text", in: []byte("arn:aws:iot:us-east-1:123456789012:cert/abc"), wantErr: "not PEM: no -----BEGIN block holding a certificate"},
		{name: "private key", in: keyPEM, wantErr: "PEM block is a private key, not a certificate"},
		{name: "key before certificate", in: append(bytes.Clone(keyPEM), ca.CertPEM...), wantErr: "PEM block is a private key, not a certificate"},
		{name: "public key", in: mustPublicPEM(t, rsaKey(t).Public()), wantErr: "PEM block is a public key, not a certificate"},
		{name: "csr", in: makeCSR(t, ecKey(t), "CERTIFICATE REQUEST", nil), wantErr: "PEM block is a certificate signing request, not a certificate"},
		{name: "malformed", in: pemBlock("CERTIFICATE", []byte("junk")), wantErr: `PEM "CERTIFICATE" block is malformed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCertificatePEM(tt.in)
			if !checkErr(t, "ParseCertificatePEM", err, tt.wantErr) {
				return
			}
			if !bytes.Equal(got.Raw, ca.Cert.Raw) {
				t.Error("parsed a different certificate")
			}
		})
	}
}

// TestMarkedErrors checks the sentinel plumbing: the message is the
// specific one, and both the sentinel and the cause match errors.Is.
func TestMarkedErrors(t *testing.T) {
	t.Parallel()
	cause := errors.New("cause")
	err := mark(ErrNotIssuedBy, "certificate is not signed by this CA: %w", cause)
	if got, want := err.Error(), "certificate is not signed by this CA: cause"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrNotIssuedBy) || !errors.Is(err, cause) || errors.Is(err, ErrRegistrationCode) {
		t.Errorf("errors.Is on %v: want ErrNotIssuedBy and cause only", err)
	}
}
