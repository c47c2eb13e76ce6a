package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// writeNowTimeout bounds a synchronous last write before closing.
const writeNowTimeout = time.Second

// handlePublish handles an inbound PUBLISH. p's strings alias the packet body,
// which is never reused, so the message may keep them.
func (c *client) handlePublish(p *packet.Publish) error {
	b := c.b
	v5 := c.version == packet.Version5

	if p.QoS > b.cfg.MaxQoS {
		// AWS: QoS 2 is not supported; v5 gets DISCONNECT 0x9B, v3 is closed
		// without an acknowledgement.
		return c.protocolError(packet.QoSNotSupported, ReasonClientError, fmt.Sprintf("PUBLISH with QoS %d; the maximum is %d", p.QoS, b.cfg.MaxQoS))
	}
	if p.QoS == 2 {
		dup, inflight := c.sess.inboundQoS2(p.PacketID)
		if dup {
			// A retransmission of a QoS 2 message we already accepted:
			// acknowledge again without delivering twice.
			c.send(&packet.Ack{Kind: packet.PUBREC, PacketID: p.PacketID})
			return nil
		}
		// QoS 1 publishes are acknowledged before the next is read, so only
		// QoS 2 ones (awaiting PUBREL) can exceed our Receive Maximum.
		if inflight >= b.cfg.ReceiveMaximum {
			return c.protocolError(packet.ReceiveMaximumExceeded, ReasonClientError,
				fmt.Sprintf("more than %d QoS 2 publishes awaiting PUBREL (Receive Maximum)", b.cfg.ReceiveMaximum))
		}
	}

	// Topic alias (v5).
	if v5 && p.Properties.Has(packet.PropTopicAlias) {
		alias := p.Properties.TopicAlias
		if b.cfg.TopicAliasMaximum <= 0 || int(alias) > b.cfg.TopicAliasMaximum {
			return c.protocolError(packet.TopicAliasInvalid, ReasonClientError,
				fmt.Sprintf("topic alias %d is above the maximum %d", alias, max(b.cfg.TopicAliasMaximum, 0)))
		}
		if p.Topic == "" {
			t, ok := c.aliases[alias]
			if !ok {
				return c.protocolError(packet.ProtocolError, ReasonClientError, fmt.Sprintf("topic alias %d was never set", alias))
			}
			p.Topic = t
		} else {
			if c.aliases == nil {
				c.aliases = make(map[uint16]string, 2)
			}
			c.aliases[alias] = strings.Clone(p.Topic)
		}
	}
	if p.Topic == "" {
		return c.protocolError(packet.ProtocolError, ReasonClientError, "PUBLISH without a topic")
	}
	if err := topic.ValidateName(p.Topic); err != nil {
		return c.protocolError(packet.TopicNameInvalid, ReasonClientError, "PUBLISH: "+err.Error())
	}
	if len(p.Payload) > b.cfg.MaxPayloadSize {
		return c.protocolError(packet.PacketTooLarge, ReasonClientError,
			fmt.Sprintf("payload is %d bytes; the limit is %d", len(p.Payload), b.cfg.MaxPayloadSize))
	}

	// Checks whose failure refuses this message. v5 clients get the reason
	// code in PUBACK and keep the connection; QoS 0 messages are dropped.
	if code, why := c.checkPublish(p); code != packet.Success {
		c.log.Warn("mqtt: publish refused", "client_id", c.clientID, "cert_id", principalID(c.principal),
			"topic", p.Topic, "reason", why, "reason_code", fmt.Sprintf("0x%02X", byte(code)))
		if !v5 && (code == packet.NotAuthorized || p.QoS > 0) {
			return c.refuseV3Publish(code, why)
		}
		c.ackPublish(p, code, why)
		return nil
	}

	m := &Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, PublisherID: c.clientID, Created: b.now()}
	if v5 {
		b.applyProperties(m, &p.Properties)
	}
	if m.Retain {
		if code, why := b.storeRetained(m); code != packet.Success {
			c.log.Warn("mqtt: retained publish refused", "client_id", c.clientID, "topic", p.Topic, "reason", why)
			if !v5 && p.QoS > 0 {
				return c.refuseV3Publish(code, why)
			}
			c.ackPublish(p, code, why)
			return nil
		}
	}
	// An in-process service that will answer (a responder) gets the
	// message after its PUBACK is queued, held: the PUBACK waits for the
	// answer (briefly), leaves in the same write, and always before it.
	acked := false
	var holdAck func()
	if p.QoS == 1 {
		holdAck = func() {
			c.sendHeld(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
			acked = true
		}
	}
	n := b.route(m, holdAck)
	if p.QoS == 2 {
		c.sess.addInboundQoS2(p.PacketID)
	}
	if acked {
		return nil
	}
	code := packet.Success
	if n == 0 && v5 && p.QoS > 0 {
		code = packet.NoMatchingSubscribers
	}
	c.ackPublish(p, code, "")
	return nil
}

// refuseV3Publish closes an MQTT 3.1.1 connection whose publish was refused.
// 3.1.1 has no way to say "refused" in a PUBACK, and acknowledging a QoS 1
// message that was dropped would lose it silently; closed, the client
// resends it after reconnecting. AWS closes such connections too, with the
// lifecycle reason matching the cause.
func (c *client) refuseV3Publish(code packet.ReasonCode, why string) error {
	reason := ReasonClientError
	switch code {
	case packet.NotAuthorized:
		reason = ReasonForbiddenAccess
	case packet.QuotaExceeded:
		reason = ReasonThrottled
	}
	c.setClose(reason, why, true)
	return errClose
}

// checkPublish applies limits, reserved-topic rules, the publish rate and
// authorization.
func (c *client) checkPublish(p *packet.Publish) (packet.ReasonCode, string) {
	b := c.b
	if err := b.limits.CheckName(p.Topic); err != nil {
		return packet.TopicNameInvalid, err.Error()
	}
	if b.reserved && topicIsReserved(p.Topic) {
		if p.Retain {
			return packet.TopicNameInvalid, "a $ topic cannot be retained"
		}
		if !reservedPublishAllowed(p.Topic) {
			return packet.NotAuthorized, "clients may not publish to reserved topic " + p.Topic
		}
	}
	if !c.allowRate() {
		return packet.QuotaExceeded, fmt.Sprintf("more than %d publishes per second on this connection", b.cfg.PublishRate)
	}
	if err := c.authorize(ActionPublish, p.Topic); err != nil {
		return packet.NotAuthorized, err.Error()
	}
	if p.Retain {
		if err := c.authorize(ActionRetainPublish, p.Topic); err != nil {
			return packet.NotAuthorized, err.Error()
		}
	}
	return packet.Success, ""
}

// ackPublish sends PUBACK or PUBREC for a QoS ≥ 1 publish.
func (c *client) ackPublish(p *packet.Publish, code packet.ReasonCode, why string) {
	if p.QoS == 0 {
		return
	}
	ack := &packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID}
	if p.QoS == 2 {
		ack.Kind = packet.PUBREC
	}
	if c.version == packet.Version5 {
		ack.ReasonCode = code
		if why != "" && c.problemDetail {
			ack.Properties.ReasonString = why
			ack.Properties.Set(packet.PropReasonString)
		}
	}
	c.send(ack)
}

// handleAck handles PUBACK, PUBREC, PUBREL and PUBCOMP from the client.
func (c *client) handleAck(a *packet.Ack) error {
	s := c.sess
	switch a.Kind {
	case packet.PUBREL:
		found := s.removeInboundQoS2(a.PacketID)
		comp := &packet.Ack{Kind: packet.PUBCOMP, PacketID: a.PacketID}
		if !found && c.version == packet.Version5 {
			comp.ReasonCode = packet.PacketIdentifierNotFound
		}
		c.send(comp)
		return nil
	case packet.PUBREC:
		s.mu.Lock()
		om := s.inflight[a.PacketID]
		if om == nil || om.qos != 2 {
			s.mu.Unlock()
			if c.version == packet.Version5 {
				c.send(&packet.Ack{Kind: packet.PUBREL, PacketID: a.PacketID, ReasonCode: packet.PacketIdentifierNotFound})
			}
			return nil
		}
		if a.ReasonCode >= 0x80 {
			// The receiver refused it: the exchange ends here.
			s.ackedLocked(a.PacketID)
			seq := om.seq
			s.pump(c)
			s.mu.Unlock()
			c.forget(seq)
			return nil
		}
		om.released = true
		s.mu.Unlock()
		c.send(&packet.Ack{Kind: packet.PUBREL, PacketID: a.PacketID})
		return nil
	case packet.PUBACK, packet.PUBCOMP:
		s.mu.Lock()
		om := s.inflight[a.PacketID]
		if om == nil || (a.Kind == packet.PUBACK) != (om.qos == 1) {
			s.mu.Unlock()
			return nil
		}
		s.ackedLocked(a.PacketID)
		seq := om.seq
		s.pump(c)
		s.mu.Unlock()
		c.forget(seq)
		return nil
	}
	return nil
}

// forget removes a delivered message from the store.
func (c *client) forget(seq uint64) {
	if seq != 0 {
		c.b.forgetStored(c.clientID, []uint64{seq})
	}
}

// inboundQoS2 reports whether id is a QoS 2 publish already received and
// awaiting PUBREL, and how many such publishes there are.
func (s *session) inboundQoS2(id uint16) (dup bool, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, dup = s.inQoS2[id]
	return dup, len(s.inQoS2)
}

func (s *session) addInboundQoS2(id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inQoS2 == nil {
		s.inQoS2 = make(map[uint16]struct{})
	}
	s.inQoS2[id] = struct{}{}
}

func (s *session) removeInboundQoS2(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.inQoS2[id]
	delete(s.inQoS2, id)
	return ok
}

// topicIsReserved reports whether a topic or filter is in the "$" space.
func topicIsReserved(t string) bool { return len(t) > 0 && t[0] == '$' }

// checkTopicName validates a topic name and its AWS limits.
func (b *Broker) checkTopicName(t string) error {
	if err := topic.ValidateName(t); err != nil {
		return err
	}
	return b.limits.CheckName(t)
}
