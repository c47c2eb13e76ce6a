// Package transport owns thingcore's listening sockets: it accepts TCP
// connections, completes the TLS handshake or the WebSocket upgrade within a
// deadline, and hands each ready net.Conn with its Meta (peer certificates,
// SNI, ALPN, upgrade headers) to a Handler, normally the MQTT broker's.
//
// It also builds the server tls.Config that embedded devices need
// (ServerTLSConfig). transport imports no other thingcore package; the
// composition root wires it to the broker, which never imports it.
package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or the end of its
// context.
var ErrServerClosed = errors.New("transport: listener closed")

// Kind is the protocol a Listener speaks.
type Kind string

// Listener kinds.
const (
	KindTLS    Kind = "tls"     // MQTT over TLS (AWS IoT port 8883)
	KindTCP    Kind = "tcp"     // plain MQTT; off unless configured
	KindWSS    Kind = "wss"     // MQTT over WebSocket over TLS
	KindWS     Kind = "ws"      // MQTT over plain WebSocket
	KindTLSMux Kind = "tls-mux" // MQTT and HTTPS on one TLS port, chosen by ALPN (AWS IoT port 443)
)

func (k Kind) usesTLS() bool { return k == KindTLS || k == KindWSS || k == KindTLSMux }

func (k Kind) websocket() bool { return k == KindWS || k == KindWSS }

// Meta describes a ready connection.
type Meta struct {
	Listener   string // Config.Name of the listener that accepted it
	Kind       Kind
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	// TLS is the state after a completed handshake: PeerCertificates,
	// VerifiedChains, ServerName (SNI), NegotiatedProtocol (ALPN),
	// CipherSuite. Nil on plain listeners.
	TLS *tls.ConnectionState
	// HTTPHeader holds the WebSocket upgrade request's headers; nil otherwise.
	HTTPHeader http.Header
}

// Handler serves one connection. It runs on a goroutine of its own, and the
// transport closes conn after it returns. The connection has no deadline
// set.
//
// An idle connection need not keep that goroutine: on MQTT connections of
// kinds "tls" and "tls-mux" (Linux), conn has a method
//
//	Park(resume func()) bool
//
// which, when it reports true, hands the connection over: the Handler must
// return at once without using conn, the transport does not close it, and
// resume runs on a new goroutine when input arrives, the read deadline
// passes or conn is closed. When resume returns without having parked
// again, the transport closes conn. Park reports false (and the Handler
// just goes on reading) when input is ready or the connection cannot park.
// broker.Parker is this method.
type Handler func(conn net.Conn, meta Meta)

// Default values applied by New for zero Config fields.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWebSocketPath    = "/mqtt"
)

// Config configures one Listener. It is plain data; New applies defaults to
// a copy.
type Config struct {
	// Name identifies the listener in logs and Meta, e.g. "mqtts". Required.
	Name string `json:"name"`
	// Kind is one of "tls", "tcp", "wss", "ws", "tls-mux". Required.
	// "tls", "wss" and "tls-mux" need a tls.Config passed to New.
	Kind Kind `json:"kind"`
	// Addr is the TCP address to listen on, host:port, e.g. ":8883" or
	// "127.0.0.1:0" (port 0 picks a free port). Required.
	Addr string `json:"addr"`
	// HandshakeTimeout bounds the TLS handshake and, separately, the
	// WebSocket upgrade request. A connection that has not finished in time
	// is closed. Duration; default 10s; must not be negative.
	HandshakeTimeout time.Duration `json:"handshake_timeout"`
	// WebSocketPath is the HTTP path of the WebSocket endpoint for kinds
	// "ws" and "wss"; other paths get 404. Default "/mqtt"; must start
	// with "/".
	WebSocketPath string `json:"websocket_path"`
}

// Validate reports the first problem with c, if any. Zero HandshakeTimeout
// and WebSocketPath are valid (defaults apply).
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("transport: config: name is required")
	case c.Addr == "":
		return fmt.Errorf("transport: config %s: addr is required", c.Name)
	case c.HandshakeTimeout < 0:
		return fmt.Errorf("transport: config %s: handshake_timeout %v is negative", c.Name, c.HandshakeTimeout)
	case c.WebSocketPath != "" && !strings.HasPrefix(c.WebSocketPath, "/"):
		return fmt.Errorf("transport: config %s: websocket_path %q must start with /", c.Name, c.WebSocketPath)
	}
	switch c.Kind {
	case KindTLS, KindTCP, KindWSS, KindWS, KindTLSMux:
	default:
		return fmt.Errorf("transport: config %s: kind %q: want tls, tcp, wss, ws or tls-mux", c.Name, c.Kind)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("transport: config %s: addr: %w", c.Name, err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.WebSocketPath == "" {
		c.WebSocketPath = DefaultWebSocketPath
	}
	return c
}
