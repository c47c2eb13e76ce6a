package transport

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// webSocketSubprotocols are the MQTT subprotocols accepted, preferred first
// ("mqttv3.1" is what some MQTT 3.1 era clients send).
var webSocketSubprotocols = []string{"mqtt", "mqttv3.1"}

type connKey struct{}

// newWebSocketServer returns the HTTP server that upgrades connections
// handed to httpLn and runs the Handler in its request goroutine.
func (l *Listener) newWebSocketServer() *http.Server {
	return &http.Server{
		Handler:           http.HandlerFunc(l.serveWebSocket),
		ReadHeaderTimeout: l.cfg.HandshakeTimeout,
		WriteTimeout:      l.cfg.HandshakeTimeout, // cleared once upgraded
		IdleTimeout:       l.cfg.HandshakeTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
}

// serveWebSocket upgrades a request on WebSocketPath that offers an MQTT
// subprotocol and runs the Handler on the request goroutine with a net.Conn
// that carries binary messages.
func (l *Listener) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != l.cfg.WebSocketPath {
		http.NotFound(w, r)
		return
	}
	if !offersMQTT(r.Header) {
		l.log.Info("transport: websocket upgrade refused", "remote_addr", r.RemoteAddr,
			"reason", "websocket: client did not offer subprotocol mqtt",
			"subprotocols", r.Header.Values("Sec-WebSocket-Protocol"))
		http.Error(w, "websocket subprotocol mqtt required", http.StatusBadRequest)
		return
	}
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	var tr *tracked
	if raw != nil {
		tr = l.track(raw)
	}
	if tr == nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer l.untrack(tr)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: webSocketSubprotocols})
	if err != nil { // Accept has written the HTTP error
		l.log.Info("transport: websocket upgrade refused", "remote_addr", r.RemoteAddr,
			"reason", "websocket: "+strings.TrimPrefix(err.Error(), "failed to accept WebSocket connection: "))
		return
	}
	if !l.setActive(tr, nil) {
		ws.CloseNow()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	wsConn := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	defer wsConn.Close()
	l.runHandler(wsConn, &Meta{
		Listener:   l.cfg.Name,
		Kind:       l.cfg.Kind,
		RemoteAddr: raw.RemoteAddr(),
		LocalAddr:  raw.LocalAddr(),
		TLS:        r.TLS,
		HTTPHeader: r.Header.Clone(),
	})
}

func offersMQTT(h http.Header) bool {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			for _, want := range webSocketSubprotocols {
				if strings.EqualFold(p, want) {
					return true
				}
			}
		}
	}
	return false
}
