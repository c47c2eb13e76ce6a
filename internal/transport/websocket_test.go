package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestWebSocket(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name         string
		kind         Kind
		path         string // WebSocketPath; default
		dialPath     string
		subprotocols []string
		clientCerts  []tls.Certificate
		wantStatus   int // 0: upgraded
		wantProto    string
	}{
		{name: "ws mqtt", kind: KindWS, dialPath: "/mqtt", subprotocols: []string{"mqtt"}, wantProto: "mqtt"},
		{name: "ws mqttv3.1", kind: KindWS, dialPath: "/mqtt", subprotocols: []string{"mqttv3.1"}, wantProto: "mqttv3.1"},
		{name: "ws custom path", kind: KindWS, path: "/ws", dialPath: "/ws", subprotocols: []string{"wamp", "mqtt"}, wantProto: "mqtt"},
		{name: "wss mqtt with client cert", kind: KindWSS, dialPath: "/mqtt", subprotocols: []string{"mqtt"}, clientCerts: []tls.Certificate{p.client}, wantProto: "mqtt"},
		{name: "ws wrong subprotocol", kind: KindWS, dialPath: "/mqtt", subprotocols: []string{"wamp"}, wantStatus: http.StatusBadRequest},
		{name: "ws no subprotocol", kind: KindWS, dialPath: "/mqtt", wantStatus: http.StatusBadRequest},
		{name: "ws other path", kind: KindWS, dialPath: "/other", subprotocols: []string{"mqtt"}, wantStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := newLog()
			metas := make(chan Meta, 1)
			var tlsCfg *tls.Config
			scheme := "ws"
			if tt.kind == KindWSS {
				tlsCfg, scheme = p.serverTLS(t, TLSOptions{}), "wss"
			}
			l := start(t, Config{Kind: tt.kind, WebSocketPath: tt.path}, tlsCfg, echoHandler(metas), log)

			tr := &http.Transport{TLSClientConfig: p.clientTLS(tt.clientCerts...)}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, scheme+"://"+l.Addr().String()+tt.dialPath, &websocket.DialOptions{
				HTTPClient:   &http.Client{Transport: tr},
				Subprotocols: tt.subprotocols,
			})
			if tt.wantStatus != 0 {
				if err == nil {
					c.CloseNow()
					t.Fatal("Dial() succeeded, want refused")
				}
				if resp == nil || resp.StatusCode != tt.wantStatus {
					t.Fatalf("Dial() = %v, response %v, want status %d", err, resp, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial() = %v", err)
			}
			defer c.CloseNow()
			if got := c.Subprotocol(); got != tt.wantProto {
				t.Errorf("Subprotocol() = %q, want %q", got, tt.wantProto)
			}
			nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
			if err := roundTrip(nc, "\x10\x0c\x00\x04MQTT"); err != nil {
				t.Fatal(err)
			}
			m := recvMeta(t, metas)
			if m.Kind != tt.kind || m.RemoteAddr == nil || m.LocalAddr.String() != l.Addr().String() {
				t.Errorf("Meta = {%q %v %v}, want {%q, remote, %v}", m.Kind, m.RemoteAddr, m.LocalAddr, tt.kind, l.Addr())
			}
			if got := m.HTTPHeader.Get("Sec-WebSocket-Protocol"); !strings.Contains(got, tt.wantProto) {
				t.Errorf("HTTPHeader Sec-WebSocket-Protocol = %q, want it to contain %q", got, tt.wantProto)
			}
			if gotTLS := m.TLS != nil; gotTLS != (tt.kind == KindWSS) {
				t.Errorf("Meta.TLS present = %v, want %v", gotTLS, tt.kind == KindWSS)
			}
			if m.TLS != nil && (len(m.TLS.PeerCertificates) == 0 || m.TLS.PeerCertificates[0].Subject.CommonName != "thing-1") {
				t.Errorf("wss peer certificates = %v, want thing-1", m.TLS.PeerCertificates)
			}
		})
	}
}

func TestTLSMux(t *testing.T) {
	p := newPKI(t)
	log := newLog()
	metas := make(chan Meta, 1)
	l := start(t, Config{Kind: KindTLSMux}, p.serverTLS(t, TLSOptions{}), echoHandler(metas), log)

	srv := &http.Server{
		ConnContext: HTTPConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cs := RequestTLS(r)
			_, _ = fmt.Fprintf(w, "http alpn=%s cn=%s", cs.NegotiatedProtocol, cs.PeerCertificates[0].Subject.CommonName)
		}),
	}
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(l.HTTPListener()) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-httpDone; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("http Serve() = %v, want ErrServerClosed", err)
		}
	})

	tests := []struct {
		name     string
		alpn     []string
		wantMQTT bool
		wantALPN string
	}{
		{name: "x-amzn-mqtt-ca to mqtt", alpn: []string{ALPNAmazonMQTT}, wantMQTT: true, wantALPN: ALPNAmazonMQTT},
		{name: "mqtt to mqtt", alpn: []string{ALPNMQTT}, wantMQTT: true, wantALPN: ALPNMQTT},
		{name: "http/1.1 to http", alpn: []string{ALPNHTTP11}, wantALPN: ALPNHTTP11},
		{name: "h2 with fallback to http", alpn: []string{ALPNHTTP2, ALPNHTTP11}, wantALPN: ALPNHTTP11},
		{name: "x-amzn-http-ca to http", alpn: []string{ALPNAmazonHTTP}, wantALPN: ALPNAmazonHTTP},
		{name: "no alpn to http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := p.clientTLS(p.client)
			cc.NextProtos = tt.alpn
			conn, err := tls.Dial("tcp", l.Addr().String(), cc)
			if err != nil {
				t.Fatalf("Dial() = %v", err)
			}
			defer conn.Close()
			if got := conn.ConnectionState().NegotiatedProtocol; got != tt.wantALPN {
				t.Errorf("ALPN = %q, want %q", got, tt.wantALPN)
			}
			if tt.wantMQTT {
				if err := roundTrip(conn, "\x10\x00"); err != nil {
					t.Fatal(err)
				}
				if m := recvMeta(t, metas); m.Kind != KindTLSMux || m.TLS.NegotiatedProtocol != tt.wantALPN {
					t.Errorf("Meta kind %q alpn %q, want tls-mux %q", m.Kind, m.TLS.NegotiatedProtocol, tt.wantALPN)
				}
				return
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("ReadResponse() = %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := "http alpn=" + tt.wantALPN + " cn=thing-1"; string(body) != want {
				t.Errorf("body = %q, want %q", body, want)
			}
		})
	}
	if got := l.HTTPListener().Addr().String(); got != l.Addr().String() {
		t.Errorf("HTTPListener().Addr() = %s, want %s", got, l.Addr())
	}
	other, err := New(Config{Name: "x", Kind: KindTLS, Addr: "127.0.0.1:0"}, p.serverTLS(t, TLSOptions{}), echoHandler(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if other.HTTPListener() != nil {
		t.Error("HTTPListener() of a tls listener != nil")
	}
}
