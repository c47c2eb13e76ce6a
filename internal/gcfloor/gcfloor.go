// Package gcfloor keeps the garbage collector from running many times a
// second while the heap is small.
//
// With GOGC=100 the runtime collects each time the heap has doubled since
// the last collection. A hub whose live heap is small (tens of MB) but that
// makes garbage fast (every shadow update leaves a few KB) then collects
// several times a second, and each collection takes a share of the CPUs for
// tens of milliseconds: measured at 10,000 shadow updates/s on 2 CPUs, a
// collection every ~150 ms made the whole tail of the update latency.
// Run raises GOGC just enough that the heap may grow to a floor before the
// next collection; once the live heap is more than half the floor, GOGC is
// back at its normal value and the runtime's own pacing applies. The price
// is memory: up to the floor under load. memtrim gives it back when the
// process is quiet again.
//
// Only churn gets the floor: a heap whose garbage dies young. While the
// live heap grows by a good share of what was allocated (a storm of new
// connections, each keeping its buffers and TLS state), collections stay
// at the normal pace: a heap let to grow then ends up with the long-lived
// objects spread thinly over many pages, which cannot be given back
// afterwards (measured: 20.6 instead of 13.7 KB per idle connection).
//
// GOGC or GOMEMLIMIT set in the environment mean someone tuned the runtime
// by hand: Run then does nothing.
//
// Imported by the composition root and the benchmark broker.
package gcfloor

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultFloor is the heap size below which the collector waits: 256 MiB,
// and at most an eighth of the machine's memory (see Floor).
const DefaultFloor = 256 << 20

const (
	// normalGOGC is the runtime's default GOGC.
	normalGOGC = 100
	// maxGOGC bounds the GOGC Run sets for a tiny heap.
	maxGOGC = 10000
	// buildingPercent: a live heap that grew by more than this share of
	// the bytes allocated since the last collection is being built, not
	// churned.
	buildingPercent = 10
	// pollEvery is how often Run looks for a finished collection.
	pollEvery = 100 * time.Millisecond
)

// collection is what the runtime reports after a garbage collection.
type collection struct {
	live   uint64 // live heap bytes
	roots  uint64 // stack and global bytes scanned, which GOGC also scales
	allocs uint64 // bytes allocated since the process started
}

// gogcFor returns the GOGC for the cycle after cur (prev is the collection
// seen before it; its zero value means none): the one that lets the heap
// grow to floor before the next collection, and never less than the normal
// 100. A heap being built (see the package comment) gets the normal 100.
// The runtime's goal is live + (live + roots) * GOGC/100.
func gogcFor(prev, cur collection, floor uint64) int {
	if prev.allocs == 0 || cur.live == 0 || floor <= 2*cur.live {
		return normalGOGC
	}
	if allocated := cur.allocs - prev.allocs; cur.live > prev.live && (cur.live-prev.live)*100 > allocated*buildingPercent {
		return normalGOGC
	}
	g := (floor - cur.live) * 100 / (cur.live + cur.roots)
	return int(max(min(g, maxGOGC), normalGOGC))
}

// Floor returns want, bounded by an eighth of the machine's memory when
// that is known (/proc/meminfo), so that a small board keeps most of its
// memory for everything else.
func Floor(want uint64) uint64 {
	if total := memTotal(); total > 0 {
		return min(want, total/8)
	}
	return want
}

// Run adjusts GOGC after every collection until ctx ends, then restores
// the normal value. floor 0 disables it.
func Run(ctx context.Context, floor uint64, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if floor == 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	samples := []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"},
		{Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}, {Name: "/gc/heap/allocs:bytes"},
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	var cycles uint64
	var prev collection
	current := normalGOGC
	defer func() {
		if current != normalGOGC {
			debug.SetGCPercent(normalGOGC)
		}
	}()
	for {
		metrics.Read(samples)
		if c := samples[0].Value.Uint64(); c != cycles {
			cycles = c
			cur := collection{
				live:   samples[1].Value.Uint64(),
				roots:  samples[2].Value.Uint64() + samples[3].Value.Uint64(),
				allocs: samples[4].Value.Uint64(),
			}
			// Change only for a real difference: SetGCPercent recomputes the
			// pacer's goal, which is cheap but not free.
			if g := gogcFor(prev, cur, floor); g != current && (g > current*9/8 || g < current*7/8 || g == normalGOGC) {
				debug.SetGCPercent(g)
				log.Debug("gcfloor: GOGC", "gogc", g, "live_bytes", cur.live, "floor_bytes", floor)
				current = g
			}
			prev = cur
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
