// Package packet is the MQTT 3.1.1 and 5.0 wire codec: the packet types, their
// properties and reason codes, strict decoding and allocation-light encoding.
//
// It is a pure leaf: it imports only the standard library, knows nothing of
// sessions or brokers, and may be imported by any package. Decode never
// panics on any input (a fuzz target holds it to that); a malformed or
// protocol-violating packet yields an *Error carrying the MQTT 5 reason code
// a broker should send with its DISCONNECT.
package packet

import "fmt"

// Type is an MQTT control packet type (the high nibble of the first byte).
type Type byte

// The control packet types.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
	"PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", byte(t))
}

// Protocol versions, as carried in CONNECT's protocol level byte.
const (
	Version31  byte = 3 // MQTT 3.1 ("MQIsdp"); accepted and treated as 3.1.1.
	Version311 byte = 4 // MQTT 3.1.1
	Version5   byte = 5 // MQTT 5.0
)

// MaxRemainingLength is the largest remaining length the variable byte
// integer can express (256 MB).
const MaxRemainingLength = 268_435_455

// Packet is any decoded or to-be-encoded control packet. The concrete types
// are the pointer types below (*Connect, *Publish, ...).
type Packet interface {
	Type() Type
}

// Connect is the CONNECT packet.
type Connect struct {
	ProtocolName    string // "MQTT", or "MQIsdp" for 3.1
	ProtocolVersion byte   // Version31, Version311 or Version5
	CleanStart      bool   // Clean Session in 3.1.1
	KeepAlive       uint16 // seconds
	Properties      Properties
	ClientID        string
	Will            *Will // nil when the Will Flag is 0
	UsernameFlag    bool
	Username        string
	PasswordFlag    bool
	Password        []byte
}

// Will is the will message carried in CONNECT.
type Will struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Properties Properties // v5 will properties (Will Delay Interval, Message Expiry, ...)
}

// Connack is the CONNACK packet. In 3.1.1 ReasonCode holds the connect
// return code (0 to 5); see the Ret* constants.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties
}

// Publish is the PUBLISH packet. After Decode, Topic and Payload alias the
// body buffer that was passed in: the caller must not reuse that buffer while
// the packet is alive.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string // may be empty in v5 when a Topic Alias is set
	PacketID   uint16 // only for QoS > 0
	Properties Properties
	Payload    []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP, told apart by Kind.
// In 3.1.1 only PacketID is on the wire.
type Ack struct {
	Kind       Type // PUBACK, PUBREC, PUBREL or PUBCOMP
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool // v5
	RetainAsPublished bool // v5
	RetainHandling    byte // v5: 0 send on subscribe, 1 only if new, 2 never
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // Subscription Identifier, User Properties
	Subscriptions []Subscription
}

// Suback is the SUBACK packet. In 3.1.1 the codes are granted QoS 0-2 or 0x80.
type Suback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string
}

// Unsuback is the UNSUBACK packet. In 3.1.1 it carries no reason codes.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Disconnect is the DISCONNECT packet (reason and properties only in v5).
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Auth is the v5 AUTH packet.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

func (*Connect) Type() Type     { return CONNECT }
func (*Connack) Type() Type     { return CONNACK }
func (*Publish) Type() Type     { return PUBLISH }
func (a *Ack) Type() Type       { return a.Kind }
func (*Subscribe) Type() Type   { return SUBSCRIBE }
func (*Suback) Type() Type      { return SUBACK }
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }
func (*Unsuback) Type() Type    { return UNSUBACK }
func (*Pingreq) Type() Type     { return PINGREQ }
func (*Pingresp) Type() Type    { return PINGRESP }
func (*Disconnect) Type() Type  { return DISCONNECT }
func (*Auth) Type() Type        { return AUTH }

// UserProperty is one v5 user property; order and duplicates are kept.
type UserProperty struct {
	Key   string
	Value string
}

// PropID is a v5 property identifier.
type PropID byte

// The v5 property identifiers.
const (
	PropPayloadFormatIndicator          PropID = 0x01
	PropMessageExpiryInterval           PropID = 0x02
	PropContentType                     PropID = 0x03
	PropResponseTopic                   PropID = 0x08
	PropCorrelationData                 PropID = 0x09
	PropSubscriptionIdentifier          PropID = 0x0B
	PropSessionExpiryInterval           PropID = 0x11
	PropAssignedClientIdentifier        PropID = 0x12
	PropServerKeepAlive                 PropID = 0x13
	PropAuthenticationMethod            PropID = 0x15
	PropAuthenticationData              PropID = 0x16
	PropRequestProblemInformation       PropID = 0x17
	PropWillDelayInterval               PropID = 0x18
	PropRequestResponseInformation      PropID = 0x19
	PropResponseInformation             PropID = 0x1A
	PropServerReference                 PropID = 0x1C
	PropReasonString                    PropID = 0x1F
	PropReceiveMaximum                  PropID = 0x21
	PropTopicAliasMaximum               PropID = 0x22
	PropTopicAlias                      PropID = 0x23
	PropMaximumQoS                      PropID = 0x24
	PropRetainAvailable                 PropID = 0x25
	PropUserProperty                    PropID = 0x26
	PropMaximumPacketSize               PropID = 0x27
	PropWildcardSubscriptionAvailable   PropID = 0x28
	PropSubscriptionIdentifierAvailable PropID = 0x29
	PropSharedSubscriptionAvailable     PropID = 0x2A
)

// PropSet is a set of property identifiers, one bit per identifier.
type PropSet uint64

// Properties holds the v5 properties of any packet. For every single-valued
// property, Present says whether it is on the wire: the encoder writes exactly
// the properties in Present, whatever the field values, and the decoder sets
// the bit of each property it reads. The multi-valued properties (User
// Property, and Subscription Identifier in PUBLISH) are present when their
// slice is non-empty.
type Properties struct {
	Present PropSet

	PayloadFormatIndicator          byte
	MessageExpiryInterval           uint32 // seconds
	ContentType                     string
	ResponseTopic                   string
	CorrelationData                 []byte
	SubscriptionIdentifiers         []uint32 // one in SUBSCRIBE, any number in PUBLISH
	SessionExpiryInterval           uint32   // seconds
	AssignedClientIdentifier        string
	ServerKeepAlive                 uint16 // seconds
	AuthenticationMethod            string
	AuthenticationData              []byte
	RequestProblemInformation       byte
	WillDelayInterval               uint32 // seconds
	RequestResponseInformation      byte
	ResponseInformation             string
	ServerReference                 string
	ReasonString                    string
	ReceiveMaximum                  uint16
	TopicAliasMaximum               uint16
	TopicAlias                      uint16
	MaximumQoS                      byte
	RetainAvailable                 byte
	UserProperties                  []UserProperty
	MaximumPacketSize               uint32
	WildcardSubscriptionAvailable   byte
	SubscriptionIdentifierAvailable byte
	SharedSubscriptionAvailable     byte
}

// Has reports whether the single-valued property id is present.
func (p *Properties) Has(id PropID) bool { return p.Present&(1<<id) != 0 }

// Set marks the single-valued property id as present.
func (p *Properties) Set(id PropID) { p.Present |= 1 << id }

// Clear marks the single-valued property id as absent.
func (p *Properties) Clear(id PropID) { p.Present &^= 1 << id }

// ReasonCode is an MQTT 5 reason code, or a 3.1.1 CONNACK return code /
// SUBACK granted QoS.
type ReasonCode byte

// MQTT 5 reason codes.
const (
	Success                             ReasonCode = 0x00 // also Normal disconnection, Granted QoS 0
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWill                  ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// MQTT 3.1.1 CONNACK return codes.
const (
	RetAccepted                    ReasonCode = 0
	RetUnacceptableProtocolVersion ReasonCode = 1
	RetIdentifierRejected          ReasonCode = 2
	RetServerUnavailable           ReasonCode = 3
	RetBadUsernameOrPassword       ReasonCode = 4
	RetNotAuthorized               ReasonCode = 5
)

// SubackFailure is the 3.1.1 SUBACK failure return code.
const SubackFailure ReasonCode = 0x80

// Error is a decoding failure: the packet is malformed or breaks the
// protocol. Code is the v5 reason code to disconnect with (MalformedPacket,
// ProtocolError, PacketTooLarge, UnsupportedProtocolVersion, ...); Reason says
// what was wrong in words, for the log.
type Error struct {
	Code   ReasonCode
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("mqtt packet: %s (reason code 0x%02X)", e.Reason, byte(e.Code))
}
