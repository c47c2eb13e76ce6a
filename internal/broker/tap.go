package broker

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// Subscriber is the in-process subscription API a Tap is built on
// (*Broker's Subscribe).
type Subscriber interface {
	Subscribe(filter string, handler func(*Message)) (unsubscribe func(), err error)
}

// ErrSharedTap is NewTap's error for a $share/ filter: a tap would join the
// group and take messages away from its members.
var ErrSharedTap = errors.New("shared subscriptions cannot be watched: the watcher would take messages away from the group's members")

// Tap watches the messages matching some filters for a person (the
// console's MQTT test client, a watch stream), without being a consumer:
// it never joins a shared subscription, it receives a message once however
// many of its filters match, and what does not fit its buffer is dropped
// and counted, so that a slow reader never slows a publisher.
type Tap struct {
	// C receives the messages.
	C <-chan *Message

	dropped atomic.Uint64
	unsubs  []func()
}

// NewTap subscribes to filters through s with a buffer of size messages.
// Close it when done.
func NewTap(s Subscriber, filters []string, size int) (*Tap, error) {
	for _, f := range filters {
		if strings.HasPrefix(f, "$share/") {
			return nil, fmt.Errorf("broker: filter %q: %w", f, ErrSharedTap)
		}
	}
	c := make(chan *Message, size)
	t := &Tap{C: c}
	for i, f := range filters {
		earlier := filters[:i]
		unsub, err := s.Subscribe(f, func(m *Message) { // on the publisher's goroutine: never blocks
			for _, e := range earlier {
				if topic.Match(e, m.Topic) {
					return // delivered through the earlier filter
				}
			}
			select {
			case c <- m:
			default:
				t.dropped.Add(1)
			}
		})
		if err != nil {
			t.Close()
			return nil, err
		}
		t.unsubs = append(t.unsubs, unsub)
	}
	return t, nil
}

// Dropped is how many messages did not fit the buffer so far.
func (t *Tap) Dropped() uint64 { return t.dropped.Load() }

// Close ends the subscriptions.
func (t *Tap) Close() {
	for _, u := range t.unsubs {
		u()
	}
	t.unsubs = nil
}
