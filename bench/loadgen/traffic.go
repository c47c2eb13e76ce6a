package main

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// payloadSize is the size of every benchmark payload.
const payloadSize = 64

// Payload layout: send time (ns since the run's base time), sequence number
// (per publisher, from 0), publisher index, then padding.
func fillPayload(b []byte, sent time.Duration, seq uint64, pub uint32) {
	binary.BigEndian.PutUint64(b[0:8], uint64(sent))
	binary.BigEndian.PutUint64(b[8:16], seq)
	binary.BigEndian.PutUint32(b[16:20], pub)
}

func parsePayload(b []byte) (sent time.Duration, seq uint64, pub uint32, ok bool) {
	if len(b) != payloadSize {
		return 0, 0, 0, false
	}
	return time.Duration(binary.BigEndian.Uint64(b[0:8])), binary.BigEndian.Uint64(b[8:16]),
		binary.BigEndian.Uint32(b[16:20]), true
}

// gate is the end-to-end flow control shared by the publishers of a run: a
// publisher waits while more than max messages it and its peers published
// have not reached the subscribers yet (averaged over subscribers). It keeps
// brokers in a steady state instead of measuring how fast they can buffer.
// A wait gives up after stallTimeout, so messages a broker drops (QoS 0 to a
// slow consumer) cannot stall the run.
type gate struct {
	published atomic.Int64 // messages written by all publishers
	delivered atomic.Int64 // messages read by all subscribers
	subs      int64
	max       int64

	mu      sync.Mutex
	waiting bool          // guarded by mu
	wake    chan struct{} // guarded by mu; closed to wake waiters
}

const stallTimeout = 200 * time.Millisecond

func newGate(subs, max int) *gate {
	return &gate{subs: int64(subs), max: int64(max), wake: make(chan struct{})}
}

func (g *gate) behind(n int64) bool {
	return g.published.Load()+n-g.delivered.Load()/g.subs > g.max
}

// wait blocks until n more messages fit, ctx ends or stallTimeout passes.
func (g *gate) wait(ctx context.Context, n int) {
	if !g.behind(int64(n)) {
		return
	}
	t := time.NewTimer(stallTimeout)
	defer t.Stop()
	for {
		g.mu.Lock()
		if !g.behind(int64(n)) {
			g.mu.Unlock()
			return
		}
		g.waiting = true
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// notify wakes waiting publishers; subscribers call it after each read burst.
func (g *gate) notify() {
	g.mu.Lock()
	if g.waiting {
		close(g.wake)
		g.wake = make(chan struct{})
		g.waiting = false
	}
	g.mu.Unlock()
}

// tally records which of one publisher's sequence numbers reached one
// subscriber, in a bitmap, so loss is counted exactly even when a broker
// reorders deliveries.
type tally struct {
	seen      []uint64 // bit seq is set once seq arrived
	next      uint64   // one past the highest sequence number seen
	unique    int64
	dups      int64
	reordered int64 // arrived after a higher sequence number
}

func (t *tally) add(seq uint64) {
	w := int(seq / 64)
	if w >= len(t.seen) {
		t.seen = append(t.seen, make([]uint64, w+1-len(t.seen)+len(t.seen)/2)...)
	}
	bit := uint64(1) << (seq % 64)
	switch {
	case t.seen[w]&bit != 0:
		t.dups++
		return
	case seq < t.next:
		t.reordered++
	default:
		t.next = seq + 1
	}
	t.seen[w] |= bit
	t.unique++
}

// subscriber reads deliveries on one connection, acknowledges QoS 1 ones in
// batches, and records sequence numbers and, when asked, latencies.
type subscriber struct {
	c       *conn
	g       *gate
	tallies []tally // by publisher index
	bad     int64   // deliveries with a foreign payload
	maxQoS  byte    // highest QoS delivered, to show what the broker granted

	base      time.Time
	measuring *atomic.Bool // latency samples are taken while true; nil: none
	samples   []time.Duration
}

// run reads until the connection ends. Acks are flushed, and the gate
// notified, whenever no more input is buffered, so that a burst of deliveries
// is answered with one write.
func (s *subscriber) run() error {
	var (
		acks []byte
		buf  packet.Publish
	)
	for {
		if s.c.r.Buffered() == 0 {
			if len(acks) > 0 {
				if _, err := s.c.nc.Write(acks); err != nil {
					return err
				}
				acks = acks[:0]
			}
			s.g.notify()
		}
		p, err := s.c.next(&buf)
		if err != nil {
			return err
		}
		pub, ok := p.(*packet.Publish)
		if !ok {
			continue
		}
		s.g.delivered.Add(1)
		sent, seq, idx, ok := parsePayload(pub.Payload)
		switch {
		case !ok || int(idx) >= len(s.tallies):
			s.bad++
		default:
			s.tallies[idx].add(seq)
			if s.measuring != nil && s.measuring.Load() {
				s.samples = append(s.samples, time.Since(s.base)-sent)
			}
		}
		s.maxQoS = max(s.maxQoS, pub.QoS)
		if pub.QoS > 0 {
			acks, err = packet.Append(acks, &packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID}, packet.Version311)
			if err != nil {
				return err
			}
			if len(acks) >= 8<<10 {
				if _, err := s.c.nc.Write(acks); err != nil {
					return err
				}
				acks = acks[:0]
			}
		}
	}
}

// publisher sends 64-byte messages on one connection: QoS 0 in batches of
// up to batch per write, QoS 1 with at most window unacknowledged, or, with
// a non-zero interval, one message per interval.
type publisher struct {
	c        *conn
	idx      uint32
	qos      byte
	topic    string
	g        *gate
	batch    int
	window   int
	interval time.Duration
	base     time.Time

	sent   int64        // written; owned by run
	acked  atomic.Int64 // PUBACKs received
	tokens chan struct{}
	err    error // first write error; owned by run
}

// readAcks consumes PUBACKs and returns window slots; it runs until the
// connection ends.
func (p *publisher) readAcks() error {
	var buf packet.Publish
	for {
		pk, err := p.c.next(&buf)
		if err != nil {
			return err
		}
		if a, ok := pk.(*packet.Ack); ok && a.Kind == packet.PUBACK {
			p.acked.Add(1)
			p.tokens <- struct{}{}
		}
	}
}

// run publishes until ctx ends, then waits (up to drainTimeout) for the
// PUBACKs still outstanding.
func (p *publisher) run(ctx context.Context) {
	var (
		buf     []byte
		payload = make([]byte, payloadSize)
		msg     = packet.Publish{QoS: p.qos, Topic: p.topic, Payload: payload}
		id      uint16
		next    = time.Now()
	)
	for i := 16; i < payloadSize; i++ {
		payload[i] = 'x'
	}
	for ctx.Err() == nil {
		n := p.batch
		if p.interval > 0 {
			n = 1
			next = next.Add(p.interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
		}
		if p.qos > 0 {
			select { // at least one slot, then whatever else is free
			case <-p.tokens:
			case <-ctx.Done():
				continue
			}
			n = 1
		more:
			for n < p.window && p.interval == 0 {
				select {
				case <-p.tokens:
					n++
				default:
					break more
				}
			}
		}
		p.g.wait(ctx, n)
		buf = buf[:0]
		for range n {
			fillPayload(payload, time.Since(p.base), uint64(p.sent), p.idx)
			if p.qos > 0 {
				if id++; id == 0 {
					id = 1
				}
				msg.PacketID = id
			}
			var err error
			if buf, err = packet.Append(buf, &msg, packet.Version311); err != nil {
				p.err = err
				return
			}
			p.sent++
		}
		p.g.published.Add(int64(n))
		if _, err := p.c.nc.Write(buf); err != nil {
			p.err = err
			return
		}
	}
	if p.qos > 0 {
		waitFor(drainTimeout, func() bool { return p.acked.Load() >= p.sent })
	}
}

// drainTimeout bounds how long the end of a run waits for acknowledgements
// and deliveries still in flight.
const drainTimeout = 10 * time.Second

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
