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
}

// cached is a decoded shadow and the KV revision it was read or written at
// (0: not in KV).
type cached struct {
	id  shadowID
	doc shadow.Document
	rev uint64
}

func newWorker(s *Service, queueLen, cacheCap int) *worker {
	return &worker{
		s: s, queue: make(chan request, queueLen),
		cache: make(map[shadowID]*list.Element), lru: list.New(), cacheCap: cacheCap,
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

// run handles requests until the queue is closed and empty.
func (w *worker) run() {
	for r := range w.queue {
		body, err := w.handle(r)
		if r.reply != nil {
			r.reply <- result{body, err}
			continue
		}
		w.s.answer(r, body, err)
	}
}

// handle performs one request. Errors are *shadow.Error for the caller, or
// storage errors (500 on MQTT).
func (w *worker) handle(r request) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := w.s.deps.Now()
	switch r.op {
	case opGet:
		w.gets.Add(1)
		token, serr := parseTokenOnly(r.body)
		if serr != nil {
			return nil, serr
		}
		c, err := w.load(ctx, r.id)
		if err != nil {
			return nil, err
		}
		if !c.doc.Exists() {
			return nil, notFound(r.id, token)
		}
		return c.doc.Get(token, now), nil

	case opDelete:
		w.deletes.Add(1)
		token, serr := parseTokenOnly(r.body)
		if serr != nil {
			return nil, serr
		}
		body, err := w.modify(ctx, r.id, func(next *shadow.Document) ([]byte, error) {
			if !next.Exists() {
				return nil, notFound(r.id, token)
			}
			return next.Delete(token, now), nil
		})
		if err != nil {
			return nil, err
		}
		w.s.publish(r.id.prefix()+"/delete/accepted", body)
		return body, nil

	case opUpdate:
		w.updates.Add(1)
		u, serr := shadow.ParseUpdate(r.body, w.s.cfg.Limits)
		if serr != nil {
			return nil, serr
		}
		var documents, delta []byte
		accepted, err := w.modify(ctx, r.id, func(next *shadow.Document) ([]byte, error) {
			if !next.Exists() {
				if u.HasVersion {
					return nil, notFound(r.id, u.ClientToken)
				}
				if at := next.DeletedAt(); !at.IsZero() && now.Sub(at) > w.s.cfg.VersionResetAfter {
					*next = shadow.Document{} // versions start again (§1.8)
				}
			}
			accepted, docs, d, serr := next.Apply(u, now, w.s.cfg.Limits)
			if serr != nil {
				return nil, serr
			}
			documents, delta = docs, d
			return accepted, nil
		})
		if err != nil {
			return nil, err
		}
		// Order as on AWS: accepted, then documents, then delta.
		p := r.id.prefix()
		w.s.publish(p+"/update/accepted", accepted)
		w.s.publish(p+"/update/documents", documents)
		if delta != nil {
			w.s.publish(p+"/update/delta", delta)
		}
		return accepted, nil
	}
	return nil, fmt.Errorf("shadowsvc: unknown operation %d", r.op)
}

// notFound is the 404 for a missing shadow, echoing the request's token.
func notFound(id shadowID, clientToken string) *shadow.Error {
	e := shadow.NotFound(id.notFoundName())
	e.ClientToken = clientToken
	return e
}

// load returns the cached shadow, reading it from KV on a miss.
func (w *worker) load(ctx context.Context, id shadowID) (*cached, error) {
	if el, ok := w.cache[id]; ok {
		w.lru.MoveToFront(el)
		return el.Value.(*cached), nil
	}
	c := &cached{id: id}
	if err := w.read(ctx, c); err != nil {
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
func (w *worker) read(ctx context.Context, c *cached) error {
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

// modify loads the shadow, lets change edit a copy of it and writes the
// copy with compare-and-set on the revision it was read at. If another
// writer (another node of a cluster) changed the shadow in between, it
// reads the shadow again and repeats change on the new document, so no
// update is lost and a version check sees the newest version. change's
// error is returned as is and nothing is written.
func (w *worker) modify(ctx context.Context, id shadowID, change func(next *shadow.Document) ([]byte, error)) ([]byte, error) {
	key := storageKey(id)
	for attempt := 1; ; attempt++ {
		c, err := w.load(ctx, id)
		if err != nil {
			return nil, err
		}
		next := c.doc
		body, err := change(&next)
		if err != nil {
			return nil, err
		}
		data := next.Marshal()
		var rev uint64
		if c.rev == 0 {
			rev, err = w.s.deps.Bucket.Create(ctx, key, data)
		} else {
			rev, err = w.s.deps.Bucket.Update(ctx, key, data, c.rev)
		}
		if err == nil {
			c.doc, c.rev = next, rev
			return body, nil
		}
		w.evict(id)
		lost := errors.Is(err, kvstore.ErrConflict) || errors.Is(err, kvstore.ErrExists)
		if !lost || attempt == maxWriteAttempts {
			return nil, fmt.Errorf("shadowsvc: write %s: %w", id, err)
		}
	}
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
