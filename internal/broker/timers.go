package broker

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// timerKind says what a timer does when it fires.
type timerKind uint8

const (
	timerExpire timerKind = iota + 1 // end a disconnected persistent session
	timerWill                        // publish a delayed will
)

type timerEntry struct {
	at   time.Time
	kind timerKind
	s    *session
	gen  uint64 // the session generation the timer belongs to
	will *Message
}

// timerQueue is a min-heap of session timers, run by the housekeeping loop.
// Entries are never removed early: a timer whose session generation has moved
// on (the client came back) is discarded when it fires.
type timerQueue struct {
	mu    sync.Mutex
	items timerHeap
	wake  chan struct{}
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = timerEntry{}
	*h = old[:len(old)-1]
	return e
}

func (q *timerQueue) init() { q.wake = make(chan struct{}, 1) }

func (q *timerQueue) add(at time.Time, kind timerKind, s *session, gen uint64, will *Message) {
	q.mu.Lock()
	heap.Push(&q.items, timerEntry{at: at, kind: kind, s: s, gen: gen, will: will})
	first := q.items[0].s == s && q.items[0].gen == gen && q.items[0].kind == kind
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// due pops the timers due at now and returns the wait until the next one.
func (q *timerQueue) due(now time.Time) ([]timerEntry, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []timerEntry
	for len(q.items) > 0 && !q.items[0].at.After(now) {
		out = append(out, heap.Pop(&q.items).(timerEntry))
	}
	wait := time.Hour
	if len(q.items) > 0 {
		wait = q.items[0].at.Sub(now)
	}
	return out, wait
}

// housekeeping fires session timers until ctx ends or the broker stops.
func (b *Broker) housekeeping(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		entries, wait := b.timers.due(b.now())
		for _, e := range entries {
			b.fire(e)
		}
		// Wake at least every second: the clock may be a test clock.
		t.Reset(min(wait, time.Second))
		select {
		case <-ctx.Done():
			return
		case <-b.stop:
			return
		case <-b.timers.wake:
		case <-t.C:
		}
	}
}

func (b *Broker) fire(e timerEntry) {
	s := e.s
	s.mu.Lock()
	stale := s.gen != e.gen || s.client != nil
	var will *Message
	if !stale && s.pendingWill != nil && (e.kind == timerExpire || s.pendingWill == e.will) {
		// A will still pending when its session ends is published then.
		will, s.pendingWill = s.pendingWill, nil
	}
	s.mu.Unlock()
	if will != nil {
		b.publishInternal(will)
	}
	if stale {
		return
	}
	switch e.kind {
	case timerExpire:
		b.mu.Lock()
		if b.sessions[s.id] == s {
			s.mu.Lock()
			still := s.gen == e.gen && s.client == nil
			s.mu.Unlock()
			if still {
				b.log.Info("broker: session expired", "client_id", s.id)
				b.dropSessionLocked(s)
			}
		}
		b.mu.Unlock()
	}
}

// background runs fn on a goroutine that Shutdown waits for.
func (b *Broker) background(fn func()) {
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		fn()
	}()
}
