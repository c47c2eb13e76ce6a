package broker

import (
	"strings"
	"sync"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// retainedSet holds one retained message per topic.
//
// AWS delivers retained messages only to subscriptions whose filter equals
// the topic; here wildcard subscriptions get them too, as the MQTT spec and
// the common brokers do (a superset that AWS-built clients tolerate). The '$'
// rule still applies: a filter starting with a wildcard never matches a '$'
// topic.
type retainedSet struct {
	mu   sync.RWMutex
	msgs map[string]*Message
}

func (r *retainedSet) init() { r.msgs = make(map[string]*Message) }

func (r *retainedSet) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.msgs)
}

// matching returns the retained messages a new subscription to filter gets.
func (r *retainedSet) matching(filter string) []*Message {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !strings.ContainsAny(filter, "+#") {
		if m := r.msgs[filter]; m != nil {
			return []*Message{m}
		}
		return nil
	}
	var out []*Message
	for t, m := range r.msgs {
		if topic.Match(filter, t) {
			out = append(out, m)
		}
	}
	return out
}

// storeRetained replaces (or, with an empty payload, deletes) the retained
// message of m's topic, in memory and in the RetainedStore.
func (b *Broker) storeRetained(m *Message) (packet.ReasonCode, string) {
	r := &b.retained
	r.mu.Lock()
	if len(m.Payload) == 0 {
		_, had := r.msgs[m.Topic]
		delete(r.msgs, m.Topic)
		r.mu.Unlock()
		if had && b.deps.Retained != nil {
			ctx, cancel := storeCtx()
			defer cancel()
			if err := b.deps.Retained.DeleteRetained(ctx, m.Topic); err != nil {
				b.log.Error("broker: delete retained message", "topic", m.Topic, "err", err)
			}
		}
		return packet.Success, ""
	}
	if _, had := r.msgs[m.Topic]; !had && len(r.msgs) >= b.cfg.MaxRetained {
		r.mu.Unlock()
		return packet.QuotaExceeded, "the retained message limit is reached"
	}
	r.msgs[m.Topic] = m
	r.mu.Unlock()
	if b.deps.Retained != nil {
		ctx, cancel := storeCtx()
		defer cancel()
		if err := b.deps.Retained.PutRetained(ctx, m); err != nil {
			b.log.Error("broker: store retained message", "topic", m.Topic, "err", err)
			return packet.UnspecifiedError, "the retained message could not be stored"
		}
	}
	return packet.Success, ""
}

// Retained returns the retained message of a topic, if any (for the
// GetRetainedMessage API).
func (b *Broker) Retained(topicName string) (*Message, bool) {
	b.retained.mu.RLock()
	defer b.retained.mu.RUnlock()
	m, ok := b.retained.msgs[topicName]
	return m, ok
}
