package device_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/device"
	"github.com/thingcore/thingcore/internal/hubtest"
)

// requestTimeout bounds one shadow request in these tests.
const requestTimeout = 10 * time.Second

func reqCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// decode unmarshals a JSON section of a shadow document.
func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m
}

// A device gets, updates and deletes its classic and named shadows over
// MQTT 5 and 3.1.1, under the default thing policy.
func TestShadow(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	for _, tc := range []struct {
		name       string
		proto      device.Protocol
		thing      string
		shadowName string
	}{
		{"MQTT 5 classic", device.MQTT5, "sh-v5", ""},
		{"MQTT 5 named", device.MQTT5, "sh-v5-named", "config"},
		{"MQTT 3.1.1 classic", device.MQTT311, "sh-v311", ""},
		{"MQTT 3.1.1 named", device.MQTT311, "sh-v311-named", "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := h.NewDevice(t, tc.thing)
			c := connect(t, config(h, d, tc.proto))
			var opts []device.ShadowOption
			if tc.shadowName != "" {
				opts = append(opts, device.ShadowName(tc.shadowName))
			}
			var (
				mu     sync.Mutex
				deltas []device.Delta
			)
			opts = append(opts, device.OnDelta(func(d device.Delta) {
				mu.Lock()
				deltas = append(deltas, d)
				mu.Unlock()
			}))
			sh, err := c.OpenShadow(reqCtx(t), "", opts...)
			if err != nil {
				t.Fatalf("OpenShadow: %v", err)
			}
			defer sh.Close(context.Background())

			// A shadow that does not exist yet.
			_, err = sh.Get(reqCtx(t))
			var se *device.ShadowError
			if !errors.Is(err, device.ErrShadowNotFound) || !errors.As(err, &se) || se.Code != 404 {
				t.Fatalf("Get before any update = %v, want a *ShadowError 404 matching ErrShadowNotFound", err)
			}

			doc, err := sh.UpdateReported(reqCtx(t), map[string]any{"temperature": 21.5, "counter": 1})
			if err != nil {
				t.Fatalf("UpdateReported: %v", err)
			}
			if doc.Version != 1 {
				t.Errorf("first update version = %d, want 1", doc.Version)
			}
			if diff := cmp.Diff(map[string]any{"temperature": 21.5, "counter": 1.0}, decode(t, doc.State.Reported)); diff != "" {
				t.Errorf("update/accepted reported (-want +got):\n%s", diff)
			}

			// Desired that differs from reported makes a delta.
			if _, err := sh.UpdateDesired(reqCtx(t), map[string]any{"interval": 5}); err != nil {
				t.Fatalf("UpdateDesired: %v", err)
			}
			waitFor(t, "a delta", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(deltas) > 0
			})
			mu.Lock()
			got := decode(t, deltas[len(deltas)-1].State)
			mu.Unlock()
			if diff := cmp.Diff(map[string]any{"interval": 5.0}, got); diff != "" {
				t.Errorf("delta state (-want +got):\n%s", diff)
			}

			doc, err = sh.Get(reqCtx(t))
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if doc.Version != 2 {
				t.Errorf("Get version = %d, want 2", doc.Version)
			}
			if diff := cmp.Diff(map[string]any{"interval": 5.0}, decode(t, doc.State.Delta)); diff != "" {
				t.Errorf("Get delta (-want +got):\n%s", diff)
			}

			// A stale version is a conflict.
			_, err = sh.Update(reqCtx(t), device.StateUpdate{Reported: map[string]any{"interval": 5}, Version: 1})
			if !errors.Is(err, device.ErrVersionConflict) || !errors.As(err, &se) || se.Code != 409 {
				t.Fatalf("Update with a stale version = %v, want a *ShadowError 409 matching ErrVersionConflict", err)
			}
			// The current version is not.
			if _, err := sh.Update(reqCtx(t), device.StateUpdate{Reported: map[string]any{"interval": 5}, Version: doc.Version}); err != nil {
				t.Fatalf("Update with the current version: %v", err)
			}

			if err := sh.Delete(reqCtx(t)); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := sh.Get(reqCtx(t)); !errors.Is(err, device.ErrShadowNotFound) {
				t.Errorf("Get after Delete = %v, want ErrShadowNotFound", err)
			}
		})
	}
}

// Concurrent requests on one shadow each get their own answer.
func TestShadowConcurrentRequests(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "sh-concurrent")
	c := connect(t, config(h, d, device.MQTT5))
	sh, err := c.OpenShadow(reqCtx(t), d.Thing)
	if err != nil {
		t.Fatalf("OpenShadow: %v", err)
	}
	const n = 8
	versions := make(chan int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			doc, err := sh.UpdateReported(reqCtx(t), map[string]any{"worker": i})
			if err != nil {
				t.Errorf("UpdateReported %d: %v", i, err)
				return
			}
			if r := decode(t, doc.State.Reported); r["worker"] != float64(i) {
				t.Errorf("UpdateReported %d got the answer for %v", i, r)
			}
			versions <- doc.Version
		})
	}
	wg.Wait()
	close(versions)
	seen := map[int64]bool{}
	for v := range versions {
		if seen[v] {
			t.Errorf("version %d answered twice", v)
		}
		seen[v] = true
	}
}

// A request ends with its context.
func TestShadowRequestContext(t *testing.T) {
	h := hubtest.Start(t, hubtest.Options{})
	d := h.NewDevice(t, "sh-ctx")
	c := connect(t, config(h, d, device.MQTT5))
	sh, err := c.OpenShadow(reqCtx(t), d.Thing)
	if err != nil {
		t.Fatalf("OpenShadow: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sh.Get(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context = %v, want context.Canceled", err)
	}
	if err := sh.Close(reqCtx(t)); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := sh.Get(reqCtx(t)); !errors.Is(err, device.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
}
