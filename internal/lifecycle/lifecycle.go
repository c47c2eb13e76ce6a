// Package lifecycle turns the broker's lifecycle events into AWS IoT Core's
// event messages, published on $aws/events/presence/... and
// $aws/events/subscriptions/... with AWS's JSON, and keeps the recent
// connection refusals and drops for diagnostics ("why was my device
// refused?").
//
// It implements broker.EventSink; the composition root plugs it in.
package lifecycle

import (
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/thingcore/thingcore/internal/broker"
)

// Publisher is how events reach subscribers: the broker's in-process
// Publish.
type Publisher interface {
	Publish(m *broker.Message) error
}

// Sink publishes lifecycle events and remembers recent refusals.
type Sink struct {
	pub Publisher
	log *slog.Logger

	mu     sync.Mutex
	recent []broker.Event // ring of refusals and drops, newest last
	size   int
}

var _ broker.EventSink = (*Sink)(nil)

// New returns a Sink publishing through pub and keeping the last keep
// refusals and abnormal disconnects (default 500).
func New(pub Publisher, keep int, log *slog.Logger) *Sink {
	if keep <= 0 {
		keep = 500
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sink{pub: pub, log: log, size: keep}
}

// SetPublisher sets the publisher once the broker exists (the broker needs
// the sink at construction, the sink needs the broker to publish).
func (s *Sink) SetPublisher(pub Publisher) {
	s.mu.Lock()
	s.pub = pub
	s.mu.Unlock()
}

// Event implements broker.EventSink.
func (s *Sink) Event(ev broker.Event) {
	s.remember(ev)
	topic, payload, ok := Encode(ev)
	if !ok {
		return
	}
	s.mu.Lock()
	pub := s.pub
	s.mu.Unlock()
	if pub == nil {
		return
	}
	if err := pub.Publish(&broker.Message{Topic: topic, Payload: payload, QoS: 1}); err != nil {
		s.log.Debug("lifecycle: publish event", "topic", topic, "err", err)
	}
}

func (s *Sink) remember(ev broker.Event) {
	switch {
	case ev.Kind == broker.EventConnectFailed:
	case ev.Kind == broker.EventDisconnected && !ev.ClientInitiated:
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recent) == s.size {
		copy(s.recent, s.recent[1:])
		s.recent = s.recent[:len(s.recent)-1]
	}
	s.recent = append(s.recent, ev)
}

// Recent returns remembered refusals and abnormal disconnects, newest first.
func (s *Sink) Recent() []broker.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]broker.Event, len(s.recent))
	for i, ev := range s.recent {
		out[len(out)-1-i] = ev
	}
	return out
}

// event is AWS's JSON, in the field order of AWS's examples.
type event struct {
	ClientID                  string   `json:"clientId"`
	ThingName                 string   `json:"thingName,omitempty"`
	Timestamp                 int64    `json:"timestamp"`
	EventType                 string   `json:"eventType"`
	ConnectFailureReason      string   `json:"connectFailureReason,omitempty"`
	SessionIdentifier         string   `json:"sessionIdentifier,omitempty"`
	PrincipalIdentifier       string   `json:"principalIdentifier,omitempty"`
	ClientInitiatedDisconnect *bool    `json:"clientInitiatedDisconnect,omitempty"`
	DisconnectReason          string   `json:"disconnectReason,omitempty"`
	IPAddress                 string   `json:"ipAddress,omitempty"`
	VersionNumber             *int64   `json:"versionNumber,omitempty"`
	Topics                    []string `json:"topics,omitempty"`
}

// Encode returns the topic and JSON payload AWS IoT publishes for ev. ok is
// false for events AWS does not publish (client ids containing '#' or '+').
func Encode(ev broker.Event) (topic string, payload []byte, ok bool) {
	if ev.ClientID == "" || strings.ContainsAny(ev.ClientID, "#+") {
		return "", nil, false
	}
	e := event{
		ClientID:            ev.ClientID,
		Timestamp:           ev.Time.UnixMilli(),
		EventType:           ev.Kind.String(),
		SessionIdentifier:   ev.SessionID,
		PrincipalIdentifier: ev.PrincipalID,
	}
	switch ev.Kind {
	case broker.EventConnected:
		topic = "$aws/events/presence/connected/" + ev.ClientID
		e.IPAddress = hostOnly(ev.RemoteAddr)
		e.VersionNumber = &ev.VersionNumber
	case broker.EventDisconnected:
		topic = "$aws/events/presence/disconnected/" + ev.ClientID
		ci := ev.ClientInitiated
		e.ClientInitiatedDisconnect = &ci
		e.DisconnectReason = ev.DisconnectReason
		e.VersionNumber = &ev.VersionNumber
	case broker.EventConnectFailed:
		topic = "$aws/events/presence/connect_failed/" + ev.ClientID
		e.ConnectFailureReason = ev.FailureReason
		e.IPAddress = hostOnly(ev.RemoteAddr)
	case broker.EventSubscribed, broker.EventUnsubscribed:
		topic = "$aws/events/subscriptions/" + ev.Kind.String() + "/" + ev.ClientID
		e.Topics = ev.Topics
	default:
		return "", nil, false
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", nil, false
	}
	return topic, b, true
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
