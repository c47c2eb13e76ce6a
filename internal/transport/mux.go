package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// amazonHTTPConn hides the *tls.Conn type of a connection whose ALPN is
// "x-amzn-http-ca" from net/http, which closes connections with an ALPN it
// has no TLSNextProto for; it then serves it as HTTP/1.1. Every *tls.Conn
// method stays available.
type amazonHTTPConn struct{ *tls.Conn }

type tlsStateKey struct{}

// HTTPConnContext is an http.Server.ConnContext for a server on
// HTTPListener: it records the connection's TLS state for RequestTLS.
func HTTPConnContext(ctx context.Context, c net.Conn) context.Context {
	if sc, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		cs := sc.ConnectionState()
		return context.WithValue(ctx, tlsStateKey{}, &cs)
	}
	return ctx
}

// RequestTLS returns the TLS state of a request served from HTTPListener:
// r.TLS, or for ALPN "x-amzn-http-ca" connections (served as HTTP/1.1, so
// r.TLS is nil) the state recorded by HTTPConnContext. Nil on plain HTTP.
func RequestTLS(r *http.Request) *tls.ConnectionState {
	if r.TLS != nil {
		return r.TLS
	}
	cs, _ := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState)
	return cs
}

// connListener is a net.Listener fed by the Listener with ready
// connections.
type connListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   func() net.Addr
}

func newConnListener(addr func() net.Addr) *connListener {
	return &connListener{ch: make(chan net.Conn), closed: make(chan struct{}), addr: addr}
}

// deliver waits until c is accepted (true), the listener closes or the
// deadline passes (false).
func (cl *connListener) deliver(c net.Conn, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case cl.ch <- c:
		return true
	case <-cl.closed:
	case <-t.C:
	}
	return false
}

func (cl *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-cl.ch:
		return c, nil
	case <-cl.closed:
		return nil, fmt.Errorf("transport: http listener: %w", net.ErrClosed)
	}
}

func (cl *connListener) Close() error {
	cl.once.Do(func() { close(cl.closed) })
	return nil
}

func (cl *connListener) Addr() net.Addr {
	if a := cl.addr(); a != nil {
		return a
	}
	return &net.TCPAddr{}
}

var _ net.Listener = (*connListener)(nil)
