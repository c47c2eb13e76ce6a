package device

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// receiveMaximum is the MQTT 5 Receive Maximum the client announces: how
// many QoS 1 messages the server may send it before their PUBACKs.
const receiveMaximum = 64

// session5 is MQTT 5 through paho.golang's autopaho, which owns the
// connection loop: it reconnects with our backoff, keeps the session state
// (unacknowledged QoS 1 messages) across connections, and reports each
// connection to the Client.
type session5 struct {
	cfg autopaho.ClientConfig

	mu       sync.Mutex
	cm       *autopaho.ConnectionManager
	downWhy  error // why the current connection ended, as paho reported it
	upGen    uint64
	downChan chan struct{} // closed when the current connection ends
}

func newSession5(c Config, t *tls.Config, h hooks, log *slog.Logger) *session5 {
	host, port, _ := c.hostPort() // checked by Validate
	u := &url.URL{Scheme: "tls", Host: net.JoinHostPort(host, strconv.Itoa(port))}
	s := &session5{downChan: make(chan struct{})}
	clean := c.CleanStart
	expiry := uint32(0)
	if !clean {
		expiry = uint32(c.SessionExpiry / time.Second)
	}
	s.cfg = autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        t,
		KeepAlive:                     uint16(c.KeepAlive / time.Second),
		CleanStartOnInitialConnection: clean,
		SessionExpiryInterval:         expiry,
		ReconnectBackoff:              h.delay,
		ConnectTimeout:                c.ConnectTimeout,
		// autopaho cleans the session on the first connection only; a clean
		// client wants a new session on every one.
		ConnectPacketBuilder: func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			cp.CleanStart = clean
			// paho sizes a channel of its inbound queue by the Receive
			// Maximum we announce: 65535 (512 KB per connection) without
			// one. A device needs few QoS 1 deliveries in flight.
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			rm := uint16(receiveMaximum)
			cp.Properties.ReceiveMaximum = &rm
			return cp, nil
		},
		OnConnectionUp: func(_ *autopaho.ConnectionManager, ca *paho.Connack) {
			s.mu.Lock()
			s.downWhy = nil
			s.downChan = make(chan struct{})
			s.mu.Unlock()
			h.up(ca.SessionPresent)
		},
		OnConnectionDown: func() bool {
			s.mu.Lock()
			why := s.downWhy
			close(s.downChan)
			s.mu.Unlock()
			h.down(why)
			return true
		},
		OnConnectError: h.connectError,
		Errors:         pahoLogger{log, slog.LevelDebug},
		PahoErrors:     pahoLogger{log, slog.LevelDebug},
		ClientConfig: paho.ClientConfig{
			ClientID: c.ClientID,
			// ctx bounds each request; this only stops a request without a
			// deadline from waiting forever on a silent server.
			PacketTimeout: time.Hour,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					p := pr.Packet
					h.message(Message{Topic: p.Topic, Payload: p.Payload, QoS: QoS(p.QoS), Retain: p.Retain})
					return true, nil
				},
			},
			OnServerDisconnect: func(d *paho.Disconnect) {
				why := "server sent DISCONNECT, " + formatReasonCode(d.ReasonCode)
				if d.Properties != nil && d.Properties.ReasonString != "" {
					why += ": " + d.Properties.ReasonString
				}
				s.mu.Lock()
				s.downWhy = errors.New(why)
				s.mu.Unlock()
			},
			OnClientError: func(err error) {
				s.mu.Lock()
				if s.downWhy == nil {
					s.downWhy = err
				}
				s.mu.Unlock()
			},
		},
	}
	return s
}

func (s *session5) start() error {
	cm, err := autopaho.NewConnection(context.Background(), s.cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cm = cm
	s.mu.Unlock()
	return nil
}

func (s *session5) manager() *autopaho.ConnectionManager {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cm
}

func (s *session5) publish(ctx context.Context, m Message) error {
	cm := s.manager()
	if cm == nil {
		return errDown
	}
	s.mu.Lock()
	down := s.downChan
	s.mu.Unlock()
	resp, err := cm.Publish(ctx, &paho.Publish{Topic: m.Topic, QoS: byte(m.QoS), Retain: m.Retain, Payload: m.Payload})
	if errors.Is(err, autopaho.ConnectionDownError) {
		return errDown
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		re := &ReasonError{Op: "publish", Topic: m.Topic, Code: resp.ReasonCode}
		if resp.Properties != nil {
			re.Reason = resp.Properties.ReasonString
		}
		return re
	}
	if err != nil && ctx.Err() == nil && isClosed(down) {
		return fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	return err
}

func (s *session5) subscribe(ctx context.Context, filter string, qos QoS) error {
	cm := s.manager()
	if cm == nil {
		return errDown
	}
	sa, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: byte(qos)}}})
	if errors.Is(err, autopaho.ConnectionDownError) {
		return errDown
	}
	if sa != nil && len(sa.Reasons) == 1 && sa.Reasons[0] >= 0x80 {
		re := &ReasonError{Op: "subscribe", Topic: filter, Code: sa.Reasons[0]}
		if sa.Properties != nil {
			re.Reason = sa.Properties.ReasonString
		}
		return re
	}
	return err
}

func (s *session5) unsubscribe(ctx context.Context, filter string) error {
	cm := s.manager()
	if cm == nil {
		return errDown
	}
	ua, err := cm.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{filter}})
	if errors.Is(err, autopaho.ConnectionDownError) {
		return errDown
	}
	if ua != nil && len(ua.Reasons) == 1 && ua.Reasons[0] >= 0x80 && ua.Reasons[0] != 0x11 { // 0x11: no subscription existed
		re := &ReasonError{Op: "unsubscribe", Topic: filter, Code: ua.Reasons[0]}
		if ua.Properties != nil {
			re.Reason = ua.Properties.ReasonString
		}
		return re
	}
	return err
}

func (s *session5) close(ctx context.Context) error {
	cm := s.manager()
	if cm == nil {
		return nil
	}
	return cm.Disconnect(ctx)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func formatReasonCode(code byte) string {
	s := "reason code 0x" + strconv.FormatUint(uint64(code), 16)
	if n := disconnectReasonName(code); n != "" {
		s += " " + n
	}
	return s
}

// disconnectReasonName names the DISCONNECT reason codes a device meets.
func disconnectReasonName(code byte) string {
	switch code {
	case 0x80:
		return "(unspecified error)"
	case 0x87:
		return "(not authorized)"
	case 0x8B:
		return "(server shutting down)"
	case 0x8D:
		return "(keep alive timeout)"
	case 0x8E:
		return "(session taken over)"
	case 0x97:
		return "(quota exceeded)"
	case 0x98:
		return "(administrative action)"
	}
	return reasonName(code)
}

// pahoLogger passes paho's log lines to slog at one level.
type pahoLogger struct {
	log   *slog.Logger
	level slog.Level
}

func (l pahoLogger) Println(v ...any) {
	if l.log.Enabled(context.Background(), l.level) {
		l.log.Log(context.Background(), l.level, "paho: "+fmt.Sprint(v...))
	}
}

func (l pahoLogger) Printf(format string, v ...any) {
	if l.log.Enabled(context.Background(), l.level) {
		l.log.Log(context.Background(), l.level, "paho: "+fmt.Sprintf(format, v...))
	}
}
