package memtrim_test

import (
	"context"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/thingcore/thingcore/internal/memtrim"
)

var sink [][]byte

// After a burst of garbage, a quiet process gets its free heap released.
func TestReleasesAfterBurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); memtrim.Run(ctx, 20*time.Millisecond, nil) }()
	defer func() { cancel(); wg.Wait() }()

	for i := 0; i < 4096; i++ {
		sink = append(sink, make([]byte, 16<<10)) // 64 MiB
	}
	// Released bytes are a gauge, read after the burst: an earlier run in
	// this process (-count) released pages that the burst took back.
	released := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(released)
	before := released[0].Value.Uint64()
	sink = nil

	deadline := time.Now().Add(10 * time.Second)
	for {
		metrics.Read(released)
		if released[0].Value.Uint64() >= before+32<<20 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("released %d bytes after the burst, want at least 32 MiB", released[0].Value.Uint64()-before)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}
