package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Kind is what a PEM block or DER blob holds.
type Kind string

// Kinds Detect recognises. Each has one PEM block type, the one ToPEM writes.
const (
	KindCertificate     Kind = "certificate"       // X.509, "CERTIFICATE"
	KindRSAPrivateKey   Kind = "rsa-private-key"   // PKCS#1, "RSA PRIVATE KEY"
	KindECPrivateKey    Kind = "ec-private-key"    // SEC1, "EC PRIVATE KEY"
	KindPKCS8PrivateKey Kind = "pkcs8-private-key" // PKCS#8 unencrypted, "PRIVATE KEY"
	KindPublicKey       Kind = "public-key"        // PKIX SubjectPublicKeyInfo, "PUBLIC KEY"
	KindRSAPublicKey    Kind = "rsa-public-key"    // PKCS#1, "RSA PUBLIC KEY"
	KindCSR             Kind = "csr"               // PKCS#10, "CERTIFICATE REQUEST"
)

// PEM block types.
const (
	pemCertificate  = "CERTIFICATE"
	pemCSR          = "CERTIFICATE REQUEST"
	pemCSRLegacy    = "NEW CERTIFICATE REQUEST" // written by old OpenSSL and Windows tools
	pemRSAPrivate   = "RSA PRIVATE KEY"
	pemECPrivate    = "EC PRIVATE KEY"
	pemPrivate      = "PRIVATE KEY"
	pemEncrypted    = "ENCRYPTED PRIVATE KEY"
	pemPublic       = "PUBLIC KEY"
	pemRSAPublic    = "RSA PUBLIC KEY"
	pemECParameters = "EC PARAMETERS" // precedes the key in `openssl ecparam -genkey` output
)

// pemTypes maps each kind to the PEM block type it is written with.
var pemTypes = map[Kind]string{
	KindCertificate:     pemCertificate,
	KindRSAPrivateKey:   pemRSAPrivate,
	KindECPrivateKey:    pemECPrivate,
	KindPKCS8PrivateKey: pemPrivate,
	KindPublicKey:       pemPublic,
	KindRSAPublicKey:    pemRSAPublic,
	KindCSR:             pemCSR,
}

// derOrder is the order DER input is tried in. The encodings do not overlap:
// every parser rejects the others' structures and trailing data.
var derOrder = []Kind{
	KindCertificate, KindCSR, KindPKCS8PrivateKey, KindRSAPrivateKey,
	KindECPrivateKey, KindPublicKey, KindRSAPublicKey,
}

var (
	errEmpty     = errors.New("input is empty")
	errEncrypted = errors.New("private key is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem)")
)

// isPrivateKey reports whether k is one of the private key kinds.
func (k Kind) isPrivateKey() bool {
	return k == KindRSAPrivateKey || k == KindECPrivateKey || k == KindPKCS8PrivateKey
}

// article names k for error messages: "a private key", "a certificate".
func (k Kind) article() string {
	switch k {
	case KindCertificate:
		return "a certificate"
	case KindRSAPrivateKey, KindECPrivateKey, KindPKCS8PrivateKey:
		return "a private key"
	case KindPublicKey, KindRSAPublicKey:
		return "a public key"
	case KindCSR:
		return "a certificate signing request"
	}
	return "unknown data"
}

// blockKind maps a PEM block to the kind its type names.
func blockKind(b *pem.Block) (Kind, error) {
	if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
		return "", errEncrypted
	}
	switch b.Type {
	case pemCertificate:
		return KindCertificate, nil
	case pemCSR, pemCSRLegacy:
		return KindCSR, nil
	case pemRSAPrivate:
		return KindRSAPrivateKey, nil
	case pemECPrivate:
		return KindECPrivateKey, nil
	case pemPrivate:
		return KindPKCS8PrivateKey, nil
	case pemPublic:
		return KindPublicKey, nil
	case pemRSAPublic:
		return KindRSAPublicKey, nil
	case pemEncrypted:
		return "", errEncrypted
	}
	return "", fmt.Errorf("PEM block type %q is not supported", b.Type)
}

// parseDER parses der as kind and returns the parsed value.
func parseDER(kind Kind, der []byte) (any, error) {
	switch kind {
	case KindCertificate:
		return x509.ParseCertificate(der)
	case KindCSR:
		return x509.ParseCertificateRequest(der)
	case KindPKCS8PrivateKey:
		return x509.ParsePKCS8PrivateKey(der)
	case KindRSAPrivateKey:
		return x509.ParsePKCS1PrivateKey(der)
	case KindECPrivateKey:
		return x509.ParseECPrivateKey(der)
	case KindPublicKey:
		return x509.ParsePKIXPublicKey(der)
	case KindRSAPublicKey:
		return x509.ParsePKCS1PublicKey(der)
	}
	return nil, fmt.Errorf("unknown kind %q", string(kind))
}

// looksDER reports whether data starts like a DER SEQUENCE. A PEM file may
// too (a text line starting with "0"), so callers fall back to PEM when the
// DER parse fails.
func looksDER(data []byte) bool { return len(data) > 0 && data[0] == 0x30 }

// detectDER finds the kind of a DER blob.
func detectDER(der []byte) (Kind, any, error) {
	for _, k := range derOrder {
		if v, err := parseDER(k, der); err == nil {
			return k, v, nil
		}
	}
	return "", nil, errors.New("input is not a DER certificate, key or CSR")
}

// notRecognized explains input that is neither valid DER nor PEM.
func notRecognized(data []byte) error {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return errors.New("malformed PEM: no complete -----BEGIN ... -----END ... block")
	}
	return errors.New("not PEM, and not a DER certificate, key or CSR")
}

// firstBlock returns the first PEM block of data that is not EC parameters,
// or nil if there is none.
func firstBlock(data []byte) (*pem.Block, error) {
	params := false
	for {
		b, rest := pem.Decode(data)
		if b == nil {
			if params {
				return nil, errors.New("PEM holds only EC parameters, no key")
			}
			return nil, nil
		}
		if b.Type != pemECParameters {
			return b, nil
		}
		params = true
		data = rest
	}
}

// Detect reports what data holds and whether it is PEM (otherwise DER). For
// PEM, the first block decides (a leading "EC PARAMETERS" block is skipped),
// and its contents must parse as its type says.
func Detect(data []byte) (Kind, bool, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return "", false, errEmpty
	}
	if looksDER(data) {
		if k, _, err := detectDER(data); err == nil {
			return k, false, nil
		}
	}
	b, err := firstBlock(data)
	if err != nil {
		return "", true, err
	}
	if b == nil {
		return "", false, notRecognized(data)
	}
	k, err := blockKind(b)
	if err != nil {
		return "", true, err
	}
	if _, err := parseDER(k, b.Bytes); err != nil {
		return k, true, fmt.Errorf("PEM %q block is not a valid %s: %w", b.Type, k, err)
	}
	return k, true, nil
}

// parseOnePEM parses the first PEM block of data (after any EC parameters)
// and requires it to be of a kind that want accepts; what names the wanted
// thing in errors ("a certificate").
func parseOnePEM(data []byte, want func(Kind) bool, what string) (Kind, any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return "", nil, errEmpty
	}
	if looksDER(data) {
		if k, _, err := detectDER(data); err == nil {
			return "", nil, fmt.Errorf("not PEM: input is %s in DER form", k.article())
		}
	}
	b, err := firstBlock(data)
	if err != nil {
		return "", nil, err
	}
	if b == nil {
		return "", nil, fmt.Errorf("not PEM: no -----BEGIN block holding %s", what)
	}
	k, err := blockKind(b)
	if err != nil {
		return "", nil, err
	}
	if !want(k) {
		return "", nil, fmt.Errorf("PEM block is %s, not %s", k.article(), what)
	}
	v, err := parseDER(k, b.Bytes)
	if err != nil {
		return "", nil, fmt.Errorf("PEM %q block is malformed: %w", b.Type, err)
	}
	return k, v, nil
}

// ParseCertificatePEM parses a PEM certificate. The first PEM block must be
// the certificate; any blocks after it are ignored.
func ParseCertificatePEM(pemBytes []byte) (*x509.Certificate, error) {
	_, v, err := parseOnePEM(pemBytes, func(k Kind) bool { return k == KindCertificate }, "a certificate")
	if err != nil {
		return nil, err
	}
	return v.(*x509.Certificate), nil
}

// ParseCSRPEM parses a PEM certificate signing request ("CERTIFICATE
// REQUEST" or "NEW CERTIFICATE REQUEST"). It does not check the signature.
func ParseCSRPEM(pemBytes []byte) (*x509.CertificateRequest, error) {
	_, v, err := parseOnePEM(pemBytes, func(k Kind) bool { return k == KindCSR }, "a certificate signing request")
	if err != nil {
		return nil, err
	}
	return v.(*x509.CertificateRequest), nil
}

// parsePrivateKeyPEM parses an unencrypted PEM private key in any of the
// three encodings.
func parsePrivateKeyPEM(pemBytes []byte) (any, error) {
	_, v, err := parseOnePEM(pemBytes, Kind.isPrivateKey, "a private key")
	return v, err
}

// marshalPrivateKeyPEM writes key in its traditional form: PKCS#1 "RSA
// PRIVATE KEY" (as AWS hands out) or SEC1 "EC PRIVATE KEY".
func marshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := traditionalDER(key)
	if err != nil {
		return nil, err
	}
	t := pemRSAPrivate
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		t = pemECPrivate
	}
	return pem.EncodeToMemory(&pem.Block{Type: t, Bytes: der}), nil
}

// traditionalDER encodes an RSA key as PKCS#1 and an EC key as SEC1, as
// `openssl rsa` and `openssl ec` write them.
func traditionalDER(key any) ([]byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return x509.MarshalPKCS1PrivateKey(k), nil
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("marshal EC key: %w", err)
		}
		return der, nil
	}
	return nil, fmt.Errorf("private key of type %T has no RSA or EC DER form; only RSA and EC keys are supported", key)
}
