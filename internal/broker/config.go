package broker

import (
	"errors"
	"fmt"
	"time"
)

// Config is the broker's behaviour. Every default is AWS IoT Core's unless a
// field says otherwise; DefaultConfig returns them. The zero value of a field
// means "use the default" where the comment says so.
type Config struct {
	// MaxQoS is the highest QoS the broker grants: 1 is AWS-strict (CONNACK
	// Maximum QoS 1, SUBACK grants at most 1, a v5 QoS 2 PUBLISH gets
	// DISCONNECT 0x9B, a v3 one closes the connection); 2 (the default)
	// supports QoS 2 end to end, beyond AWS.
	MaxQoS byte `json:"max_qos"`

	// MaxPayloadSize is the largest PUBLISH payload in bytes. Default 131072
	// (AWS: 128 KB). A larger publish disconnects the client (CLIENT_ERROR, v5
	// 0x95).
	MaxPayloadSize int `json:"max_payload_size"`

	// MaxTopicBytes and MaxTopicSlashes bound topic names and filters.
	// Defaults 256 and 7 (AWS); the $aws/rules/{rule}/ and $share/{group}/
	// prefixes are not counted.
	MaxTopicBytes   int `json:"max_topic_bytes"`
	MaxTopicSlashes int `json:"max_topic_slashes"`

	// MaxClientIDBytes bounds client ids. Default 128 (AWS).
	MaxClientIDBytes int `json:"max_client_id_bytes"`

	// MaxFiltersPerSubscribe is how many filters one SUBSCRIBE may carry;
	// filters beyond it are refused with 0x97 Quota exceeded. Default 8 (AWS).
	MaxFiltersPerSubscribe int `json:"max_filters_per_subscribe"`

	// MaxSubscriptions is how many subscriptions a session may hold; more are
	// refused with 0x97. Default 50 (AWS).
	MaxSubscriptions int `json:"max_subscriptions"`

	// PublishRate is how many PUBLISH packets per second a connection may
	// send; the excess is discarded (QoS 1: PUBACK 0x97). Default 100 (AWS);
	// -1 disables the limit.
	PublishRate int `json:"publish_rate"`

	// KeepAliveMin and KeepAliveMax clamp the client's keep-alive, in seconds;
	// a keep-alive of 0 becomes KeepAliveMax. Defaults 30 and 1200 (AWS). The
	// client is disconnected after 1.5 × keep-alive without a packet.
	KeepAliveMin int `json:"keep_alive_min"`
	KeepAliveMax int `json:"keep_alive_max"`

	// MaxSessionExpiry caps persistent sessions' expiry after disconnect, and
	// is the expiry of MQTT 3.1.1 persistent sessions. Default 1h (AWS); at
	// most 7 days (168h).
	MaxSessionExpiry time.Duration `json:"max_session_expiry"`

	// ReceiveMaximum is how many unacknowledged QoS ≥ 1 messages the broker
	// sends to a client at once, and advertises as its own Receive Maximum.
	// Default 100 (AWS). A v5 client's smaller Receive Maximum wins.
	ReceiveMaximum int `json:"receive_maximum"`

	// MaxQueuedMessages bounds the QoS ≥ 1 messages held per session while it
	// is offline or its in-flight window is full; more are dropped and logged.
	// Default 1000.
	MaxQueuedMessages int `json:"max_queued_messages"`

	// MaxOutboundBytes bounds the bytes waiting to be written to one
	// connection. When it is exceeded QoS 0 messages are dropped (slow
	// consumer); QoS ≥ 1 messages wait in the session queue. Default 1 MiB.
	MaxOutboundBytes int `json:"max_outbound_bytes"`

	// WriteTimeout is how long one write to a client may block before the
	// client is disconnected as a slow consumer. Default 30s.
	WriteTimeout time.Duration `json:"write_timeout"`

	// Unacknowledged QoS ≥ 1 messages are resent, with DUP, when the session
	// resumes on a new connection, as MQTT 3.1.1 and 5 prescribe; never on a
	// live connection (MQTT 5 forbids it; AWS "may" resend, so clients built
	// for AWS accept either).

	// ConnectTimeout is how long a new connection may take to send CONNECT.
	// Default 10s.
	ConnectTimeout time.Duration `json:"connect_timeout"`

	// TopicAliasMaximum is the highest topic alias a v5 client may use.
	// Default 8 (AWS). -1 disables topic aliases.
	TopicAliasMaximum int `json:"topic_alias_maximum"`

	// MaxRetained bounds the number of retained messages; retained publishes
	// with a payload beyond it are refused (QoS 1: PUBACK 0x97). Default
	// 500000 (AWS's quota is unconfirmed; this is the commonly cited value).
	MaxRetained int `json:"max_retained"`

	// MaxMessageExpiry caps MQTT 5 Message Expiry Interval. Default 604800 s
	// (7 days, AWS); a value of 0 is raised to 1 s as AWS does.
	MaxMessageExpiry time.Duration `json:"max_message_expiry"`

	// SubscriptionIdentifiers enables MQTT 5 subscription identifiers. AWS
	// does not support them; the default here is true because the best
	// brokers do. false gives AWS behaviour (CONNACK says unavailable,
	// SUBSCRIBE with an identifier gets DISCONNECT 0xA1).
	SubscriptionIdentifiers *bool `json:"subscription_identifiers,omitempty"`

	// AWSReservedTopics enforces AWS IoT's rules for topics starting with
	// "$": only the documented $aws/... topics may be used, in the documented
	// direction. Default true.
	AWSReservedTopics *bool `json:"aws_reserved_topics,omitempty"`
}

// DefaultConfig returns the defaults described on Config's fields.
func DefaultConfig() Config {
	t := true
	return Config{
		MaxQoS:                  2,
		MaxPayloadSize:          128 * 1024,
		MaxTopicBytes:           256,
		MaxTopicSlashes:         7,
		MaxClientIDBytes:        128,
		MaxFiltersPerSubscribe:  8,
		MaxSubscriptions:        50,
		PublishRate:             100,
		KeepAliveMin:            30,
		KeepAliveMax:            1200,
		MaxSessionExpiry:        time.Hour,
		ReceiveMaximum:          100,
		MaxQueuedMessages:       1000,
		MaxOutboundBytes:        1 << 20,
		WriteTimeout:            30 * time.Second,
		ConnectTimeout:          10 * time.Second,
		TopicAliasMaximum:       8,
		MaxRetained:             500_000,
		MaxMessageExpiry:        7 * 24 * time.Hour,
		SubscriptionIdentifiers: &t,
		AWSReservedTopics:       &t,
	}
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxQoS == 0 {
		c.MaxQoS = d.MaxQoS
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&c.MaxPayloadSize, d.MaxPayloadSize)
	setInt(&c.MaxTopicBytes, d.MaxTopicBytes)
	setInt(&c.MaxTopicSlashes, d.MaxTopicSlashes)
	setInt(&c.MaxClientIDBytes, d.MaxClientIDBytes)
	setInt(&c.MaxFiltersPerSubscribe, d.MaxFiltersPerSubscribe)
	setInt(&c.MaxSubscriptions, d.MaxSubscriptions)
	setInt(&c.PublishRate, d.PublishRate)
	setInt(&c.KeepAliveMin, d.KeepAliveMin)
	setInt(&c.KeepAliveMax, d.KeepAliveMax)
	setDur(&c.MaxSessionExpiry, d.MaxSessionExpiry)
	setInt(&c.ReceiveMaximum, d.ReceiveMaximum)
	setInt(&c.MaxQueuedMessages, d.MaxQueuedMessages)
	setInt(&c.MaxOutboundBytes, d.MaxOutboundBytes)
	setDur(&c.WriteTimeout, d.WriteTimeout)
	setDur(&c.ConnectTimeout, d.ConnectTimeout)
	setInt(&c.TopicAliasMaximum, d.TopicAliasMaximum)
	setInt(&c.MaxRetained, d.MaxRetained)
	setDur(&c.MaxMessageExpiry, d.MaxMessageExpiry)
	if c.SubscriptionIdentifiers == nil {
		c.SubscriptionIdentifiers = d.SubscriptionIdentifiers
	}
	if c.AWSReservedTopics == nil {
		c.AWSReservedTopics = d.AWSReservedTopics
	}
	return c
}

// Validate reports the first field out of its allowed range.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.MaxQoS == 1 || c.MaxQoS == 2, "max_qos is %d; allowed: 1 or 2", c.MaxQoS)
	check(c.MaxPayloadSize > 0 && c.MaxPayloadSize <= 256<<20, "max_payload_size is %d; allowed: 1 to 268435455", c.MaxPayloadSize)
	check(c.MaxTopicBytes > 0 && c.MaxTopicBytes <= 65535, "max_topic_bytes is %d; allowed: 1 to 65535", c.MaxTopicBytes)
	check(c.MaxTopicSlashes > 0, "max_topic_slashes is %d; must be positive", c.MaxTopicSlashes)
	check(c.MaxClientIDBytes > 0 && c.MaxClientIDBytes <= 65535, "max_client_id_bytes is %d; allowed: 1 to 65535", c.MaxClientIDBytes)
	check(c.MaxFiltersPerSubscribe > 0, "max_filters_per_subscribe is %d; must be positive", c.MaxFiltersPerSubscribe)
	check(c.MaxSubscriptions > 0, "max_subscriptions is %d; must be positive", c.MaxSubscriptions)
	check(c.PublishRate > 0 || c.PublishRate == -1, "publish_rate is %d; must be positive, or -1 for no limit", c.PublishRate)
	check(c.KeepAliveMin > 0 && c.KeepAliveMin <= c.KeepAliveMax && c.KeepAliveMax <= 65535,
		"keep_alive_min %d and keep_alive_max %d: need 0 < min <= max <= 65535", c.KeepAliveMin, c.KeepAliveMax)
	check(c.MaxSessionExpiry > 0 && c.MaxSessionExpiry <= 7*24*time.Hour, "max_session_expiry is %s; allowed: up to 168h", c.MaxSessionExpiry)
	check(c.ReceiveMaximum > 0 && c.ReceiveMaximum <= 65535, "receive_maximum is %d; allowed: 1 to 65535", c.ReceiveMaximum)
	check(c.MaxQueuedMessages > 0, "max_queued_messages is %d; must be positive", c.MaxQueuedMessages)
	check(c.MaxOutboundBytes >= 4096, "max_outbound_bytes is %d; must be at least 4096", c.MaxOutboundBytes)
	check(c.TopicAliasMaximum == -1 || (c.TopicAliasMaximum > 0 && c.TopicAliasMaximum <= 65535), "topic_alias_maximum is %d; allowed: -1 or 1 to 65535", c.TopicAliasMaximum)
	check(c.MaxRetained > 0, "max_retained is %d; must be positive", c.MaxRetained)
	check(c.MaxMessageExpiry >= time.Second, "max_message_expiry is %s; must be at least 1s", c.MaxMessageExpiry)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"write_timeout", c.WriteTimeout}, {"connect_timeout", c.ConnectTimeout}} {
		check(d.v > 0, "%s is %s; must be positive", d.name, d.v)
	}
	if len(errs) > 0 {
		return fmt.Errorf("broker config: %w", errors.Join(errs...))
	}
	return nil
}

// maxPacketSize is the largest packet the broker reads: the payload limit plus
// room for the topic and properties. It is advertised in CONNACK.
func (c *Config) maxPacketSize() uint32 {
	return uint32(c.MaxPayloadSize + 8*1024)
}
