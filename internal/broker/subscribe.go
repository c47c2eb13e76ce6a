package broker

import (
	"fmt"
	"strings"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// handleSubscribe handles SUBSCRIBE: per filter validation, limits,
// reserved-topic rules and authorization, then SUBACK, then retained messages.
func (c *client) handleSubscribe(p *packet.Subscribe) error {
	b := c.b
	s := c.sess
	v5 := c.version == packet.Version5
	var subID uint32
	if len(p.Properties.SubscriptionIdentifiers) > 0 {
		if !b.subIDs {
			return c.protocolError(packet.SubscriptionIdentifiersNotSupported, ReasonClientError, "subscription identifiers are not supported")
		}
		subID = p.Properties.SubscriptionIdentifiers[0]
	}
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	type granted struct {
		filter string
		opts   subOptions
		isNew  bool
	}
	var ok []granted
	var refusals []string
	for i, sub := range p.Subscriptions {
		filter := strings.Clone(sub.Filter)
		code, why := c.checkSubscribe(i, filter, sub)
		if code != packet.Success {
			codes[i] = code
			refusals = append(refusals, fmt.Sprintf("%s: %s", filter, why))
			c.log.Warn("mqtt: subscription refused", "client_id", c.clientID, "cert_id", principalID(c.principal),
				"filter", filter, "reason", why, "reason_code", fmt.Sprintf("0x%02X", byte(code)))
			if !v5 {
				codes[i] = packet.SubackFailure
			}
			continue
		}
		qos := min(sub.QoS, b.cfg.MaxQoS)
		o := subOptions{qos: qos, noLocal: sub.NoLocal, retainAsPublished: sub.RetainAsPublished, retainHandling: sub.RetainHandling, subID: subID}
		s.mu.Lock()
		_, existed := s.subs[filter]
		if !existed && len(s.subs) >= b.cfg.MaxSubscriptions {
			s.mu.Unlock()
			why := fmt.Sprintf("the session already has %d subscriptions, the limit", b.cfg.MaxSubscriptions)
			c.log.Warn("mqtt: subscription refused", "client_id", c.clientID, "filter", filter, "reason", why)
			codes[i] = packet.QuotaExceeded
			if !v5 {
				codes[i] = packet.SubackFailure
			}
			refusals = append(refusals, filter+": "+why)
			continue
		}
		s.subs[filter] = o
		s.mu.Unlock()
		b.subs.Subscribe(filter, s, o)
		codes[i] = packet.ReasonCode(qos)
		ok = append(ok, granted{filter: filter, opts: o, isNew: !existed})
	}
	ack := &packet.Suback{PacketID: p.PacketID, ReasonCodes: codes}
	if v5 && len(refusals) > 0 && c.problemDetail {
		ack.Properties.ReasonString = strings.Join(refusals, "; ")
		ack.Properties.Set(packet.PropReasonString)
	}
	c.send(ack)
	if len(ok) == 0 {
		return nil
	}
	if err := b.persistSession(s); err != nil {
		b.log.Error("broker: store session", "client_id", c.clientID, "err", err)
	}
	topics := make([]string, len(ok))
	for i, g := range ok {
		topics[i] = g.filter
	}
	b.emit(Event{Kind: EventSubscribed, ClientID: c.clientID, PrincipalID: principalID(c.principal),
		SessionID: s.sessionID, Topics: topics, ProtocolVersion: c.version})
	// Retained messages (never for shared subscriptions).
	for _, g := range ok {
		if _, _, shared := topic.ParseShared(g.filter); shared {
			continue
		}
		if g.opts.retainHandling == 2 || (g.opts.retainHandling == 1 && !g.isNew) {
			continue
		}
		var subIDs []uint32
		if g.opts.subID != 0 {
			subIDs = []uint32{g.opts.subID}
		}
		for _, m := range b.retained.matching(g.filter) {
			s.deliver(m, g.opts, subIDs, true)
		}
	}
	return nil
}

// checkSubscribe validates one filter of a SUBSCRIBE.
func (c *client) checkSubscribe(i int, filter string, sub packet.Subscription) (packet.ReasonCode, string) {
	b := c.b
	if i >= b.cfg.MaxFiltersPerSubscribe {
		return packet.QuotaExceeded, fmt.Sprintf("more than %d filters in one SUBSCRIBE", b.cfg.MaxFiltersPerSubscribe)
	}
	if err := topic.ValidateFilter(filter); err != nil {
		return packet.TopicFilterInvalid, err.Error()
	}
	if err := b.limits.CheckFilter(filter); err != nil {
		return packet.TopicFilterInvalid, err.Error()
	}
	if _, _, shared := topic.ParseShared(filter); shared && sub.NoLocal {
		return packet.ProtocolError, "No Local on a shared subscription"
	}
	_, plain, _ := topic.ParseShared(filter)
	if b.reserved && topicIsReserved(plain) && !reservedSubscribeAllowed(plain) {
		return packet.NotAuthorized, "clients may not subscribe to reserved topic filter " + plain
	}
	if err := c.authorize(ActionSubscribe, filter); err != nil {
		return packet.NotAuthorized, err.Error()
	}
	return packet.Success, ""
}

// handleUnsubscribe handles UNSUBSCRIBE.
func (c *client) handleUnsubscribe(p *packet.Unsubscribe) error {
	b := c.b
	s := c.sess
	codes := make([]packet.ReasonCode, len(p.Filters))
	var removed []string
	for i, f := range p.Filters {
		s.mu.Lock()
		_, had := s.subs[f]
		delete(s.subs, f)
		s.mu.Unlock()
		if had {
			b.subs.Unsubscribe(f, s)
			removed = append(removed, strings.Clone(f))
		} else {
			codes[i] = packet.NoSubscriptionExisted
		}
	}
	ack := &packet.Unsuback{PacketID: p.PacketID}
	if c.version == packet.Version5 {
		ack.ReasonCodes = codes
	}
	c.send(ack)
	if len(removed) > 0 {
		if err := b.persistSession(s); err != nil {
			b.log.Error("broker: store session", "client_id", c.clientID, "err", err)
		}
		b.emit(Event{Kind: EventUnsubscribed, ClientID: c.clientID, PrincipalID: principalID(c.principal),
			SessionID: s.sessionID, Topics: removed, ProtocolVersion: c.version})
	}
	return nil
}
