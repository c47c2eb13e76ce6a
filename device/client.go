package device

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// QoS is an MQTT quality of service level. AWS IoT Core and thingcore
// support 0 and 1.
type QoS byte

// The QoS levels a device may use.
const (
	AtMostOnce  QoS = 0 // fire and forget
	AtLeastOnce QoS = 1 // acknowledged by the server (PUBACK); may arrive twice
)

// Message is an MQTT application message, published or received.
type Message struct {
	Topic   string
	Payload []byte
	QoS     QoS
	Retain  bool // AWS IoT Core's policies must allow iot:RetainPublish
}

// Handler receives the messages of a subscription. Handlers run one at a
// time, in the order the messages arrived, on one goroutine of the Client:
// a handler must return quickly, and must not wait for another message of
// the same Client (a Shadow request, for instance) — start a goroutine for
// that.
type Handler func(Message)

// ErrConnectionLost is returned by Publish when the connection dropped
// before the server acknowledged a QoS 1 message: it may or may not have
// arrived (the MQTT session may send it again after reconnecting).
var ErrConnectionLost = errors.New("device: connection lost before the server acknowledged")

// errDown is what a session returns when it has no connection: the client
// queues the message.
var errDown = errors.New("device: no connection")

// stableAfter is how long a connection must last for the reconnect backoff
// to start again from ReconnectMin (AWS's SDKs use the same 30 s).
const stableAfter = 30 * time.Second

// session is what the Client needs from an MQTT library: connect and keep
// reconnecting, publish, subscribe, disconnect. One implementation per
// protocol version (session5.go, session3.go).
type session interface {
	// start begins connecting in the background; hooks report progress.
	start() error
	// publish sends m and, for QoS 1, waits for the PUBACK. It returns
	// errDown when there is no connection.
	publish(ctx context.Context, m Message) error
	// subscribe sends one SUBSCRIBE and waits for its SUBACK.
	subscribe(ctx context.Context, filter string, qos QoS) error
	// unsubscribe sends one UNSUBSCRIBE and waits for its UNSUBACK.
	unsubscribe(ctx context.Context, filter string) error
	// close disconnects cleanly and stops the background work.
	close(ctx context.Context) error
}

// hooks are how a session reports to the Client. up, down and connectError
// do not block; message may (it applies backpressure).
type hooks struct {
	up           func(sessionPresent bool)
	down         func(err error)
	connectError func(err error)
	message      func(Message)
	delay        func(attempt int) time.Duration // wait before attempt (0 for the first)
}

// Client is a device's MQTT connection to thingcore or AWS IoT Core. It
// reconnects by itself, resubscribes when the server lost the session, and
// queues publishes while disconnected. Its methods are safe for concurrent
// use.
type Client struct {
	cfg  Config // with defaults
	log  *slog.Logger
	sess session
	bo   backoff

	base       context.Context // ends at Close: internal requests
	cancelBase context.CancelFunc
	stop       chan struct{} // closed at Close
	wg         sync.WaitGroup
	inbox      chan Message  // received messages, to the dispatcher
	kick       chan struct{} // the connection came up

	mu sync.Mutex
	// The fields below are guarded by mu.
	started, closed bool
	linkUp          bool          // an MQTT connection is up
	sessionPresent  bool          // of the current connection
	gen             uint64        // incremented at every connection
	online          bool          // linkUp, and subscriptions restored
	onlineCh        chan struct{} // closed while online
	upAt            time.Time
	streak          int   // connections in a row that lasted less than stableAfter
	lastErr         error // the last connection attempt's error, or why it dropped
	subs            map[string]subscription
	queue           []Message // offline queue, oldest first
}

type subscription struct {
	filter  string
	qos     QoS
	handler Handler
}

// New checks cfg, loads its certificate, key and CA files, and returns a
// Client. It starts nothing: Connect does. log receives the client's
// connection lifecycle at Info and Warn and per-message events at Debug; nil
// discards it.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("client_id", cfg.ClientID)
	base, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg: cfg, log: log,
		bo:   backoff{min: cfg.ReconnectMin, max: cfg.ReconnectMax},
		base: base, cancelBase: cancel,
		stop:     make(chan struct{}),
		inbox:    make(chan Message, 64),
		kick:     make(chan struct{}, 1),
		onlineCh: make(chan struct{}),
		subs:     map[string]subscription{},
	}
	h := hooks{up: c.onUp, down: c.onDown, connectError: c.onConnectError, message: c.onMessage, delay: c.reconnectDelay}
	c.sess = c.newSession(t, h)
	return c, nil
}

func (c *Client) newSession(t *tls.Config, h hooks) session {
	if c.cfg.Protocol == MQTT311 {
		return newSession3(c.cfg, t, h)
	}
	return newSession5(c.cfg, t, h, c.log)
}

// Connect starts the client's connection and waits until it is up (and
// subscriptions made earlier are restored), or until ctx ends. From the
// first call on, the client keeps connecting and reconnecting in the
// background until Close, even when Connect returns an error: the error
// then says why the last attempt failed. Calling Connect again just waits
// for the connection.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if !c.started {
		c.started = true
		c.wg.Add(2)
		go c.run()
		go c.dispatch()
		if err := c.sess.start(); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("device: connect %s: %w", c.cfg.Endpoint, err)
		}
		c.log.Info("device: connecting", "endpoint", c.cfg.Endpoint, "protocol", string(c.cfg.Protocol))
	}
	c.mu.Unlock()
	if err := c.waitOnline(ctx); err != nil {
		return fmt.Errorf("device: connect %s: %w", c.cfg.Endpoint, err)
	}
	return nil
}

// Connected reports whether the client is connected now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.online
}

// Config returns the client's configuration, with defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// waitOnline waits until the client is online, ctx ends or Close.
func (c *Client) waitOnline(ctx context.Context) error {
	c.mu.Lock()
	ch, closed := c.onlineCh, c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	select {
	case <-ch:
		return nil
	case <-c.stop:
		return ErrClosed
	case <-ctx.Done():
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		if last != nil {
			return fmt.Errorf("%w (not connected; last error: %w)", ctx.Err(), last)
		}
		return fmt.Errorf("%w (not connected)", ctx.Err())
	}
}

// Publish sends m. Connected, it returns once the message is written (QoS
// 0) or acknowledged by the server (QoS 1), or ctx ends. While the client
// is not connected — or still sending messages queued before — m is added
// to the offline queue and Publish returns nil at once; queued messages are
// sent in order after reconnecting. A full queue gives a *QueueFullError
// (errors.Is(err, ErrQueueFull)). A server refusal (a policy denying the
// topic, for instance) gives a *ReasonError under MQTT 5; an MQTT 3.1.1
// server closes the connection instead.
func (c *Client) Publish(ctx context.Context, m Message) error {
	if err := checkTopicName(m.Topic); err != nil {
		return fmt.Errorf("device: publish: %w", err)
	}
	if m.QoS > AtLeastOnce {
		return fmt.Errorf("device: publish %s: QoS %d: AWS IoT Core and thingcore support QoS 0 and 1", m.Topic, m.QoS)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if !c.online || len(c.queue) > 0 {
		defer c.mu.Unlock()
		return c.enqueueLocked(m)
	}
	c.mu.Unlock()
	err := c.sess.publish(ctx, m)
	if errors.Is(err, errDown) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.enqueueLocked(m)
	}
	if err != nil {
		var re *ReasonError
		if errors.As(err, &re) {
			return err
		}
		return fmt.Errorf("device: publish %s: %w", m.Topic, err)
	}
	c.log.Debug("device: published", "topic", m.Topic, "qos", int(m.QoS), "bytes", len(m.Payload))
	return nil
}

// enqueueLocked adds m to the offline queue. c.mu must be held.
func (c *Client) enqueueLocked(m Message) error {
	if c.cfg.OfflineQueue < 0 {
		return fmt.Errorf("device: publish %s: %w", m.Topic, ErrNotConnected)
	}
	if len(c.queue) >= c.cfg.OfflineQueue {
		return &QueueFullError{Topic: m.Topic, Limit: c.cfg.OfflineQueue}
	}
	m.Payload = bytes.Clone(m.Payload)
	c.queue = append(c.queue, m)
	c.log.Debug("device: publish queued", "topic", m.Topic, "queued", len(c.queue))
	if c.online && len(c.queue) == 1 {
		// Online but the flush just ended: nobody else will send it.
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Queued returns how many publishes wait in the offline queue.
func (c *Client) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Subscribe subscribes to the topic filter and sends its messages to h. It
// waits until the client is connected and the server acknowledged the
// subscription, or ctx ends. The client restores the subscription after
// reconnecting when the server did not keep the session. Subscribing again
// to the same filter replaces its handler; a message matching several
// filters goes to each of their handlers.
func (c *Client) Subscribe(ctx context.Context, filter string, qos QoS, h Handler) error {
	if err := checkTopicFilter(filter); err != nil {
		return fmt.Errorf("device: subscribe: %w", err)
	}
	if qos > AtLeastOnce {
		return fmt.Errorf("device: subscribe %s: QoS %d: AWS IoT Core and thingcore support QoS 0 and 1", filter, qos)
	}
	if h == nil {
		return fmt.Errorf("device: subscribe %s: nil handler", filter)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.subs[filter] = subscription{filter: filter, qos: qos, handler: h}
	c.mu.Unlock()
	for {
		err := c.waitOnline(ctx)
		if err == nil {
			err = c.sess.subscribe(ctx, filter, qos)
			if errors.Is(err, errDown) {
				continue // dropped meanwhile: wait for the next connection
			}
		}
		if err != nil {
			c.mu.Lock()
			delete(c.subs, filter)
			c.mu.Unlock()
			var re *ReasonError
			if errors.As(err, &re) || errors.Is(err, ErrClosed) {
				return err
			}
			return fmt.Errorf("device: subscribe %s: %w", filter, err)
		}
		c.log.Debug("device: subscribed", "topic", filter, "qos", int(qos))
		return nil
	}
}

// Unsubscribe ends the subscription to filter. Its handler gets no more
// messages. When the client is not connected, the server forgets the
// subscription only if it drops the session.
func (c *Client) Unsubscribe(ctx context.Context, filter string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	_, ok := c.subs[filter]
	delete(c.subs, filter)
	online := c.online
	c.mu.Unlock()
	if !ok || !online {
		return nil
	}
	err := c.sess.unsubscribe(ctx, filter)
	if err != nil && !errors.Is(err, errDown) {
		var re *ReasonError
		if errors.As(err, &re) {
			return err
		}
		return fmt.Errorf("device: unsubscribe %s: %w", filter, err)
	}
	return nil
}

// Close disconnects cleanly (an MQTT DISCONNECT, so the server does not
// publish the will), stops the client's goroutines and waits for them until
// ctx ends. Queued publishes not yet sent are dropped (the log says how
// many). Calling Close again returns nil.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	started := c.started
	dropped := len(c.queue)
	c.queue = nil
	c.mu.Unlock()
	var err error
	if started {
		if err = c.sess.close(ctx); err != nil {
			err = fmt.Errorf("device: close: %w", err)
		}
	}
	close(c.stop)
	c.cancelBase()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("device: close: %w", ctx.Err()))
	}
	if dropped > 0 {
		c.log.Warn("device: closed with unsent queued publishes", "dropped", dropped)
	}
	c.log.Info("device: closed")
	return err
}

// onUp is the session's report of a new connection.
func (c *Client) onUp(sessionPresent bool) {
	c.mu.Lock()
	c.linkUp = true
	c.sessionPresent = sessionPresent
	c.gen++
	c.upAt = time.Now()
	c.lastErr = nil
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// onDown is the session's report of a lost connection.
func (c *Client) onDown(err error) {
	c.mu.Lock()
	c.linkUp = false
	if c.online {
		c.online = false
		c.onlineCh = make(chan struct{})
	}
	if time.Since(c.upAt) < stableAfter {
		c.streak = min(c.streak+1, 30)
	} else {
		c.streak = 0
	}
	if err != nil {
		c.lastErr = err
	}
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		c.log.Warn("device: connection lost; reconnecting", "reason", errText(err))
	}
}

func (c *Client) onConnectError(err error) {
	c.mu.Lock()
	c.lastErr = err
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		c.log.Warn("device: connection attempt failed", "endpoint", c.cfg.Endpoint, "reason", err.Error())
	}
}

func (c *Client) onMessage(m Message) {
	select {
	case c.inbox <- m:
	case <-c.stop:
	}
}

// reconnectDelay is the wait before connection attempt n after the last
// connection (n = 0 is the first attempt).
func (c *Client) reconnectDelay(n int) time.Duration {
	c.mu.Lock()
	n += c.streak
	c.mu.Unlock()
	return c.bo.delay(n)
}

// run brings the client online after each connection: it restores the
// subscriptions when the server did not keep the session, then sends the
// offline queue.
func (c *Client) run() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		c.mu.Lock()
		if !c.linkUp {
			c.mu.Unlock()
			continue
		}
		gen, wasOnline := c.gen, c.online
		var resub []subscription
		if !c.online && !c.sessionPresent {
			for _, s := range c.subs {
				resub = append(resub, s)
			}
		}
		sessionPresent := c.sessionPresent
		c.mu.Unlock()
		if !wasOnline {
			if !c.resubscribe(resub) {
				continue
			}
			c.mu.Lock()
			if c.gen != gen || !c.linkUp {
				c.mu.Unlock()
				continue
			}
			c.online = true
			close(c.onlineCh)
			queued := len(c.queue)
			c.mu.Unlock()
			c.log.Info("device: connected", "endpoint", c.cfg.Endpoint, "session_present", sessionPresent,
				"resubscribed", len(resub), "queued", queued)
		}
		c.flush(gen)
	}
}

// resubscribe subscribes again; it reports false when the connection
// dropped meanwhile. A refused subscription is dropped with a warning.
func (c *Client) resubscribe(subs []subscription) bool {
	for _, s := range subs {
		err := c.sess.subscribe(c.base, s.filter, s.qos)
		var re *ReasonError
		switch {
		case err == nil:
		case errors.As(err, &re):
			c.log.Warn("device: subscription refused after reconnecting; dropped", "topic", s.filter, "reason", err.Error())
			c.mu.Lock()
			delete(c.subs, s.filter)
			c.mu.Unlock()
		default:
			c.log.Debug("device: resubscribe interrupted", "topic", s.filter, "reason", err.Error())
			return false
		}
	}
	return true
}

// flush sends the offline queue, oldest first, while connection gen lasts.
func (c *Client) flush(gen uint64) {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || !c.online || c.gen != gen {
			c.mu.Unlock()
			return
		}
		m := c.queue[0]
		c.mu.Unlock()
		err := c.sess.publish(c.base, m)
		var re *ReasonError
		switch {
		case err == nil:
			c.log.Debug("device: queued publish sent", "topic", m.Topic)
		case errors.As(err, &re):
			c.log.Warn("device: queued publish refused; dropped", "topic", m.Topic, "reason", err.Error())
		default:
			// Left at the head of the queue for the next connection.
			c.log.Debug("device: queued publish interrupted", "topic", m.Topic, "reason", err.Error())
			return
		}
		c.mu.Lock()
		if len(c.queue) > 0 { // Close may have emptied it
			c.queue = c.queue[1:]
		}
		c.mu.Unlock()
	}
}

// dispatch delivers received messages to the handlers of matching
// subscriptions, one at a time.
func (c *Client) dispatch() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case m := <-c.inbox:
			c.deliver(m)
		}
	}
}

func (c *Client) deliver(m Message) {
	var hs []Handler
	c.mu.Lock()
	for f, s := range c.subs {
		if matchTopic(f, m.Topic) {
			hs = append(hs, s.handler)
		}
	}
	c.mu.Unlock()
	if len(hs) == 0 {
		c.log.Debug("device: message without a handler", "topic", m.Topic)
		return
	}
	for _, h := range hs {
		h(m)
	}
}

// checkTopicName checks a topic to publish to.
func checkTopicName(t string) error {
	if t == "" {
		return errors.New("empty topic")
	}
	if strings.ContainsAny(t, "+#\x00") {
		return fmt.Errorf("topic %q: wildcards are for subscriptions", t)
	}
	return nil
}

// checkTopicFilter checks a filter to subscribe to.
func checkTopicFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: '#' must be a whole, last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: '+' must be a whole level", f)
		}
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return "connection closed"
	}
	return err.Error()
}
