// Package console is thingcore's web console: sign-in with the admin
// credentials, things and the create wizard (with the device files as a
// ZIP), a live MQTT test client, the shadow editor, policies with a test of
// authorization, and diagnostics (refused and dropped devices with the
// reason, live counts). It serves plain HTML, CSS and ES modules embedded in
// the binary, a JSON API for them under Prefix+"api/", and live data as
// Server-Sent Events fed by the broker's in-process Subscribe.
//
// The console acts as the admin, never as a device: every request needs a
// session cookie (HttpOnly, SameSite=Strict, Secure on HTTPS) from a sign-in,
// and every state-changing request also needs the session's CSRF token.
// Responses carry a Content-Security-Policy of 'self' only: the console
// loads nothing from other origins and works without internet access.
//
// Only the composition root (internal/hub) imports it. It imports the
// broker's types, registry, policystore, policy, pki, shadow (errors),
// devicebundle, examples (board projects), mqtt and the standard library;
// the shadow service comes in behind the Shadows interface.
package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/policystore"
	"github.com/thingcore/thingcore/internal/registry"
)

// Prefix is the path the console is served under. AWS's APIs have no route
// here, so it can share the HTTPS API port.
const Prefix = "/console/"

// Config is the console's configuration. Zero fields take their defaults.
type Config struct {
	// SessionTTL is how long a sign-in lasts, from the sign-in. Default 8h.
	SessionTTL time.Duration `json:"session_ttl"`
	// MaxSessions bounds the signed-in sessions kept; the oldest is dropped
	// past it. Default 64.
	MaxSessions int `json:"max_sessions"`
	// StreamBuffer is how many messages a live stream buffers for a slow
	// browser before it drops (and counts) the excess. Default 256.
	StreamBuffer int `json:"stream_buffer"`
	// Region and AccountID appear in the ARNs the authorization test
	// evaluates. Defaults "us-east-1" and "000000000000".
	Region    string `json:"region"`
	AccountID string `json:"account_id"`
	// DefaultPolicyName is the policy the create wizard attaches to new
	// certificates, created on first use from policy.ThingPolicy (as
	// `thingcore thing create` does). Default
	// "thingcore-default-thing-policy".
	DefaultPolicyName string `json:"default_policy_name"`
}

func (c Config) withDefaults() Config {
	if c.SessionTTL == 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 64
	}
	if c.StreamBuffer == 0 {
		c.StreamBuffer = 256
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.DefaultPolicyName == "" {
		c.DefaultPolicyName = "thingcore-default-thing-policy"
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.SessionTTL < 0 {
		errs = append(errs, errors.New("session_ttl must not be negative"))
	}
	if c.MaxSessions < 0 {
		errs = append(errs, errors.New("max_sessions must not be negative"))
	}
	if c.StreamBuffer < 0 {
		errs = append(errs, errors.New("stream_buffer must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("console: config: %w", errors.Join(errs...))
	}
	return nil
}

// Broker is the broker's in-process API the console uses: the MQTT test
// client publishes and subscribes through it, and the things page and
// diagnostics read who is connected and the counters.
type Broker interface {
	Publish(m *broker.Message) error
	// CheckClientPublish applies the checks a client's PUBLISH gets (topic
	// name and limits, reserved topics, payload size); the console's
	// publishes get them too.
	CheckClientPublish(topicName string, payloadLen int, retain bool) error
	Subscribe(filter string, handler func(*broker.Message)) (unsubscribe func(), err error)
	EachPrincipal(fn func(clientID string, p broker.Principal))
	Snapshot() broker.StatsSnapshot
}

// Refusals gives the recent refused connections and abnormal disconnects,
// newest first (lifecycle.Sink).
type Refusals interface {
	Recent() []broker.Event
}

// Shadows is the Device Shadow service. shadowName "" is the classic
// shadow; errors are *shadow.Error (Code 404 for a missing shadow). If it
// also has ListNamed(ctx, thing) ([]string, error), the console lists a
// thing's named shadows.
type Shadows interface {
	Get(ctx context.Context, thing, shadowName string) ([]byte, error)
	Update(ctx context.Context, thing, shadowName string, body []byte) ([]byte, error)
	Delete(ctx context.Context, thing, shadowName string) ([]byte, error)
}

// namedShadowLister is the optional part of Shadows.
type namedShadowLister interface {
	ListNamed(ctx context.Context, thing string) ([]string, error)
}

// Admin is the access key pair that signs in (the hub's admin credentials).
type Admin struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Deps are what the console works with.
type Deps struct {
	// Registry stores things and certificates. Required.
	Registry *registry.Registry
	// Policies stores policies and their attachments. Required.
	Policies *policystore.Store
	// CA issues the certificates the create wizard makes. Required.
	CA *pki.CA
	// RootCAPEM is the hub's root CA, put in every device bundle. Required.
	RootCAPEM []byte
	// Broker is the running broker. Required.
	Broker Broker
	// Admin signs in. Required.
	Admin Admin
	// Endpoint returns the host and MQTT/TLS port devices connect to, for
	// device.json. Required.
	Endpoint func() (host string, port int)
	// Password, when set, checks a console password as an alternative to
	// the access key pair. Optional.
	Password func(password string) bool
	// Refusals gives the recent refusals for diagnostics. Optional.
	Refusals Refusals
	// Shadows is the shadow service. Optional: without it the shadow pages
	// say that shadows are not available.
	Shadows Shadows
	// CertificateStatusChanged is called after the console changes a
	// certificate's status, so the hub can disconnect its devices. Optional.
	CertificateStatusChanged func(certID string, status registry.CertStatus)
	// Logger receives sign-ins and errors. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Console serves the web console. It is an http.Handler for Prefix.
type Console struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	now  func() time.Time
	mux  *http.ServeMux

	sessions  sessions
	downloads downloads
	presence  presence

	shadowUpdates atomic.Uint64

	passwordChecks chan struct{} // a slot per password check running (maxPasswordChecks)
	signInRefusals rateLimitedLog

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: live streams end
}

// New validates cfg and deps and returns a console. It starts nothing.
func New(cfg Config, deps Deps) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	switch {
	case deps.Registry == nil, deps.Policies == nil, deps.CA == nil, deps.Broker == nil, deps.Endpoint == nil:
		return nil, errors.New("console: Deps.Registry, Policies, CA, Broker and Endpoint are required")
	case len(deps.RootCAPEM) == 0:
		return nil, errors.New("console: Deps.RootCAPEM is required")
	case deps.Admin.AccessKeyID == "" || deps.Admin.SecretAccessKey == "":
		return nil, errors.New("console: Deps.Admin is required")
	}
	c := &Console{cfg: cfg, deps: deps, log: deps.Logger, now: deps.Now, closed: make(chan struct{}),
		passwordChecks: make(chan struct{}, maxPasswordChecks)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.sessions.max = cfg.MaxSessions
	c.downloads.ttl = downloadTTL
	c.presence.init()
	c.routes()
	return c, nil
}

// ServeHTTP implements http.Handler for paths under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header(), r.TLS != nil)
	c.mux.ServeHTTP(w, r)
}

// Serve follows the broker's lifecycle events (for the things page's
// connection state) and counts accepted shadow updates until ctx ends.
func (c *Console) Serve(ctx context.Context) error {
	var unsubs []func()
	defer func() {
		for _, u := range unsubs {
			u()
		}
	}()
	for _, s := range []struct {
		filter string
		fn     func(*broker.Message)
	}{
		{"$aws/events/presence/+/+", c.presence.observe},
		{"$aws/things/+/shadow/update/accepted", c.countShadowUpdate},
		{"$aws/things/+/shadow/name/+/update/accepted", c.countShadowUpdate},
	} {
		u, err := c.deps.Broker.Subscribe(s.filter, s.fn)
		if err != nil {
			return fmt.Errorf("console: subscribe %s: %w", s.filter, err)
		}
		unsubs = append(unsubs, u)
	}
	select {
	case <-ctx.Done():
	case <-c.closed:
	}
	return nil
}

func (c *Console) countShadowUpdate(*broker.Message) { c.shadowUpdates.Add(1) }

// Close ends the live streams, so that an http.Server's Shutdown is not
// held up by browsers that keep them open, and wipes the device bundles
// still waiting for their download (they hold private keys). Calling it
// again does nothing.
func (c *Console) Close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.downloads.close()
	})
}

// Shutdown is Close, in the shape of the hub's components.
func (c *Console) Shutdown(context.Context) error {
	c.Close()
	return nil
}
