// Package memtrim gives memory back to the operating system once the process
// is quiet after a burst.
//
// A hub's memory is mostly idle connections. A storm of TLS handshakes
// leaves garbage and GC headroom (with GOGC=100 the heap may grow to twice
// what is live) that the runtime returns only slowly while nothing
// allocates, so the resident size stays near the burst's peak. Trimmer
// watches the allocation rate and, when the process has been quiet for one
// interval and a good share of the heap is reclaimable, runs a collection
// and releases the free pages (debug.FreeOSMemory). Under load it does
// nothing, so it costs no CPU when the hub is busy.
//
// Imported by the composition root and the benchmark broker.
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultInterval is how often the trimmer looks.
const DefaultInterval = 2 * time.Second

const (
	mAllocs  = "/gc/heap/allocs:bytes"
	mObjects = "/memory/classes/heap/objects:bytes"
	mFree    = "/memory/classes/heap/free:bytes"
	minGrow  = 4 << 20 // never trim for less growth than this
	// quiet: allocated less than footprint/quietPart in one interval.
	quietPart = 16
)

// Run trims until ctx ends. interval 0 means DefaultInterval.
//
// Dead objects are only known after a collection, so the trigger is growth:
// when the heap's footprint (objects, live or dead, plus free pages not yet
// released) has grown by a quarter and at least 4 MiB since the last trim,
// and the last interval was quiet, it collects and releases.
func Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	samples := []metrics.Sample{{Name: mAllocs}, {Name: mObjects}, {Name: mFree}}
	read := func() (allocs, footprint uint64) {
		metrics.Read(samples)
		return samples[0].Value.Uint64(), samples[1].Value.Uint64() + samples[2].Value.Uint64()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastAllocs, base := read()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		allocs, footprint := read()
		quiet := allocs-lastAllocs < max(footprint/quietPart, 1<<20)
		lastAllocs = allocs
		base = min(base, footprint) // growth counts from the lowest point seen
		if !quiet || footprint < base+max(base/4, minGrow) {
			continue
		}
		debug.FreeOSMemory()
		lastAllocs, base = read()
		log.Debug("memtrim: released memory after a quiet interval", "footprint_before", footprint, "footprint_after", base)
	}
}
