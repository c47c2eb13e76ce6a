package transport

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"
)

// ClientAuth says whether and how devices must present a certificate. The
// zero value, RequireAndVerify, is the safe default.
type ClientAuth int

const (
	// RequireAndVerify requires a client certificate that chains to
	// TLSOptions.ClientCAs; anything else fails the handshake.
	RequireAndVerify ClientAuth = iota
	// RequireAny requires a client certificate but leaves chain verification
	// to the application's authenticator (Meta.TLS.PeerCertificates), which
	// can refuse with a better reason than a TLS alert. VerifiedChains is
	// empty.
	RequireAny
	// Request asks for a client certificate but accepts connections without
	// one; a given certificate is not verified (as RequireAny).
	Request
	// NoClientCert does not ask for a client certificate.
	NoClientCert
)

func (a ClientAuth) String() string {
	switch a {
	case RequireAndVerify:
		return "require-and-verify"
	case RequireAny:
		return "require-any"
	case Request:
		return "request"
	case NoClientCert:
		return "none"
	}
	return fmt.Sprintf("ClientAuth(%d)", int(a))
}

func (a ClientAuth) tlsType() (tls.ClientAuthType, error) {
	switch a {
	case RequireAndVerify:
		return tls.RequireAndVerifyClientCert, nil
	case RequireAny:
		return tls.RequireAnyClientCert, nil
	case Request:
		return tls.RequestClientCert, nil
	case NoClientCert:
		return tls.NoClientCert, nil
	}
	return 0, fmt.Errorf("transport: unknown client auth mode %d", int(a))
}

// ALPN protocol IDs.
const (
	ALPNAmazonMQTT = "x-amzn-mqtt-ca" // MQTT on 443, offered by AWS IoT Device SDKs
	ALPNMQTT       = "mqtt"           // MQTT, offered by generic clients
	ALPNAmazonHTTP = "x-amzn-http-ca" // HTTPS on 443 with a client certificate
	ALPNHTTP11     = "http/1.1"
	ALPNHTTP2      = "h2"
)

// TLSOptions configures ServerTLSConfig.
type TLSOptions struct {
	// Certificates are all served; the handshake picks per client
	// capability. ECDSA certificates are tried first, so capable clients get
	// one, then RSA ones for the others (e.g. boards doing RSA key
	// exchange). At least one is required; leaf certificates should have
	// Leaf set (parsed once instead of on every handshake).
	Certificates []tls.Certificate
	// ClientAuth defaults to RequireAndVerify.
	ClientAuth ClientAuth
	// ClientCAs verify client certificates; required for RequireAndVerify.
	// With the other modes they are only advertised in the certificate
	// request, which helps clients holding several certificates choose.
	ClientCAs *x509.CertPool
	// AllowRSAKeyExchange adds TLS_RSA_WITH_AES_{128,256}_CBC_SHA and
	// TLS_RSA_WITH_AES_128_CBC_SHA256 (no forward secrecy) for boards whose
	// TLS stack does nothing else, such as MicroPython's mbedTLS without an
	// ECDSA server certificate. It needs an RSA certificate in
	// Certificates. Default off.
	AllowRSAKeyExchange bool
	// NextProtos are the ALPN protocols accepted, in server preference
	// order. Default {"x-amzn-mqtt-ca", "mqtt"} (AWS IoT Device SDK v2
	// offers only x-amzn-mqtt-ca). Clients that offer no ALPN are accepted
	// too. Listeners of kind "wss" and "tls-mux" add the HTTP protocols
	// they need.
	NextProtos []string
}

// MicrocontrollerCipherSuites are the TLS 1.2 suites added to Go's secure
// defaults for embedded TLS stacks that do only AES-CBC (MicroPython's
// mbedTLS: ECDHE-ECDSA or plain RSA key exchange, no GCM, no ECDHE-RSA).
// TLS_ECDHE_ECDSA_WITH_AES_{128,256}_CBC_SHA are already among Go's
// defaults; TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 is not (Go marks it
// insecure: its CBC-SHA256 is not constant time). Go does not implement
// TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384, which those boards also offer;
// they fall back to one of these.
var MicrocontrollerCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
}

// RSAKeyExchangeCipherSuites are added by TLSOptions.AllowRSAKeyExchange.
var RSAKeyExchangeCipherSuites = []uint16{
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
}

// ServerTLSConfig returns a server tls.Config for devices: TLS 1.2 minimum
// (1.3 allowed), no session tickets (AWS IoT has none; they cost memory),
// SNI optional, and for TLS 1.2 Go's secure default suites plus
// MicrocontrollerCipherSuites (plus RSAKeyExchangeCipherSuites if allowed).
// Go chooses the suite order itself. The result may be passed to New.
func ServerTLSConfig(o TLSOptions) (*tls.Config, error) {
	if len(o.Certificates) == 0 {
		return nil, errors.New("transport: tls: at least one certificate is required")
	}
	auth, err := o.ClientAuth.tlsType()
	if err != nil {
		return nil, err
	}
	if o.ClientAuth == RequireAndVerify && o.ClientCAs == nil {
		return nil, errors.New("transport: tls: client auth require-and-verify needs client CAs")
	}
	certs := slices.Clone(o.Certificates)
	if o.AllowRSAKeyExchange && !slices.ContainsFunc(certs, isRSA) {
		return nil, errors.New("transport: tls: rsa key exchange needs an rsa certificate")
	}
	slices.SortStableFunc(certs, func(a, b tls.Certificate) int { return keyRank(a) - keyRank(b) })

	var suites []uint16
	for _, s := range tls.CipherSuites() {
		if slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			suites = append(suites, s.ID)
		}
	}
	extra := MicrocontrollerCipherSuites
	if o.AllowRSAKeyExchange {
		extra = append(slices.Clone(extra), RSAKeyExchangeCipherSuites...)
	}
	for _, id := range extra {
		if !slices.Contains(suites, id) {
			suites = append(suites, id)
		}
	}

	protos := slices.Clone(o.NextProtos)
	if len(protos) == 0 {
		protos = []string{ALPNAmazonMQTT, ALPNMQTT}
	}
	cfg := &tls.Config{
		Certificates:           certs,
		ClientAuth:             auth,
		MinVersion:             tls.VersionTLS12,
		CipherSuites:           suites,
		SessionTicketsDisabled: true,
		NextProtos:             protos,
		ClientCAs:              o.ClientCAs,
	}
	return cfg, nil
}

// keyRank orders certificates by key type: ECDSA and Ed25519 (0) before
// RSA and unknown ones (1). It looks at the public key, so keys held in a
// crypto.Signer (HSM, KMS) rank too.
func keyRank(c tls.Certificate) int {
	signer, ok := c.PrivateKey.(crypto.Signer)
	if !ok {
		return 1
	}
	switch signer.Public().(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return 0
	}
	return 1
}

func isRSA(c tls.Certificate) bool {
	signer, ok := c.PrivateKey.(crypto.Signer)
	if !ok {
		return false
	}
	_, ok = signer.Public().(*rsa.PublicKey)
	return ok
}

// handshakeReason explains a failed TLS handshake in words for the log.
func handshakeReason(err error, timeout time.Duration) string {
	var (
		netErr   net.Error
		recErr   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		opErr    *net.OpError
		verifErr *tls.CertificateVerificationError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("tls handshake: not finished within %v", timeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "tls handshake: client closed the connection"
	case errors.Is(err, net.ErrClosed):
		return "tls handshake: listener shutting down"
	case errors.As(err, &recErr):
		return "tls handshake: client did not speak TLS (plain MQTT or HTTP on a TLS port?)"
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return "tls handshake: client aborted with alert: " + strings.TrimPrefix(opErr.Err.Error(), "tls: ") +
			" (does the client trust our CA?)"
	case errors.As(err, &unknown):
		return "tls handshake: client certificate not issued by a trusted CA"
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return "tls handshake: client certificate expired or not yet valid"
		}
		return "tls handshake: client certificate invalid: " + invalid.Error()
	case errors.As(err, &verifErr):
		return "tls handshake: client certificate rejected: " + verifErr.Err.Error()
	case strings.Contains(msg, "no cipher suite supported"):
		return "tls handshake: client offered only unsupported cipher suites"
	case strings.Contains(msg, "unsupported versions"):
		return "tls handshake: client offered only unsupported TLS versions (TLS 1.2 or 1.3 required)"
	case strings.Contains(msg, "didn't provide a certificate"):
		return "tls handshake: no certificate"
	case strings.Contains(msg, "unsupported application protocols"):
		return "tls handshake: client offered only unsupported ALPN protocols"
	}
	return "tls handshake: " + strings.TrimPrefix(msg, "tls: ")
}
