package broker

import (
	"errors"
	"fmt"

	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// The in-process API for services that publish and read on behalf of
// clients that are not MQTT connections (the HTTP data plane's Publish,
// GetRetainedMessage and ListRetainedMessages).

// CheckClientPublish applies to a publish made for a client outside MQTT
// the checks a client's PUBLISH gets before authorization: a valid topic
// name within AWS's limits, the reserved-topic rules ($ topics only in their
// documented direction, never retained) and the payload size. It returns
// nil, or an error saying why the publish is refused.
func (b *Broker) CheckClientPublish(topicName string, payloadLen int, retain bool) error {
	if topicName == "" {
		return errors.New("the topic is empty")
	}
	if err := topic.ValidateName(topicName); err != nil {
		return err
	}
	if err := b.limits.CheckName(topicName); err != nil {
		return err
	}
	if payloadLen > b.cfg.MaxPayloadSize {
		return fmt.Errorf("payload is %d bytes; the limit is %d", payloadLen, b.cfg.MaxPayloadSize)
	}
	if b.reserved && topicIsReserved(topicName) {
		if retain {
			return errors.New("a $ topic cannot be retained")
		}
		if !reservedPublishAllowed(topicName) {
			return errors.New("clients may not publish to reserved topic " + topicName)
		}
	}
	return nil
}

// RetainedMessages returns a snapshot of the retained messages that have
// not expired, in no particular order.
func (b *Broker) RetainedMessages() []*Message {
	now := b.now()
	b.retained.mu.RLock()
	defer b.retained.mu.RUnlock()
	out := make([]*Message, 0, len(b.retained.msgs))
	for _, m := range b.retained.msgs {
		if m.Expiry.IsZero() || now.Before(m.Expiry) {
			out = append(out, m)
		}
	}
	return out
}
