package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/testcert"
)

func TestServerTLSConfig(t *testing.T) {
	p := newPKI(t)
	both := []tls.Certificate{p.serverRSA, p.serverEC}
	tests := []struct {
		name       string
		opts       TLSOptions
		wantErr    string
		wantAuth   tls.ClientAuthType
		wantRSAKex bool
		wantProtos []string
	}{
		{name: "defaults", opts: TLSOptions{Certificates: both, ClientCAs: p.ca.Pool}, wantAuth: tls.RequireAndVerifyClientCert, wantProtos: []string{"x-amzn-mqtt-ca", "mqtt"}},
		{name: "rsa key exchange", opts: TLSOptions{Certificates: both, ClientCAs: p.ca.Pool, AllowRSAKeyExchange: true}, wantAuth: tls.RequireAndVerifyClientCert, wantRSAKex: true, wantProtos: []string{"x-amzn-mqtt-ca", "mqtt"}},
		{name: "require any", opts: TLSOptions{Certificates: both, ClientAuth: RequireAny}, wantAuth: tls.RequireAnyClientCert, wantProtos: []string{"x-amzn-mqtt-ca", "mqtt"}},
		{name: "request", opts: TLSOptions{Certificates: both, ClientAuth: Request}, wantAuth: tls.RequestClientCert, wantProtos: []string{"x-amzn-mqtt-ca", "mqtt"}},
		{name: "no client cert custom alpn", opts: TLSOptions{Certificates: both, ClientAuth: NoClientCert, NextProtos: []string{"mqtt"}}, wantAuth: tls.NoClientCert, wantProtos: []string{"mqtt"}},
		{name: "no certificate", opts: TLSOptions{ClientCAs: p.ca.Pool}, wantErr: "at least one certificate"},
		{name: "verify without CAs", opts: TLSOptions{Certificates: both}, wantErr: "needs client CAs"},
		{name: "rsa key exchange without rsa certificate", opts: TLSOptions{Certificates: []tls.Certificate{p.serverEC}, ClientCAs: p.ca.Pool, AllowRSAKeyExchange: true}, wantErr: "needs an rsa certificate"},
		{name: "unknown auth", opts: TLSOptions{Certificates: both, ClientAuth: 9}, wantErr: "unknown client auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ServerTLSConfig(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ServerTLSConfig() = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ServerTLSConfig() = %v", err)
			}
			if cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != 0 || !cfg.SessionTicketsDisabled {
				t.Errorf("MinVersion, MaxVersion, SessionTicketsDisabled = %x, %x, %v, want 1.2, 0, true", cfg.MinVersion, cfg.MaxVersion, cfg.SessionTicketsDisabled)
			}
			if cfg.ClientAuth != tt.wantAuth {
				t.Errorf("ClientAuth = %v, want %v", cfg.ClientAuth, tt.wantAuth)
			}
			if !slices.Equal(cfg.NextProtos, tt.wantProtos) {
				t.Errorf("NextProtos = %q, want %q", cfg.NextProtos, tt.wantProtos)
			}
			if keyRank(cfg.Certificates[0]) != 0 || keyRank(cfg.Certificates[1]) != 1 {
				t.Error("ECDSA certificate not first")
			}
			if keyRank(tt.opts.Certificates[0]) != 1 {
				t.Error("ServerTLSConfig reordered its input")
			}
			for _, s := range tls.CipherSuites() {
				if slices.Contains(s.SupportedVersions, tls.VersionTLS12) && !slices.Contains(cfg.CipherSuites, s.ID) {
					t.Errorf("secure default %s missing", s.Name)
				}
			}
			for _, id := range MicrocontrollerCipherSuites {
				if !slices.Contains(cfg.CipherSuites, id) {
					t.Errorf("%s missing", tls.CipherSuiteName(id))
				}
			}
			for _, id := range RSAKeyExchangeCipherSuites {
				if got := slices.Contains(cfg.CipherSuites, id); got != tt.wantRSAKex {
					t.Errorf("%s listed = %v, want %v", tls.CipherSuiteName(id), got, tt.wantRSAKex)
				}
			}
		})
	}
}

// TestExtraSuitesImplemented guards against a Go release dropping a suite
// the boards need: every added suite must be one Go implements for TLS 1.2.
func TestExtraSuitesImplemented(t *testing.T) {
	implemented := map[uint16]bool{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		implemented[s.ID] = slices.Contains(s.SupportedVersions, tls.VersionTLS12)
	}
	for _, id := range slices.Concat(MicrocontrollerCipherSuites, RSAKeyExchangeCipherSuites) {
		if !implemented[id] {
			t.Errorf("%s (0x%04x) not implemented by Go for TLS 1.2", tls.CipherSuiteName(id), id)
		}
	}
}

// TestOpenSSLInterop connects with openssl s_client pinned to each suite
// MicroPython's mbedTLS offers and checks the suite our listener
// negotiates and that application data arrives.
func TestOpenSSLInterop(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("THINGCORE_INTEROP_REQUIRED") == "1" {
			t.Fatalf("openssl not found and THINGCORE_INTEROP_REQUIRED=1: %v", err)
		}
		t.Skipf("openssl not found: %v", err)
	}
	p := newPKI(t)
	dir := t.TempDir()
	// The board's AWS-issued identity is RSA.
	certPath, keyPath := testcert.WriteFiles(t, dir, "client", p.clientRSA)

	tests := []struct {
		name      string
		cipher    string // OpenSSL name
		allowRSA  bool
		want      uint16
		wantRefus bool
	}{
		{name: "ECDHE-ECDSA-AES128-SHA", cipher: "ECDHE-ECDSA-AES128-SHA", want: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
		{name: "ECDHE-ECDSA-AES256-SHA", cipher: "ECDHE-ECDSA-AES256-SHA", want: tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA},
		{name: "ECDHE-ECDSA-AES128-SHA256", cipher: "ECDHE-ECDSA-AES128-SHA256", want: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256},
		{name: "AES128-SHA allowed", cipher: "AES128-SHA", allowRSA: true, want: tls.TLS_RSA_WITH_AES_128_CBC_SHA},
		{name: "AES256-SHA allowed", cipher: "AES256-SHA", allowRSA: true, want: tls.TLS_RSA_WITH_AES_256_CBC_SHA},
		{name: "AES128-SHA256 allowed", cipher: "AES128-SHA256", allowRSA: true, want: tls.TLS_RSA_WITH_AES_128_CBC_SHA256},
		{name: "AES128-SHA refused by default", cipher: "AES128-SHA", wantRefus: true},
		{name: "AES256-SHA refused by default", cipher: "AES256-SHA", wantRefus: true},
		{name: "AES128-SHA256 refused by default", cipher: "AES128-SHA256", wantRefus: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := newLog()
			type result struct {
				suite uint16
				data  string
			}
			got := make(chan result, 1)
			h := func(conn net.Conn, m Meta) {
				_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				var buf bytes.Buffer
				b := make([]byte, 64)
				for !strings.Contains(buf.String(), "\n") {
					n, err := conn.Read(b)
					buf.Write(b[:n])
					if err != nil {
						break
					}
				}
				got <- result{m.TLS.CipherSuite, buf.String()}
			}
			l := start(t, Config{Kind: KindTLS}, p.serverTLS(t, TLSOptions{AllowRSAKeyExchange: tt.allowRSA}), h, log)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// OpenSSL 3.0.19 needs no extra options for these suites; @SECLEVEL=0
			// keeps distributions whose system policy raises the level (and
			// would drop SHA-1 MAC suites) from failing the test.
			cmd := exec.CommandContext(ctx, openssl, "s_client", "-tls1_2", "-cipher", tt.cipher+":@SECLEVEL=0",
				"-cert", certPath, "-key", keyPath, "-servername", "localhost", "-connect", l.Addr().String())
			cmd.Stdin = strings.NewReader("hello board\n")
			out, err := cmd.CombinedOutput()
			if tt.wantRefus {
				if err == nil {
					t.Errorf("openssl succeeded, want refused; output:\n%s", out)
				}
				log.waitFor(t, "handshake failed", "client offered only unsupported cipher suites")
				return
			}
			if err != nil {
				t.Fatalf("openssl: %v; output:\n%s", err, out)
			}
			select {
			case r := <-got:
				if r.suite != tt.want {
					t.Errorf("negotiated %s, want %s", tls.CipherSuiteName(r.suite), tls.CipherSuiteName(tt.want))
				}
				if r.data != "hello board\n" {
					t.Errorf("handler received %q, want %q", r.data, "hello board\n")
				}
			case <-ctx.Done():
				t.Fatalf("handler not called; openssl output:\n%s", out)
			}
		})
	}
}
