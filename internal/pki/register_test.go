package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"regexp"
	"testing"
	"time"
)

func TestCertificateID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{name: "empty", in: nil, want: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{name: "abc", in: []byte("abc"), want: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CertificateID(tt.in); got != tt.want {
				t.Errorf("CertificateID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewRegistrationCode(t *testing.T) {
	t.Parallel()
	a, b := NewRegistrationCode(), NewRegistrationCode()
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	if !hex64.MatchString(a) || !hex64.MatchString(b) {
		t.Errorf("NewRegistrationCode() = %q, %q, want 64 lowercase hex characters", a, b)
	}
	if a == b {
		t.Errorf("two registration codes are both %q", a)
	}
}

func TestVerifyCARegistration(t *testing.T) {
	t.Parallel()
	code := NewRegistrationCode()
	caKey := ecKey(t)
	other := newECKey(t, caKey.Curve)
	rk := rsaKey(t)
	ca, caPEM := makeCert(t, certSpec{cn: "Customer CA", isCA: true, keyUsage: x509.KeyUsageCertSign}, caKey.Public(), nil, caKey)
	rsaCA, rsaCAPEM := makeCert(t, certSpec{cn: "Customer RSA CA", isCA: true}, rk.Public(), nil, rk)
	_, weakCAPEM := makeCert(t, certSpec{cn: "weak CA", isCA: true}, rsa1024Key(t).Public(), nil, rsa1024Key(t))
	_, leafPEM := makeCert(t, certSpec{cn: "leaf"}, caKey.Public(), nil, caKey)
	_, noSignPEM := makeCert(t, certSpec{cn: "no sign", isCA: true, keyUsage: x509.KeyUsageDigitalSignature}, caKey.Public(), nil, caKey)
	_, badSelfSigPEM := makeCert(t, certSpec{cn: "Customer CA", isCA: true}, caKey.Public(), nil, other)
	expiredCA, expiredCAPEM := makeCert(t, certSpec{cn: "old CA", isCA: true, notBefore: now.AddDate(-2, 0, 0), notAfter: now.AddDate(-1, 0, 0)}, caKey.Public(), nil, caKey)

	verification := func(parent *x509.Certificate, signer crypto.Signer, cn string, s certSpec) []byte {
		s.cn = cn
		unchecked := *parent
		unchecked.PublicKey = nil // allow a signer that is not the parent's key
		_, p := makeCert(t, s, other.Public(), &unchecked, signer)
		return p
	}
	good := verification(ca, caKey, code, certSpec{})
	expired := certSpec{notBefore: now.AddDate(-1, 0, 0), notAfter: now.Add(-time.Minute)}

	tests := []struct {
		name     string
		ca, vc   []byte
		code     string
		wantCN   string
		wantErr  string
		wantCode bool // the error is marked ErrRegistrationCode
	}{
		{name: "good ec", ca: caPEM, vc: good, code: code, wantCN: "Customer CA"},
		{name: "good rsa", ca: rsaCAPEM, vc: verification(rsaCA, rk, code, certSpec{}), code: code, wantCN: "Customer RSA CA"},
		{name: "wrong common name", ca: caPEM, vc: verification(ca, caKey, "not-the-code", certSpec{}), code: code,
			wantErr: `verification certificate's common name is "not-the-code", want the registration code`, wantCode: true},
		{name: "stale code", ca: caPEM, vc: good, code: NewRegistrationCode(), wantErr: "want the registration code", wantCode: true},
		{name: "signed by another key", ca: caPEM, vc: verification(ca, other, code, certSpec{}), code: code,
			wantErr: "verification certificate is not signed by the CA's key"},
		{name: "non-CA certificate", ca: leafPEM, vc: good, code: code, wantErr: "CA certificate is not a CA: its basic constraints lack CA:TRUE"},
		{name: "CA without cert sign usage", ca: noSignPEM, vc: good, code: code, wantErr: "key usage does not allow signing certificates"},
		{name: "self-issued CA with a bad signature", ca: badSelfSigPEM, vc: good, code: code, wantErr: "self-issued but its signature does not verify"},
		{name: "weak CA key", ca: weakCAPEM, vc: good, code: code, wantErr: "key is RSA 1024 bits; at least 2048 required"},
		{name: "expired CA", ca: expiredCAPEM, vc: verification(expiredCA, caKey, code, certSpec{}), code: code, wantErr: "CA certificate expired at"},
		{name: "expired verification certificate", ca: caPEM, vc: verification(ca, caKey, code, expired), code: code, wantErr: "verification certificate expired at"},
		{name: "empty code", ca: caPEM, vc: good, code: "", wantErr: "registration code is empty"},
		{name: "CA is garbage", ca: []byte("nope"), vc: good, code: code, wantErr: "CA certificate: not PEM"},
		{name: "verification cert missing", ca: caPEM, vc: nil, code: code, wantErr: "verification certificate: input is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := VerifyCARegistration(tt.ca, tt.vc, tt.code, now)
			if errors.Is(err, ErrRegistrationCode) != tt.wantCode {
				t.Errorf("errors.Is(%v, ErrRegistrationCode) = %v, want %v", err, !tt.wantCode, tt.wantCode)
			}
			if !checkErr(t, "VerifyCARegistration", err, tt.wantErr) {
				return
			}
			if got.Subject.CommonName != tt.wantCN {
				t.Errorf("CA common name = %q, want %q", got.Subject.CommonName, tt.wantCN)
			}
		})
	}
}

func TestVerifyIssuedBy(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	otherCA, _, err := NewRootCA("other CA", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	// Same key as ca, different name: signatures verify, the issuer does not match.
	renamed, _ := makeCert(t, certSpec{cn: "renamed CA", isCA: true}, ca.Key.Public(), nil, ca.Key)
	dev, err := ca.IssueDevice(KeyEC, now)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := otherCA.IssueDevice(KeyEC, now)
	if err != nil {
		t.Fatal(err)
	}
	_, expiredPEM := makeCert(t, certSpec{cn: "expired", notBefore: now.AddDate(-1, 0, 0), notAfter: now.Add(-time.Hour)}, ecKey(t).Public(), ca.Cert, ca.Key)
	_, subCAPEM := makeCert(t, certSpec{cn: "sub CA", isCA: true}, ecKey(t).Public(), ca.Cert, ca.Key)
	_, weakPEM := makeCert(t, certSpec{cn: "weak"}, rsa1024Key(t).Public(), ca.Cert, ca.Key)

	tests := []struct {
		name       string
		cert       []byte
		ca         *x509.Certificate
		wantErr    string
		wantIssuer bool // the error is marked ErrNotIssuedBy
	}{
		{name: "issued by ca", cert: dev.CertificatePEM, ca: ca.Cert},
		{name: "issued by another ca", cert: foreign.CertificatePEM, ca: ca.Cert, wantErr: "certificate is not signed by this CA", wantIssuer: true},
		{name: "same key other name", cert: dev.CertificatePEM, ca: renamed, wantErr: `is not the CA's subject "CN=renamed CA"`, wantIssuer: true},
		{name: "expired", cert: expiredPEM, ca: ca.Cert, wantErr: "certificate expired at"},
		{name: "CA certificate", cert: subCAPEM, ca: ca.Cert, wantErr: "certificate is a CA certificate"},
		{name: "weak key", cert: weakPEM, ca: ca.Cert, wantErr: "key is RSA 1024 bits; at least 2048 required"},
		{name: "CA expired", cert: dev.CertificatePEM, ca: expiredCopy(ca.Cert), wantErr: "CA certificate expired at"},
		{name: "not PEM", cert: dev.Cert.Raw, ca: ca.Cert, wantErr: "not PEM: input is a certificate in DER form"},
		{name: "nil CA", cert: dev.CertificatePEM, wantErr: "no CA certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := VerifyIssuedBy(tt.cert, tt.ca, now)
			if errors.Is(err, ErrNotIssuedBy) != tt.wantIssuer {
				t.Errorf("errors.Is(%v, ErrNotIssuedBy) = %v, want %v", err, !tt.wantIssuer, tt.wantIssuer)
			}
			if !checkErr(t, "VerifyIssuedBy", err, tt.wantErr) {
				return
			}
			if got.SerialNumber.Cmp(dev.Cert.SerialNumber) != 0 {
				t.Errorf("returned certificate serial %v, want %v", got.SerialNumber, dev.Cert.SerialNumber)
			}
		})
	}
}

// expiredCopy returns a copy of c whose NotAfter has passed at now. Only the
// parsed field changes; VerifyIssuedBy reads the field, not the DER.
func expiredCopy(c *x509.Certificate) *x509.Certificate {
	cp := *c
	cp.NotAfter = now.Add(-time.Second)
	return &cp
}
