// Package broker is thingcore's MQTT 3.1.1 and 5.0 broker core: sessions,
// routing, delivery, retained messages, wills and AWS IoT Core's limits and
// reserved topics.
//
// It knows nothing of certificates, policies or shadows. It asks interfaces
// that it defines (Authenticator, Authorizer, SessionStore, RetainedStore,
// EventSink, Forwarder), which the composition root implements, and it gets
// ready connections from whoever accepts them (ServeConn). Services inside the
// process (the shadow service, the console) publish and subscribe through
// Publish and Subscribe.
//
// Only the composition root (internal/hub) and tests import it.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// ErrServerClosed is returned by Serve after Shutdown, and by ServeConn and
// Publish once the broker is shutting down.
var ErrServerClosed = errors.New("broker: closed")

// Deps are the broker's collaborators. Authenticator and Authorizer are
// required; the rest may be nil.
type Deps struct {
	Logger        *slog.Logger
	Authenticator Authenticator
	Authorizer    Authorizer
	Sessions      SessionStore
	Retained      RetainedStore
	Events        EventSink
	Forwarder     Forwarder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Broker routes MQTT messages between clients and in-process services.
type Broker struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	now  func() time.Time

	limits    topic.Limits
	maxPacket uint32
	subIDs    bool
	reserved  bool

	subs *topic.Tree[*session, subOptions]

	mu       sync.Mutex // guards sessions, closed
	sessions map[string]*session
	closed   bool

	// version is the source of lifecycle versionNumbers: one global counter,
	// started from the clock, so a client id's numbers increase across
	// connections and restarts (AWS allows them to skip values).
	version atomic.Int64

	retained retainedSet
	timers   timerQueue

	ready    chan struct{} // closed when Serve has loaded persisted state
	stop     chan struct{} // closed by Shutdown
	stopOnce sync.Once
	conns    sync.WaitGroup // connections from ServeConn not yet ended (parked ones included)
	bg       sync.WaitGroup // background goroutines (housekeeping, writers)

	stats counters
	seq   atomic.Uint64 // session ids
}

// counters are live counters, read with Snapshot.
type counters struct {
	Connections     atomic.Int64
	MessagesIn      atomic.Uint64
	MessagesOut     atomic.Uint64
	MessagesDropped atomic.Uint64
}

// New validates cfg and returns a broker. It starts nothing.
func New(cfg Config, deps Deps) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Authenticator == nil || deps.Authorizer == nil {
		return nil, errors.New("broker: an Authenticator and an Authorizer are required")
	}
	cfg = cfg.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	b := &Broker{
		cfg:       cfg,
		deps:      deps,
		log:       deps.Logger,
		now:       deps.Now,
		limits:    topic.Limits{MaxBytes: cfg.MaxTopicBytes, MaxSlashes: cfg.MaxTopicSlashes, MaxShareName: 128},
		maxPacket: cfg.maxPacketSize(),
		subIDs:    *cfg.SubscriptionIdentifiers,
		reserved:  *cfg.AWSReservedTopics,
		subs:      topic.NewTree[*session, subOptions](),
		sessions:  make(map[string]*session),
		ready:     make(chan struct{}),
		stop:      make(chan struct{}),
	}
	b.version.Store(deps.Now().UnixMilli())
	b.retained.init()
	b.timers.init()
	return b, nil
}

// Config returns the effective configuration (defaults filled in).
func (b *Broker) Config() Config { return b.cfg }

// Serve loads persisted sessions and retained messages, then runs the
// broker's housekeeping (session expiry, delayed wills, redelivery) until ctx
// ends or Shutdown is called. Connections handed to ServeConn before Serve has
// loaded state wait for it.
func (b *Broker) Serve(ctx context.Context) error {
	if err := b.load(ctx); err != nil {
		return fmt.Errorf("broker: load state: %w", err)
	}
	close(b.ready)
	b.housekeeping(ctx)
	return ErrServerClosed
}

// Shutdown stops accepting connections, disconnects every client with
// "server shutting down" (v5 0x8B), and waits for connection goroutines to
// finish until ctx ends. It is safe to call more than once.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.stopOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		var live []*client
		for _, s := range b.sessions {
			if c := s.currentClient(); c != nil {
				live = append(live, c)
			}
		}
		b.mu.Unlock()
		close(b.stop)
		for _, c := range live {
			c.kick(packet.ServerShuttingDown, ReasonServerInitiated, "server shutting down")
		}
	})
	done := make(chan struct{})
	go func() {
		b.conns.Wait()
		b.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Broker) isClosed() bool {
	select {
	case <-b.stop:
		return true
	default:
		return false
	}
}

// ServeConn speaks MQTT on conn until the client goes away or the broker
// shuts down. It is meant to run on the connection's own goroutine (the
// transport's); it closes conn when the connection ends.
//
// It blocks until then, unless conn implements Parker: then it returns as
// soon as the connection parks while idle, and the connection is served on
// by the resume function it gave to Park.
func (b *Broker) ServeConn(conn net.Conn, info ConnInfo) {
	// Counted under b.mu, where Shutdown marks the broker closed before it
	// waits for the connections: a connection that arrives during Shutdown
	// is either counted before the wait starts or refused.
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		conn.Close()
		return
	}
	b.conns.Add(1)
	b.mu.Unlock()
	parked := false
	defer func() {
		if !parked {
			conn.Close()
			b.conns.Done()
		}
	}()
	if b.waitReady() {
		parked = newClient(b, conn, info).serve()
	}
}

// waitReady waits until Serve has loaded state; false if the broker stops
// first.
func (b *Broker) waitReady() bool {
	select {
	case <-b.ready:
		return !b.isClosed()
	case <-b.stop:
		return false
	}
}

// DisconnectClient disconnects the live connection of clientID, if any, with
// the v5 reason code and the AWS lifecycle reason given. It reports whether a
// connection was found.
func (b *Broker) DisconnectClient(clientID string, code packet.ReasonCode, reason, detail string) bool {
	b.mu.Lock()
	s := b.sessions[clientID]
	b.mu.Unlock()
	if s == nil {
		return false
	}
	c := s.currentClient()
	if c == nil {
		return false
	}
	c.kick(code, reason, detail)
	return true
}

// DisconnectWhere disconnects every live connection whose principal matches,
// e.g. all connections of a certificate that was just deactivated. It
// returns how many were disconnected.
func (b *Broker) DisconnectWhere(match func(clientID string, p Principal) bool, code packet.ReasonCode, reason, detail string) int {
	b.mu.Lock()
	var hit []*client
	for id, s := range b.sessions {
		if c := s.currentClient(); c != nil && c.principal != nil && match(id, c.principal) {
			hit = append(hit, c)
		}
	}
	b.mu.Unlock()
	for _, c := range hit {
		c.kick(code, reason, detail)
	}
	return len(hit)
}

// EachPrincipal calls fn for the principal of every live connection, e.g. to
// re-evaluate what it may do after its policies changed. fn must not call
// back into the broker.
func (b *Broker) EachPrincipal(fn func(clientID string, p Principal)) {
	b.mu.Lock()
	type live struct {
		id string
		p  Principal
	}
	var all []live
	for id, s := range b.sessions {
		if c := s.currentClient(); c != nil && c.principal != nil {
			all = append(all, live{id, c.principal})
		}
	}
	b.mu.Unlock()
	for _, l := range all {
		fn(l.id, l.p)
	}
}

// ConnectedCount returns the number of live client connections.
func (b *Broker) ConnectedCount() int64 { return b.stats.Connections.Load() }

// StatsSnapshot is a point-in-time copy of the broker's counters.
type StatsSnapshot struct {
	Connections     int64
	MessagesIn      uint64
	MessagesOut     uint64
	MessagesDropped uint64
	Retained        int
	Sessions        int
}

// Snapshot returns the broker's counters.
func (b *Broker) Snapshot() StatsSnapshot {
	b.mu.Lock()
	n := len(b.sessions)
	b.mu.Unlock()
	return StatsSnapshot{
		Connections:     b.stats.Connections.Load(),
		MessagesIn:      b.stats.MessagesIn.Load(),
		MessagesOut:     b.stats.MessagesOut.Load(),
		MessagesDropped: b.stats.MessagesDropped.Load(),
		Retained:        b.retained.len(),
		Sessions:        n,
	}
}

func (b *Broker) emit(ev Event) {
	if b.deps.Events == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = b.now()
	}
	b.deps.Events.Event(ev)
}

// nextVersion returns the lifecycle versionNumber for a new connection.
func (b *Broker) nextVersion() int64 { return b.version.Add(1) }
