package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Listener accepts connections on one address and serves each ready
// connection with the Handler. Create it with New.
type Listener struct {
	cfg     Config
	tlsCfg  *tls.Config // nil for plain kinds
	handler Handler
	log     *slog.Logger

	// httpLn receives connections meant for HTTP: for "tls-mux" those
	// HTTPListener returns, for "ws"/"wss" the WebSocket upgrade requests
	// served by wsSrv. Nil for the other kinds.
	httpLn *connListener
	wsSrv  *http.Server

	done chan struct{} // closed when Shutdown starts

	// poller wakes parked connections (park.go). Set by Serve for kinds
	// that park (nil if the platform cannot), read-only afterwards; stopped
	// by Shutdown once every connection has ended.
	poller *poller

	mu      sync.Mutex // guards the fields below
	ln      net.Listener
	serving bool
	closing bool
	// conns holds one entry per registration of an accepted TCP conn: a
	// WebSocket conn is registered by its accepting goroutine and again by
	// each upgrade request, which may overlap briefly.
	conns map[*tracked]struct{}
	// wg counts entries of conns: each one is Done when untracked.
	// Add happens only under mu while !closing.
	wg sync.WaitGroup
}

// tracked is a registration of an accepted TCP conn; state is guarded by
// Listener.mu.
type tracked struct {
	conn  net.Conn
	state connState
	sc    *shallowConn // the connection given to the Handler, when it can park
}

type connState int8

const (
	stateHandshake connState = iota // TLS handshake or WebSocket upgrade
	stateActive                     // in the Handler
)

// New validates cfg and returns a Listener that has not started. tlsConfig
// is required for kinds "tls", "wss" and "tls-mux" (see ServerTLSConfig) and
// must be nil otherwise; New works on a clone: "wss" serves ALPN
// "http/1.1", "tls-mux" adds "x-amzn-http-ca" and "http/1.1". A nil log
// discards.
func New(cfg Config, tlsConfig *tls.Config, h Handler, log *slog.Logger) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("transport: %s: handler is nil", cfg.Name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	l := &Listener{
		cfg:     cfg,
		handler: h,
		log:     log.With("listener", cfg.Name, "kind", string(cfg.Kind)),
		done:    make(chan struct{}),
		conns:   make(map[*tracked]struct{}),
	}
	switch {
	case cfg.Kind.usesTLS() && tlsConfig == nil:
		return nil, fmt.Errorf("transport: %s: kind %s needs a tls config", cfg.Name, cfg.Kind)
	case !cfg.Kind.usesTLS() && tlsConfig != nil:
		return nil, fmt.Errorf("transport: %s: kind %s is plain but a tls config was given", cfg.Name, cfg.Kind)
	case tlsConfig != nil:
		if len(tlsConfig.Certificates) == 0 && tlsConfig.GetCertificate == nil && tlsConfig.GetConfigForClient == nil {
			return nil, fmt.Errorf("transport: %s: tls config has no certificate", cfg.Name)
		}
		l.tlsCfg = tlsConfig.Clone()
		switch cfg.Kind {
		case KindWSS:
			l.tlsCfg.NextProtos = []string{ALPNHTTP11}
		case KindTLSMux:
			for _, p := range []string{ALPNAmazonHTTP, ALPNHTTP11} {
				if !slices.Contains(l.tlsCfg.NextProtos, p) {
					l.tlsCfg.NextProtos = append(l.tlsCfg.NextProtos, p)
				}
			}
		}
	}
	if cfg.Kind == KindTLSMux || cfg.Kind.websocket() {
		l.httpLn = newConnListener(l.Addr)
	}
	if cfg.Kind.websocket() {
		l.wsSrv = l.newWebSocketServer()
	}
	return l, nil
}

// Listen binds the address so that Addr is known before Serve. Calling it
// again does nothing; after Shutdown it returns ErrServerClosed.
func (l *Listener) Listen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return ErrServerClosed
	}
	if l.ln != nil {
		return nil
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", l.cfg.Addr)
	if err != nil {
		return fmt.Errorf("transport: %s: listen: %w", l.cfg.Name, err)
	}
	l.ln = ln
	return nil
}

// Addr returns the bound address, or nil before Listen.
func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// HTTPListener returns, for kind "tls-mux", the listener of connections whose
// ALPN is not MQTT ("http/1.1", "h2", "x-amzn-http-ca" or none), TLS
// handshake done, for an http.Server to Serve on; nil for other kinds. Such
// a connection belongs to the http.Server once accepted. A connection not
// accepted within HandshakeTimeout is closed. Shutdown closes it; shut the
// http.Server down separately. Set the server's ConnContext to
// HTTPConnContext and read a request's TLS state with RequestTLS: net/http
// does not know ALPN "x-amzn-http-ca", so those connections are served as
// HTTP/1.1 with Request.TLS nil. ALPN "h2" is negotiated only if the
// tls.Config given to New lists it (then the http.Server must serve h2).
func (l *Listener) HTTPListener() net.Listener {
	if l.cfg.Kind != KindTLSMux {
		return nil
	}
	return l.httpLn
}

// Serve accepts connections until Shutdown or the end of ctx, then returns
// ErrServerClosed; other errors come from Listen or a failed accept. It
// calls Listen if needed. The end of ctx shuts down at once: connections in
// handlers are closed, and Serve returns after the handlers have.
func (l *Listener) Serve(ctx context.Context) error {
	if err := l.Listen(); err != nil {
		return err
	}
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrServerClosed
	}
	if l.serving {
		l.mu.Unlock()
		return fmt.Errorf("transport: %s: serve called twice", l.cfg.Name)
	}
	l.serving = true
	ln := l.ln
	if l.cfg.Kind == KindTLS || l.cfg.Kind == KindTLSMux {
		p, err := newPoller()
		if err != nil {
			l.log.Warn("transport: idle connections will keep a goroutine", "reason", err.Error())
		} else {
			l.poller = p
			go p.run() // stopped by Shutdown
		}
	}
	l.mu.Unlock()

	shutDown := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(shutDown)
		_ = l.Shutdown(ctx) // ctx is done: close everything now
	})
	defer func() {
		if !stop() {
			<-shutDown
		}
	}()

	if l.wsSrv != nil {
		wsDone := make(chan struct{})
		go func() {
			defer close(wsDone)
			_ = l.wsSrv.Serve(l.httpLn) // returns when httpLn or wsSrv closes
		}()
		defer func() {
			l.httpLn.Close()
			<-wsDone
		}()
	}

	l.log.Info("transport: listening", "addr", ln.Addr().String())
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return ErrServerClosed
			default:
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.log.Warn("transport: accept failed; retrying", "retry_in", delay, "error", err)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-l.done:
					t.Stop()
					return ErrServerClosed
				}
				continue
			}
			return fmt.Errorf("transport: %s: accept: %w", l.cfg.Name, err)
		}
		delay = 0
		tc := l.track(c)
		if tc == nil {
			c.Close()
			continue
		}
		go l.serveConn(tc)
	}
}

// Shutdown stops accepting, closes connections still in the TLS handshake
// or WebSocket upgrade, and waits for running handlers until ctx ends; then
// it closes their connections, waits for the handlers to return and returns
// ctx.Err(). It is safe to call more than once and concurrently.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	p := l.poller
	if !l.closing {
		l.closing = true
		close(l.done)
		if l.ln != nil {
			l.ln.Close()
		}
		for tc := range l.conns {
			if tc.state == stateHandshake {
				tc.conn.Close()
			}
		}

	}
	l.mu.Unlock()
	if l.httpLn != nil {
		l.httpLn.Close()
	}
	if l.wsSrv != nil {
		l.wsSrv.Close() // closes upgrades not yet in our handler; hijacked conns are tracked here
	}

	idle := make(chan struct{})
	go func() {
		defer close(idle)
		l.wg.Wait()
	}()
	select {
	case <-idle:
		stopPoller(p)
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	for tc := range l.conns {
		if tc.sc != nil {
			tc.sc.closeSocket() // and resume it if parked
		} else {
			tc.conn.Close()
		}
	}
	l.mu.Unlock()
	<-idle
	stopPoller(p)
	return ctx.Err()
}

// stopPoller stops the poller, if any, once every connection has ended.
func stopPoller(p *poller) {
	if p != nil {
		p.close()
	}
}

// serveConn runs on the connection's goroutine: handshake, then the
// Handler or a hand-off to HTTP.
func (l *Listener) serveConn(tr *tracked) {
	conn, meta := l.prepare(tr)
	if conn == nil {
		l.untrack(tr)
		return
	}
	// The Handler runs on a fresh goroutine whose first frame is small, and
	// this one ends: an idle connection's goroutine then parks with little
	// beneath it, so its stack shrinks to 4 KB (stacks shrink only while less
	// than a quarter, guard included, is in use).
	go l.runTracked(tr, conn, meta)
}

// prepare runs the handshake and returns the connection and its metadata
// for the Handler, or nil when the connection was refused or handed to the
// HTTP server.
//
//go:noinline
func (l *Listener) prepare(tr *tracked) (net.Conn, *Meta) {
	raw := tr.conn
	start := time.Now()
	conn := raw
	var state *tls.ConnectionState
	if l.tlsCfg != nil {
		var ok bool
		if conn, state, ok = l.handshake(raw, start); !ok {
			return nil, nil
		}
	}
	_ = raw.SetDeadline(time.Time{})

	sc, _ := conn.(*shallowConn)
	if sc != nil {
		sc.park.l, sc.park.tr = l, tr
		sc.ctl = sc.epollCtl
	}
	if !l.setActive(tr, sc) {
		raw.Close()
		return nil, nil
	}
	if l.cfg.Kind.websocket() || l.cfg.Kind == KindTLSMux && !isMQTTProto(state.NegotiatedProtocol) {
		l.handOff(conn, raw, state, start)
		return nil, nil
	}
	return conn, &Meta{
		Listener:   l.cfg.Name,
		Kind:       l.cfg.Kind,
		RemoteAddr: raw.RemoteAddr(),
		LocalAddr:  raw.LocalAddr(),
		TLS:        state,
	}
}

// runTracked runs the Handler for a tracked connection and then closes and
// releases it, unless the Handler parked it (park.go).
func (l *Listener) runTracked(tr *tracked, conn net.Conn, meta *Meta) {
	sc, _ := conn.(*shallowConn)
	parks := sc.parkCount()
	l.runHandler(conn, meta)
	if sc.parkCount() != parks {
		return // parked: a resume owns it now
	}
	conn.Close()
	l.release(tr, sc)
}

// runResume continues a parked connection's Handler on a new goroutine and
// then, unless it parked again, closes and releases the connection.
func (l *Listener) runResume(sc *shallowConn, resume func()) {
	parks := sc.parkCount()
	func() {
		defer l.recoverPanic(sc)
		resume()
	}()
	if sc.parkCount() != parks {
		return
	}
	sc.Close()
	l.release(sc.park.tr, sc)
}

// release forgets a connection that has ended.
func (l *Listener) release(tr *tracked, sc *shallowConn) {
	if sc != nil && l.poller != nil {
		l.poller.forget(sc)
	}
	l.untrack(tr)
}

// handshake runs the TLS handshake within the handshake timeout. It is kept
// out of serveConn (and not inlined) because serveConn's frame stays on the
// stack for the connection's whole life, and the handshake's locals are
// large.
//
//go:noinline
func (l *Listener) handshake(raw net.Conn, start time.Time) (net.Conn, *tls.ConnectionState, bool) {
	_ = raw.SetDeadline(start.Add(l.cfg.HandshakeTimeout))
	// MQTT connections read through a feed so that an idle one parks outside
	// crypto/tls (see shallow.go); WebSocket and HTTP hand-offs read the
	// socket as usual.
	var feed *feedConn
	if !l.cfg.Kind.websocket() {
		feed = newFeed(raw)
	}
	var tc *tls.Conn
	if feed != nil {
		tc = tls.Server(feed, l.tlsCfg)
	} else {
		tc = tls.Server(raw, l.tlsCfg)
	}
	if err := tc.Handshake(); err != nil {
		raw.Close()
		if !l.isClosing() {
			l.log.Info("transport: handshake failed", "remote_addr", raw.RemoteAddr().String(),
				"reason", handshakeReason(err, l.cfg.HandshakeTimeout), "error", err.Error())
		}
		return nil, nil, false
	}
	cs := tc.ConnectionState()
	var conn net.Conn = tc
	// An HTTP hand-off on tls-mux keeps the feed in pass-through mode.
	if feed != nil && (l.cfg.Kind == KindTLS || isMQTTProto(cs.NegotiatedProtocol)) {
		feed.handshaking = false
		conn = &shallowConn{Conn: tc, feed: feed}
	}
	l.log.Debug("transport: tls handshake done", "remote_addr", raw.RemoteAddr().String(),
		"sni", cs.ServerName, "alpn", cs.NegotiatedProtocol,
		"tls_version", tls.VersionName(cs.Version), "cipher_suite", tls.CipherSuiteName(cs.CipherSuite))
	return conn, &cs, true
}

// handOff gives a connection to the HTTP server (WebSocket upgrades, and
// HTTP on tls-mux). It is active, so that Shutdown does not close a conn the
// HTTP server may already own; closing httpLn ends deliver instead. The HTTP
// server sets its own deadlines.
func (l *Listener) handOff(conn, raw net.Conn, state *tls.ConnectionState, start time.Time) {
	if tc, ok := conn.(*tls.Conn); ok && state.NegotiatedProtocol == ALPNAmazonHTTP {
		conn = amazonHTTPConn{tc}
	}
	if !l.httpLn.deliver(conn, start.Add(l.cfg.HandshakeTimeout)) {
		raw.Close()
	}
}

func isMQTTProto(p string) bool { return p == ALPNAmazonMQTT || p == ALPNMQTT }

// runHandler calls the Handler. A panic is logged with its stack, as
// net/http does, and does not take the process down.
func (l *Listener) runHandler(conn net.Conn, meta *Meta) {
	defer l.recoverPanic(conn)
	l.handler(conn, *meta)
}

func (l *Listener) recoverPanic(conn net.Conn) {
	if p := recover(); p != nil {
		remote := ""
		if a := conn.RemoteAddr(); a != nil {
			remote = a.String()
		}
		l.log.Error("transport: handler panic", "remote_addr", remote,
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	}
}

// track registers c as handshaking and counts it in wg; nil if shutting
// down.
func (l *Listener) track(c net.Conn) *tracked {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return nil
	}
	tc := &tracked{conn: c, state: stateHandshake}
	l.conns[tc] = struct{}{}
	l.wg.Add(1)
	return tc
}

// setActive marks c as in the Handler; false if shutting down. sc is the
// connection the Handler gets if it can park, else nil.
func (l *Listener) setActive(tc *tracked, sc *shallowConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	tc.state = stateActive
	tc.sc = sc
	return true
}

func (l *Listener) untrack(tc *tracked) {
	l.mu.Lock()
	delete(l.conns, tc)
	l.mu.Unlock()
	l.wg.Done()
}

func (l *Listener) isClosing() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}
