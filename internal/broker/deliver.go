package broker

import (
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// deliver hands m to the session at the QoS and options of its matching
// subscription. For an offline persistent session with a SessionStore it
// returns the queued message that the caller must persist before it
// acknowledges the publisher.
func (s *session) deliver(m *Message, o subOptions, subIDs []uint32, retained bool) (persistItem, bool) {
	if s.handler != nil {
		s.handler(m)
		return persistItem{}, false
	}
	b := s.b
	if !m.Expiry.IsZero() && !b.now().Before(m.Expiry) {
		return persistItem{}, false
	}
	qos := min(m.QoS, o.qos)
	retain := retained || (o.retainAsPublished && m.Retain)

	s.mu.Lock()
	c := s.client
	if c == nil {
		defer s.mu.Unlock()
		if qos == 0 || s.expiry == 0 {
			return persistItem{}, false
		}
		if len(s.pending) >= b.cfg.MaxQueuedMessages {
			b.stats.MessagesDropped.Add(1)
			b.log.Debug("broker: offline queue full; message dropped", "client_id", s.id, "topic", m.Topic)
			return persistItem{}, false
		}
		om := &outMsg{msg: m, qos: qos, subIDs: subIDs, retain: retain}
		s.pending = append(s.pending, om)
		if b.deps.Sessions == nil {
			return persistItem{}, false
		}
		s.seq++
		om.seq = s.seq
		return persistItem{s: s, qm: QueuedMessage{Seq: om.seq, Message: m, QoS: qos, SubIDs: subIDs}}, true
	}
	if c.authorizeReceive(m.Topic) != nil {
		s.mu.Unlock()
		return persistItem{}, false
	}
	if qos == 0 {
		s.mu.Unlock()
		c.sendPublish(m, 0, 0, retain, false, subIDs)
		return persistItem{}, false
	}
	if len(s.pending) >= b.cfg.MaxQueuedMessages {
		s.mu.Unlock()
		b.stats.MessagesDropped.Add(1)
		b.log.Debug("broker: session queue full; message dropped", "client_id", s.id, "topic", m.Topic)
		return persistItem{}, false
	}
	s.pending = append(s.pending, &outMsg{msg: m, qos: qos, subIDs: subIDs, retain: retain})
	s.pump(c)
	s.mu.Unlock()
	return persistItem{}, false
}

// pump moves queued QoS ≥ 1 messages into flight while the client's receive
// window and outbound buffer allow. s.mu is held.
func (s *session) pump(c *client) {
	b := s.b
	var done []uint64
	for len(s.pending) > 0 && len(s.inflight) < c.receiveMax {
		if c.outboundFull() {
			c.setCongested()
			break
		}
		om := s.pending[0]
		s.pending[0] = nil
		s.pending = s.pending[1:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		if !om.msg.Expiry.IsZero() && !b.now().Before(om.msg.Expiry) {
			if om.seq != 0 {
				done = append(done, om.seq)
			}
			continue
		}
		if om.packetID == 0 {
			if c.authorizeReceive(om.msg.Topic) != nil {
				if om.seq != 0 {
					done = append(done, om.seq)
				}
				continue
			}
			om.packetID = s.newPacketID()
		} else if _, busy := s.inflight[om.packetID]; busy {
			om.packetID = s.newPacketID()
		}
		if om.released {
			// QoS 2 past PUBREC: only the PUBREL is resent, never the PUBLISH
			// (MQTT 5 §4.4, 3.1.1 §4.4). This used to resend the PUBLISH too
			// (found by TestInflightOnResume).
			c.send(&packet.Ack{Kind: packet.PUBREL, PacketID: om.packetID})
		} else if !c.sendPublish(om.msg, om.qos, om.packetID, om.retain, om.dup, om.subIDs) {
			// Too large for the client: dropped as if delivered (MQTT 5 §3.1.2.25).
			if om.seq != 0 {
				done = append(done, om.seq)
			}
			continue
		}
		om.sentAt = b.now()
		if s.inflight == nil {
			s.inflight = make(map[uint16]*outMsg)
		}
		s.inflight[om.packetID] = om
		s.order = append(s.order, om.packetID)
	}
	if len(done) > 0 {
		id := s.id
		b.background(func() { b.forgetStored(id, done) })
	}
}

// newPacketID returns a packet id not in flight. s.mu is held.
func (s *session) newPacketID() uint16 {
	for {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if _, busy := s.inflight[s.nextID]; !busy {
			return s.nextID
		}
	}
}

// acked removes an in-flight message. s.mu is held.
func (s *session) ackedLocked(id uint16) *outMsg {
	om := s.inflight[id]
	if om == nil {
		return nil
	}
	delete(s.inflight, id)
	for i, v := range s.order {
		if v == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	return om
}

func (b *Broker) forgetStored(clientID string, seqs []uint64) {
	if b.deps.Sessions == nil {
		return
	}
	ctx, cancel := storeCtx()
	defer cancel()
	if err := b.deps.Sessions.RemoveMessages(ctx, clientID, seqs); err != nil {
		b.log.Error("broker: remove delivered messages from store", "client_id", clientID, "err", err)
	}
}

// authorizeReceive checks iot:Receive at delivery time; denials are logged at
// Debug (a denied delivery is routine: the subscription was allowed, this
// topic is not).
func (c *client) authorizeReceive(topicName string) error {
	err := c.b.deps.Authorizer.Authorize(c.principal, c.clientID, ActionReceive, topicName)
	if err != nil {
		c.log.Debug("mqtt: delivery denied", "client_id", c.clientID, "topic", topicName, "reason", err.Error())
	}
	return err
}

// sendPublish encodes a PUBLISH for this client into its outbound buffer. It
// reports false when the packet exceeds the client's Maximum Packet Size and
// was dropped. QoS 0 messages are also dropped, silently, when the client is
// a slow consumer.
func (c *client) sendPublish(m *Message, qos byte, id uint16, retain, dup bool, subIDs []uint32) bool {
	p := packet.Publish{Topic: m.Topic, Payload: m.Payload, QoS: qos, Retain: retain, Dup: dup && qos > 0, PacketID: id}
	if c.version == packet.Version5 {
		c.b.publishProperties(&p.Properties, m, subIDs)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return true
	}
	if qos == 0 && len(c.wbuf) >= c.b.cfg.MaxOutboundBytes {
		c.b.stats.MessagesDropped.Add(1)
		return true
	}
	if c.wbuf == nil {
		c.wbuf = getBuffer()
	}
	start := len(c.wbuf)
	out, err := packet.Append(c.wbuf, &p, c.version)
	if err != nil {
		c.log.Error("mqtt: encode PUBLISH", "client_id", c.clientID, "topic", m.Topic, "err", err)
		return false
	}
	if c.maxPacketOut != 0 && uint32(len(out)-start) > c.maxPacketOut {
		c.wbuf = out[:start]
		c.log.Debug("mqtt: message larger than the client's maximum packet size; dropped", "client_id", c.clientID, "topic", m.Topic)
		return false
	}
	c.wbuf = out
	c.b.stats.MessagesOut.Add(1)
	c.startWriterLocked()
	return true
}

// publishProperties fills an outgoing PUBLISH's v5 properties from m.
func (b *Broker) publishProperties(p *packet.Properties, m *Message, subIDs []uint32) {
	if m.PayloadFormat != 0 {
		p.PayloadFormatIndicator = m.PayloadFormat
		p.Set(packet.PropPayloadFormatIndicator)
	}
	if !m.Expiry.IsZero() {
		// The copy carries the remaining time; 999 ms or less becomes 0 (AWS).
		left := m.Expiry.Sub(b.now()) / time.Second
		if left < 0 {
			left = 0
		}
		p.MessageExpiryInterval = uint32(left)
		p.Set(packet.PropMessageExpiryInterval)
	}
	if m.ContentType != "" {
		p.ContentType = m.ContentType
		p.Set(packet.PropContentType)
	}
	if m.ResponseTopic != "" {
		p.ResponseTopic = m.ResponseTopic
		p.Set(packet.PropResponseTopic)
	}
	if m.CorrelationData != nil {
		p.CorrelationData = m.CorrelationData
		p.Set(packet.PropCorrelationData)
	}
	p.UserProperties = m.UserProperties
	p.SubscriptionIdentifiers = subIDs
}
