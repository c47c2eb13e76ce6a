package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// CertificateID returns AWS IoT's ID for a certificate: the lowercase hex
// SHA-256 of its DER encoding, 64 characters. CA certificates use the same
// form. It is the last part of the certificate's ARN.
func CertificateID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// NewRegistrationCode returns a fresh random registration code, 64 lowercase
// hex characters like GetRegistrationCode's.
func NewRegistrationCode() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails; it crashes the program instead
	return hex.EncodeToString(b[:])
}

// VerifyCARegistration checks the proof of possession RegisterCACertificate
// asks for in its default mode, and returns the parsed CA certificate.
//
// The CA certificate must be a CA (basic constraints CA:TRUE, key usage
// allowing certificate signing if present) with an RSA (2048 bits or more)
// or ECDSA key, valid at now; if it is self-issued its signature must verify
// with its own key. The verification certificate must be signed by the CA's
// key, valid at now, and have the registration code as its subject common
// name; a wrong common name is marked with ErrRegistrationCode.
func VerifyCARegistration(caCertPEM, verificationCertPEM []byte, registrationCode string, now time.Time) (*x509.Certificate, error) {
	if registrationCode == "" {
		return nil, errors.New("registration code is empty")
	}
	ca, err := ParseCertificatePEM(caCertPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if err := checkCA(ca); err != nil {
		return nil, err
	}
	if bytes.Equal(ca.RawIssuer, ca.RawSubject) {
		if err := ca.CheckSignatureFrom(ca); err != nil {
			return nil, fmt.Errorf("CA certificate is self-issued but its signature does not verify with its own key: %w", err)
		}
	}
	if err := checkValidity("CA certificate", ca, now); err != nil {
		return nil, err
	}
	vc, err := ParseCertificatePEM(verificationCertPEM)
	if err != nil {
		return nil, fmt.Errorf("verification certificate: %w", err)
	}
	if err := vc.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("verification certificate is not signed by the CA's key: %w", err)
	}
	if cn := vc.Subject.CommonName; cn != registrationCode {
		return nil, mark(ErrRegistrationCode, "verification certificate's common name is %q, want the registration code", cn)
	}
	if err := checkValidity("verification certificate", vc, now); err != nil {
		return nil, err
	}
	return ca, nil
}

// VerifyIssuedBy checks a device certificate for RegisterCertificate against
// a registered CA and returns it parsed: it must be signed by ca's key and
// name ca's subject as its issuer (else the error is marked ErrNotIssuedBy),
// and pass CheckDeviceCertificate at now, as must ca's own validity.
func VerifyIssuedBy(certPEM []byte, ca *x509.Certificate, now time.Time) (*x509.Certificate, error) {
	if ca == nil {
		return nil, errors.New("no CA certificate to verify against")
	}
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, err
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, mark(ErrNotIssuedBy, "certificate is not signed by this CA: %w", err)
	}
	if !bytes.Equal(cert.RawIssuer, ca.RawSubject) {
		return nil, mark(ErrNotIssuedBy, "certificate's issuer %q is not the CA's subject %q", cert.Issuer, ca.Subject)
	}
	if err := CheckDeviceCertificate(cert, now); err != nil {
		return nil, err
	}
	if err := checkValidity("CA certificate", ca, now); err != nil {
		return nil, err
	}
	return cert, nil
}

// CheckDeviceCertificate checks what RegisterCertificate and
// RegisterCertificateWithoutCA require of any device certificate: not a CA,
// an RSA (2048 to 8192 bits) or ECDSA (P-256, P-384, P-521) key, and valid at
// now.
func CheckDeviceCertificate(cert *x509.Certificate, now time.Time) error {
	if cert.IsCA {
		return errors.New("certificate is a CA certificate, not a device certificate; register it with RegisterCACertificate")
	}
	if err := checkPublicKey(cert.PublicKey); err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	return checkValidity("certificate", cert, now)
}
