package console

import (
	"bytes"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

func zeroed(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// A waiting bundle expires on its own: its timer removes it and zeroes its
// bytes.
func TestDownloadExpiresAndIsWiped(t *testing.T) {
	d := &downloads{ttl: 20 * time.Millisecond}
	data := []byte("-----BEGIN PRIVATE KEY-----")
	id, _, ok := d.add("a.zip", data, time.Now())
	if !ok {
		t.Fatal("add refused")
	}
	waitFor(t, "expired bundle removed", func() bool { return d.len() == 0 })
	d.mu.Lock() // the timer wiped the bytes under the lock
	wiped := zeroed(data)
	d.mu.Unlock()
	if !wiped {
		t.Errorf("expired bundle's bytes = %q, want zeroed", data)
	}
	if _, ok := d.take(id, time.Now()); ok {
		t.Error("expired bundle could still be taken")
	}
}

// A taken bundle is gone and its timer stopped; the handler zeroes it once
// sent.
func TestDownloadTakenOnce(t *testing.T) {
	d := &downloads{ttl: time.Hour}
	data := []byte("key")
	id, _, _ := d.add("a.zip", data, time.Now())
	p, ok := d.take(id, time.Now())
	if !ok || !bytes.Equal(p.data, []byte("key")) {
		t.Fatalf("take = %v %q, want the bundle", ok, p.data)
	}
	if p.timer.Stop() {
		t.Error("taken bundle's timer still running")
	}
	if _, ok := d.take(id, time.Now()); ok {
		t.Error("bundle taken twice")
	}
}

// Closing wipes every waiting bundle, stops the timers and keeps nothing
// added afterwards.
func TestDownloadsClosedWipesAll(t *testing.T) {
	d := &downloads{ttl: time.Hour}
	var all []*pending
	for range 3 {
		id, _, _ := d.add("a.zip", []byte("private key"), time.Now())
		d.mu.Lock()
		all = append(all, d.by[id])
		d.mu.Unlock()
	}
	d.close()
	d.close() // twice is safe
	if d.len() != 0 {
		t.Errorf("%d bundles after close, want 0", d.len())
	}
	for i, p := range all {
		if !zeroed(p.data) {
			t.Errorf("bundle %d after close = %q, want zeroed", i, p.data)
		}
		if p.timer.Stop() {
			t.Errorf("bundle %d's timer still running after close", i)
		}
	}
	late := []byte("private key")
	if _, _, ok := d.add("b.zip", late, time.Now()); ok || !zeroed(late) || d.len() != 0 {
		t.Errorf("add after close = %v, bytes %q: want refused and zeroed", ok, late)
	}
}
