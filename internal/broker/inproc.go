package broker

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// Publish publishes m on behalf of an in-process service (the shadow service,
// the console). Services are trusted: no authorization and no reserved-topic
// rules apply, but the topic must be valid. m must not be modified afterwards.
func (b *Broker) Publish(m *Message) error {
	if b.isClosed() {
		return ErrServerClosed
	}
	if err := topic.ValidateName(m.Topic); err != nil {
		return fmt.Errorf("broker: publish: %w", err)
	}
	if m.QoS > 2 {
		return errors.New("broker: publish: QoS must be 0, 1 or 2")
	}
	if m.Created.IsZero() {
		m.Created = b.now()
	}
	if m.Retain {
		if code, why := b.storeRetained(m); code != packet.Success {
			return fmt.Errorf("broker: publish %s: %s", m.Topic, why)
		}
	}
	b.route(m, nil)
	return nil
}

// Subscribe registers an in-process subscription. handler is called for every
// matching message, on the publisher's goroutine: it must be quick and must
// not block (hand work to a queue of your own). Shared filters are allowed.
// Call the returned function to unsubscribe.
func (b *Broker) Subscribe(filter string, handler func(*Message)) (unsubscribe func(), err error) {
	return b.subscribeInProcess(filter, handler, false)
}

// SubscribeResponder is Subscribe for a service that answers each message
// with a publish its publisher usually subscribes to, soon after (the
// shadow service: update → update/accepted). The broker then holds the
// publisher's PUBACK for up to 5 ms, so that the ack and the answer leave
// in one write: one system call per request instead of two. The PUBACK
// still comes first, and acks keep their order.
func (b *Broker) SubscribeResponder(filter string, handler func(*Message)) (unsubscribe func(), err error) {
	return b.subscribeInProcess(filter, handler, true)
}

func (b *Broker) subscribeInProcess(filter string, handler func(*Message), responder bool) (unsubscribe func(), err error) {
	if err := topic.ValidateFilter(filter); err != nil {
		return nil, fmt.Errorf("broker: subscribe %q: %w", filter, err)
	}
	if handler == nil {
		return nil, errors.New("broker: subscribe: nil handler")
	}
	id := "$inproc/" + strconv.FormatUint(b.seq.Add(1), 10)
	s := &session{b: b, id: id, handler: handler, responder: responder}
	b.subs.Subscribe(filter, s, subOptions{qos: 2})
	return func() { b.subs.Unsubscribe(filter, s) }, nil
}

// HasSubscribers reports whether a message published to topicName now could
// reach anyone: a matching subscription of a connected or persistent
// session, an in-process subscriber, or another cluster node (with a
// Forwarder it always reports true, since remote interest is not known
// here). Services use it to skip building messages nobody receives; a
// subscriber that arrives right after the check misses the message, as it
// would have missed it a moment earlier.
func (b *Broker) HasSubscribers(topicName string) bool {
	if b.deps.Forwarder != nil {
		return true
	}
	found := false
	b.subs.Match(topicName,
		func(*session, subOptions) { found = true },
		func(_ string, members []topic.Member[*session, subOptions]) {
			if len(members) > 0 {
				found = true
			}
		})
	return found
}
