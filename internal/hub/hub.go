// Package hub is thingcore's composition root: the only package that knows
// every part. It opens the data directory (CA, server certificates, admin
// credentials, key-value store), builds the registry, the broker with its
// device authentication, policies, durable sessions and lifecycle events, the
// MQTT and HTTPS listeners and the AWS-compatible API, runs them, and drains
// them on shutdown.
//
// Only cmd/thingcore imports it.
package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokerstore"
	"github.com/thingcore/thingcore/internal/console"
	"github.com/thingcore/thingcore/internal/dataplane"
	"github.com/thingcore/thingcore/internal/gcpace"
	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/lifecycle"
	"github.com/thingcore/thingcore/internal/memtrim"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/policystore"
	"github.com/thingcore/thingcore/internal/registry"
	"github.com/thingcore/thingcore/internal/shadow"
	"github.com/thingcore/thingcore/internal/shadowsvc"
	"github.com/thingcore/thingcore/internal/transport"
)

// Endpoints are the addresses the hub listens on, once it is ready.
type Endpoints struct {
	Host         string // the first server name: what DescribeEndpoint returns
	MQTT         string
	HTTPS        string
	ALPN         string
	WebSocket    string
	PlainMQTT    string
	ConsoleHTTP  string // the console over plain HTTP on loopback, when configured
	RootCA       string // path of the root CA certificate
	AdminCreated bool   // the admin credentials were created by this start
	AdminKeyID   string
}

// Hub is a running thingcore.
type Hub struct {
	cfg Config
	log *slog.Logger

	ready    chan struct{}
	done     chan struct{}
	cancel   context.CancelFunc
	cancelMu sync.Mutex

	mu        sync.Mutex
	endpoints Endpoints
	creds     AdminCredentials
	broker    *broker.Broker
	shadows   *shadowsvc.Service
}

// New validates cfg and returns a hub. It starts nothing.
func New(cfg Config, log *slog.Logger) (*Hub, error) {
	def := DefaultConfig()
	if cfg.Region == "" {
		cfg.Region = def.Region
	}
	if cfg.AccountID == "" {
		cfg.AccountID = def.AccountID
	}
	if cfg.KVSyncInterval == 0 {
		cfg.KVSyncInterval = def.KVSyncInterval
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = def.ShutdownTimeout
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg, log: log, ready: make(chan struct{}), done: make(chan struct{})}, nil
}

// Ready is closed once every listener is bound.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Endpoints returns the bound addresses; valid after Ready.
func (h *Hub) Endpoints() Endpoints {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.endpoints
}

// AdminCredentials returns the admin access key pair; valid after Ready.
func (h *Hub) AdminCredentials() AdminCredentials {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.creds
}

// Broker returns the running broker (for tests and in-process services);
// valid after Ready.
func (h *Hub) Broker() *broker.Broker {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.broker
}

// Shadows returns the Device Shadow service (for in-process callers such as
// the console and tests); valid after Ready.
func (h *Hub) Shadows() *shadowsvc.Service {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.shadows
}

// Shutdown stops Serve and waits for it until ctx ends.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.cancelMu.Lock()
	if h.cancel != nil {
		h.cancel()
	}
	h.cancelMu.Unlock()
	select {
	case <-h.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// component is something Serve runs and drains.
type component struct {
	name     string
	serve    func(context.Context) error
	shutdown func(context.Context) error
	// ready, when set, is closed once the component serves; the hub is
	// Ready only after every component is.
	ready <-chan struct{}
	// core components (the broker and the services on it) shut down one at
	// a time, in reverse order, while the others drain concurrently.
	core bool
}

// Serve runs the hub until ctx ends or Shutdown is called, then drains.
func (h *Hub) Serve(ctx context.Context) (err error) {
	defer close(h.done)
	ctx, cancel := context.WithCancel(ctx)
	h.cancelMu.Lock()
	h.cancel = cancel
	h.cancelMu.Unlock()
	defer cancel()

	cfg := h.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("hub: data dir: %w", err)
	}
	creds, created, err := LoadOrCreateAdminCredentials(cfg.DataDir)
	if err != nil {
		return err
	}
	names := cfg.ServerNames
	if len(names) == 0 {
		names = defaultServerNames()
	}
	pk, err := loadOrCreatePKI(cfg.DataDir, names, time.Now())
	if err != nil {
		return err
	}
	kv, err := kvstore.Open(ctx, kvstore.Config{Dir: filepath.Join(cfg.DataDir, "kv"), SyncInterval: cfg.KVSyncInterval}, h.log)
	if err != nil {
		return err
	}
	defer kv.Close()
	pol, err := policystore.Open(ctx, kv, policystore.Config{Region: cfg.Region, AccountID: cfg.AccountID}, nil)
	if err != nil {
		return err
	}
	reg, err := registry.Open(ctx, kv, registry.Config{Region: cfg.Region, AccountID: cfg.AccountID}, registry.Deps{
		CertificateHasPolicies: func(ctx context.Context, certARN string) (bool, error) {
			ps, err := pol.AttachedPolicies(ctx, certARN)
			return len(ps) > 0, err
		},
	})
	if err != nil {
		return err
	}
	bs, err := brokerstore.Open(ctx, kv)
	if err != nil {
		return err
	}

	// Device identity and policies: a device may do what the policies
	// attached to its certificate allow, as on AWS. InsecureAllowAll bypasses
	// policies, for experiments only.
	roots := x509.NewCertPool()
	roots.AddCert(pk.ca.Cert)
	auth := &deviceAuth{
		reg: reg, hubCA: pk.ca.Cert, roots: roots, policies: pol,
		allowAll: cfg.InsecureAllowAll, region: cfg.Region, account: cfg.AccountID, now: time.Now,
	}
	if cfg.InsecureAllowAll {
		h.log.Warn("hub: --insecure-allow-all: every authenticated device may do anything; policies are not enforced")
	}
	events := lifecycle.New(nil, 500, h.log)
	b, err := broker.New(cfg.Broker, broker.Deps{
		Logger: h.log, Authenticator: auth, Authorizer: auth,
		Sessions: bs, Retained: bs, Events: events,
	})
	if err != nil {
		return err
	}
	events.SetPublisher(b)
	shadowBucket, err := kv.Bucket(ctx, "shadows")
	if err != nil {
		return err
	}
	shadows, err := shadowsvc.New(shadowsvc.Config{
		Limits: shadow.Limits{MaxBytes: cfg.ShadowMaxBytes, MaxDepth: cfg.ShadowMaxDepth},
	}, shadowsvc.Deps{Broker: b, Bucket: shadowBucket, Logger: h.log})
	if err != nil {
		return err
	}
	// Attaching, detaching or changing a policy applies to live connections
	// at their next action, without reconnecting.
	pol.OnChange(func(targets []string) { rebindPolicies(ctx, b, pol, targets, h.log) })

	con, err := h.newConsole(b, pk, creds, reg, pol, events, shadows)
	if err != nil {
		return err
	}
	dp, err := h.newDataPlane(b, auth, creds, shadows)
	if err != nil {
		return err
	}
	comps, eps, err := h.listeners(b, pk, creds, reg, pol, con, dp)
	if err != nil {
		return err
	}
	eps.Host = names[0]
	eps.RootCA = RootCAPath(cfg.DataDir)
	eps.AdminCreated = created
	eps.AdminKeyID = creds.AccessKeyID
	h.mu.Lock()
	h.endpoints, h.creds, h.broker, h.shadows = eps, creds, b, shadows
	h.mu.Unlock()

	// Drained in reverse: listeners, then the shadow service, then the broker.
	comps = append([]component{
		{name: "broker", serve: b.Serve, shutdown: b.Shutdown, core: true},
		{name: "shadow", serve: shadows.Serve, shutdown: shadows.Shutdown, ready: shadows.Ready(), core: true},
	}, comps...)
	comps = append(comps, component{name: "memtrim", serve: func(ctx context.Context) error {
		memtrim.Run(ctx, 0, h.log)
		return nil
	}})
	if cfg.GCPaceHeapMiB >= 0 { // -1: off
		limit := uint64(gcpace.DefaultLimit)
		if cfg.GCPaceHeapMiB > 0 {
			limit = uint64(cfg.GCPaceHeapMiB) << 20
		}
		comps = append(comps, component{name: "gcpace", serve: func(ctx context.Context) error {
			gcpace.Run(ctx, gcpace.Limit(limit), 0, h.log)
			return nil
		}})
	}
	return h.run(ctx, comps)
}

// run serves every component, closes Ready, waits for ctx, then drains
// the listeners before the broker.
func (h *Hub) run(ctx context.Context, comps []component) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(comps))
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	for _, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.serve(runCtx); err != nil && !isClosed(err) {
				errs <- fmt.Errorf("hub: %s: %w", c.name, err)
			}
		}()
	}
	var first error
waitReady:
	for _, c := range comps {
		if c.ready == nil {
			continue
		}
		select {
		case <-c.ready:
		case first = <-errs:
			break waitReady
		case <-ctx.Done():
			break waitReady
		}
	}
	close(h.ready)
	h.log.Info("hub: ready", "mqtt", h.endpoints.MQTT, "https", h.endpoints.HTTPS)

	if first == nil {
		select {
		case <-ctx.Done():
		case first = <-errs:
		}
	}
	shCtx, cancel := context.WithTimeout(context.Background(), h.cfg.ShutdownTimeout)
	defer cancel()
	// Listeners and servers stop accepting at once and then wait for their
	// connections; meanwhile the core components shut down in reverse order:
	// the shadow service finishes its queued requests, then the broker says
	// goodbye to the connected clients (MQTT 5: DISCONNECT 0x8B), which ends
	// the connections the listeners wait for, and persists sessions.
	var drains sync.WaitGroup
	var errMu sync.Mutex
	record := func(name string, err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if err != nil && first == nil && !isClosed(err) {
			first = fmt.Errorf("hub: shutdown %s: %w", name, err)
		}
	}
	for i := len(comps) - 1; i >= 0; i-- {
		if c := comps[i]; c.shutdown != nil && !c.core {
			drains.Add(1)
			go func() {
				defer drains.Done()
				record(c.name, c.shutdown(shCtx))
			}()
		}
	}
	for i := len(comps) - 1; i >= 0; i-- {
		if c := comps[i]; c.shutdown != nil && c.core {
			record(c.name, c.shutdown(shCtx))
		}
	}
	drains.Wait()
	stop()
	wg.Wait()
	h.log.Info("hub: stopped")
	return first
}

func isClosed(err error) bool {
	return errors.Is(err, broker.ErrServerClosed) || errors.Is(err, transport.ErrServerClosed) ||
		errors.Is(err, http.ErrServerClosed) || errors.Is(err, context.Canceled)
}

// DefaultPolicyName is the policy that `thingcore thing create` creates once
// and attaches to new certificates: policy.ThingPolicy for the hub's region
// and account.
const DefaultPolicyName = "thingcore-default-thing-policy"

// listeners builds the MQTT listeners and the HTTPS API server.
func (h *Hub) listeners(b *broker.Broker, pk *pkiState, creds AdminCredentials, reg *registry.Registry, pol *policystore.Store, con *console.Console, dp *dataplane.DataPlane) ([]component, Endpoints, error) {
	cfg := h.cfg
	var comps []component
	var eps Endpoints
	handler := func(c net.Conn, m transport.Meta) {
		b.ServeConn(c, broker.ConnInfo{Listener: m.Listener, Transport: string(m.Kind), RemoteAddr: m.RemoteAddr, TLS: m.TLS})
	}
	deviceTLS, err := transport.ServerTLSConfig(transport.TLSOptions{
		Certificates: pk.serverCerts,
		// The certificate is requested, not required, at the TLS layer: the
		// device authenticator verifies it (or its absence) at CONNECT, where
		// the client id is known, and logs and reports why it refuses.
		ClientAuth:          transport.Request,
		AllowRSAKeyExchange: cfg.AllowRSAKeyExchange,
	})
	if err != nil {
		return nil, eps, err
	}
	add := func(name string, kind transport.Kind, addr string, tc *tls.Config) (*transport.Listener, string, error) {
		l, err := transport.New(transport.Config{Name: name, Kind: kind, Addr: addr}, tc, handler, h.log)
		if err != nil {
			return nil, "", err
		}
		if err := l.Listen(); err != nil {
			return nil, "", fmt.Errorf("hub: listen %s on %s: %w", name, addr, err)
		}
		comps = append(comps, component{name: name, serve: l.Serve, shutdown: l.Shutdown})
		return l, l.Addr().String(), nil
	}
	if cfg.MQTTAddr != "" {
		if _, eps.MQTT, err = add("mqtts", transport.KindTLS, cfg.MQTTAddr, deviceTLS); err != nil {
			return nil, eps, err
		}
	}
	if cfg.PlainMQTTAddr != "" {
		if _, eps.PlainMQTT, err = add("mqtt", transport.KindTCP, cfg.PlainMQTTAddr, nil); err != nil {
			return nil, eps, err
		}
	}
	if cfg.WebSocketAddr != "" {
		if _, eps.WebSocket, err = add("wss", transport.KindWSS, cfg.WebSocketAddr, deviceTLS.Clone()); err != nil {
			return nil, eps, err
		}
	}

	api, err := h.newAPI(b, pk, creds, reg, pol)
	if err != nil {
		return nil, eps, err
	}
	web := withConsole(withDataPlane(api, dp), con)
	httpTLS, err := transport.ServerTLSConfig(transport.TLSOptions{
		Certificates: pk.serverCerts,
		ClientAuth:   transport.Request, // devices may use their certificate for the data plane
		NextProtos:   []string{"h2", "http/1.1"},
	})
	if err != nil {
		return nil, eps, err
	}
	if cfg.ALPNAddr != "" {
		l, addr, err := add("alpn", transport.KindTLSMux, cfg.ALPNAddr, deviceTLS.Clone())
		if err != nil {
			return nil, eps, err
		}
		eps.ALPN = addr
		srv := &http.Server{Handler: web, ConnContext: transport.HTTPConnContext, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slogErrorLog(h.log)}
		comps = append(comps, component{name: "alpn-http", serve: func(context.Context) error { return srv.Serve(l.HTTPListener()) }, shutdown: srv.Shutdown})
	}
	if cfg.HTTPSAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPSAddr)
		if err != nil {
			return nil, eps, fmt.Errorf("hub: listen https on %s: %w", cfg.HTTPSAddr, err)
		}
		eps.HTTPS = ln.Addr().String()
		srv := &http.Server{Handler: web, TLSConfig: httpTLS, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slogErrorLog(h.log)}
		comps = append(comps, component{name: "https", serve: func(context.Context) error { return srv.ServeTLS(ln, "", "") }, shutdown: srv.Shutdown})
	}
	if cfg.ConsoleHTTPAddr != "" && con != nil {
		ln, err := net.Listen("tcp", cfg.ConsoleHTTPAddr)
		if err != nil {
			return nil, eps, fmt.Errorf("hub: listen console on %s: %w", cfg.ConsoleHTTPAddr, err)
		}
		eps.ConsoleHTTP = ln.Addr().String()
		srv := &http.Server{Handler: consoleOnly(con), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slogErrorLog(h.log)}
		comps = append(comps, component{name: "console-http", serve: func(context.Context) error { return srv.Serve(ln) }, shutdown: srv.Shutdown})
	}
	comps = append(comps, consoleComponent(con), dataPlaneComponent(dp))
	return comps, eps, nil
}

// newAPI builds the AWS-compatible HTTP API with SigV4 admin authentication.
func (h *Hub) newAPI(b *broker.Broker, pk *pkiState, creds AdminCredentials, reg *registry.Registry, pol *policystore.Store) (*httpapi.API, error) {
	sig, err := httpapi.NewSigV4(httpapi.SigV4Config{}, httpapi.StaticCredentials{creds.AccessKeyID: creds.SecretAccessKey}, time.Now)
	if err != nil {
		return nil, err
	}
	api, err := httpapi.New(httpapi.Config{}, sig, h.log)
	if err != nil {
		return nil, err
	}
	registerControlPlane(api, h, b, pk, reg, pol)
	return api, nil
}

// certificateStatusChanged disconnects the live connections of a certificate
// that is no longer ACTIVE, within the API call that changed it.
func (h *Hub) certificateStatusChanged(b *broker.Broker, certID string, status registry.CertStatus) {
	if status == registry.StatusActive {
		return
	}
	n := b.DisconnectWhere(func(_ string, p broker.Principal) bool { return p.ID() == certID },
		packet.NotAuthorized, broker.ReasonAuthError, fmt.Sprintf("certificate %s is now %s", certID, status))
	if n > 0 {
		h.log.Warn("hub: disconnected devices of a certificate that is no longer active", "cert_id", certID, "status", string(status), "connections", n)
	}
}
