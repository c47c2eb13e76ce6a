package shadowsvc

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/kvstore"
)

// t0 is the fixed clock of most tests.
var t0 = time.Unix(1700000000, 0)

// fixture is a running service on a real in-process broker and a real KV
// bucket in a temporary directory.
type fixture struct {
	t      testing.TB
	b      *broker.Broker
	kv     *kvstore.Store
	bucket *kvstore.Bucket
	svc    *Service
	logs   *syncBuffer
	clock  *clock

	mu  sync.Mutex
	got []response // responses seen on $aws/things/+/shadow/#
}

type response struct{ topic, payload string }

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixtureOptions struct {
	cfg    Config
	dir    string                       // KV directory; a new temporary one when ""
	bucket func(*kvstore.Bucket) Bucket // wraps the real bucket
	noSub  bool                         // do not record responses
	clock  time.Time                    // start time; t0 when zero
}

func newFixture(t testing.TB, o fixtureOptions) *fixture {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.clock.IsZero() {
		o.clock = t0
	}
	f := &fixture{t: t, logs: &syncBuffer{}, clock: &clock{now: o.clock}}
	ctx := context.Background()
	kv, err := kvstore.Open(ctx, kvstore.Config{Dir: o.dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.kv = kv
	if f.bucket, err = kv.Bucket(ctx, "shadows"); err != nil {
		t.Fatal(err)
	}
	if f.b, err = broker.New(broker.Config{}, broker.Deps{Authenticator: brokertest.CertOrClientID{}, Authorizer: brokertest.AllowAll{}}); err != nil {
		t.Fatal(err)
	}
	var bucket Bucket = f.bucket
	if o.bucket != nil {
		bucket = o.bucket(f.bucket)
	}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if f.svc, err = New(o.cfg, Deps{Broker: f.b, Bucket: bucket, Logger: log, Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if !o.noSub {
		if _, err := f.b.Subscribe("$aws/things/+/shadow/#", func(m *broker.Message) {
			if m.PublisherID != "" {
				return // a request, not the service's response
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			f.got = append(f.got, response{m.Topic, string(m.Payload)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- f.svc.Serve(context.Background()) }()
	select {
	case <-f.svc.Ready():
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.svc.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = kv.Close()
	})
	return f
}

// publish sends a device request through the broker, as client clientID.
func (f *fixture) publish(topic, payload string) {
	f.t.Helper()
	if err := f.b.Publish(&broker.Message{Topic: topic, Payload: []byte(payload), QoS: 1, PublisherID: "device-1"}); err != nil {
		f.t.Fatal(err)
	}
}

// responses returns the responses seen so far (not the requests) and
// forgets them.
func (f *fixture) take() []response {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []response
	for _, r := range f.got {
		if isResponseTopic(r.topic) {
			out = append(out, r)
		}
	}
	f.got = nil
	return out
}

func isResponseTopic(t string) bool {
	for _, s := range []string{"/accepted", "/rejected", "/delta", "/documents"} {
		if strings.HasSuffix(t, s) {
			return true
		}
	}
	return false
}

// waitResponses polls until n responses arrived, then returns them.
func (f *fixture) waitResponses(n int) []response {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		c := 0
		for _, r := range f.got {
			if isResponseTopic(r.topic) {
				c++
			}
		}
		f.mu.Unlock()
		if c >= n {
			return f.take()
		}
		if time.Now().After(deadline) {
			got := f.take()
			f.t.Fatalf("got %d responses, want %d: %v", len(got), n, got)
		}
		time.Sleep(2 * time.Millisecond) // polling interval
	}
}
