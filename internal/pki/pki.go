// Package pki is the hub's certificate authority and its certificate
// utilities: it creates and loads the hub's root CA, issues server
// certificates and device credentials the way AWS IoT Core's
// CreateKeysAndCertificate and CreateCertificateFromCsr do, computes AWS
// certificate IDs, checks the proofs behind RegisterCACertificate and
// RegisterCertificate, and converts certificates and keys between PEM and DER
// byte-for-byte as OpenSSL does (the DER pair MicroPython boards load).
//
// It is pure: no storage, no network, no goroutines, no package state.
// Time comes in as an argument. The caller stores the CA key (in the data
// dir, mode 0600); device private keys are returned once and never kept.
// Standard library only; any package in the module may import it.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, for callers that map failures to AWS error names.
// Errors carrying them keep their own exact message; test with errors.Is.
var (
	// ErrRegistrationCode marks a verification certificate whose common name
	// is not the registration code (RegistrationCodeValidationException).
	ErrRegistrationCode = errors.New("verification certificate does not carry the registration code")
	// ErrNotIssuedBy marks a certificate that the given CA did not sign.
	ErrNotIssuedBy = errors.New("certificate is not signed by this CA")
)

// marked is an error with its own message that also matches a sentinel.
type marked struct {
	sentinel error
	err      error
}

func (e *marked) Error() string   { return e.err.Error() }
func (e *marked) Unwrap() []error { return []error{e.sentinel, e.err} }

func mark(sentinel error, format string, args ...any) error {
	return &marked{sentinel: sentinel, err: fmt.Errorf(format, args...)}
}

// KeyType selects the algorithm of a generated key pair.
//
// The zero value selects the default for the use: RSA for device
// credentials (what AWS issues, and what mbedTLS boards such as MicroPython's
// handle everywhere) and EC for server certificates (Go's default TLS cipher
// suites reach mbedTLS boards through ECDHE-ECDSA; an RSA server certificate
// needs the plain-RSA suites enabled explicitly).
type KeyType string

// Key types.
const (
	KeyRSA KeyType = "rsa" // RSA 2048 bits
	KeyEC  KeyType = "ec"  // ECDSA on NIST P-256
)

// generate makes a key pair of type k, or of type def when k is empty.
func (k KeyType) generate(def KeyType) (crypto.Signer, error) {
	if k == "" {
		k = def
	}
	switch k {
	case KeyRSA:
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generate RSA key: %w", err)
		}
		return key, nil
	case KeyEC:
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate EC key: %w", err)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("unknown key type %q; want %q or %q", string(k), KeyRSA, KeyEC)
	}
}

// RSA key sizes accepted in certificates and CSRs. The floor is AWS IoT's;
// the ceiling is crypto/tls's, which refuses larger peer keys.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// checkPublicKey reports whether pub is a key AWS IoT accepts in a device or
// CA certificate: RSA of at least 2048 bits, or ECDSA on P-256, P-384 or
// P-521.
func checkPublicKey(pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < minRSABits {
			return fmt.Errorf("key is RSA %d bits; at least %d required", bits, minRSABits)
		}
		if bits > maxRSABits {
			return fmt.Errorf("key is RSA %d bits; at most %d supported", bits, maxRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("key is ECDSA on curve %s; want P-256, P-384 or P-521", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return errors.New("key is Ed25519; only RSA and ECDSA keys are supported")
	default:
		return fmt.Errorf("key type %T is not supported; want RSA or ECDSA", pub)
	}
}

// checkValidity reports whether cert is valid at now; what names it in the
// error ("certificate", "CA certificate").
func checkValidity(what string, cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%s is not valid until %s", what, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%s expired at %s", what, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
