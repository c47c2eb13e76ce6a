package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// maxPacket bounds the packets the load generator accepts from a broker.
const maxPacket = 1 << 20

// dialer opens mTLS MQTT 3.1.1 connections to one broker.
type dialer struct {
	addr    string
	tls     *tls.Config
	timeout time.Duration // for the TCP dial, the TLS handshake and CONNACK
}

// newDialer loads the CA, the client certificate and key, and pins what an
// embedded device offers: TLS 1.2 or later and X25519 only (no post-quantum
// hybrid key share, which costs a server about 10 KB per connection more).
// Session resumption is off: every connection does a full handshake.
func newDialer(addr, caFile, certFile, keyFile string, timeout time.Duration) (*dialer, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("ca %s: no PEM certificates", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load client certificate: %w", err)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("addr %q: %w", addr, err)
	}
	return &dialer{
		addr: addr,
		tls: &tls.Config{
			MinVersion:       tls.VersionTLS12,
			CurvePreferences: []tls.CurveID{tls.X25519},
			RootCAs:          pool,
			Certificates:     []tls.Certificate{cert},
			ServerName:       host,
		},
		timeout: timeout,
	}, nil
}

// conn is one MQTT client connection. write and read may be used from
// different goroutines, but each only from one at a time.
type conn struct {
	nc   net.Conn
	r    *bufio.Reader
	wbuf []byte
	body []byte // next's reused packet body
	id   string
}

// dial connects, completes the TLS handshake and the CONNECT/CONNACK
// exchange with a clean session.
func (d *dialer) dial(ctx context.Context, clientID string, keepAlive uint16) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	nd := net.Dialer{}
	raw, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	tc := tls.Client(raw, d.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	c := &conn{nc: tc, r: bufio.NewReaderSize(tc, 16<<10), id: clientID}
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
	}
	err = c.write(&packet.Connect{
		ProtocolName:    "MQTT",
		ProtocolVersion: packet.Version311,
		CleanStart:      true,
		KeepAlive:       keepAlive,
		ClientID:        clientID,
	})
	if err == nil {
		var p packet.Packet
		p, err = c.read()
		if ack, ok := p.(*packet.Connack); err == nil && !ok {
			err = fmt.Errorf("got %v, want CONNACK", p.Type())
		} else if err == nil && ack.ReasonCode != packet.RetAccepted {
			err = fmt.Errorf("CONNACK return code %d", ack.ReasonCode)
		}
	}
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("connect %s: %w", clientID, err)
	}
	tc.SetDeadline(time.Time{})
	return c, nil
}

// write encodes and sends one packet.
func (c *conn) write(p packet.Packet) error {
	b, err := packet.Append(c.wbuf[:0], p, packet.Version311)
	if err != nil {
		return err
	}
	c.wbuf = b
	_, err = c.nc.Write(b)
	return err
}

// read decodes the next packet.
func (c *conn) read() (packet.Packet, error) {
	return packet.Read(c.r, packet.Version311, maxPacket)
}

// next is read for the hot path: the body buffer is reused and a PUBLISH is
// decoded into pub, so nothing is allocated, and the packet returned is
// valid only until the next call.
func (c *conn) next(pub *packet.Publish) (packet.Packet, error) {
	h, n, err := packet.ReadFixedHeader(c.r, maxPacket)
	if err != nil {
		return nil, err
	}
	if cap(c.body) < n {
		c.body = make([]byte, n)
	}
	b := c.body[:n]
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, err
	}
	if packet.Type(h>>4) == packet.PUBLISH {
		return pub, packet.DecodePublish(h, b, packet.Version311, pub)
	}
	return packet.Decode(h, b, packet.Version311)
}

// subscribe subscribes to filter and waits for the SUBACK, skipping any
// PUBLISH that arrives first.
func (c *conn) subscribe(filter string, qos byte) error {
	err := c.write(&packet.Subscribe{
		PacketID:      1,
		Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}},
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", c.id, err)
	}
	for {
		p, err := c.read()
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", c.id, err)
		}
		if sa, ok := p.(*packet.Suback); ok {
			if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] >= packet.SubackFailure {
				return fmt.Errorf("subscribe %s: refused: %v", c.id, sa.ReasonCodes)
			}
			return nil
		}
	}
}

// disconnect sends DISCONNECT and closes the connection.
func (c *conn) disconnect() {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.write(&packet.Disconnect{})
	c.nc.Close()
}

// parallel runs fn(0) .. fn(n-1) with at most concurrency calls at once and
// stops starting calls once ctx ends. It returns how many calls failed and the
// first error.
func parallel(ctx context.Context, n, concurrency int, fn func(i int) error) (int, error) {
	var (
		next     atomic.Int64
		failures atomic.Int64
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for range max(1, min(concurrency, n)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					failures.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil && firstErr == nil {
		firstErr = err
	}
	return int(failures.Load()), firstErr
}

// dialMany opens n connections named prefix0..prefix(n-1) with at most
// concurrency dials in flight. It returns the connections (nil entries for
// failures), the number of failures and the first error.
func (d *dialer) dialMany(ctx context.Context, prefix string, n, concurrency int, keepAlive uint16) ([]*conn, int, error) {
	conns := make([]*conn, n)
	failures, err := parallel(ctx, n, concurrency, func(i int) error {
		c, err := d.dial(ctx, fmt.Sprintf("%s%d", prefix, i), keepAlive)
		conns[i] = c
		return err
	})
	return conns, failures, err
}

// dialManyClose is dialMany, but each connection sends DISCONNECT and closes
// as soon as it has its CONNACK. It returns the number of connections that
// succeeded.
func (d *dialer) dialManyClose(ctx context.Context, prefix string, n, concurrency int) (int, int, error) {
	var ok atomic.Int64
	failures, err := parallel(ctx, n, concurrency, func(i int) error {
		c, err := d.dial(ctx, fmt.Sprintf("%s%d", prefix, i), 60)
		if err != nil {
			return err
		}
		c.disconnect()
		ok.Add(1)
		return nil
	})
	return int(ok.Load()), failures, err
}

// closeAll disconnects every non-nil connection, concurrency at a time.
func closeAll(conns []*conn) {
	var wg sync.WaitGroup
	ch := make(chan *conn)
	for range min(64, len(conns)) {
		wg.Go(func() {
			for c := range ch {
				c.disconnect()
			}
		})
	}
	for _, c := range conns {
		if c != nil {
			ch <- c
		}
	}
	close(ch)
	wg.Wait()
}

// errClosed reports whether err is the expected end of a connection at the
// end of a run.
func errClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded)
}
