package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credentials looks up the secret access key of an access key ID. It is how
// SigV4 learns the admin credentials; the secret is only used to recompute
// signatures and is never logged.
type Credentials interface {
	Secret(accessKeyID string) (secret string, ok bool)
}

// StaticCredentials maps access key IDs to secret access keys.
type StaticCredentials map[string]string

// Secret returns the secret of accessKeyID.
func (c StaticCredentials) Secret(accessKeyID string) (string, bool) {
	s, ok := c[accessKeyID]
	return s, ok
}

// defaultSigV4Services are the credential-scope services accepted when
// SigV4Config.Services is empty.
func defaultSigV4Services() []string {
	return []string{"iot", "execute-api", "iotdata", "iotdevicegateway"}
}

// DefaultMaxSkew is AWS's allowed difference between a request's
// X-Amz-Date and the server clock.
const DefaultMaxSkew = 15 * time.Minute

// maxPresignExpires is the longest X-Amz-Expires accepted: 7 days, AWS's
// limit for presigned URLs.
const maxPresignExpires = 7 * 24 * time.Hour

// SigV4Config configures SigV4 verification.
type SigV4Config struct {
	// Services lists the credential-scope service names accepted, in any
	// region. Empty means iot (control plane), iotdata (botocore's signing
	// name for iot-data), iotdevicegateway (AWS's documented name for the
	// data plane and MQTT over WebSocket) and execute-api.
	Services []string `json:"services,omitempty"`
	// MaxSkew is how far X-Amz-Date may be from the server clock, either
	// way. 0 means DefaultMaxSkew (15 minutes); negative is invalid.
	MaxSkew time.Duration `json:"max_skew,omitempty"`
}

// Validate reports whether c is usable.
func (c SigV4Config) Validate() error {
	if c.MaxSkew < 0 {
		return fmt.Errorf("httpapi: sigv4 max_skew %v: must not be negative", c.MaxSkew)
	}
	for _, s := range c.Services {
		if s == "" || !isToken(s) {
			return fmt.Errorf("httpapi: sigv4 service %q: not a valid service name", s)
		}
	}
	return nil
}

// SigV4 is an Authenticator that verifies AWS Signature Version 4, in an
// Authorization header or in a presigned query (X-Amz-Signature, as used by
// MQTT over WebSocket). It recomputes the signature with AWS's own signer
// (aws-sdk-go-v2's v4.Signer) over the request's signed headers, path,
// query and body hash, and compares in constant time.
//
// Limits of recomputing with AWS's signer: a signed user-agent, expect,
// transfer-encoding or x-amzn-trace-id header, or a signed
// "content-length: 0", cannot be reproduced and fails; the Date header is
// not accepted in place of X-Amz-Date; X-Amz-Security-Token is accepted but
// not checked (admin credentials are long-term keys).
type SigV4 struct {
	creds    Credentials
	services []string
	maxSkew  time.Duration
	now      func() time.Time
	signer   *v4.Signer
}

var _ Authenticator = (*SigV4)(nil)

// NewSigV4 returns a SigV4 authenticator that checks signatures against
// creds. now is the clock, nil for time.Now.
func NewSigV4(cfg SigV4Config, creds Credentials, now func() time.Time) (*SigV4, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if creds == nil {
		return nil, errors.New("httpapi: sigv4 needs Credentials")
	}
	s := &SigV4{
		creds:    creds,
		services: slices.Clone(cfg.Services),
		maxSkew:  cfg.MaxSkew,
		now:      now,
		signer: v4.NewSigner(func(o *v4.SignerOptions) {
			o.DisableSessionToken = true
			o.DisableHeaderHoisting = true
		}),
	}
	if len(s.services) == 0 {
		s.services = defaultSigV4Services()
	}
	if s.maxSkew == 0 {
		s.maxSkew = DefaultMaxSkew
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Messages AWS sends for authentication failures.
const (
	msgMissingToken       = "Missing Authentication Token"
	msgUnrecognizedClient = "The security token included in the request is invalid."
	msgSignatureMismatch  = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

const amzDateLayout = "20060102T150405Z"

// refuse returns an *Error with code and message sent to the client and
// reason, for the log only.
func refuse(code Code, msg, reason string) *Error {
	return &Error{Code: code, Message: msg, Err: errors.New(reason)}
}

// Authenticate verifies r's SigV4 signature and returns the caller's access
// key ID as Identity.Principal.
func (s *SigV4) Authenticate(r *http.Request) (Identity, error) {
	q := r.URL.Query()
	authz := r.Header.Get("Authorization")
	presigned := authz == "" && (q.Has("X-Amz-Signature") || q.Has("X-Amz-Algorithm"))
	if authz == "" && !presigned {
		return Identity{}, refuse(MissingAuthenticationToken, msgMissingToken, "no Authorization header or presigned query")
	}

	var a sigV4Auth
	var err error
	var date string
	if presigned {
		if alg := q.Get("X-Amz-Algorithm"); alg != sigV4Algorithm {
			return Identity{}, incomplete(fmt.Sprintf("Unsupported AWS 'algorithm': %q", truncate(alg, 32)))
		}
		a, err = sigV4FromParts(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"))
		date = q.Get("X-Amz-Date")
	} else {
		a, err = parseAuthorization(authz)
		date = r.Header.Get("X-Amz-Date")
	}
	if err != nil {
		return Identity{}, err
	}

	if !slices.Contains(s.services, a.Service) {
		return Identity{}, refuse(InvalidSignature,
			fmt.Sprintf("Credential should be scoped to correct service: %q.", a.Service),
			fmt.Sprintf("credential scope service %q is not accepted (access_key_id %s)", a.Service, a.AccessKeyID))
	}
	t, err := s.checkDate(a, date, presigned, q)
	if err != nil {
		return Identity{}, err
	}
	secret, ok := s.creds.Secret(a.AccessKeyID)
	if !ok {
		return Identity{}, refuse(UnrecognizedClient, msgUnrecognizedClient,
			fmt.Sprintf("unknown access key id %s", a.AccessKeyID))
	}
	payloadHash, err := bodySHA256(r)
	if err != nil {
		return Identity{}, err
	}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return Identity{}, refuse(InvalidSignature,
			"The provided 'x-amz-content-sha256' header does not match what was computed.",
			fmt.Sprintf("x-amz-content-sha256 does not match the body (access_key_id %s)", a.AccessKeyID))
	}

	creds := aws.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: secret}
	if presigned {
		err = s.verifyPresigned(r, a, t, creds, payloadHash)
	} else {
		err = s.verifyHeader(r, a, t, creds, payloadHash)
	}
	if err != nil {
		return Identity{}, err
	}
	return Identity{Scheme: SchemeSigV4, Principal: a.AccessKeyID, Region: a.Region, Service: a.Service}, nil
}

// checkDate parses the request date and checks it against the credential
// scope, the clock skew allowance and, when presigned, X-Amz-Expires.
func (s *SigV4) checkDate(a sigV4Auth, date string, presigned bool, q url.Values) (time.Time, error) {
	if date == "" {
		return time.Time{}, incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	t, err := time.Parse(amzDateLayout, date)
	if err != nil {
		return time.Time{}, incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	if a.Date != date[:8] {
		return time.Time{}, refuse(InvalidSignature,
			fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.Date, date[:8], date),
			fmt.Sprintf("credential scope date %s does not match x-amz-date %s (access_key_id %s)", a.Date, date, a.AccessKeyID))
	}
	now := s.now().UTC()
	latest := t.Add(s.maxSkew)
	if presigned && q.Has("X-Amz-Expires") {
		secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
		if err != nil || secs < 1 || time.Duration(secs)*time.Second > maxPresignExpires {
			return time.Time{}, incomplete("X-Amz-Expires must be a number of seconds from 1 to 604800.")
		}
		latest = t.Add(time.Duration(secs) * time.Second)
	}
	skew := fmt.Sprintf("%d min.", int(s.maxSkew/time.Minute))
	switch {
	case presigned && q.Has("X-Amz-Expires") && now.After(latest):
		return time.Time{}, refuse(InvalidSignature,
			fmt.Sprintf("Signature expired: the presigned request expired at %s (now %s)", latest.Format(amzDateLayout), now.Format(amzDateLayout)),
			fmt.Sprintf("presigned request expired at %s; server time %s (access_key_id %s)", latest.Format(amzDateLayout), now.Format(amzDateLayout), a.AccessKeyID))
	case now.After(latest):
		return time.Time{}, refuse(InvalidSignature,
			fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s)", date,
				now.Add(-s.maxSkew).Format(amzDateLayout), now.Format(amzDateLayout), skew),
			fmt.Sprintf("request date %s has expired; server time %s (access_key_id %s)", date, now.Format(amzDateLayout), a.AccessKeyID))
	case t.After(now.Add(s.maxSkew)):
		return time.Time{}, refuse(InvalidSignature,
			fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s)", date,
				now.Add(s.maxSkew).Format(amzDateLayout), now.Format(amzDateLayout), skew),
			fmt.Sprintf("request date %s is in the future beyond the skew allowance; server time %s (access_key_id %s)",
				date, now.Format(amzDateLayout), a.AccessKeyID))
	}
	return t, nil
}

// bodySHA256 hashes the request body and leaves it readable again.
func bodySHA256(r *http.Request) (string, error) {
	h := sha256.New()
	switch {
	case r.GetBody != nil:
		body, err := r.GetBody()
		if err != nil {
			return "", Errorf(InvalidRequest, "The request body could not be read").WithCause(err)
		}
		_, err = io.Copy(h, body)
		_ = body.Close()
		if err != nil {
			return "", Errorf(InvalidRequest, "The request body could not be read").WithCause(err)
		}
	case r.Body != nil && r.Body != http.NoBody:
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return "", Errorf(InvalidRequest, "The request body could not be read").WithCause(err)
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// canonicalRequest builds the request the signer recomputes over: r's
// method, host, raw path and query, and only the headers the client signed.
func canonicalRequest(r *http.Request, signed []string, rawQuery string) *http.Request {
	host := r.Host
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// The path exactly as it came on the wire: the signer escapes it once
	// more, as every AWS client does for non-S3 services.
	rawPath := r.URL.EscapedPath()
	if strings.HasPrefix(r.RequestURI, "/") {
		rawPath, _, _ = strings.Cut(r.RequestURI, "?")
	}
	c := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Scheme: scheme, Host: host, Opaque: "//" + host + rawPath, RawQuery: rawQuery},
		Host:   host,
		Header: make(http.Header, len(signed)),
	}
	for _, name := range signed {
		switch name {
		case "host":
			continue
		case "content-length":
			c.ContentLength = r.ContentLength
			continue
		}
		vals := r.Header.Values(name)
		if len(vals) == 0 {
			vals = []string{""}
		}
		c.Header[textproto.CanonicalMIMEHeaderKey(name)] = slices.Clone(vals)
	}
	return c.WithContext(r.Context())
}

// verifyHeader recomputes an Authorization-header signature.
func (s *SigV4) verifyHeader(r *http.Request, a sigV4Auth, t time.Time, creds aws.Credentials, payloadHash string) error {
	c := canonicalRequest(r, a.SignedHeaders, r.URL.RawQuery)
	if err := s.signer.SignHTTP(context.Background(), creds, c, payloadHash, a.Service, a.Region, t); err != nil {
		return fmt.Errorf("httpapi: sigv4 sign: %w", err)
	}
	want, err := parseAuthorization(c.Header.Get("Authorization"))
	if err != nil {
		return fmt.Errorf("httpapi: sigv4 parse own signature: %w", err)
	}
	return compareSignatures(a, want)
}

// verifyPresigned recomputes a presigned-query signature. AWS IoT's
// WebSocket URLs append X-Amz-Security-Token after signing, while other
// presigned URLs sign it; both are tried.
func (s *SigV4) verifyPresigned(r *http.Request, a sigV4Auth, t time.Time, creds aws.Credentials, payloadHash string) error {
	q := r.URL.Query()
	q.Del("X-Amz-Signature")
	candidates := []url.Values{q}
	if q.Has("X-Amz-Security-Token") {
		unsignedToken := url.Values{}
		for k, v := range q {
			if k != "X-Amz-Security-Token" {
				unsignedToken[k] = v
			}
		}
		candidates = []url.Values{unsignedToken, q}
	}
	var last error
	for _, cq := range candidates {
		c := canonicalRequest(r, a.SignedHeaders, cq.Encode())
		signedURL, _, err := s.signer.PresignHTTP(context.Background(), creds, c, payloadHash, a.Service, a.Region, t)
		if err != nil {
			return fmt.Errorf("httpapi: sigv4 presign: %w", err)
		}
		u, err := url.Parse(signedURL)
		if err != nil {
			return fmt.Errorf("httpapi: sigv4 parse own presigned URL: %w", err)
		}
		sq := u.Query()
		want := sigV4Auth{Signature: sq.Get("X-Amz-Signature"), SignedHeaders: strings.Split(sq.Get("X-Amz-SignedHeaders"), ";")}
		if last = compareSignatures(a, want); last == nil {
			return nil
		}
	}
	return last
}

// compareSignatures compares the client's signature with the recomputed
// one in constant time. The signed-header lists must also be equal: they are
// part of the canonical request, and AWS's signer skips a few headers
// (user-agent, a zero content-length) that a client may have signed.
func compareSignatures(got, want sigV4Auth) error {
	g, w := strings.Join(got.SignedHeaders, ";"), strings.Join(want.SignedHeaders, ";")
	if g != w {
		return refuse(InvalidSignature, msgSignatureMismatch, fmt.Sprintf(
			"signature mismatch: signed headers %q cannot be reproduced (recomputed over %q) (access_key_id %s)", g, w, got.AccessKeyID))
	}
	if subtle.ConstantTimeCompare([]byte(got.Signature), []byte(want.Signature)) != 1 {
		return refuse(InvalidSignature, msgSignatureMismatch,
			"signature mismatch: wrong secret access key or a different canonical request (access_key_id "+got.AccessKeyID+")")
	}
	return nil
}
