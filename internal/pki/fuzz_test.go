package pki

import (
	"bytes"
	"crypto/x509"
	"testing"
)

// addFuzzKeys seeds f with keys generated now (never checked in), so the
// fuzzer starts from every private key form too.
func addFuzzKeys(f *testing.F) {
	k, err := sharedEC()
	if err != nil {
		f.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		f.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sec1)
	f.Add(pemBlock("EC PRIVATE KEY", sec1))
	f.Add(pkcs8)
	f.Add(pemBlock("PRIVATE KEY", pkcs8))
}

// FuzzDetect checks that Detect never panics and that what it accepts the
// conversions accept too: DER round-trips through ToPEM to the same kind,
// a detected certificate converts with CertToDER, and a detected PKCS#1 or
// SEC1 key with KeyToDER.
func FuzzDetect(f *testing.F) {
	addFuzzKeys(f)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, isPEM, err := Detect(data)
		if err != nil {
			return
		}
		if _, ok := pemTypes[kind]; !ok {
			t.Fatalf("Detect = unknown kind %q", kind)
		}
		if !isPEM {
			p, k2, err := ToPEM(data)
			if err != nil || k2 != kind {
				t.Fatalf("ToPEM of DER detected as %q = %q, %v", kind, k2, err)
			}
			k3, isPEM3, err := Detect(p)
			if err != nil || k3 != kind || !isPEM3 {
				t.Fatalf("Detect(ToPEM) = %q, %v, %v; want %q, true", k3, isPEM3, err, kind)
			}
		}
		switch kind {
		case KindCertificate:
			der, err := CertToDER(data)
			if err != nil {
				t.Fatalf("CertToDER of a detected certificate: %v", err)
			}
			if _, err := x509.ParseCertificate(der); err != nil {
				t.Fatalf("CertToDER output does not parse: %v", err)
			}
		case KindRSAPrivateKey, KindECPrivateKey:
			if _, err := KeyToDER(data); err != nil {
				t.Fatalf("KeyToDER of a detected %s: %v", kind, err)
			}
		}
	})
}

// FuzzParseCertificatePEM checks that ParseCertificatePEM never panics and
// agrees with CertToDER and CertificateID on what it accepts.
func FuzzParseCertificatePEM(f *testing.F) {
	addFuzzKeys(f)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cert, err := ParseCertificatePEM(data)
		if err != nil {
			if cert != nil {
				t.Fatal("non-nil certificate with an error")
			}
			return
		}
		der, err := CertToDER(data)
		if err != nil {
			t.Fatalf("CertToDER of a parsed certificate: %v", err)
		}
		if !bytes.Equal(der, cert.Raw) {
			t.Fatal("CertToDER picked a different certificate than ParseCertificatePEM")
		}
		if id := CertificateID(cert.Raw); len(id) != 64 {
			t.Fatalf("CertificateID = %q, want 64 characters", id)
		}
	})
}
