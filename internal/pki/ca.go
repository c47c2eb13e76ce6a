package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity defaults and fixed dates.
const (
	// DefaultCAValidity is the root CA's lifetime when NewRootCA gets 0.
	DefaultCAValidity = 25 * 365 * 24 * time.Hour
	// DefaultServerValidity is a server certificate's lifetime when
	// IssueServer gets 0: 825 days, the most Apple platforms accept for any
	// TLS server certificate.
	DefaultServerValidity = 825 * 24 * time.Hour
	// clockSkew backdates NotBefore so devices with a slightly slow clock
	// accept a certificate issued a moment ago.
	clockSkew = time.Hour
)

// DeviceNotAfter is the expiry AWS IoT gives the certificates it issues,
// 2049-12-31T23:59:59Z (the last instant X.509 UTCTime can encode).
var DeviceNotAfter = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)

// deviceCommonName is the subject AWS IoT puts in the certificates it issues.
const deviceCommonName = "AWS IoT Certificate"

// CA is a certificate authority: its certificate and signing key.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte // Cert as a "CERTIFICATE" PEM block
}

// NewRootCA creates a self-signed root CA with an ECDSA P-256 key, like
// AmazonRootCA3. validity 0 means DefaultCAValidity. It returns the CA and
// its private key as an "EC PRIVATE KEY" PEM, for the caller to store.
func NewRootCA(commonName string, validity time.Duration, now time.Time) (*CA, []byte, error) {
	if commonName == "" {
		return nil, nil, errors.New("CA common name is empty")
	}
	if validity < 0 {
		return nil, nil, fmt.Errorf("CA validity %s is negative", validity)
	}
	if validity == 0 {
		validity = DefaultCAValidity
	}
	key, err := KeyEC.generate(KeyEC)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := template(key.Public(), now, now.Add(validity))
	if err != nil {
		return nil, nil, err
	}
	tmpl.Subject = pkix.Name{CommonName: commonName}
	tmpl.IsCA = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	keyPEM, err := marshalPrivateKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCertPEM(der)}, keyPEM, nil
}

// LoadCA loads a CA from its certificate PEM and its private key PEM (PKCS#1
// "RSA PRIVATE KEY", SEC1 "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY"; not
// encrypted). The key must match the certificate, and the certificate must be
// a CA allowed to sign certificates.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if err := checkCA(cert); err != nil {
		return nil, err
	}
	key, err := parsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key of type %T cannot sign", key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: signer, CertPEM: encodeCertPEM(cert.Raw)}, nil
}

// checkCA reports whether cert may act as a CA.
func checkCA(cert *x509.Certificate) error {
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return errors.New("CA certificate is not a CA: its basic constraints lack CA:TRUE")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("CA certificate's key usage does not allow signing certificates")
	}
	if err := checkPublicKey(cert.PublicKey); err != nil {
		return fmt.Errorf("CA certificate: %w", err)
	}
	return nil
}

func (ca *CA) ready() error {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return errors.New("CA has no certificate or key")
	}
	return nil
}

// IssueServer issues a server certificate for names, each a DNS name
// (wildcards allowed) or an IP address, with a fresh key of keyType (zero
// value: EC). validity 0 means DefaultServerValidity; the expiry never passes
// the CA's. The PEMs load with tls.X509KeyPair; the key PEM is PKCS#1 for RSA
// and SEC1 for EC.
func (ca *CA) IssueServer(keyType KeyType, names []string, validity time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	if err := ca.ready(); err != nil {
		return nil, nil, err
	}
	if len(names) == 0 {
		return nil, nil, errors.New("server certificate needs at least one DNS name or IP address")
	}
	if validity < 0 {
		return nil, nil, fmt.Errorf("server certificate validity %s is negative", validity)
	}
	if validity == 0 {
		validity = DefaultServerValidity
	}
	key, err := keyType.generate(KeyEC)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := ca.leafTemplate(key.Public(), now, now.Add(validity))
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		if n == "" {
			return nil, nil, errors.New("server certificate name is empty")
		}
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	tmpl.Subject = pkix.Name{CommonName: names[0]}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	der, err := ca.sign(tmpl, key.Public())
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = marshalPrivateKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCertPEM(der), keyPEM, nil
}

// DeviceCredentials is what CreateKeysAndCertificate returns: a certificate,
// its key pair and its ID. PrivateKeyPEM is given out once and never stored.
type DeviceCredentials struct {
	CertificatePEM []byte // "CERTIFICATE"
	PrivateKeyPEM  []byte // "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY" (SEC1)
	PublicKeyPEM   []byte // "PUBLIC KEY" (PKIX)
	CertificateID  string // CertificateID of the certificate; the ARN's last part
	Cert           *x509.Certificate
}

// IssueDevice makes a key pair of keyType (zero value: RSA 2048, as AWS) and
// a client certificate for it, shaped like AWS's: subject CN "AWS IoT
// Certificate", client-auth only, valid from an hour before now until
// DeviceNotAfter (or the CA's expiry, if sooner).
func (ca *CA) IssueDevice(keyType KeyType, now time.Time) (*DeviceCredentials, error) {
	if err := ca.ready(); err != nil {
		return nil, err
	}
	key, err := keyType.generate(KeyRSA)
	if err != nil {
		return nil, err
	}
	der, err := ca.signDevice(key.Public(), now)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new device certificate: %w", err)
	}
	keyPEM, err := marshalPrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return &DeviceCredentials{
		CertificatePEM: encodeCertPEM(der),
		PrivateKeyPEM:  keyPEM,
		PublicKeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		CertificateID:  CertificateID(der),
		Cert:           cert,
	}, nil
}

// SignCSR issues a device certificate for the public key of a PEM
// certificate signing request, as CreateCertificateFromCsr: the CSR's
// signature must verify and its key must be RSA of at least 2048 bits or
// ECDSA on P-256, P-384 or P-521. Only the key is taken from the CSR; the
// subject, extensions and validity are those of IssueDevice. Signing the same
// CSR twice gives two distinct certificates.
func (ca *CA) SignCSR(csrPEM []byte, now time.Time) (certPEM []byte, certID string, err error) {
	if err := ca.ready(); err != nil {
		return nil, "", err
	}
	csr, err := ParseCSRPEM(csrPEM)
	if err != nil {
		return nil, "", err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("CSR signature is invalid: %w", err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, "", fmt.Errorf("CSR: %w", err)
	}
	der, err := ca.signDevice(csr.PublicKey, now)
	if err != nil {
		return nil, "", err
	}
	return encodeCertPEM(der), CertificateID(der), nil
}

// signDevice signs a device certificate for pub.
func (ca *CA) signDevice(pub crypto.PublicKey, now time.Time) ([]byte, error) {
	tmpl, err := ca.leafTemplate(pub, now, DeviceNotAfter)
	if err != nil {
		return nil, err
	}
	tmpl.Subject = pkix.Name{CommonName: deviceCommonName}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.sign(tmpl, pub)
}

// leafTemplate is the template of an end-entity certificate for pub valid
// until notAfter, capped at the CA's expiry.
func (ca *CA) leafTemplate(pub crypto.PublicKey, now, notAfter time.Time) (*x509.Certificate, error) {
	if now.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("CA certificate expired at %s", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl, err := template(pub, now, notAfter)
	if err != nil {
		return nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	return tmpl, nil
}

// sign signs tmpl with the CA; the AuthorityKeyId comes from the CA's
// SubjectKeyId.
func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return der, nil
}

// template returns the fields every certificate shares: a random serial, a
// SubjectKeyId, basic constraints and the validity window (NotBefore
// backdated by clockSkew).
func template(pub crypto.PublicKey, now, notAfter time.Time) (*x509.Certificate, error) {
	notBefore := now.Add(-clockSkew)
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("certificate would expire at %s, before it becomes valid at %s",
			notAfter.UTC().Format(time.RFC3339), notBefore.UTC().Format(time.RFC3339))
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		SubjectKeyId:          skid,
		BasicConstraintsValid: true,
	}, nil
}

// randomSerial returns a random positive serial number of at most 128 bits.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID derives a key identifier by RFC 7093 method 1: the leftmost
// 160 bits of the SHA-256 hash of the subjectPublicKey bits.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	sum := sha256.Sum256(info.PublicKey.Bytes)
	return sum[:20], nil
}

// encodeCertPEM wraps a DER certificate as PEM.
func encodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: bytes.Clone(der)})
}
