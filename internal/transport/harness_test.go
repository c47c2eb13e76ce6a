package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/testcert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logRecorder is a slog.Handler that keeps every record as one line of
// text, so tests can wait for a log entry.
type logRecorder struct {
	s     *logLines
	attrs []slog.Attr
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func newLog() *logRecorder { return &logRecorder{s: &logLines{}} }

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%q", a.Key, a.Value)
		return true
	}
	for _, a := range r.attrs {
		add(a)
	}
	rec.Attrs(add)
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.lines = append(r.s.lines, b.String())
	return nil
}

func (r *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{s: r.s, attrs: append(slices.Clone(r.attrs), as...)}
}

func (r *logRecorder) WithGroup(string) slog.Handler { return r }

// waitFor polls the log until a line contains every one of subs.
func (r *logRecorder) waitFor(t *testing.T, subs ...string) string {
	t.Helper()
	var last []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.s.mu.Lock()
		last = append(last[:0], r.s.lines...)
		r.s.mu.Unlock()
	line:
		for _, l := range last {
			for _, s := range subs {
				if !strings.Contains(l, s) {
					continue line
				}
			}
			return l
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not waiting for an effect
	}
	t.Fatalf("no log line with %q within 10s; log:\n%s", subs, strings.Join(last, "\n"))
	return ""
}

// pki holds a CA with server certificates of both key types and clients.
type pki struct {
	ca, other *testcert.CA
	serverEC  tls.Certificate
	serverRSA tls.Certificate
	client    tls.Certificate // ECDSA, CN thing-1
	clientRSA tls.Certificate // RSA, CN thing-rsa
	stranger  tls.Certificate // from another CA
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{ca: testcert.NewCA(t), other: testcert.NewCA(t)}
	p.serverEC = p.ca.ServerCert(t, testcert.KeyEC)
	p.serverRSA = p.ca.ServerCert(t, testcert.KeyRSA)
	p.client = p.ca.ClientCert(t, testcert.KeyEC, "thing-1")
	p.clientRSA = p.ca.ClientCert(t, testcert.KeyRSA, "thing-rsa")
	p.stranger = p.other.ClientCert(t, testcert.KeyEC, "stranger")
	return p
}

// serverTLS builds a server config with both certificates.
func (p *pki) serverTLS(t *testing.T, o TLSOptions) *tls.Config {
	t.Helper()
	o.Certificates = []tls.Certificate{p.serverRSA, p.serverEC}
	if o.ClientCAs == nil {
		o.ClientCAs = p.ca.Pool
	}
	cfg, err := ServerTLSConfig(o)
	if err != nil {
		t.Fatalf("ServerTLSConfig() = %v", err)
	}
	return cfg
}

// clientTLS returns a client config trusting the CA, presenting certs.
func (p *pki) clientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.ca.Pool, Certificates: certs, ServerName: "localhost"}
}

// echoHandler reports each connection's Meta on ch and echoes until EOF.
func echoHandler(ch chan<- Meta) Handler {
	return func(conn net.Conn, meta Meta) {
		ch <- meta
		_, _ = io.Copy(conn, conn)
	}
}

// start runs a listener on 127.0.0.1:0 until the test ends.
func start(t *testing.T, cfg Config, tlsCfg *tls.Config, h Handler, log *logRecorder) *Listener {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Name == "" {
		cfg.Name = "test-" + string(cfg.Kind)
	}
	l, err := New(cfg, tlsCfg, h, slog.New(log))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if err := l.Listen(); err != nil {
		t.Fatalf("Listen() = %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v, want nil", err)
		}
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve() = %v, want ErrServerClosed", err)
		}
	})
	return l
}

// roundTrip writes msg on conn and reads it back within 10s.
func roundTrip(conn net.Conn, msg string) error {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if string(buf) != msg {
		return fmt.Errorf("read %q, want %q", buf, msg)
	}
	return nil
}

// recvMeta waits up to 10s for a Meta.
func recvMeta(t *testing.T, ch <-chan Meta) Meta {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("handler not called within 10s")
		return Meta{}
	}
}

// waitEOF reads conn until EOF or error within d and reports whether the
// server closed it (as opposed to the deadline passing).
func waitEOF(conn net.Conn, d time.Duration) error {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("connection still open after %v", d)
	}
	return nil
}
