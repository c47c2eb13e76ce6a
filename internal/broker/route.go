package broker

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// target is one session a routed message goes to, with the options of the
// subscriptions that matched (merged when several of its subscriptions did).
type target struct {
	s      *session
	opts   subOptions
	subIDs []uint32
}

// routeScratch is reused between routings to keep the hot path free of
// allocations.
type routeScratch struct {
	targets []target
	index   map[*session]int
	subIDs  []uint32
}

var scratchPool = sync.Pool{New: func() any { return &routeScratch{index: make(map[*session]int)} }}

// useIndexAbove is how many targets a linear duplicate search handles before
// a map takes over.
const useIndexAbove = 16

func (rs *routeScratch) add(s *session, o subOptions) {
	i := -1
	if len(rs.targets) > useIndexAbove {
		if len(rs.index) == 0 {
			for j := range rs.targets {
				rs.index[rs.targets[j].s] = j
			}
		}
		if j, ok := rs.index[s]; ok {
			i = j
		}
	} else {
		for j := range rs.targets {
			if rs.targets[j].s == s {
				i = j
				break
			}
		}
	}
	if i < 0 {
		t := target{s: s, opts: o}
		if o.subID != 0 {
			t.subIDs = []uint32{o.subID}
		}
		rs.targets = append(rs.targets, t)
		if len(rs.index) > 0 {
			rs.index[s] = len(rs.targets) - 1
		}
		return
	}
	// Several subscriptions of one session match: deliver once, at the highest
	// QoS, with every subscription identifier (MQTT 5 §3.3.4).
	t := &rs.targets[i]
	if o.qos > t.opts.qos {
		t.opts.qos = o.qos
	}
	t.opts.retainAsPublished = t.opts.retainAsPublished || o.retainAsPublished
	t.opts.noLocal = t.opts.noLocal && o.noLocal
	if o.subID != 0 {
		t.subIDs = append(t.subIDs, o.subID)
	}
}

func (rs *routeScratch) reset() {
	clear(rs.targets)
	rs.targets = rs.targets[:0]
	if len(rs.index) > 0 {
		clear(rs.index)
	}
}

// route delivers m to every matching subscription and forwards it to other
// nodes. It returns how many sessions it was delivered or queued to.
// beforeResponders, when not nil, is called once before m reaches the first
// in-process responder (SubscribeResponder), after every other local
// delivery and the persisting of queued copies: the publisher's PUBACK
// queued there comes before any answer.
func (b *Broker) route(m *Message, beforeResponders func()) (n int) {
	n = b.routeLocal(m, beforeResponders)
	if b.deps.Forwarder != nil {
		b.deps.Forwarder.Forward(m)
	}
	return n
}

// RouteForwarded delivers a message that another cluster node accepted. It is
// not forwarded again.
func (b *Broker) RouteForwarded(m *Message) int {
	return b.routeLocal(m, nil)
}

func (b *Broker) routeLocal(m *Message, beforeResponders func()) (n int) {
	b.stats.MessagesIn.Add(1)
	rs := scratchPool.Get().(*routeScratch)
	b.subs.Match(m.Topic,
		func(s *session, o subOptions) {
			if o.noLocal && s.id == m.PublisherID {
				return
			}
			rs.add(s, o)
		},
		func(_ string, members []topic.Member[*session, subOptions]) {
			if mem, ok := pickMember(members); ok {
				rs.add(mem.Key, mem.Value)
			}
		})
	n = len(rs.targets)
	var persist []persistItem
	responders := 0
	for i := range rs.targets {
		t := &rs.targets[i]
		if t.s.responder {
			responders++
			continue
		}
		if p, ok := t.s.deliver(m, t.opts, t.subIDs, false); ok {
			persist = append(persist, p)
		}
	}
	if len(persist) > 0 {
		b.persistQueued(persist)
	}
	if responders > 0 {
		if beforeResponders != nil {
			beforeResponders()
		}
		for i := range rs.targets {
			if t := &rs.targets[i]; t.s.responder {
				t.s.deliver(m, t.opts, t.subIDs, false) // in-process: nothing to persist
			}
		}
	}
	rs.reset()
	scratchPool.Put(rs)
	return n
}

// pickMember chooses one member of a shared subscription group: a random
// member with a live connection, else any member with a persistent session.
func pickMember(members []topic.Member[*session, subOptions]) (topic.Member[*session, subOptions], bool) {
	if len(members) == 0 {
		return topic.Member[*session, subOptions]{}, false
	}
	start := rand.IntN(len(members))
	for i := range members {
		m := members[(start+i)%len(members)]
		if m.Key.handler != nil || m.Key.currentClient() != nil {
			return m, true
		}
	}
	return members[start], true
}

// persistItem is a message queued for an offline persistent session that
// must reach the SessionStore before the publisher is acknowledged.
type persistItem struct {
	s  *session
	qm QueuedMessage
}

func (b *Broker) persistQueued(items []persistItem) {
	if b.deps.Sessions == nil {
		return
	}
	ctx, cancel := storeCtx()
	defer cancel()
	for _, it := range items {
		if err := b.deps.Sessions.AppendMessages(ctx, it.s.id, []QueuedMessage{it.qm}); err != nil {
			b.log.Error("broker: store queued message", "client_id", it.s.id, "topic", it.qm.Message.Topic, "err", err)
		}
	}
}

// storeCtx bounds a call the broker makes to a collaborator (a store, the
// Authenticator) on behalf of a client.
func storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
