package gcfloor

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
	steady := collection{live: 30 * mib, roots: 2 * mib, allocs: 1000 * mib}
	cases := []struct {
		name      string
		prev, cur collection
		want      int
	}{
		{"churn grows to the floor", steady, collection{live: 32 * mib, allocs: 1060 * mib}, 700},
		{"roots count in the goal", steady, collection{live: 32 * mib, roots: 32 * mib, allocs: 1060 * mib}, 350},
		{"live heap shrank", steady, collection{live: 16 * mib, allocs: 1100 * mib}, 1500},
		{"building: live grew by a fifth of what was allocated", steady, collection{live: 42 * mib, allocs: 1060 * mib}, 100},
		{"first collection", collection{}, collection{live: 32 * mib, allocs: 60 * mib}, 100},
		{"floor exactly twice live", steady, collection{live: 128 * mib, allocs: 2000 * mib}, 100},
		{"live over half the floor", steady, collection{live: 200 * mib, allocs: 4000 * mib}, 100},
		{"tiny heap is capped", steady, collection{live: 1024, allocs: 4000 * mib}, maxGOGC},
		{"unknown live heap", steady, collection{allocs: 1060 * mib}, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := gogcFor(tc.prev, tc.cur, 256*mib); got != tc.want {
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

func TestFloorBoundedByMemory(t *testing.T) {
	total := memTotal()
	if total == 0 {
		t.Skip("no /proc/meminfo")
	}
	if got := Floor(total); got != total/8 {
		t.Fatalf("Floor(total) = %d, want total/8 = %d", got, total/8)
	}
	if got := Floor(1 << 20); got != 1<<20 {
		t.Fatalf("Floor(1 MiB) = %d, want 1 MiB", got)
	}
}

func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// After a collection of a small heap, Run raises GOGC; when it stops, GOGC
// is back at 100.
func TestRunRaisesAndRestores(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOGC or GOMEMLIMIT set: Run leaves the runtime alone")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); Run(ctx, 1<<30, nil) }()

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
	go func() { Run(context.Background(), 1<<30, nil); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run with GOGC set did not return at once")
	}
}
