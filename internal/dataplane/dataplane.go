package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/httpapi"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes     = 128 * 1024 // AWS's 128 KB message payload
	DefaultMaxMessageExpiry = 7 * 24 * time.Hour
	DefaultWatchBuffer      = 256
)

// Config configures the data plane. The zero value of every field but
// Region and AccountID means its default.
type Config struct {
	// Region and AccountID make the ARNs device policies are evaluated
	// against (arn:aws:iot:REGION:ACCOUNT:thing/NAME). Required.
	Region    string `json:"region"`
	AccountID string `json:"account_id"`
	// MaxBodyBytes is the largest request body (a Publish payload, a shadow
	// update), in bytes; a larger one is refused with 413
	// RequestEntityTooLargeException. Default 131072 (AWS's 128 KB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// MaxMessageExpiry caps Publish's messageExpiry. Default 7 days (AWS).
	MaxMessageExpiry time.Duration `json:"max_message_expiry,omitempty"`
	// WatchBuffer is how many messages one watch stream holds for a slow
	// reader; beyond it messages are dropped and the stream says how many.
	// Default 256.
	WatchBuffer int `json:"watch_buffer,omitempty"`
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	switch {
	case c.Region == "" || c.AccountID == "":
		return errors.New("dataplane: region and account_id are required")
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("dataplane: max_body_bytes %d: must not be negative", c.MaxBodyBytes)
	case c.MaxMessageExpiry < 0:
		return fmt.Errorf("dataplane: max_message_expiry %v: must not be negative", c.MaxMessageExpiry)
	case c.WatchBuffer < 0:
		return fmt.Errorf("dataplane: watch_buffer %d: must not be negative", c.WatchBuffer)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxMessageExpiry == 0 {
		c.MaxMessageExpiry = DefaultMaxMessageExpiry
	}
	if c.WatchBuffer == 0 {
		c.WatchBuffer = DefaultWatchBuffer
	}
	return c
}

// Shadows is the Device Shadow service (a *shadowsvc.Service). Errors meant
// for the caller are *shadow.Error; shadowName "" is the classic shadow.
type Shadows interface {
	Get(ctx context.Context, thing, shadowName string) ([]byte, error)
	Update(ctx context.Context, thing, shadowName string, body []byte) ([]byte, error)
	Delete(ctx context.Context, thing, shadowName string) ([]byte, error)
	ListNamed(ctx context.Context, thing, nextToken string, pageSize int) (names []string, next string, err error)
}

// Broker is what the data plane needs of the MQTT broker (a
// *broker.Broker): publishing for clients, its retained messages, and
// in-process subscriptions for watch streams.
type Broker interface {
	Publish(m *broker.Message) error
	CheckClientPublish(topic string, payloadLen int, retain bool) error
	Retained(topic string) (*broker.Message, bool)
	RetainedMessages() []*broker.Message
	Subscribe(filter string, handler func(*broker.Message)) (unsubscribe func(), err error)
}

// Devices authenticates devices by the certificate they present on the
// HTTPS port.
type Devices interface {
	// AuthenticateDevice checks the connection's client certificate as MQTT
	// does (registered, ACTIVE, within its validity, chaining to its CA)
	// and binds its policies. The error says why a device is refused (it is
	// logged, never sent).
	AuthenticateDevice(ctx context.Context, cs *tls.ConnectionState, remoteAddr string) (Device, error)
}

// Device is an authenticated device.
type Device interface {
	// CertificateID is the device certificate's id.
	CertificateID() string
	// Authorize decides action (e.g. "iot:GetThingShadow") on resource (a
	// full ARN, or "*"). A refusal's error says which policy statement, or
	// the default deny, decided (a *policy.DeniedError).
	Authorize(action, resource string) error
}

// Deps are the data plane's collaborators.
type Deps struct {
	Shadows Shadows // required
	Broker  Broker  // required
	// Admin authenticates SigV4-signed requests with the admin credentials
	// (an *httpapi.SigV4). Required.
	Admin httpapi.Authenticator
	// Devices authenticates device certificates. Optional: nil accepts the
	// admin only.
	Devices Devices
	// PeerTLS returns a request's TLS state, also on listeners that hand
	// over TLS connections after their own handshake (the ALPN port, where
	// http.Request.TLS is nil). Default: r.TLS.
	PeerTLS func(r *http.Request) *tls.ConnectionState
	Logger  *slog.Logger
	// Now is the clock of response timestamps; time.Now when nil.
	Now func() time.Time
}

// SchemeDevice is httpapi.Identity.Scheme for a device authenticated by its
// certificate; Identity.Principal is the certificate id.
const SchemeDevice = "x509"

// signingNames are the SigV4 service names the data plane accepts:
// botocore signs iot-data as iotdata, AWS's shadow REST documentation says
// iotdevicegateway (reference §1.13).
var signingNames = []string{"iotdata", "iotdevicegateway"}

// DataPlane is the iot-data HTTP API. It is an http.Handler; it owns no
// goroutines of its own besides the handlers of open watch streams, which
// Shutdown ends.
type DataPlane struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	api  *httpapi.API

	mu      sync.Mutex
	closed  bool
	closing context.Context // ends at Shutdown
	close   context.CancelFunc
	streams sync.WaitGroup
}

// New returns the data plane. It starts nothing.
func New(cfg Config, deps Deps) (*DataPlane, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Shadows == nil || deps.Broker == nil || deps.Admin == nil {
		return nil, errors.New("dataplane: Shadows, Broker and Admin are required")
	}
	cfg = cfg.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	d := &DataPlane{cfg: cfg, deps: deps, log: deps.Logger}
	d.closing, d.close = context.WithCancel(context.Background())
	api, err := httpapi.New(httpapi.Config{MaxBodyBytes: cfg.MaxBodyBytes, ErrorFormat: httpapi.ErrorsIoTData},
		httpapi.AuthenticatorFunc(d.authenticate), deps.Logger)
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	d.api = api
	d.registerShadows()
	d.registerMessages()
	api.Handle(http.MethodGet, WatchPath, "Watch", d.watch)
	return d, nil
}

// Owns reports whether the escaped request path belongs to the data plane
// (the composition root serves everything else with the control plane,
// which shares the HTTPS port): /things/{thing}/shadow,
// /api/things/shadow/..., /topics/..., /retainedMessage[/...] and the
// thingcore extension under /thingcore/v1/watch.
func Owns(escapedPath string) bool {
	p := strings.TrimPrefix(escapedPath, "/")
	switch {
	case strings.HasPrefix(p, "things/"):
		segs := strings.Split(p, "/")
		return len(segs) == 3 && segs[2] == "shadow"
	case strings.HasPrefix(p, "api/things/shadow/"), strings.HasPrefix(p, "topics/"):
		return true
	case p == "retainedMessage" || strings.HasPrefix(p, "retainedMessage/"):
		return true
	case p == strings.TrimPrefix(WatchPath, "/"):
		return true
	}
	return false
}

// ServeHTTP serves one data-plane request.
func (d *DataPlane) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &caller{}
	d.api.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
}

// Serve blocks until ctx ends or Shutdown is called. The data plane has no
// background work: requests run on the HTTP server's goroutines.
func (d *DataPlane) Serve(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-d.closing.Done():
	}
	return nil
}

// Shutdown ends the open watch streams and waits for their handlers to
// return, or for ctx to end. New streams are refused from then on. Calling
// it twice is safe.
func (d *DataPlane) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	d.close()
	d.mu.Unlock()
	waited := make(chan struct{})
	go func() {
		d.streams.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// caller carries the authenticated device from authenticate to the
// operation's handler (httpapi's Identity holds only its name).
type caller struct{ dev Device }

type callerKey struct{}

func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// authenticate accepts a SigV4 signature by the admin, signed for one of
// signingNames, or else a device's client certificate.
func (d *DataPlane) authenticate(r *http.Request) (httpapi.Identity, error) {
	cs := r.TLS
	if d.deps.PeerTLS != nil {
		cs = d.deps.PeerTLS(r)
	}
	if d.deps.Devices == nil || signed(r) || cs == nil || len(cs.PeerCertificates) == 0 {
		id, err := d.deps.Admin.Authenticate(r)
		if err != nil {
			return id, err
		}
		if id.Scheme == httpapi.SchemeSigV4 && !isSigningName(id.Service) {
			return httpapi.Identity{}, &httpapi.Error{Code: httpapi.InvalidSignature,
				Message: fmt.Sprintf("Credential should be scoped to correct service: '%s'.", signingNames[0]),
				Err:     fmt.Errorf("credential scope service %q is not iotdata or iotdevicegateway", id.Service)}
		}
		return id, nil
	}
	dev, err := d.deps.Devices.AuthenticateDevice(r.Context(), cs, r.RemoteAddr)
	if err != nil {
		return httpapi.Identity{}, &httpapi.Error{Code: httpapi.Unauthorized, Message: msgUnauthorized,
			Err: fmt.Errorf("device certificate refused: %w", err)}
	}
	if c := callerFrom(r.Context()); c != nil {
		c.dev = dev
	}
	return httpapi.Identity{Scheme: SchemeDevice, Principal: dev.CertificateID()}, nil
}

// signed reports whether r carries a SigV4 signature (header or presigned
// query), which wins over a client certificate.
func signed(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	q := r.URL.Query()
	return q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Algorithm")
}

func isSigningName(s string) bool {
	for _, n := range signingNames {
		if s == n {
			return true
		}
	}
	return false
}

// isAdmin reports whether the request was signed with the admin
// credentials.
func isAdmin(r *http.Request) bool {
	id, ok := httpapi.IdentityFrom(r.Context())
	return ok && id.Scheme == httpapi.SchemeSigV4
}
