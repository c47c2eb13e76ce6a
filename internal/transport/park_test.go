package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// parkingEcho is a Handler that echoes and parks its connection whenever it
// has echoed everything, as the broker does. ended gets the error that
// ended each connection.
type parkingEcho struct {
	ended        chan error
	conns        chan net.Conn // each connection, if not nil
	readDeadline time.Duration // 0: none
	frame        int           // > 0: read and echo messages of this size with io.ReadFull
}

func newParkingEcho() *parkingEcho { return &parkingEcho{ended: make(chan error, 100)} }

func (h *parkingEcho) handle(conn net.Conn, _ Meta) {
	p, ok := conn.(interface{ Park(func()) bool })
	if !ok {
		h.ended <- errors.New("connection has no Park method")
		return
	}
	if h.conns != nil {
		h.conns <- conn
	}
	if h.readDeadline > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(h.readDeadline))
	}
	var serve func()
	serve = func() {
		buf := make([]byte, 64) // smaller than some messages: Reads leave input in TLS
		for {
			if p.Park(serve) {
				return
			}
			var n int
			var err error
			if h.frame > 0 {
				n, err = io.ReadFull(conn, buf[:h.frame]) // waits inside Read, as the broker mid-packet
			} else {
				n, err = conn.Read(buf)
			}
			if err != nil {
				h.ended <- err
				return
			}
			if _, err := conn.Write(buf[:n]); err != nil {
				h.ended <- err
				return
			}
		}
	}
	serve()
}

// handlerGoroutines counts goroutines running parkingEcho code.
func handlerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "parkingEcho") {
			n++
		}
	}
	return n
}

// waitNoHandlerGoroutines polls until no goroutine runs parkingEcho code.
func waitNoHandlerGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for handlerGoroutines() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines still in the handler after 10s; want 0 for idle connections", handlerGoroutines())
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

func recvEnd(t *testing.T, h *parkingEcho) error {
	t.Helper()
	select {
	case err := <-h.ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("connection not ended within 10s")
		return nil
	}
}

func TestParkIdleConnectionsHoldNoGoroutine(t *testing.T) {
	p := newPKI(t)
	for _, tt := range []struct {
		name string
		kind Kind
		tls  uint16
		alpn []string
	}{
		{"tls13", KindTLS, tls.VersionTLS13, nil},
		{"tls12", KindTLS, tls.VersionTLS12, nil},
		{"tls-mux mqtt", KindTLSMux, tls.VersionTLS13, []string{ALPNAmazonMQTT}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newParkingEcho()
			l := start(t, Config{Kind: tt.kind}, p.serverTLS(t, TLSOptions{}), h.handle, newLog())
			cfg := p.clientTLS(p.client)
			cfg.MaxVersion, cfg.NextProtos = tt.tls, tt.alpn
			const n = 10
			var conns []*tls.Conn
			for range n {
				c, err := tls.Dial("tcp", l.Addr().String(), cfg)
				if err != nil {
					t.Fatalf("Dial() = %v", err)
				}
				defer c.Close()
				conns = append(conns, c)
			}
			long := strings.Repeat("0123456789", 50) // several Reads of the handler
			for round := range 3 {
				for i, c := range conns {
					if err := roundTrip(c, long); err != nil {
						t.Fatalf("round %d conn %d: %v", round, i, err)
					}
					// Two records in one TCP segment, more or less.
					if err := roundTrip(c, "ab"); err != nil {
						t.Fatalf("round %d conn %d: %v", round, i, err)
					}
				}
				waitNoHandlerGoroutines(t)
			}
			for _, c := range conns {
				c.Close()
				if err := recvEnd(t, h); !errors.Is(err, io.EOF) {
					t.Errorf("handler ended with %v, want EOF", err)
				}
			}
		})
	}
}

func TestParkPeerGone(t *testing.T) {
	p := newPKI(t)
	for _, tt := range []struct {
		name    string
		close   func(*tls.Conn) error
		wantErr error
	}{
		{"close-notify", (*tls.Conn).Close, io.EOF},
		// A killed device: FIN without a TLS close_notify.
		{"socket-closed", func(c *tls.Conn) error { return c.NetConn().Close() }, io.EOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newParkingEcho()
			l := start(t, Config{Kind: KindTLS}, p.serverTLS(t, TLSOptions{}), h.handle, newLog())
			c, err := tls.Dial("tcp", l.Addr().String(), p.clientTLS(p.client))
			if err != nil {
				t.Fatalf("Dial() = %v", err)
			}
			defer c.Close()
			if err := roundTrip(c, "hello"); err != nil {
				t.Fatal(err)
			}
			waitNoHandlerGoroutines(t)
			_ = tt.close(c)
			if err := recvEnd(t, h); !errors.Is(err, tt.wantErr) {
				t.Errorf("handler ended with %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestParkLingerDoesNotCutReads(t *testing.T) {
	p := newPKI(t)
	h := newParkingEcho()
	h.frame = 10
	l := start(t, Config{Kind: KindTLS}, p.serverTLS(t, TLSOptions{}), h.handle, newLog())
	c, err := tls.Dial("tcp", l.Addr().String(), p.clientTLS(p.client))
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	defer c.Close()
	if err := roundTrip(c, "0123456789"); err != nil {
		t.Fatal(err)
	}
	// Half a message, then a pause longer than Park's linger window, while
	// the handler waits in Read for the rest.
	if _, err := io.WriteString(c, "01234"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * parkAfter) // the client's own pause, not a wait for an effect
	if _, err := io.WriteString(c, "56789"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "0123456789" {
		t.Fatalf("echo = %q, %v; want \"0123456789\" (the handler's Read must not time out)", buf, err)
	}
}

func TestParkReadDeadline(t *testing.T) {
	p := newPKI(t)
	h := newParkingEcho()
	h.readDeadline = 4 * parkAfter // parks after one or two windows, then the deadline passes
	l := start(t, Config{Kind: KindTLS}, p.serverTLS(t, TLSOptions{}), h.handle, newLog())
	c, err := tls.Dial("tcp", l.Addr().String(), p.clientTLS(p.client))
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	defer c.Close()
	if err := roundTrip(c, "hello"); err != nil {
		t.Fatal(err)
	}
	waitNoHandlerGoroutines(t)
	if err := recvEnd(t, h); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle parked connection ended with %v, want a deadline error", err)
	}
	if err := waitEOF(c, 10*time.Second); err != nil {
		t.Error(err)
	}
}

func TestParkCloseResumes(t *testing.T) {
	p := newPKI(t)
	h := newParkingEcho()
	h.conns = make(chan net.Conn, 1)
	l := start(t, Config{Kind: KindTLS}, p.serverTLS(t, TLSOptions{}), h.handle, newLog())
	c, err := tls.Dial("tcp", l.Addr().String(), p.clientTLS(p.client))
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	defer c.Close()
	if err := roundTrip(c, "hello"); err != nil {
		t.Fatal(err)
	}
	server := <-h.conns
	waitNoHandlerGoroutines(t)
	server.Close() // as the broker's takeover does, from another goroutine
	if err := recvEnd(t, h); !errors.Is(err, net.ErrClosed) {
		t.Errorf("closed parked connection ended with %v, want net.ErrClosed", err)
	}
	if err := waitEOF(c, 10*time.Second); err != nil {
		t.Error(err)
	}
}

func TestParkForcedShutdown(t *testing.T) {
	p := newPKI(t)
	h := newParkingEcho()
	l, err := New(Config{Name: "park", Kind: KindTLS, Addr: "127.0.0.1:0"}, p.serverTLS(t, TLSOptions{}), h.handle,
		slog.New(newLog()))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if err := l.Listen(); err != nil {
		t.Fatalf("Listen() = %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Serve(context.Background()) }()
	c, err := tls.Dial("tcp", l.Addr().String(), p.clientTLS(p.client))
	if err != nil {
		t.Fatalf("Dial() = %v", err)
	}
	defer c.Close()
	if err := roundTrip(c, "hello"); err != nil {
		t.Fatal(err)
	}
	waitNoHandlerGoroutines(t)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown() = %v, want context.DeadlineExceeded (the parked connection stays until forced)", err)
	}
	if err := recvEnd(t, h); err == nil {
		t.Error("parked connection ended without an error at a forced shutdown")
	}
	if err := <-errc; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve() = %v, want ErrServerClosed", err)
	}
	if err := waitEOF(c, 10*time.Second); err != nil {
		t.Error(err)
	}
	// TestMain checks that the poller's goroutine has ended.
}
