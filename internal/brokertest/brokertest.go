// Package brokertest starts a real broker for tests: plain TCP, mTLS and
// WebSocket listeners on 127.0.0.1:0, a throwaway CA, allow-all or scripted
// authorization, and a recorder of lifecycle events. It is a small
// composition root for tests only; production wiring lives in internal/hub.
package brokertest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/testcert"
	"github.com/thingcore/thingcore/internal/transport"
)

// Options configure Start. The zero value gives a broker with its default
// configuration (AWS limits), allow-all authorization and a TCP listener.
type Options struct {
	Config        broker.Config
	Authenticator broker.Authenticator // default: CertOrClientID
	Authorizer    broker.Authorizer    // default: AllowAll
	Sessions      broker.SessionStore
	Retained      broker.RetainedStore
	// TLS adds an mTLS listener (transport "tls") with a fresh CA.
	TLS bool
	// WebSocket adds a plain WebSocket listener on /mqtt.
	WebSocket bool
	// Logger defaults to a logger that writes to t.Log at Debug level when
	// THINGCORE_TEST_LOG=1, and discards otherwise.
	Logger *slog.Logger
}

// Server is a running broker with its listeners.
type Server struct {
	Broker  *broker.Broker
	Events  *EventLog
	Addr    string // plain TCP "127.0.0.1:port"
	TLSAddr string // mTLS, when Options.TLS
	WSAddr  string // WebSocket, when Options.WebSocket
	CA      *testcert.CA

	dir       string
	listeners []*transport.Listener
	plain     net.Listener
	wg        sync.WaitGroup
	cancel    context.CancelFunc
}

// Start starts a broker and its listeners; t.Cleanup shuts them down.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	log := o.Logger
	if log == nil {
		if os.Getenv("THINGCORE_TEST_LOG") == "1" {
			log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		} else {
			log = slog.New(slog.DiscardHandler)
		}
	}
	if o.Authenticator == nil {
		o.Authenticator = CertOrClientID{}
	}
	if o.Authorizer == nil {
		o.Authorizer = AllowAll{}
	}
	events := &EventLog{}
	b, err := broker.New(o.Config, broker.Deps{
		Logger: log, Authenticator: o.Authenticator, Authorizer: o.Authorizer,
		Sessions: o.Sessions, Retained: o.Retained, Events: events,
	})
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Broker: b, Events: events, cancel: cancel, dir: t.TempDir()}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = b.Serve(ctx)
	}()

	handler := func(c net.Conn, m transport.Meta) {
		b.ServeConn(c, broker.ConnInfo{Listener: m.Listener, Transport: string(m.Kind), RemoteAddr: m.RemoteAddr, TLS: m.TLS})
	}
	s.Addr = s.listen(t, transport.Config{Name: "tcp", Kind: transport.KindTCP, Addr: "127.0.0.1:0"}, nil, handler, log)
	if o.TLS || o.WebSocket {
		s.CA = testcert.NewCA(t)
	}
	if o.TLS {
		tc, err := transport.ServerTLSConfig(transport.TLSOptions{
			Certificates: []tls.Certificate{s.CA.ServerCert(t, testcert.KeyEC), s.CA.ServerCert(t, testcert.KeyRSA)},
			ClientCAs:    s.CA.Pool,
		})
		if err != nil {
			t.Fatalf("tls config: %v", err)
		}
		s.TLSAddr = s.listen(t, transport.Config{Name: "mqtts", Kind: transport.KindTLS, Addr: "127.0.0.1:0"}, tc, handler, log)
	}
	if o.WebSocket {
		s.WSAddr = s.listen(t, transport.Config{Name: "ws", Kind: transport.KindWS, Addr: "127.0.0.1:0"}, nil, handler, log)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *Server) listen(t testing.TB, cfg transport.Config, tc *tls.Config, h transport.Handler, log *slog.Logger) string {
	t.Helper()
	l, err := transport.New(cfg, tc, h, log)
	if err != nil {
		t.Fatalf("transport.New(%s): %v", cfg.Name, err)
	}
	if err := l.Listen(); err != nil {
		t.Fatalf("listen %s: %v", cfg.Name, err)
	}
	s.listeners = append(s.listeners, l)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = l.Serve(context.Background())
	}()
	return l.Addr().String()
}

// Close shuts the listeners and the broker down and waits for them.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The listeners stop accepting and wait for their connections while the
	// broker says goodbye to the clients, which ends those connections (as
	// the hub does).
	var drains sync.WaitGroup
	for _, l := range s.listeners {
		drains.Add(1)
		go func() {
			defer drains.Done()
			_ = l.Shutdown(ctx)
		}()
	}
	_ = s.Broker.Shutdown(ctx)
	drains.Wait()
	s.cancel()
	s.wg.Wait()
}

// Port returns the port of a "host:port" address.
func Port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// DeviceFiles are PEM files for a client certificate issued by the server's CA.
type DeviceFiles struct {
	Cert, Key, CA string
}

// ClientFiles issues a client certificate with the given common name and
// writes it, its key and the CA to a temporary directory.
func (s *Server) ClientFiles(t testing.TB, keyType, commonName string) DeviceFiles {
	t.Helper()
	if s.CA == nil {
		t.Fatal("brokertest: ClientFiles needs Options.TLS")
	}
	dir := filepath.Join(s.dir, commonName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := s.CA.ClientCert(t, keyType, commonName)
	cert, key := testcert.WriteFiles(t, dir, "device", c)
	return DeviceFiles{Cert: cert, Key: key, CA: s.CA.WriteCA(t, dir)}
}

// ClientTLS returns a client tls.Config with a fresh client certificate.
func (s *Server) ClientTLS(t testing.TB, commonName string) *tls.Config {
	t.Helper()
	return &tls.Config{
		RootCAs:      s.CA.Pool,
		Certificates: []tls.Certificate{s.CA.ClientCert(t, testcert.KeyEC, commonName)},
		ServerName:   "localhost",
	}
}

// Principal is the test identity: the certificate's common name when there
// is one, else the client id.
type Principal string

// ID implements broker.Principal.
func (p Principal) ID() string { return string(p) }

// CertOrClientID authenticates everyone, naming them by certificate CN or
// client id. Tests only.
type CertOrClientID struct{}

// Authenticate implements broker.Authenticator.
func (CertOrClientID) Authenticate(_ context.Context, r *broker.ConnectRequest) (broker.Principal, error) {
	if r.Conn.TLS != nil && len(r.Conn.TLS.PeerCertificates) > 0 {
		return Principal(r.Conn.TLS.PeerCertificates[0].Subject.CommonName), nil
	}
	if r.Username == "deny" {
		return nil, &broker.Refusal{Code: 0x86, FailureReason: "AUTHENTICATION_FAILED", Err: errors.New("test: username deny")}
	}
	return Principal(r.ClientID), nil
}

// AllowAll allows every action. Tests only.
type AllowAll struct{}

// Authorize implements broker.Authorizer.
func (AllowAll) Authorize(broker.Principal, string, broker.Action, string) error { return nil }

// Rules is a scripted authorizer: a rule "action resource" denies that exact
// pair, and a resource ending in "*" denies by prefix. Safe for concurrent
// use; rules may change while clients are connected.
type Rules struct {
	mu   sync.RWMutex
	deny []string
}

// Deny adds a rule such as "publish forbidden/topic" or "receive secret/*".
func (r *Rules) Deny(rule string) {
	r.mu.Lock()
	r.deny = append(r.deny, rule)
	r.mu.Unlock()
}

// Authorize implements broker.Authorizer.
func (r *Rules) Authorize(_ broker.Principal, _ string, a broker.Action, resource string) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, rule := range r.deny {
		act, res, _ := strings.Cut(rule, " ")
		if act != a.String() {
			continue
		}
		if res == resource || (strings.HasSuffix(res, "*") && strings.HasPrefix(resource, strings.TrimSuffix(res, "*"))) {
			return fmt.Errorf("test rule %q denies %s on %s", rule, a, resource)
		}
	}
	return nil
}

// EventLog records lifecycle events.
type EventLog struct {
	mu     sync.Mutex
	events []broker.Event
}

// Event implements broker.EventSink.
func (l *EventLog) Event(ev broker.Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// All returns a copy of the events so far.
func (l *EventLog) All() []broker.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]broker.Event(nil), l.events...)
}

// Wait polls until an event matching pred has been recorded, failing the
// test after the timeout.
func (l *EventLog) Wait(t testing.TB, timeout time.Duration, what string, pred func(broker.Event) bool) broker.Event {
	t.Helper()
	var found broker.Event
	Eventually(t, timeout, what, func() bool {
		for _, ev := range l.All() {
			if pred(ev) {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

// Eventually polls cond until it holds, failing the test after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for an effect
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
