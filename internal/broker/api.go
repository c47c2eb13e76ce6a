package broker

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// ConnInfo is what the transport knows about a connection before MQTT starts.
// The composition root fills it from the listener's metadata.
type ConnInfo struct {
	Listener   string               // name of the listener that accepted the connection
	Transport  string               // "tls", "tcp", "wss", "ws" or "inproc"
	RemoteAddr net.Addr             // may be nil
	TLS        *tls.ConnectionState // verified peer, SNI and ALPN; nil on plain listeners
}

// Parker is an optional interface of a net.Conn given to ServeConn. Most
// connections of a hub are idle devices, and a goroutine waiting in Read
// costs a stack per connection; with a Parker the broker holds no goroutine
// for a connection while nothing arrives.
//
// The broker calls Park from the goroutine reading the connection when it
// has used up all input read so far. Park reports false, arranging nothing,
// when input is ready to Read or the connection cannot wait without a
// goroutine; the broker then reads as usual. When Park reports true, the
// connection is handed over: the broker's goroutine returns without
// touching it, and whoever implements Park calls resume once, on a new
// goroutine, when the connection has input, its read deadline passes or it
// is closed. The broker closes the connection when it is done with it; the
// implementation closes it too when resume returns without having parked
// again.
type Parker interface {
	Park(resume func()) bool
}

// ConnectRequest is what an Authenticator decides on: the CONNECT packet's
// identity fields and the connection they arrived on.
type ConnectRequest struct {
	ClientID        string
	ProtocolVersion byte // packet.Version311 or packet.Version5
	CleanStart      bool
	UsernameFlag    bool
	Username        string
	PasswordFlag    bool
	Password        []byte
	WillTopic       string // empty when there is no will
	Conn            ConnInfo
}

// Principal is an authenticated identity. ID is what lifecycle events report
// as principalIdentifier (a certificate id for X.509 devices). Implementations
// may carry anything their Authorizer needs (compiled policies, thing name).
type Principal interface {
	ID() string
}

// Authenticator decides whether a CONNECT may proceed and who it is.
// A refusal is an error; wrap a *Refusal to choose the reason code and the
// lifecycle reason, otherwise NotAuthorized / AUTHORIZATION_FAILED is used.
// The error text is logged as the refusal's reason, so make it say why.
type Authenticator interface {
	Authenticate(ctx context.Context, req *ConnectRequest) (Principal, error)
}

// Action is an operation a client asks to perform, as AWS IoT policies name
// them.
type Action uint8

// The actions the broker authorizes.
const (
	ActionConnect       Action = iota + 1 // resource: the client id
	ActionPublish                         // resource: the topic
	ActionRetainPublish                   // resource: the topic (a publish with RETAIN set)
	ActionSubscribe                       // resource: the literal topic filter, wildcards included
	ActionReceive                         // resource: the concrete topic, checked at every delivery
)

var actionNames = [...]string{"", "connect", "publish", "retain_publish", "subscribe", "receive"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Authorizer decides every action of an authenticated client. nil means
// allowed; an error means denied and its text, which should name the policy
// and statement behind the decision, is logged. It is called on the hot path
// (ActionReceive once per delivery), so implementations cache per Principal.
type Authorizer interface {
	Authorize(p Principal, clientID string, action Action, resource string) error
}

// Refusal is an authentication or authorization refusal with an explicit
// MQTT 5 reason code and AWS lifecycle failure reason.
type Refusal struct {
	Code          packet.ReasonCode // e.g. packet.NotAuthorized, packet.BadUserNameOrPassword
	FailureReason string            // AWS connectFailureReason, e.g. "AUTHORIZATION_FAILED"
	PrincipalID   string            // the identity refused, when known (a certificate id)
	Err           error             // the reason in words
}

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

// Message is an application message inside the broker. It is immutable once
// routed: the same *Message is shared by every delivery.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool

	// MQTT 5 properties passed through to subscribers.
	PayloadFormat   byte // 0 unspecified bytes, 1 UTF-8
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	UserProperties  []packet.UserProperty
	// Expiry is when the message expires; zero means never.
	Expiry time.Time

	// PublisherID is the client id of the publisher ("" for the broker's own
	// services). Used for MQTT 5 No Local.
	PublisherID string
	// Created is when the broker accepted the message.
	Created time.Time
}

// SessionRecord is the durable part of a persistent session.
type SessionRecord struct {
	ClientID        string
	ProtocolVersion byte
	Expiry          time.Duration // session expiry interval after disconnect
	Subscriptions   []SubscriptionRecord
	// DisconnectedAt is set when the session is offline (zero while connected).
	DisconnectedAt time.Time
}

// SubscriptionRecord is one durable subscription of a session.
type SubscriptionRecord struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	SubscriptionID    uint32
}

// QueuedMessage is a QoS ≥ 1 message held for a persistent session, keyed by
// a per-session sequence number that increases with every enqueue.
type QueuedMessage struct {
	Seq     uint64
	Message *Message
	QoS     byte // the QoS it is delivered at (min of publish and subscription)
	SubIDs  []uint32
}

// SessionStore persists persistent sessions so that they survive a restart.
// The broker calls it synchronously: a QoS 1 publish is acknowledged only after
// AppendMessages returned for every persistent subscriber it was queued for.
// A nil SessionStore keeps sessions in memory only.
type SessionStore interface {
	// LoadSessions returns every stored session with its queued messages.
	LoadSessions(ctx context.Context) ([]StoredSession, error)
	// PutSession creates or replaces a session's record.
	PutSession(ctx context.Context, rec SessionRecord) error
	// DeleteSession removes a session and its queued messages.
	DeleteSession(ctx context.Context, clientID string) error
	// AppendMessages stores messages queued for a session.
	AppendMessages(ctx context.Context, clientID string, msgs []QueuedMessage) error
	// RemoveMessages forgets delivered (acknowledged) messages by sequence number.
	RemoveMessages(ctx context.Context, clientID string, seqs []uint64) error
}

// StoredSession is a session as loaded from a SessionStore.
type StoredSession struct {
	Record   SessionRecord
	Messages []QueuedMessage
}

// RetainedStore persists retained messages. A nil RetainedStore keeps them in
// memory only.
type RetainedStore interface {
	LoadRetained(ctx context.Context) ([]*Message, error)
	PutRetained(ctx context.Context, msg *Message) error
	DeleteRetained(ctx context.Context, topic string) error
}

// EventKind names a lifecycle event.
type EventKind uint8

// The lifecycle events the broker reports.
const (
	EventConnected EventKind = iota + 1
	EventDisconnected
	EventConnectFailed
	EventSubscribed
	EventUnsubscribed
)

var eventNames = [...]string{"", "connected", "disconnected", "connect_failed", "subscribed", "unsubscribed"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// AWS disconnect reasons (lifecycle disconnectReason).
const (
	ReasonClientInitiated     = "CLIENT_INITIATED_DISCONNECT"
	ReasonClientError         = "CLIENT_ERROR"
	ReasonConnectionLost      = "CONNECTION_LOST"
	ReasonDuplicateClientID   = "DUPLICATE_CLIENTID"
	ReasonKeepAliveTimeout    = "MQTT_KEEP_ALIVE_TIMEOUT"
	ReasonServerError         = "SERVER_ERROR"
	ReasonServerInitiated     = "SERVER_INITIATED_DISCONNECT"
	ReasonAPIInitiated        = "API_INITIATED_DISCONNECT"
	ReasonAuthError           = "AUTH_ERROR"
	ReasonForbiddenAccess     = "FORBIDDEN_ACCESS"
	ReasonThrottled           = "THROTTLED"
	ReasonAuthorizationFailed = "AUTHORIZATION_FAILED" // connect_failed reason
)

// Event is a lifecycle event, reported to the EventSink.
type Event struct {
	Kind              EventKind
	Time              time.Time
	ClientID          string
	PrincipalID       string // "" when authentication failed before an identity was known
	SessionID         string // unique per session
	VersionNumber     int64  // increases per client id; connect and disconnect of one connection share it
	RemoteAddr        string // connected and connect_failed only
	ProtocolVersion   byte
	DisconnectReason  string   // disconnected: one of the Reason* constants
	ClientInitiated   bool     // disconnected: the client sent DISCONNECT
	FailureReason     string   // connect_failed: e.g. AUTHORIZATION_FAILED
	Topics            []string // subscribed/unsubscribed
	Detail            string   // the reason in words, for logs and diagnostics
	PersistentSession bool
}

// EventSink receives lifecycle events. Event must not block: it is called on
// connection goroutines. A nil EventSink drops events.
type EventSink interface {
	Event(ev Event)
}

// Forwarder sends locally published messages to other cluster nodes. It is
// called once per routed message and must not block. A nil Forwarder means a
// single node. Messages arriving from other nodes enter through
// Broker.RouteForwarded.
type Forwarder interface {
	Forward(msg *Message)
}
