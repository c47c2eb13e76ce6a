package broker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"sync"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// subOptions is what the subscription tree stores per subscription.
type subOptions struct {
	qos               byte
	noLocal           bool
	retainAsPublished bool
	retainHandling    byte
	subID             uint32
}

// outMsg is a QoS ≥ 1 delivery owned by a session: queued, or in flight
// (sent and awaiting PUBACK, or PUBREC/PUBCOMP for QoS 2).
type outMsg struct {
	msg      *Message
	qos      byte
	subIDs   []uint32
	retain   bool
	packetID uint16
	seq      uint64 // store sequence; 0 when not stored
	released bool   // QoS 2: PUBREC received, PUBREL sent, awaiting PUBCOMP
	sentAt   time.Time
	dup      bool
}

// session is the MQTT session state of one client id. It outlives
// connections when it is persistent.
type session struct {
	b         *Broker
	id        string
	sessionID string
	// handler is set for in-process subscribers, which have no connection.
	handler func(*Message)
	// responder marks an in-process subscriber that answers each message's
	// publisher soon (SubscribeResponder).
	responder bool

	mu       sync.Mutex // guards everything below
	version  byte
	expiry   time.Duration // session expiry interval after disconnect; 0 ends it on disconnect
	client   *client
	gen      uint64 // bumps on every attach and detach; stale timers compare it
	subs     map[string]subOptions
	inflight map[uint16]*outMsg
	order    []uint16 // inflight packet ids in send order
	pending  []*outMsg
	nextID   uint16
	seq      uint64
	inQoS2   map[uint16]struct{} // inbound QoS 2 ids awaiting PUBREL
	stored   bool                // a record exists in the SessionStore
	// pendingWill is a delayed will waiting for its timer; resuming the
	// session cancels it.
	pendingWill *Message
}

func newSession(b *Broker, id string, version byte) *session {
	var buf [16]byte
	_, _ = rand.Read(buf[:])
	return &session{
		b: b, id: id, version: version,
		sessionID: fmt.Sprintf("%s-%s-%s-%s-%s", hex.EncodeToString(buf[0:4]), hex.EncodeToString(buf[4:6]),
			hex.EncodeToString(buf[6:8]), hex.EncodeToString(buf[8:10]), hex.EncodeToString(buf[10:16])),
		subs: make(map[string]subOptions),
	}
}

func (s *session) currentClient() *client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

func (s *session) isPersistent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiry > 0
}

func (s *session) expiryDuration() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiry
}

func (s *session) setExpiry(d time.Duration) {
	s.mu.Lock()
	s.expiry = d
	s.mu.Unlock()
}

// attach installs c as the connection of its client id's session, taking over
// any live connection, and reports whether an existing session was resumed.
func (b *Broker) attach(c *client, cleanStart bool, expiry time.Duration) (bool, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return false, ErrServerClosed
		}
		s := b.sessions[c.clientID]
		var old *client
		if s != nil {
			old = s.currentClient()
		}
		if old != nil {
			b.mu.Unlock()
			c.log.Info("mqtt: client id taken over by a new connection", "client_id", c.clientID,
				"remote_addr", old.remote(), "new_remote_addr", c.remote())
			old.kick(packet.SessionTakenOver, ReasonDuplicateClientID, "another connection with the same client id")
			<-old.done
			continue
		}
		present := s != nil && !cleanStart && s.version == c.version
		if s != nil && !present {
			// Sessions do not cross protocol versions (AWS), and clean start
			// discards the old one.
			b.dropSessionLocked(s)
			s = nil
		}
		if s == nil {
			s = newSession(b, c.clientID, c.version)
			b.sessions[c.clientID] = s
		}
		s.mu.Lock()
		s.client = c
		s.gen++
		s.expiry = expiry
		s.pendingWill = nil
		s.mu.Unlock()
		c.sess = s
		b.mu.Unlock()
		if err := b.persistSession(s); err != nil {
			return false, err
		}
		return present, nil
	}
}

// dropSessionLocked removes a session and its subscriptions. b.mu is held.
func (b *Broker) dropSessionLocked(s *session) {
	delete(b.sessions, s.id)
	s.mu.Lock()
	filters := make([]string, 0, len(s.subs))
	for f := range s.subs {
		filters = append(filters, f)
	}
	s.subs = map[string]subOptions{}
	s.pending, s.inflight, s.order = nil, nil, nil
	stored := s.stored
	s.stored = false
	s.gen++
	s.mu.Unlock()
	for _, f := range filters {
		b.subs.Unsubscribe(f, s)
	}
	if stored && b.deps.Sessions != nil {
		ctx, cancel := storeCtx()
		if err := b.deps.Sessions.DeleteSession(ctx, s.id); err != nil {
			b.log.Error("broker: delete stored session", "client_id", s.id, "err", err)
		}
		cancel()
	}
}

// detach runs when c's connection has ended: a clean session ends, a
// persistent one keeps its subscriptions and messages until it expires.
func (b *Broker) detach(c *client, reason string) {
	s := c.sess
	s.mu.Lock()
	if s.client != c {
		s.mu.Unlock()
		b.publishWill(c, 0)
		return
	}
	s.client = nil
	s.gen++
	gen := s.gen
	expiry := s.expiry
	// In-flight messages go back to the head of the queue, to be resent with
	// DUP on the next connection.
	if expiry > 0 && len(s.order) > 0 {
		back := make([]*outMsg, 0, len(s.order)+len(s.pending))
		for _, id := range s.order {
			if om := s.inflight[id]; om != nil {
				om.dup = true
				back = append(back, om)
			}
		}
		s.pending = append(back, s.pending...)
	}
	s.inflight, s.order = nil, nil
	var unstored []QueuedMessage
	if expiry > 0 && b.deps.Sessions != nil {
		for _, om := range s.pending {
			if om.seq == 0 {
				s.seq++
				om.seq = s.seq
				unstored = append(unstored, QueuedMessage{Seq: om.seq, Message: om.msg, QoS: om.qos, SubIDs: om.subIDs})
			}
		}
	}
	s.mu.Unlock()

	if expiry == 0 {
		b.mu.Lock()
		if b.sessions[s.id] == s {
			b.dropSessionLocked(s)
		}
		b.mu.Unlock()
		b.publishWill(c, 0)
		return
	}
	if len(unstored) > 0 {
		ctx, cancel := storeCtx()
		if err := b.deps.Sessions.AppendMessages(ctx, s.id, unstored); err != nil {
			b.log.Error("broker: store queued messages", "client_id", s.id, "err", err)
		}
		cancel()
	}
	if err := b.persistSession(s); err != nil {
		b.log.Error("broker: store session", "client_id", s.id, "err", err)
	}
	b.timers.add(b.now().Add(expiry), timerExpire, s, gen, nil)
	b.publishWill(c, gen)
}

// publishWill publishes c's will now, or schedules it after the will delay.
// A delayed will is cancelled if the session is resumed before it fires.
func (b *Broker) publishWill(c *client, gen uint64) {
	w := c.will
	if w == nil {
		return
	}
	c.closeMu.Lock()
	send := c.sendWill
	c.closeMu.Unlock()
	if !send {
		return
	}
	if c.willDelay > 0 && gen != 0 {
		delay := c.willDelay
		if e := c.sess.expiryDuration(); e < delay {
			delay = e
		}
		c.sess.mu.Lock()
		c.sess.pendingWill = w
		c.sess.mu.Unlock()
		b.timers.add(b.now().Add(delay), timerWill, c.sess, gen, w)
		return
	}
	b.publishInternal(w)
}

// publishInternal routes a message on behalf of the broker (wills).
func (b *Broker) publishInternal(m *Message) {
	m.Created = b.now()
	if m.Retain {
		b.storeRetained(m)
	}
	b.route(m, nil)
}

// resume sends a resumed session's queued messages on its new connection.
func (s *session) resume(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pump(c)
}

// persistSession writes the session's durable record if it is persistent.
func (b *Broker) persistSession(s *session) error {
	if b.deps.Sessions == nil {
		return nil
	}
	s.mu.Lock()
	if s.expiry == 0 && !s.stored {
		s.mu.Unlock()
		return nil
	}
	if s.expiry == 0 {
		s.mu.Unlock()
		ctx, cancel := storeCtx()
		defer cancel()
		s.mu.Lock()
		s.stored = false
		s.mu.Unlock()
		return b.deps.Sessions.DeleteSession(ctx, s.id)
	}
	rec := s.recordLocked()
	s.stored = true
	s.mu.Unlock()
	ctx, cancel := storeCtx()
	defer cancel()
	return b.deps.Sessions.PutSession(ctx, rec)
}

func (s *session) recordLocked() SessionRecord {
	rec := SessionRecord{ClientID: s.id, ProtocolVersion: s.version, Expiry: s.expiry}
	if s.client == nil {
		rec.DisconnectedAt = s.b.now()
	}
	for f, o := range s.subs {
		rec.Subscriptions = append(rec.Subscriptions, SubscriptionRecord{
			Filter: f, QoS: o.qos, NoLocal: o.noLocal, RetainAsPublished: o.retainAsPublished,
			RetainHandling: o.retainHandling, SubscriptionID: o.subID,
		})
	}
	sort.Slice(rec.Subscriptions, func(i, j int) bool { return rec.Subscriptions[i].Filter < rec.Subscriptions[j].Filter })
	return rec
}
