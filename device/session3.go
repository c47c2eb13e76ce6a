package device

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// session3 is MQTT 3.1.1. paho.golang speaks MQTT 5 only, so this mode uses
// github.com/eclipse/paho.mqtt.golang, Eclipse's MQTT 3.1.1 client. Its own
// reconnect has no jitter and no hooks for the Client's backoff, so it is
// turned off and this session runs the connection loop itself, with the
// same backoff and the same reports to the Client as session5. The paho
// client is reused across connections: its in-memory store keeps
// unacknowledged QoS 1 messages for the persistent session.
type session3 struct {
	cli     mqtt.Client
	h       hooks
	timeout time.Duration

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	lost     chan error // connection lost, from paho

	mu       sync.Mutex
	up       bool
	downChan chan struct{} // closed when the current connection ends
}

func newSession3(c Config, t *tls.Config, h hooks) *session3 {
	host, port, _ := c.hostPort() // checked by Validate
	s := &session3{
		h: h, timeout: c.ConnectTimeout,
		stop: make(chan struct{}), done: make(chan struct{}),
		lost: make(chan error, 1), downChan: make(chan struct{}),
	}
	o := mqtt.NewClientOptions().
		AddBroker("tls://" + net.JoinHostPort(host, strconv.Itoa(port))).
		SetTLSConfig(t).
		SetClientID(c.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(c.CleanStart).
		SetKeepAlive(c.KeepAlive).
		SetConnectTimeout(c.ConnectTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false). // the Client restores subscriptions itself
		SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			h.message(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: QoS(m.Qos()), Retain: m.Retained()})
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case s.lost <- err:
			default:
			}
		})
	s.cli = mqtt.NewClient(o)
	return s
}

func (s *session3) start() error {
	go s.loop()
	return nil
}

// loop connects, waits for the connection to drop, and connects again,
// until close.
func (s *session3) loop() {
	defer close(s.done)
	for attempt := 0; ; attempt++ {
		if d := s.h.delay(attempt); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.stop:
				t.Stop()
				return
			}
		}
		select {
		case <-s.lost: // a stale report from the last connection
		default:
		}
		tok := s.cli.Connect()
		select {
		case <-tok.Done():
		case <-s.stop:
			<-tok.Done() // bounded by the connect timeout
			if tok.Error() == nil {
				s.cli.Disconnect(250)
			}
			return
		}
		if err := tok.Error(); err != nil {
			s.h.connectError(err)
			continue
		}
		present := false
		if ct, ok := tok.(*mqtt.ConnectToken); ok {
			present = ct.SessionPresent()
		}
		s.mu.Lock()
		s.up = true
		down := make(chan struct{})
		s.downChan = down
		s.mu.Unlock()
		s.h.up(present)
		var why error
		stopped := false
		select {
		case why = <-s.lost:
		case <-s.stop:
			stopped = true
		}
		s.mu.Lock()
		s.up = false
		close(down)
		s.mu.Unlock()
		if stopped {
			s.cli.Disconnect(250) // sends DISCONNECT, waits up to 250 ms for in-flight work
			s.h.down(nil)
			return
		}
		s.h.down(why)
		attempt = -1 // the next attempt is the first after a connection
	}
}

func (s *session3) current() (up bool, down chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up, s.downChan
}

// wait waits for a paho token, the end of the connection, or ctx.
func (s *session3) wait(ctx context.Context, tok mqtt.Token, down chan struct{}) error {
	select {
	case <-tok.Done():
		err := tok.Error()
		if errors.Is(err, mqtt.ErrNotConnected) {
			return errDown
		}
		return err
	case <-down:
		return ErrConnectionLost
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *session3) publish(ctx context.Context, m Message) error {
	up, down := s.current()
	if !up {
		return errDown
	}
	tok := s.cli.Publish(m.Topic, byte(m.QoS), m.Retain, m.Payload)
	return s.wait(ctx, tok, down)
}

func (s *session3) subscribe(ctx context.Context, filter string, qos QoS) error {
	up, down := s.current()
	if !up {
		return errDown
	}
	tok := s.cli.Subscribe(filter, byte(qos), nil) // nil: messages go to the default handler
	if err := s.wait(ctx, tok, down); err != nil {
		return err
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		if code, ok := st.Result()[filter]; ok && code >= 0x80 {
			return &ReasonError{Op: "subscribe", Topic: filter, Code: code}
		}
	}
	return nil
}

func (s *session3) unsubscribe(ctx context.Context, filter string) error {
	up, down := s.current()
	if !up {
		return errDown
	}
	return s.wait(ctx, s.cli.Unsubscribe(filter), down)
}

func (s *session3) close(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("MQTT 3.1.1 connection loop: %w", ctx.Err())
	}
}
