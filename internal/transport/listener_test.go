package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "ok", cfg: Config{Name: "mqtts", Kind: KindTLS, Addr: ":8883"}},
		{name: "ok with all fields", cfg: Config{Name: "ws", Kind: KindWS, Addr: "127.0.0.1:0", HandshakeTimeout: time.Second, WebSocketPath: "/mqtt"}},
		{name: "no name", cfg: Config{Kind: KindTLS, Addr: ":8883"}, wantErr: "name is required"},
		{name: "no addr", cfg: Config{Name: "a", Kind: KindTLS}, wantErr: "addr is required"},
		{name: "bad addr", cfg: Config{Name: "a", Kind: KindTLS, Addr: "8883"}, wantErr: "addr"},
		{name: "bad kind", cfg: Config{Name: "a", Kind: "quic", Addr: ":1"}, wantErr: `kind "quic"`},
		{name: "negative timeout", cfg: Config{Name: "a", Kind: KindTCP, Addr: ":1", HandshakeTimeout: -1}, wantErr: "negative"},
		{name: "relative path", cfg: Config{Name: "a", Kind: KindWS, Addr: ":1", WebSocketPath: "mqtt"}, wantErr: "must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewChecksTLSConfig(t *testing.T) {
	p := newPKI(t)
	h := func(net.Conn, Meta) {}
	tlsCfg := p.serverTLS(t, TLSOptions{})
	tests := []struct {
		name    string
		kind    Kind
		tlsCfg  *tls.Config
		h       Handler
		wantErr string
	}{
		{name: "tls with config", kind: KindTLS, tlsCfg: tlsCfg, h: h},
		{name: "tcp without config", kind: KindTCP, h: h},
		{name: "tls without config", kind: KindTLS, h: h, wantErr: "needs a tls config"},
		{name: "wss without config", kind: KindWSS, h: h, wantErr: "needs a tls config"},
		{name: "ws with config", kind: KindWS, tlsCfg: tlsCfg, h: h, wantErr: "plain"},
		{name: "config without certificate", kind: KindTLS, tlsCfg: &tls.Config{}, h: h, wantErr: "no certificate"},
		{name: "nil handler", kind: KindTCP, wantErr: "handler is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Name: "x", Kind: tt.kind, Addr: "127.0.0.1:0"}, tt.tlsCfg, tt.h, nil)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("New() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	if got := tlsCfg.NextProtos; len(got) != 2 {
		t.Errorf("New mutated its tls config: NextProtos = %q", got)
	}
}

func TestTLSHandshake(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name       string
		auth       ClientAuth
		certs      []tls.Certificate
		alpn       []string
		sni        string
		wantReason string // empty: accepted
		wantCN     string
		wantChains bool
	}{
		{name: "verified cert alpn x-amzn-mqtt-ca", certs: []tls.Certificate{p.client}, alpn: []string{ALPNAmazonMQTT}, sni: "localhost", wantCN: "thing-1", wantChains: true},
		{name: "verified cert alpn mqtt", certs: []tls.Certificate{p.client}, alpn: []string{ALPNMQTT}, sni: "localhost", wantCN: "thing-1", wantChains: true},
		{name: "verified cert no alpn no sni", certs: []tls.Certificate{p.client}, wantCN: "thing-1", wantChains: true},
		{name: "verified rsa cert", certs: []tls.Certificate{p.clientRSA}, sni: "localhost", wantCN: "thing-rsa", wantChains: true},
		{name: "no cert refused", wantReason: "tls handshake: no certificate"},
		{name: "other ca refused", certs: []tls.Certificate{p.stranger}, wantReason: "not issued by a trusted CA"},
		{name: "require any passes other ca", auth: RequireAny, certs: []tls.Certificate{p.stranger}, alpn: []string{ALPNAmazonMQTT}, wantCN: "stranger"},
		{name: "require any refuses no cert", auth: RequireAny, wantReason: "tls handshake: no certificate"},
		{name: "request allows no cert", auth: Request},
		{name: "http alpn refused", certs: []tls.Certificate{p.client}, alpn: []string{ALPNHTTP11}, wantReason: "unsupported ALPN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := newLog()
			metas := make(chan Meta, 1)
			l := start(t, Config{Kind: KindTLS}, p.serverTLS(t, TLSOptions{ClientAuth: tt.auth}), echoHandler(metas), log)

			cc := p.clientTLS(tt.certs...)
			cc.ServerName, cc.NextProtos = tt.sni, tt.alpn
			if tt.sni == "" {
				cc.ServerName = "127.0.0.1" // verified against the IP SAN; IPs are not sent as SNI
			}
			conn, err := tls.Dial("tcp", l.Addr().String(), cc)
			if err == nil {
				defer conn.Close()
				err = roundTrip(conn, "ping")
			}
			if tt.wantReason != "" {
				if err == nil {
					t.Fatal("round trip succeeded, want the handshake refused")
				}
				log.waitFor(t, "handshake failed", "reason="+`"`+"tls handshake:", tt.wantReason, "remote_addr=", "listener=")
				return
			}
			if err != nil {
				t.Fatalf("round trip: %v", err)
			}
			m := recvMeta(t, metas)
			if m.TLS == nil {
				t.Fatal("Meta.TLS = nil")
			}
			if m.Listener != "test-tls" || m.Kind != KindTLS || m.RemoteAddr.String() != conn.LocalAddr().String() || m.LocalAddr.String() != l.Addr().String() {
				t.Errorf("Meta = {%q %q %v %v}, want {test-tls tls %v %v}", m.Listener, m.Kind, m.RemoteAddr, m.LocalAddr, conn.LocalAddr(), l.Addr())
			}
			if m.TLS.ServerName != tt.sni {
				t.Errorf("SNI = %q, want %q", m.TLS.ServerName, tt.sni)
			}
			wantALPN := ""
			if len(tt.alpn) > 0 {
				wantALPN = tt.alpn[0]
			}
			if m.TLS.NegotiatedProtocol != wantALPN {
				t.Errorf("ALPN = %q, want %q", m.TLS.NegotiatedProtocol, wantALPN)
			}
			gotCN := ""
			if len(m.TLS.PeerCertificates) > 0 {
				gotCN = m.TLS.PeerCertificates[0].Subject.CommonName
			}
			if gotCN != tt.wantCN {
				t.Errorf("peer CN = %q, want %q", gotCN, tt.wantCN)
			}
			if got := len(m.TLS.VerifiedChains) > 0; got != tt.wantChains {
				t.Errorf("VerifiedChains present = %v, want %v", got, tt.wantChains)
			}
			if m.HTTPHeader != nil {
				t.Errorf("HTTPHeader = %v, want nil", m.HTTPHeader)
			}
		})
	}
}

// TestServerCertificateChoice checks that a client that cannot use ECDSA
// gets the RSA certificate and the others the ECDSA one.
func TestServerCertificateChoice(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name    string
		allow   bool
		max     uint16
		suites  []uint16
		wantAlg x509.PublicKeyAlgorithm
		refused bool
	}{
		{name: "default client tls13", wantAlg: x509.ECDSA},
		{name: "ecdhe-ecdsa cbc tls12", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, wantAlg: x509.ECDSA},
		{name: "ecdhe-rsa only tls12", max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, wantAlg: x509.RSA},
		{name: "rsa key exchange allowed", allow: true, max: tls.VersionTLS12, suites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}, wantAlg: x509.RSA},
		{name: "rsa key exchange refused by default", max: tls.VersionTLS12, suites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := newLog()
			metas := make(chan Meta, 1)
			l := start(t, Config{Kind: KindTLS}, p.serverTLS(t, TLSOptions{AllowRSAKeyExchange: tt.allow}), echoHandler(metas), log)
			cc := p.clientTLS(p.clientRSA)
			cc.MaxVersion, cc.CipherSuites = tt.max, tt.suites
			conn, err := tls.Dial("tcp", l.Addr().String(), cc)
			if tt.refused {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded, want refused")
				}
				log.waitFor(t, "handshake failed", "client offered only unsupported cipher suites")
				return
			}
			if err != nil {
				t.Fatalf("Dial() = %v", err)
			}
			defer conn.Close()
			if err := roundTrip(conn, "x"); err != nil {
				t.Fatal(err)
			}
			if got := conn.ConnectionState().PeerCertificates[0].PublicKeyAlgorithm; got != tt.wantAlg {
				t.Errorf("server certificate key = %v, want %v", got, tt.wantAlg)
			}
			if m := recvMeta(t, metas); len(tt.suites) > 0 && m.TLS.CipherSuite != tt.suites[0] {
				t.Errorf("cipher suite = %s, want %s", tls.CipherSuiteName(m.TLS.CipherSuite), tls.CipherSuiteName(tt.suites[0]))
			}
		})
	}
}

// TestHandshakeTimeout checks that connections that stall in (or never
// start) the handshake are closed, and why the log says they were.
func TestHandshakeTimeout(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name    string
		kind    Kind
		send    string // bytes sent before stalling
		wantLog string // reason logged, for TLS kinds
	}{
		{name: "tls silent client", kind: KindTLS, wantLog: "not finished within 200ms"},
		{name: "tls partial client hello", kind: KindTLS, send: "\x16\x03\x01\x00\xff", wantLog: "not finished within 200ms"},
		{name: "plain mqtt on tls port", kind: KindTLS, send: "\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04dev1", wantLog: "client did not speak TLS"},
		{name: "ws silent client", kind: KindWS},
		{name: "ws partial upgrade request", kind: KindWS, send: "GET /mqtt HTTP/1.1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := newLog()
			var tlsCfg *tls.Config
			if tt.kind.usesTLS() {
				tlsCfg = p.serverTLS(t, TLSOptions{})
			}
			called := make(chan Meta, 1)
			l := start(t, Config{Kind: tt.kind, HandshakeTimeout: 200 * time.Millisecond}, tlsCfg, echoHandler(called), log)
			conn, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.send); err != nil {
				t.Fatal(err)
			}
			if err := waitEOF(conn, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if tt.wantLog != "" {
				log.waitFor(t, "INFO transport: handshake failed", "remote_addr=", tt.wantLog)
			}
			select {
			case <-called:
				t.Error("handler called for a connection that never finished its handshake")
			default:
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name string
		// stop stops the listener; release lets blocked handlers return.
		stop       func(t *testing.T, l *Listener, cancelServe context.CancelFunc, release chan struct{})
		wantShared bool
	}{
		{name: "handlers finish before deadline", stop: func(t *testing.T, l *Listener, _ context.CancelFunc, release chan struct{}) {
			errc := make(chan error, 1)
			go func() { errc <- l.Shutdown(context.Background()) }()
			close(release)
			if err := <-errc; err != nil {
				t.Errorf("Shutdown() = %v, want nil", err)
			}
		}},
		{name: "deadline closes handler conns", stop: func(t *testing.T, l *Listener, _ context.CancelFunc, _ chan struct{}) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := l.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown() = %v, want DeadlineExceeded", err)
			}
		}},
		{name: "serve context ends", stop: func(t *testing.T, l *Listener, cancelServe context.CancelFunc, _ chan struct{}) {
			cancelServe()
		}},
	}
	// dial opens a connection that reaches the handler.
	dials := map[Kind]func(t *testing.T, addr string) net.Conn{
		KindTLS: func(t *testing.T, addr string) net.Conn {
			c, err := tls.Dial("tcp", addr, p.clientTLS(p.client))
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		KindWSS: func(t *testing.T, addr string) net.Conn {
			tr := &http.Transport{TLSClientConfig: p.clientTLS(p.client)}
			t.Cleanup(tr.CloseIdleConnections)
			c, _, err := websocket.Dial(context.Background(), "wss://"+addr+"/mqtt", &websocket.DialOptions{
				HTTPClient: &http.Client{Transport: tr}, Subprotocols: []string{"mqtt"},
			})
			if err != nil {
				t.Fatal(err)
			}
			return websocket.NetConn(context.Background(), c, websocket.MessageBinary)
		},
	}
	for _, kind := range []Kind{KindTLS, KindWSS} {
		for _, tt := range tests {
			t.Run(string(kind)+" "+tt.name, func(t *testing.T) {
				testShutdown(t, p, kind, dials[kind], tt.stop)
			})
		}
	}
}

func testShutdown(t *testing.T, p *pki, kind Kind, dial func(*testing.T, string) net.Conn,
	stop func(t *testing.T, l *Listener, cancelServe context.CancelFunc, release chan struct{})) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	running := make(chan struct{}, 1)
	release := make(chan struct{})
	h := func(conn net.Conn, _ Meta) {
		running <- struct{}{}
		go func() { // test-only helper: unblocks the read below on release
			<-release
			conn.SetReadDeadline(time.Now())
		}()
		_, _ = io.Copy(io.Discard, conn)
	}
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	l, err := New(Config{Name: "s", Kind: kind, Addr: "127.0.0.1:0"}, p.serverTLS(t, TLSOptions{}), h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- l.Serve(ctx) }()
	var addr net.Addr
	for deadline := time.Now().Add(10 * time.Second); addr == nil && time.Now().Before(deadline); {
		addr = l.Addr()
		time.Sleep(time.Millisecond) // polling for Serve's Listen
	}
	if addr == nil {
		t.Fatal("listener not bound within 10s")
	}

	active := dial(t, addr.String())
	defer active.Close()
	if _, err := active.Write([]byte("x")); err != nil { // completes the TLS 1.3 handshake server side
		t.Fatal(err)
	}
	<-running
	stalled, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()

	stop(t, l, cancel, release)

	select {
	case err := <-errc:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve() = %v, want ErrServerClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s")
	}
	if err := l.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown() = %v, want nil", err)
	}
	for name, c := range map[string]net.Conn{"handshaking": stalled, "active": active} {
		if err := waitEOF(c, 10*time.Second); err != nil {
			t.Errorf("%s conn: %v", name, err)
		}
	}
	if _, err := net.Dial("tcp", addr.String()); err == nil {
		t.Error("Dial after Shutdown succeeded, want refused")
	}
	if err := l.Serve(context.Background()); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}

func TestPlainTCP(t *testing.T) {
	tests := []struct {
		name    string
		h       func(metas chan<- Meta) Handler
		wantLog string
	}{
		{name: "echo", h: echoHandler},
		{name: "handler panic closes conn", h: func(chan<- Meta) Handler {
			return func(net.Conn, Meta) { panic("broker bug") }
		}, wantLog: "ERROR transport: handler panic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := newLog()
			metas := make(chan Meta, 1)
			l := start(t, Config{Kind: KindTCP}, nil, tt.h(metas), log)
			conn, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tt.wantLog != "" {
				if err := waitEOF(conn, 10*time.Second); err != nil {
					t.Fatal(err)
				}
				log.waitFor(t, tt.wantLog, `panic="broker bug"`)
				return
			}
			if err := roundTrip(conn, "\x10\x00"); err != nil {
				t.Fatal(err)
			}
			if m := recvMeta(t, metas); m.Kind != KindTCP || m.TLS != nil || m.HTTPHeader != nil || m.RemoteAddr.String() != conn.LocalAddr().String() {
				t.Errorf("Meta = %+v, want kind tcp, no TLS, no header, remote %v", m, conn.LocalAddr())
			}
		})
	}
}
