package httpapi

import (
	"context"
	"net/http"
)

// Identity is an authenticated caller.
type Identity struct {
	// Scheme names how the caller proved who it is: SchemeSigV4, or another
	// Authenticator's own name (e.g. "x509" for device certificates).
	Scheme string
	// Principal is who the caller is under Scheme: the access key ID for
	// SigV4, a certificate ID for a device.
	Principal string
	// Region and Service are the SigV4 credential scope's; empty otherwise.
	Region  string
	Service string
}

// SchemeSigV4 is Identity.Scheme for callers verified by SigV4.
const SchemeSigV4 = "sigv4"

// Authenticator establishes who sent a request. The API calls it for every
// request after the body is buffered (r.GetBody returns a fresh copy of it).
// A refusal should be an *Error (e.g. InvalidSignatureException) whose Err
// says why for the log; any other error is sent as
// UnrecognizedClientException. Implementations must not log secrets.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (Identity, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, error) { return f(r) }

// IdentityFrom returns the caller of the request ctx belongs to.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey).(Identity)
	return id, ok
}

// AccessKeyID returns the SigV4-verified access key ID of the request ctx
// belongs to, or "" when the caller was not authenticated by SigV4.
func AccessKeyID(ctx context.Context) string {
	id, ok := IdentityFrom(ctx)
	if !ok || id.Scheme != SchemeSigV4 {
		return ""
	}
	return id.Principal
}
