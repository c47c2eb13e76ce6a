package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// readBufferSize is the per-connection read buffer. Small on purpose, and
// large packets are read straight into their own allocation. A connection
// that parks (see Parker) gives its buffer back to readers while idle.
const readBufferSize = 512

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

// client is one network connection speaking MQTT. Its reader runs on the
// goroutine that called ServeConn, or, after the connection parked (see
// Parker), on the goroutine that resumed it; a writer goroutine exists only
// while there are bytes to write (see writer.go).
type client struct {
	b    *Broker
	conn net.Conn
	info ConnInfo
	br   *bufio.Reader // nil while parked
	log  *slog.Logger

	parker   Parker // conn, if it can park; else nil
	resumeFn func() // c.resume, made once

	// Set during CONNECT, read-only afterwards.
	version       byte
	clientID      string
	principal     Principal
	sess          *session
	keepAlive     time.Duration
	maxPacketOut  uint32 // client's Maximum Packet Size; 0 means no limit
	receiveMax    int    // outbound QoS>0 window
	lcVersion     int64  // lifecycle versionNumber
	connected     bool   // CONNACK accepted was sent
	will          *Message
	willDelay     time.Duration
	problemDetail bool // v5 Request Problem Information (default true)

	// Reader-goroutine state.
	deadlineSet time.Time // when the keep-alive read deadline was last moved
	aliases     map[uint16]string
	rateStart   time.Time
	rateCount   int

	// Outbound state, guarded by wmu (lock order: session.mu, then wmu).
	wmu       sync.Mutex
	wbuf      []byte
	writing   bool
	wclosed   bool
	congested bool
	writerWG  sync.WaitGroup
	// holdTimer starts the writer for acks held by sendHeld; holdArmed says
	// it is pending. Created on the first held ack.
	holdTimer *time.Timer
	holdArmed bool

	// Disconnect bookkeeping.
	closeOnce   sync.Once
	closeMu     sync.Mutex
	closeReason string // AWS disconnectReason
	closeDetail string
	clientDisc  bool // the client sent DISCONNECT
	sendWill    bool
	done        chan struct{} // closed when cleanup has finished
}

// newClient allocates a client. It is not inlined so that its temporaries
// do not enlarge ServeConn's frame, which stays on the stack for the life of
// the connection.
//
//go:noinline
func newClient(b *Broker, conn net.Conn, info ConnInfo) *client {
	c := &client{
		b:             b,
		conn:          conn,
		info:          info,
		log:           b.log,
		problemDetail: true,
		done:          make(chan struct{}),
	}
	c.takeReader()
	if p, ok := conn.(Parker); ok {
		c.parker = p
		c.resumeFn = c.resume
	}
	return c
}

// takeReader gives the client a read buffer from the pool.
func (c *client) takeReader() {
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(c.conn)
}

// dropReader returns the client's read buffer, which must be empty.
func (c *client) dropReader() {
	c.br.Reset(nil)
	readers.Put(c.br)
	c.br = nil
}

// errClose ends the read loop after a protocol decision was already acted on.
var errClose = errors.New("close")

// errParked ends the read loop when the connection parked; resume goes on.
var errParked = errors.New("parked")

// serve runs the connection: CONNECT, then packets until the end. It
// reports true if the connection parked: then the rest runs in resume,
// and the caller must leave the connection alone.
func (c *client) serve() bool {
	if err := c.handshake(); err != nil {
		c.closeConn()
		c.shutdownWriter()
		c.dropReader()
		close(c.done)
		return false
	}
	c.b.stats.Connections.Add(1)
	c.moveDeadline(c.b.now())
	return c.run()
}

// run reads packets until the end or until the connection parks (true).
func (c *client) run() bool {
	err := c.readLoop()
	if err == errParked {
		return true
	}
	c.b.stats.Connections.Add(-1)
	c.finish(err)
	if c.br != nil {
		c.dropReader()
	}
	close(c.done)
	return false
}

// resume continues a parked connection (see Parker) on the goroutine its
// Parker started, and ends it as ServeConn would.
func (c *client) resume() {
	parked := false
	defer func() {
		if !parked {
			c.conn.Close()
			c.b.conns.Done()
		}
	}()
	c.takeReader()
	parked = c.run()
}

// handshake reads CONNECT, authenticates, installs the session and sends
// CONNACK. On failure it has already answered the client and logged why.
func (c *client) handshake() error {
	_ = c.conn.SetReadDeadline(c.b.now().Add(c.b.cfg.ConnectTimeout))
	p, err := packet.Read(c.br, packet.Version5, c.b.maxPacket)
	if err != nil {
		c.logReadError("before CONNECT", err)
		var pe *packet.Error
		if errors.As(err, &pe) && pe.Code == packet.UnsupportedProtocolVersion {
			// Answer in 3.1.1 form, which every version understands.
			c.writeNow(&packet.Connack{ReasonCode: packet.RetUnacceptableProtocolVersion}, packet.Version311)
		}
		return err
	}
	cp, ok := p.(*packet.Connect)
	if !ok {
		c.log.Info("mqtt: first packet is not CONNECT; closing", "remote_addr", c.remote(), "packet", p.Type().String())
		return errClose
	}
	return c.connect(cp)
}

func (c *client) remote() string {
	if c.info.RemoteAddr != nil {
		return c.info.RemoteAddr.String()
	}
	if a := c.conn.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

func (c *client) logReadError(when string, err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Debug("mqtt: connection closed "+when, "remote_addr", c.remote(), "client_id", c.clientID)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Info("mqtt: no CONNECT within the connect timeout; closing", "remote_addr", c.remote(),
			"timeout", c.b.cfg.ConnectTimeout.String())
	default:
		c.log.Info("mqtt: bad packet "+when+"; closing", "remote_addr", c.remote(), "client_id", c.clientID, "reason", err.Error())
	}
}

// readLoop reads and handles packets until an error, a DISCONNECT or, when
// the connection can park and all input is used up, errParked. Without a
// Parker, an idle connection's goroutine waits in ReadFixedHeader, so this
// frame is kept small: per-packet state lives in readPacket's frame.
func (c *client) readLoop() error {
	for {
		if c.parker != nil && c.br.Buffered() == 0 {
			c.dropReader()
			if c.parker.Park(c.resumeFn) {
				return errParked // c belongs to resume now
			}
			c.takeReader()
		}
		header, remaining, err := packet.ReadFixedHeader(c.br, c.b.maxPacket)
		if err != nil {
			return err
		}
		if err := c.readPacket(header, remaining); err != nil {
			return err
		}
		if now := c.b.now(); now.Sub(c.deadlineSet) >= c.deadlineRefresh() {
			c.moveDeadline(now)
		}
	}
}

// The keep-alive deadline moves with every packet, but resetting a socket
// deadline costs a timer update, so it is refreshed at most every
// deadlineRefresh (1 s, less for tiny keep-alives) and set that much longer
// to compensate.
func (c *client) deadlineRefresh() time.Duration {
	return min(time.Second, (c.keepAlive+c.keepAlive/2)/8)
}

// moveDeadline sets the read deadline to 1.5 × keep-alive (plus the
// refresh slack) after now.
func (c *client) moveDeadline(now time.Time) {
	_ = c.conn.SetReadDeadline(now.Add(c.keepAlive + c.keepAlive/2 + c.deadlineRefresh()))
	c.deadlineSet = now
}

// readPacket reads the body of one packet and handles it.
//
//go:noinline
func (c *client) readPacket(header byte, remaining int) error {
	body := make([]byte, remaining)
	if _, err := io.ReadFull(c.br, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if packet.Type(header>>4) == packet.PUBLISH {
		var pub packet.Publish
		if err := packet.DecodePublish(header, body, c.version, &pub); err != nil {
			return err
		}
		return c.handlePublish(&pub)
	}
	p, err := packet.Decode(header, body, c.version)
	if err != nil {
		return err
	}
	return c.handle(p)
}

func (c *client) handle(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Ack:
		return c.handleAck(p)
	case *packet.Subscribe:
		return c.handleSubscribe(p)
	case *packet.Unsubscribe:
		return c.handleUnsubscribe(p)
	case *packet.Pingreq:
		c.send(&packet.Pingresp{})
		return nil
	case *packet.Disconnect:
		return c.handleDisconnect(p)
	case *packet.Connect:
		return c.protocolError(packet.ProtocolError, ReasonClientError, "second CONNECT on one connection")
	case *packet.Auth:
		return c.protocolError(packet.ProtocolError, ReasonClientError, "AUTH is not supported")
	default:
		return c.protocolError(packet.ProtocolError, ReasonClientError, fmt.Sprintf("%s is not sent by clients", p.Type()))
	}
}

// protocolError disconnects the client for a violation: v5 gets a DISCONNECT
// with code; both versions are closed.
func (c *client) protocolError(code packet.ReasonCode, reason, detail string) error {
	c.setClose(reason, detail, true)
	c.log.Warn("mqtt: disconnecting client", "client_id", c.clientID, "remote_addr", c.remote(),
		"reason", detail, "reason_code", fmt.Sprintf("0x%02X", byte(code)))
	if c.version == packet.Version5 {
		d := &packet.Disconnect{ReasonCode: code}
		if c.problemDetail {
			d.Properties.ReasonString = detail
			d.Properties.Set(packet.PropReasonString)
		}
		c.writeNow(d, c.version)
	}
	return errClose
}

func (c *client) handleDisconnect(d *packet.Disconnect) error {
	if c.version == packet.Version5 && d.Properties.Has(packet.PropSessionExpiryInterval) {
		s := c.sess
		s.mu.Lock()
		wasZero := s.expiry == 0
		s.mu.Unlock()
		if wasZero && d.Properties.SessionExpiryInterval != 0 {
			return c.protocolError(packet.ProtocolError, ReasonClientError, "DISCONNECT raises a session expiry of 0")
		}
		s.setExpiry(c.b.clampExpiry(d.Properties.SessionExpiryInterval))
	}
	withWill := c.version == packet.Version5 && d.ReasonCode == packet.DisconnectWithWill
	c.closeMu.Lock()
	c.clientDisc = true
	c.closeReason = ReasonClientInitiated
	c.closeDetail = "client sent DISCONNECT"
	c.sendWill = withWill
	c.closeMu.Unlock()
	return errClose
}

// setClose records why the connection ends, the first reason winning.
func (c *client) setClose(reason, detail string, will bool) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closeReason != "" {
		return
	}
	c.closeReason = reason
	c.closeDetail = detail
	c.sendWill = will
}

// kick disconnects the client from outside its goroutine (takeover,
// deactivation, shutdown).
func (c *client) kick(code packet.ReasonCode, reason, detail string) {
	c.setClose(reason, detail, true)
	if c.version == packet.Version5 && c.connected {
		d := &packet.Disconnect{ReasonCode: code}
		if c.problemDetail && detail != "" {
			d.Properties.ReasonString = detail
			d.Properties.Set(packet.PropReasonString)
		}
		c.sendAndClose(d)
		return
	}
	c.closeConn()
}

func (c *client) closeConn() {
	c.closeOnce.Do(func() { _ = c.conn.Close() })
}

// finish runs once the read loop has ended: it works out why, stops the
// writer, detaches the session and publishes the will.
func (c *client) finish(err error) {
	switch {
	case err == nil || errors.Is(err, errClose):
	case errors.Is(err, os.ErrDeadlineExceeded):
		if c.setCloseIfEmpty(ReasonKeepAliveTimeout, fmt.Sprintf("no packet for 1.5 × keep-alive (%s)", c.keepAlive)) {
			c.log.Info("mqtt: keep-alive timeout", "client_id", c.clientID, "remote_addr", c.remote(), "keep_alive", c.keepAlive.String())
			if c.version == packet.Version5 {
				c.writeNow(&packet.Disconnect{ReasonCode: packet.KeepAliveTimeout}, c.version)
			}
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), isNetError(err):
		c.setCloseIfEmpty(ReasonConnectionLost, "connection closed without DISCONNECT")
	default:
		var pe *packet.Error
		if errors.As(err, &pe) {
			_ = c.protocolError(pe.Code, ReasonClientError, pe.Reason)
		} else {
			c.setCloseIfEmpty(ReasonConnectionLost, err.Error())
		}
	}
	c.closeConn()
	c.shutdownWriter()

	c.closeMu.Lock()
	reason, detail, clientDisc, sendWill := c.closeReason, c.closeDetail, c.clientDisc, c.sendWill
	c.closeMu.Unlock()
	if clientDisc && !sendWill {
		c.will = nil
	}
	c.b.detach(c, reason)
	c.log.Info("mqtt: client disconnected", "client_id", c.clientID, "remote_addr", c.remote(),
		"reason", reason, "detail", detail)
	c.b.emit(Event{
		Kind: EventDisconnected, ClientID: c.clientID, PrincipalID: principalID(c.principal),
		SessionID: c.sess.sessionID, VersionNumber: c.lcVersion, ProtocolVersion: c.version,
		DisconnectReason: reason, ClientInitiated: clientDisc, Detail: detail,
		PersistentSession: c.sess.isPersistent(),
	})
}

func (c *client) setCloseIfEmpty(reason, detail string) bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closeReason != "" {
		return false
	}
	c.closeReason, c.closeDetail, c.sendWill = reason, detail, true
	return true
}

// isNetError reports a network-level read failure (reset, refused, ...):
// the connection is lost.
func isNetError(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

func principalID(p Principal) string {
	if p == nil {
		return ""
	}
	return p.ID()
}

// authorize asks the Authorizer, logging a denial with its reason.
func (c *client) authorize(a Action, resource string) error {
	err := c.b.deps.Authorizer.Authorize(c.principal, c.clientID, a, resource)
	if err != nil {
		c.log.Warn("mqtt: action denied", "client_id", c.clientID, "cert_id", principalID(c.principal),
			"action", a.String(), "resource", resource, "reason", err.Error())
	}
	return err
}

// allowRate applies the per-connection publish rate (PublishRate per second).
func (c *client) allowRate() bool {
	limit := c.b.cfg.PublishRate
	if limit < 0 {
		return true
	}
	now := c.b.now()
	if now.Sub(c.rateStart) >= time.Second {
		c.rateStart, c.rateCount = now, 0
	}
	c.rateCount++
	return c.rateCount <= limit
}
