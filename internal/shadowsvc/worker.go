package shadowsvc

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/shadow"
)

// request is one shadow operation waiting for its worker.
type request struct {
	op   op
	id   shadowID
	body []byte
	// reply receives the result of an API call; nil for MQTT requests,
	// whose result is published on the accepted or rejected topic.
	reply chan result
	// clientID is the MQTT client that sent the request ("" for API calls).
	clientID string
}

type result struct {
	body []byte
	err  error
}

// worker owns the shadows that hash to it: it handles their requests one at
// a time and keeps the recently used ones decoded.
type worker struct {
	s     *Service
	queue chan request

	cache    map[shadowID]*list.Element // of *cached
	lru      *list.List
	cacheCap int

	updates, gets, deletes, rejected atomic.Uint64

	scratch batchScratch // reused by handleBatch
	value   []byte       // reused by modify for the storage form
}

// cached is a decoded shadow and the KV revision it was read or written at
// (0: not in KV).
type cached struct {
	id     shadowID
	doc    shadow.Document
	rev    uint64
	topics *updateTopics // made by the first update
}

func newWorker(s *Service, queueLen, cacheCap int) *worker {
	return &worker{
		s: s, queue: make(chan request, queueLen),
		cache: make(map[shadowID]*list.Element), lru: list.New(), cacheCap: cacheCap,
		scratch: batchScratch{changed: make(map[shadowID]*staged)},
	}
}

// errThrottled is AWS's 429 for a device that sends faster than the service
// keeps up (reference §1.9).
var errThrottled = &shadow.Error{Code: 429, Message: "Too Many Requests"}

// enqueue hands r to the worker. wait says whether to wait for queue space
// (API calls) or to fail at once with 429 (device requests, which must not
// block the publisher's goroutine).
func (w *worker) enqueue(ctx context.Context, r request, wait bool) error {
	s := w.s
	s.queueMu.RLock()
	defer s.queueMu.RUnlock()
	if s.queuesClosed {
		return ErrNotRunning
	}
	if !wait {
		select {
		case w.queue <- r:
			return nil
		default:
			return errThrottled
		}
	}
	select {
	case w.queue <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shadowsvc: %s %s: %w", r.op, r.id, ctx.Err())
	case <-s.stopping:
		return ErrNotRunning
	}
}

// maxBatch bounds the requests a worker takes from its queue at once; their
// writes are committed together (group commit).
const maxBatch = 64

// run handles requests until the queue is closed and empty. It takes
// whatever is queued, up to maxBatch, at once: under load, requests queue
// up and are committed to KV in one round; an idle worker handles each
// request as it comes.
func (w *worker) run() {
	batch := make([]request, 0, maxBatch)
	for r := range w.queue {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if len(batch) == 1 {
			o := w.handle(r)
			w.finish(r, &o)
		} else {
			w.handleBatch(batch)
		}
		clear(batch) // drop the bodies
	}
}

// outcome is a request's result and the messages to publish before the
// answer (update/accepted, documents, delta; delete/accepted).
type outcome struct {
	result
	pubs  [3]message
	npubs int
	// change is an accepted update, whose bodies the messages build.
	change *shadow.Change
}

// add appends a message to o.
func (o *outcome) add(m message) {
	o.pubs[o.npubs] = m
	o.npubs++
}

type message struct {
	topic   string
	payload []byte
	// body, when set, names the body of the outcome's change to build at
	// publish time, and only if the topic has subscribers; a nil body
	// means nothing to send.
	body changeBody
}

// changeBody names one of the bodies of an accepted update.
type changeBody uint8

const (
	noBody changeBody = iota
	acceptedBody
	documentsBody
	deltaBody
)

// build makes the body b of o's change.
func (o *outcome) build(b changeBody) []byte {
	switch b {
	case acceptedBody:
		return o.change.Accepted()
	case documentsBody:
		return o.change.Documents()
	case deltaBody:
		return o.change.Delta()
	}
	return nil
}

// updateTopics are a shadow's update response topics, made once per
// cached shadow rather than once per update.
type updateTopics struct {
	accepted, documents, delta string
}

func newUpdateTopics(id shadowID) *updateTopics {
	p := id.prefix() + "/update/"
	return &updateTopics{accepted: p + "accepted", documents: p + "documents", delta: p + "delta"}
}

// finish publishes o's messages, then answers r: to the API caller, or on
// MQTT (get/accepted or the rejected topic).
func (w *worker) finish(r request, o *outcome) {
	switch r.op {
	case opGet:
		w.gets.Add(1)
	case opUpdate:
		w.updates.Add(1)
	case opDelete:
		w.deletes.Add(1)
	}
	for _, m := range o.pubs[:o.npubs] {
		payload := m.payload
		if m.body != noBody {
			if !w.s.deps.Broker.HasSubscribers(m.topic) {
				continue
			}
			if payload = o.build(m.body); payload == nil {
				continue
			}
		}
		w.s.publish(m.topic, payload)
	}
	if r.reply != nil {
		r.reply <- o.result
		return
	}
	w.s.answer(r, o.body, o.err)
}

// decide performs r on doc, a copy the caller owns of the shadow cached in
// c, at now. write reports that doc changed and must be stored before the
// outcome is sent. Errors in the outcome are *shadow.Error.
func (w *worker) decide(r request, c *cached, doc *shadow.Document, now time.Time) (o outcome, write bool) {
	fail := func(e *shadow.Error) (outcome, bool) { return outcome{result: result{err: e}}, false }
	switch r.op {
	case opGet:
		token, serr := parseTokenOnly(r.body)
		if serr != nil {
			return fail(serr)
		}
		if !doc.Exists() {
			return fail(notFound(r.id, token))
		}
		return outcome{result: result{body: doc.Get(token, now)}}, false

	case opDelete:
		token, serr := parseTokenOnly(r.body)
		if serr != nil {
			return fail(serr)
		}
		if !doc.Exists() {
			return fail(notFound(r.id, token))
		}
		body := doc.Delete(token, now)
		o := outcome{result: result{body: body}}
		o.add(message{topic: r.id.prefix() + "/delete/accepted", payload: body})
		return o, true

	case opUpdate:
		u, serr := shadow.ParseUpdate(r.body, w.s.cfg.Limits)
		if serr != nil {
			return fail(serr)
		}
		if !doc.Exists() {
			if u.HasVersion {
				return fail(notFound(r.id, u.ClientToken))
			}
			if at := doc.DeletedAt(); !at.IsZero() && now.Sub(at) > w.s.cfg.VersionResetAfter {
				*doc = shadow.Document{} // versions start again (§1.8)
			}
		}
		change, serr := doc.Accept(u, now, w.s.cfg.Limits)
		if serr != nil {
			return fail(serr)
		}
		// Order as on AWS: accepted, then documents, then delta. The bodies
		// are built when they are published, and only for topics somebody
		// subscribes to; an API caller gets the accepted body either way.
		if c.topics == nil {
			c.topics = newUpdateTopics(r.id)
		}
		o := outcome{change: change}
		if r.reply != nil {
			o.body = change.Accepted()
			o.add(message{topic: c.topics.accepted, payload: o.body})
		} else {
			o.add(message{topic: c.topics.accepted, body: acceptedBody})
		}
		o.add(message{topic: c.topics.documents, body: documentsBody})
		o.add(message{topic: c.topics.delta, body: deltaBody})
		return o, true
	}
	return outcome{result: result{err: fmt.Errorf("shadowsvc: unknown operation %d", r.op)}}, false
}

// kvTimeout bounds a KV read or create of a shadow. Compare-and-set
// writes are bounded by kvstore.WriteTimeout.
const kvTimeout = 10 * time.Second

// handle performs one request on its own: read (from the cache), decide,
// and write with compare-and-set before the outcome is sent.
func (w *worker) handle(r request) outcome {
	now := w.s.deps.Now()
	var o outcome
	err := w.modify(r.id, func(c *cached, next *shadow.Document) bool {
		var write bool
		o, write = w.decide(r, c, next, now)
		return write
	})
	if err != nil {
		return outcome{result: result{err: err}}
	}
	return o
}

// staged is a shadow changed by requests of a batch, not yet written.
type staged struct {
	c    *cached
	next shadow.Document
	reqs []int // the batch's requests that saw this change
}

// handleBatch decides every request of the batch in order, each seeing the
// changes of those before it, writes each changed shadow once (all in one
// KV round), and then sends the outcomes in order. Requests on a shadow
// whose write failed (another writer won the compare-and-set, or KV
// failed) are handled again, one at a time, so they see the shadow as
// stored.
func (w *worker) handleBatch(batch []request) {
	now := w.s.deps.Now()
	sc := &w.scratch
	defer sc.reset()
	outs := sc.outcomes(len(batch))
	changed := sc.changed
	order := sc.order
	for i, r := range batch {
		st := changed[r.id]
		var doc shadow.Document
		if st != nil {
			doc = st.next
		} else {
			c, err := w.load(r.id)
			if err != nil {
				outs[i] = outcome{result: result{err: err}}
				continue
			}
			doc = c.doc
			st = sc.newStaged(c)
		}
		o, write := w.decide(r, st.c, &doc, now)
		outs[i] = o
		if write && changed[r.id] == nil {
			changed[r.id] = st
			order = append(order, st)
		}
		if write {
			st.next = doc
		}
		if changed[r.id] != nil {
			st.reqs = append(st.reqs, i)
		}
	}
	sc.order = order
	redo := sc.redoFlags(len(batch))
	if len(order) > 0 {
		writes := sc.writes[:0]
		for _, st := range order {
			writes = append(writes, kvstore.Write{Key: storageKey(st.c.id), Value: sc.marshal(&st.next), Rev: st.c.rev})
		}
		sc.writes = writes
		for j, res := range w.s.deps.Bucket.UpdateBatch(context.Background(), writes) {
			st := order[j]
			if res.Err == nil {
				st.c.doc, st.c.rev = st.next, res.Rev
				continue
			}
			w.evict(st.c.id)
			for _, i := range st.reqs {
				redo[i] = true
			}
		}
	}
	for i, r := range batch {
		if redo[i] {
			outs[i] = w.handle(r)
		}
		w.finish(r, &outs[i])
	}
}

// notFound is the 404 for a missing shadow, echoing the request's token.
func notFound(id shadowID, clientToken string) *shadow.Error {
	e := shadow.NotFound(id.notFoundName())
	e.ClientToken = clientToken
	return e
}

// load returns the cached shadow, reading it from KV on a miss.
func (w *worker) load(id shadowID) (*cached, error) {
	if el, ok := w.cache[id]; ok {
		w.lru.MoveToFront(el)
		return el.Value.(*cached), nil
	}
	c := &cached{id: id}
	if err := w.read(c); err != nil {
		return nil, err
	}
	w.cache[id] = w.lru.PushFront(c)
	for w.lru.Len() > w.cacheCap {
		old := w.lru.Remove(w.lru.Back()).(*cached)
		delete(w.cache, old.id)
	}
	return c, nil
}

// read fills c from KV.
func (w *worker) read(c *cached) error {
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	e, err := w.s.deps.Bucket.Get(ctx, storageKey(c.id))
	if errors.Is(err, kvstore.ErrNotFound) {
		c.doc, c.rev = shadow.Document{}, 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("shadowsvc: read %s: %w", c.id, err)
	}
	d, err := shadow.Unmarshal(e.Value)
	if err != nil {
		return fmt.Errorf("shadowsvc: read %s: %w", c.id, err)
	}
	c.doc, c.rev = *d, e.Revision
	return nil
}

// maxWriteAttempts bounds the retries of a write that lost a
// compare-and-set race.
const maxWriteAttempts = 3

// modify loads the shadow c, lets change edit a copy of it and, when change
// reports a write, writes the copy with compare-and-set on the revision it
// was read at. If another writer (another node of a cluster) changed the
// shadow in between, it reads the shadow again and repeats change on the
// new document, so no update is lost and a version check sees the newest
// version.
func (w *worker) modify(id shadowID, change func(c *cached, next *shadow.Document) (write bool)) error {
	key := storageKey(id)
	for attempt := 1; ; attempt++ {
		c, err := w.load(id)
		if err != nil {
			return err
		}
		next := c.doc
		if !change(c, &next) {
			return nil
		}
		var rev uint64
		if c.rev == 0 {
			rev, err = w.create(key, next.Marshal())
		} else {
			data := next.AppendMarshal(w.value[:0])
			rev, err = w.s.deps.Bucket.Update(context.Background(), key, data, c.rev)
			if cap(data) <= maxKeptValues {
				w.value = data[:0] // kvstore keeps no value after the write
			}
		}
		if err == nil {
			c.doc, c.rev = next, rev
			return nil
		}
		w.evict(id)
		lost := errors.Is(err, kvstore.ErrConflict) || errors.Is(err, kvstore.ErrExists)
		if !lost || attempt == maxWriteAttempts {
			return fmt.Errorf("shadowsvc: write %s: %w", id, err)
		}
	}
}

// create stores the first value of a shadow's key.
func (w *worker) create(key string, data []byte) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kvTimeout)
	defer cancel()
	return w.s.deps.Bucket.Create(ctx, key, data)
}

func (w *worker) evict(id shadowID) {
	if el, ok := w.cache[id]; ok {
		w.lru.Remove(el)
		delete(w.cache, id)
	}
}

// storageKey is s.{thing}.{shadow}, with "=" (the encoded empty token) for
// the classic shadow.
func storageKey(id shadowID) string { return kvstore.Key("s", id.thing, id.name) }
