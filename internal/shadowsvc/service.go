// Package shadowsvc is thingcore's Device Shadow service: it answers shadow
// requests that devices publish on the reserved MQTT topics
// ($aws/things/{thing}/shadow[/name/{shadow}]/{get,update,delete}) and that
// the HTTP data plane and the console make through its Go API, keeps every
// shadow in a KV bucket with compare-and-set on the revision, and publishes
// AWS's accepted, rejected, delta and documents messages as ordinary broker
// messages (reference §1.2).
//
// The document rules live in internal/shadow; this package adds the topics,
// storage, caching and ordering. Requests for one shadow are handled one at a
// time, in arrival order, by the worker that owns the shadow (a hash of thing
// and shadow name), so concurrent updates never lose one another and versions
// stay strictly increasing. The revision check on every write keeps that true
// when another node writes the same bucket.
//
// It imports broker (types only), kvstore and shadow; only the hub imports it.
package shadowsvc

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/shadow"
)

// Config tunes the service. The zero value means the defaults.
type Config struct {
	// Limits bounds documents (8 KB of desired + reported, nesting depth).
	Limits shadow.Limits
	// Workers is how many goroutines handle requests; each owns the shadows
	// that hash to it and commits what queued up meanwhile in one KV round,
	// so fewer workers make bigger batches. Default twice GOMAXPROCS, at
	// least 4.
	Workers int
	// QueueLength bounds the requests waiting for one worker. A device
	// request beyond it is rejected with 429, as AWS throttles. Default 1024.
	QueueLength int
	// CacheEntries is how many shadows are kept decoded in memory, so a hot
	// shadow costs no KV read per update. Default 4096.
	CacheEntries int
	// VersionResetAfter is how long a deleted shadow's version is
	// remembered: recreated within it, versions continue; later they start
	// again at 1 (AWS: 48 hours, §1.8). Default 48h.
	VersionResetAfter time.Duration
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if c.QueueLength <= 0 {
		c.QueueLength = 1024
	}
	if c.CacheEntries <= 0 {
		c.CacheEntries = 4096
	}
	if c.VersionResetAfter <= 0 {
		c.VersionResetAfter = 48 * time.Hour
	}
	return c
}

// Broker is what the service needs of the MQTT broker: its in-process client
// API.
type Broker interface {
	Publish(m *broker.Message) error
	// SubscribeResponder subscribes a handler that answers each request's
	// publisher soon after (see broker.Broker.SubscribeResponder).
	SubscribeResponder(filter string, handler func(*broker.Message)) (unsubscribe func(), err error)
	// HasSubscribers reports whether a message to topicName could reach
	// anyone; responses nobody receives are not built.
	HasSubscribers(topicName string) bool
}

// Bucket is the key-value bucket shadows are stored in (a *kvstore.Bucket).
type Bucket interface {
	Get(ctx context.Context, key string) (kvstore.Entry, error)
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	Keys(ctx context.Context, filter string) ([]string, error)
	// UpdateBatch writes several keys with compare-and-set in one round.
	UpdateBatch(ctx context.Context, writes []kvstore.Write) []kvstore.WriteResult
}

// Deps are the service's collaborators.
type Deps struct {
	Broker Broker // required
	Bucket Bucket // required
	Logger *slog.Logger
	// Now is the clock for timestamps; time.Now when nil.
	Now func() time.Time
}

// Stats are counters for diagnostics and the console.
type Stats struct {
	Updates, Gets, Deletes, Rejected uint64
}

// Service is the Device Shadow service.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	seed maphash.Seed

	workers []*worker

	mu       sync.Mutex
	running  bool
	ready    chan struct{} // closed when Serve has subscribed
	stopping chan struct{} // closed by Shutdown
	drained  chan struct{} // closed when the workers have stopped

	// queueMu guards sending to the workers' queues against their closing.
	queueMu      sync.RWMutex
	queuesClosed bool

	hintMu sync.Mutex
	hints  map[string]time.Time // thing -> when its "missing state" hint was logged
}

// ErrNotRunning is returned for requests made after Shutdown. It is a
// *shadow.Error with code 503, so the HTTP data plane answers
// ServiceUnavailableException.
var ErrNotRunning = &shadow.Error{Code: 503, Message: "Service Unavailable"}

// New returns a service. It starts nothing.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Broker == nil || deps.Bucket == nil {
		return nil, errors.New("shadowsvc: Broker and Bucket are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	cfg = cfg.withDefaults()
	s := &Service{cfg: cfg, deps: deps, log: deps.Logger, seed: maphash.MakeSeed(),
		ready: make(chan struct{}), stopping: make(chan struct{}), drained: make(chan struct{}), hints: make(map[string]time.Time)}
	perWorker := max(1, cfg.CacheEntries/cfg.Workers)
	for range cfg.Workers {
		s.workers = append(s.workers, newWorker(s, cfg.QueueLength, perWorker))
	}
	return s, nil
}

// Serve subscribes to the shadow request topics and handles requests until
// ctx ends or Shutdown is called; then it finishes the requests already
// queued and returns.
func (s *Service) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("shadowsvc: Serve called twice")
	}
	select {
	case <-s.stopping:
		s.mu.Unlock()
		return ErrNotRunning
	default:
	}
	s.running = true
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run()
		}()
	}
	var unsubs []func()
	var err error
	for _, f := range requestFilters {
		var u func()
		// A responder: the device's PUBACK leaves with update/accepted.
		if u, err = s.deps.Broker.SubscribeResponder(f, s.onMessage); err != nil {
			err = fmt.Errorf("shadowsvc: %w", err)
			break
		}
		unsubs = append(unsubs, u)
	}
	if err == nil {
		close(s.ready)
		select {
		case <-ctx.Done():
		case <-s.stopping:
		}
	}
	for _, u := range unsubs {
		u()
	}
	s.stop()
	s.queueMu.Lock()
	s.queuesClosed = true
	for _, w := range s.workers {
		close(w.queue)
	}
	s.queueMu.Unlock()
	wg.Wait()
	close(s.drained)
	return err
}

// Ready is closed once Serve has subscribed to the request topics.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Shutdown stops taking requests and waits until the queued ones are done
// or ctx ends.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stop()
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopping:
	default:
		close(s.stopping)
	}
}

// Stats returns the counters summed over the workers.
func (s *Service) Stats() Stats {
	var st Stats
	for _, w := range s.workers {
		st.Updates += w.updates.Load()
		st.Gets += w.gets.Load()
		st.Deletes += w.deletes.Load()
		st.Rejected += w.rejected.Load()
	}
	return st
}

// Get returns the shadow's get/accepted document. A missing shadow is a
// *shadow.Error with Code 404. shadowName is "" for the classic shadow.
func (s *Service) Get(ctx context.Context, thing, shadowName string) ([]byte, error) {
	return s.call(ctx, request{op: opGet, id: shadowID{thing, shadowName}})
}

// Update applies an update request body and returns the update/accepted
// document. It also publishes update/accepted, update/documents and, when
// there is a delta, update/delta on MQTT, as an HTTP update does on AWS
// (reference §1.2; accepted and documents are UNCONFIRMED for HTTP, the
// reference's default is all three). Errors are *shadow.Error.
func (s *Service) Update(ctx context.Context, thing, shadowName string, body []byte) ([]byte, error) {
	return s.call(ctx, request{op: opUpdate, id: shadowID{thing, shadowName}, body: body})
}

// Delete deletes the shadow and returns the delete/accepted document; it
// also publishes delete/accepted on MQTT (UNCONFIRMED for HTTP deletes; the
// same default as updates). A missing shadow is a 404 *shadow.Error.
func (s *Service) Delete(ctx context.Context, thing, shadowName string) ([]byte, error) {
	return s.call(ctx, request{op: opDelete, id: shadowID{thing, shadowName}})
}

// call hands r to the shadow's worker and waits for its answer. API callers
// wait for queue space rather than being throttled.
func (s *Service) call(ctx context.Context, r request) ([]byte, error) {
	if err := r.id.validate(); err != nil {
		return nil, err
	}
	r.reply = make(chan result, 1)
	w := s.workerFor(r.id)
	if err := w.enqueue(ctx, r, true); err != nil {
		return nil, err
	}
	select {
	case res := <-r.reply:
		return res.body, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("shadowsvc: %s %s: %w", r.op, r.id, ctx.Err())
	}
}

func (s *Service) workerFor(id shadowID) *worker {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(id.thing)
	h.WriteByte('/')
	h.WriteString(id.name)
	return s.workers[h.Sum64()%uint64(len(s.workers))]
}
