package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// connect handles the CONNECT packet: validation, authentication,
// authorization of the client id and will, session takeover or resumption,
// and CONNACK.
func (c *client) connect(cp *packet.Connect) error {
	b := c.b
	c.version = cp.ProtocolVersion
	if c.version == packet.Version31 {
		c.version = packet.Version311
	}
	v5 := c.version == packet.Version5
	c.clientID = cp.ClientID
	props := &cp.Properties
	if v5 && props.Has(packet.PropRequestProblemInformation) {
		c.problemDetail = props.RequestProblemInformation == 1
	}

	// Client id.
	assigned := ""
	if c.clientID == "" {
		if !v5 && !cp.CleanStart {
			// UNCONFIRMED (reference §5.8): AWS's behaviour for an empty 3.1.1 id
			// is not documented; the spec's rule is followed.
			return c.refuse(packet.ClientIdentifierNotValid, "CLIENT_ERROR", "empty client id with a persistent session")
		}
		assigned = newAssignedID()
		c.clientID = assigned
	}
	if len(c.clientID) > b.cfg.MaxClientIDBytes {
		return c.refuse(packet.ClientIdentifierNotValid, "CLIENT_ERROR",
			fmt.Sprintf("client id is %d bytes; the limit is %d", len(c.clientID), b.cfg.MaxClientIDBytes))
	}
	if assigned == "" && c.clientID[0] == '$' {
		return c.refuse(packet.ClientIdentifierNotValid, "CLIENT_ERROR", "client ids starting with $ are reserved")
	}

	// Keep-alive: clamped as AWS does; 0 means the maximum.
	ka := int(cp.KeepAlive)
	if ka == 0 || ka > b.cfg.KeepAliveMax {
		ka = b.cfg.KeepAliveMax
	} else if ka < b.cfg.KeepAliveMin {
		ka = b.cfg.KeepAliveMin
	}
	c.keepAlive = time.Duration(ka) * time.Second

	// Will.
	if w := cp.Will; w != nil {
		if err := b.checkTopicName(w.Topic); err != nil {
			return c.refuse(packet.TopicNameInvalid, "CLIENT_ERROR", "will topic: "+err.Error())
		}
		if w.QoS > b.cfg.MaxQoS {
			return c.refuse(packet.QoSNotSupported, "CLIENT_ERROR", fmt.Sprintf("will QoS %d is above the maximum %d", w.QoS, b.cfg.MaxQoS))
		}
		if len(w.Payload) > b.cfg.MaxPayloadSize {
			return c.refuse(packet.PacketTooLarge, "CLIENT_ERROR", "will payload is larger than the payload limit")
		}
		if w.Retain && topicIsReserved(w.Topic) {
			return c.refuse(packet.TopicNameInvalid, "CLIENT_ERROR", "a will on a $ topic cannot be retained")
		}
		// Only '$' topics are subject to the reserved-topic rules; every
		// ordinary will topic used to be refused here (fixed by the broker
		// integration tests, will_test.go).
		if b.reserved && topicIsReserved(w.Topic) && !reservedPublishAllowed(w.Topic) {
			return c.refuse(packet.NotAuthorized, ReasonAuthorizationFailed, "will topic "+w.Topic+" is a reserved topic clients may not publish to")
		}
		m := &Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain, PublisherID: c.clientID}
		if v5 {
			c.willDelay = time.Duration(w.Properties.WillDelayInterval) * time.Second
			b.applyProperties(m, &w.Properties)
		}
		c.will = m
	}

	// Session expiry.
	var expiry time.Duration
	if v5 {
		if props.Has(packet.PropSessionExpiryInterval) {
			expiry = b.clampExpiry(props.SessionExpiryInterval)
		}
		if props.Has(packet.PropReceiveMaximum) {
			c.receiveMax = int(props.ReceiveMaximum)
		}
		if props.Has(packet.PropMaximumPacketSize) {
			c.maxPacketOut = props.MaximumPacketSize
		}
	} else if !cp.CleanStart {
		expiry = b.cfg.MaxSessionExpiry
	}
	if c.receiveMax == 0 || c.receiveMax > b.cfg.ReceiveMaximum {
		c.receiveMax = b.cfg.ReceiveMaximum
	}

	// Authentication and authorization.
	req := &ConnectRequest{
		ClientID: c.clientID, ProtocolVersion: c.version, CleanStart: cp.CleanStart,
		UsernameFlag: cp.UsernameFlag, Username: cp.Username, PasswordFlag: cp.PasswordFlag, Password: cp.Password,
		Conn: c.info,
	}
	if c.will != nil {
		req.WillTopic = c.will.Topic
	}
	ctx, cancel := storeCtx()
	principal, err := b.deps.Authenticator.Authenticate(ctx, req)
	cancel()
	if err != nil {
		return c.refuseErr(err)
	}
	c.principal = principal
	// The TLS state is no longer needed; drop it so an idle connection does not
	// keep the parsed certificate chain alive twice.
	c.info.TLS = nil
	if err := c.authorize(ActionConnect, c.clientID); err != nil {
		return c.refuseErr(err)
	}
	if c.will != nil {
		if err := c.authorize(ActionPublish, c.will.Topic); err != nil {
			return c.refuseErr(fmt.Errorf("will topic %s: %w", c.will.Topic, err))
		}
		if c.will.Retain {
			if err := c.authorize(ActionRetainPublish, c.will.Topic); err != nil {
				return c.refuseErr(fmt.Errorf("retained will topic %s: %w", c.will.Topic, err))
			}
		}
	}

	// Install the session (taking over any live connection with this id).
	present, err := b.attach(c, cp.CleanStart, expiry)
	if err != nil {
		return c.refuse(packet.ServerUnavailable, "SERVER_ERROR", err.Error())
	}

	ack := &packet.Connack{SessionPresent: present}
	if v5 {
		b.connackProperties(&ack.Properties, c, cp, assigned)
	}
	c.lcVersion = b.nextVersion()
	c.connected = true
	c.send(ack)
	c.log.Info("mqtt: client connected", "client_id", c.clientID, "cert_id", principalID(principal),
		"remote_addr", c.remote(), "protocol_version", c.version, "clean_start", cp.CleanStart,
		"session_present", present, "keep_alive", c.keepAlive.String())
	b.emit(Event{
		Kind: EventConnected, ClientID: c.clientID, PrincipalID: principalID(principal),
		SessionID: c.sess.sessionID, VersionNumber: c.lcVersion, RemoteAddr: c.remote(),
		ProtocolVersion: c.version, PersistentSession: expiry > 0,
	})
	if present {
		c.sess.resume(c)
	}
	return nil
}

func (b *Broker) connackProperties(p *packet.Properties, c *client, cp *packet.Connect, assigned string) {
	if b.cfg.MaxQoS < 2 {
		p.MaximumQoS = b.cfg.MaxQoS
		p.Set(packet.PropMaximumQoS)
	}
	p.RetainAvailable = 1
	p.Set(packet.PropRetainAvailable)
	p.MaximumPacketSize = b.maxPacket
	p.Set(packet.PropMaximumPacketSize)
	p.ReceiveMaximum = uint16(b.cfg.ReceiveMaximum)
	p.Set(packet.PropReceiveMaximum)
	if b.cfg.TopicAliasMaximum > 0 {
		p.TopicAliasMaximum = uint16(b.cfg.TopicAliasMaximum)
		p.Set(packet.PropTopicAliasMaximum)
	}
	p.WildcardSubscriptionAvailable = 1
	p.Set(packet.PropWildcardSubscriptionAvailable)
	p.SharedSubscriptionAvailable = 1
	p.Set(packet.PropSharedSubscriptionAvailable)
	if b.subIDs {
		p.SubscriptionIdentifierAvailable = 1
	}
	p.Set(packet.PropSubscriptionIdentifierAvailable)
	if int(cp.KeepAlive) != int(c.keepAlive/time.Second) {
		p.ServerKeepAlive = uint16(c.keepAlive / time.Second)
		p.Set(packet.PropServerKeepAlive)
	}
	if cp.Properties.Has(packet.PropSessionExpiryInterval) {
		if granted := uint32(c.sess.expiryDuration() / time.Second); granted != cp.Properties.SessionExpiryInterval {
			p.SessionExpiryInterval = granted
			p.Set(packet.PropSessionExpiryInterval)
		}
	}
	if assigned != "" {
		p.AssignedClientIdentifier = assigned
		p.Set(packet.PropAssignedClientIdentifier)
	}
}

// refuseErr turns an authentication/authorization error into a refusal.
func (c *client) refuseErr(err error) error {
	var r *Refusal
	if errors.As(err, &r) {
		if c.principal == nil && r.PrincipalID != "" {
			c.principal = refusedPrincipal(r.PrincipalID)
		}
		return c.refuse(r.Code, r.FailureReason, err.Error())
	}
	return c.refuse(packet.NotAuthorized, ReasonAuthorizationFailed, err.Error())
}

// refuse answers CONNECT with a failure, logs it at Warn with its reason and
// reports connect_failed.
func (c *client) refuse(code packet.ReasonCode, failure, detail string) error {
	b := c.b
	ack := &packet.Connack{ReasonCode: code}
	if c.version == packet.Version5 {
		if c.problemDetail {
			ack.Properties.ReasonString = detail
			ack.Properties.Set(packet.PropReasonString)
		}
	} else {
		ack.ReasonCode = v3ConnackCode(code)
	}
	c.writeNow(ack, c.version)
	c.log.Warn("mqtt: connection refused", "client_id", c.clientID, "cert_id", principalID(c.principal),
		"remote_addr", c.remote(), "reason", detail, "reason_code", fmt.Sprintf("0x%02X", byte(code)))
	b.emit(Event{
		Kind: EventConnectFailed, ClientID: c.clientID, PrincipalID: principalID(c.principal),
		RemoteAddr: c.remote(), ProtocolVersion: c.version, FailureReason: failure, Detail: detail,
	})
	return errClose
}

// refusedPrincipal names an identity that authentication refused, so the
// log line and the connect_failed event can report it.
type refusedPrincipal string

func (p refusedPrincipal) ID() string { return string(p) }

// v3ConnackCode maps a v5 reason code to the closest 3.1.1 return code.
func v3ConnackCode(code packet.ReasonCode) packet.ReasonCode {
	switch code {
	case packet.UnsupportedProtocolVersion:
		return packet.RetUnacceptableProtocolVersion
	case packet.ClientIdentifierNotValid:
		return packet.RetIdentifierRejected
	case packet.BadUserNameOrPassword, packet.BadAuthenticationMethod:
		return packet.RetBadUsernameOrPassword
	case packet.NotAuthorized, packet.Banned:
		return packet.RetNotAuthorized
	default:
		return packet.RetServerUnavailable
	}
}

func (b *Broker) clampExpiry(seconds uint32) time.Duration {
	d := time.Duration(seconds) * time.Second
	if seconds == 0xFFFFFFFF || d > b.cfg.MaxSessionExpiry {
		d = b.cfg.MaxSessionExpiry
	}
	return d
}

// applyProperties copies a PUBLISH's (or will's) pass-through v5 properties
// into m.
func (b *Broker) applyProperties(m *Message, p *packet.Properties) {
	if p.Has(packet.PropPayloadFormatIndicator) {
		m.PayloadFormat = p.PayloadFormatIndicator
	}
	if p.Has(packet.PropContentType) {
		m.ContentType = p.ContentType
	}
	if p.Has(packet.PropResponseTopic) {
		m.ResponseTopic = p.ResponseTopic
	}
	if p.Has(packet.PropCorrelationData) {
		m.CorrelationData = p.CorrelationData
	}
	if len(p.UserProperties) > 0 {
		m.UserProperties = p.UserProperties
	}
	if p.Has(packet.PropMessageExpiryInterval) {
		// AWS raises 0 to 1 s and clamps to 7 days.
		d := time.Duration(p.MessageExpiryInterval) * time.Second
		if d < time.Second {
			d = time.Second
		}
		if d > b.cfg.MaxMessageExpiry {
			d = b.cfg.MaxMessageExpiry
		}
		m.Expiry = b.now().Add(d)
	}
}

func newAssignedID() string {
	var buf [16]byte
	_, _ = rand.Read(buf[:])
	// AWS's assigned ids cannot start with a user-chosen prefix; ours are
	// recognisable and never collide with client-chosen ids, which may not
	// start with '$'.
	return "$auto-" + hex.EncodeToString(buf[:])
}
