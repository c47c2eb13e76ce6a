package gcpace

import (
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

func TestGOGCFor(t *testing.T) {
	const mib = 1 << 20
	t0 := time.Unix(1_800_000_000, 0)
	steady := collection{at: t0, live: 30 * mib, roots: 2 * mib, allocs: 1000 * mib}
	// after returns a collection d after steady, allocs bytes later.
	after := func(d time.Duration, live, roots, allocs uint64) collection {
		return collection{at: t0.Add(d), live: live, roots: roots, allocs: steady.allocs + allocs}
	}
	cases := []struct {
		name string
		prev collection
		cur  collection
		want int
	}{
		// 100 MiB/s for 2 s is 200 MiB of room over 32 MiB live: 625.
		{"busy churn gets two seconds of room", steady, after(300*time.Millisecond, 32*mib, 0, 30*mib), 625},
		{"roots count in the goal", steady, after(300*time.Millisecond, 32*mib, 32*mib, 30*mib), 312},
		{"limit bounds the goal", steady, after(100*time.Millisecond, 32*mib, 0, 30*mib), 700},
		{"quiet churn keeps the normal pace", steady, after(10*time.Second, 32*mib, 0, 20*mib), 100},
		{"building: live grew by a fifth of what was allocated", steady, after(300*time.Millisecond, 36*mib, 0, 30*mib), 100},
		{"first collection", collection{}, after(300*time.Millisecond, 32*mib, 0, 30*mib), 100},
		{"live over half the limit", steady, after(300*time.Millisecond, 130*mib, 0, 300*mib), 100},
		{"live over the limit", steady, after(300*time.Millisecond, 300*mib, 0, 300*mib), 100},
		{"tiny heap is capped", steady, after(100*time.Millisecond, 1024, 0, 100*mib), maxGOGC},
		{"unknown live heap", steady, after(300*time.Millisecond, 0, 0, 30*mib), 100},
		{"clock went back", steady, after(-time.Second, 32*mib, 0, 30*mib), 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := gogcFor(tc.prev, tc.cur, 256*mib, 2*time.Second); got != tc.want {
				t.Fatalf("gogcFor = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseMemTotal(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want uint64
	}{
		{"linux", "MemTotal:       24576000 kB\nMemFree:  100 kB\n", 24576000 << 10},
		{"not first", "Foo: 1 kB\nMemTotal: 2 kB\n", 2 << 10},
		{"missing", "MemFree: 100 kB\n", 0},
		{"garbage", "MemTotal: lots kB\n", 0},
		{"other unit", "MemTotal: 2 MB\n", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseMemTotal([]byte(tc.in)); got != tc.want {
				t.Fatalf("parseMemTotal = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestLimitBoundedByMemory(t *testing.T) {
	total := memTotal()
	if total == 0 {
		t.Skip("no /proc/meminfo")
	}
	if got := Limit(total); got != total/8 {
		t.Fatalf("Limit(total) = %d, want total/8 = %d", got, total/8)
	}
	if got := Limit(1 << 20); got != 1<<20 {
		t.Fatalf("Limit(1 MiB) = %d, want 1 MiB", got)
	}
}

func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// With collections of a small heap coming faster than the interval, Run
// raises GOGC; when it stops, GOGC is back at 100.
func TestRunRaisesAndRestores(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOGC or GOMEMLIMIT set: Run leaves the runtime alone")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); Run(ctx, 1<<30, time.Hour, nil) }()

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: GOGC is %d", what, gogc())
			}
			runtime.GC()                      // a collection is what Run waits for
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	waitFor("raised", func() bool { return gogc() > 100 })
	cancel()
	wg.Wait()
	if g := gogc(); g != 100 {
		t.Fatalf("GOGC after Run returned = %d, want 100", g)
	}
}

// GOGC in the environment turns Run off.
func TestRunRespectsEnvironment(t *testing.T) {
	t.Setenv("GOGC", "100")
	done := make(chan struct{})
	go func() { Run(context.Background(), 1<<30, 0, nil); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run with GOGC set did not return at once")
	}
}
