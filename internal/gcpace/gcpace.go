// Package gcpace keeps the garbage collector from running many times a
// second while the heap is small and busy.
//
// With GOGC=100 the runtime collects each time the heap has doubled since
// the last collection. A hub whose live heap is small (tens of MB) but that
// makes garbage fast (every shadow update leaves a few KB) then collects
// several times a second, and each collection takes a share of the CPUs for
// tens of milliseconds: measured at 10,000 shadow updates/s on 2 CPUs, a
// collection every ~150 ms made the whole tail of the update latency.
//
// Run paces collections by time instead: after each collection it sets
// GOGC so that, at the allocation rate just measured, the next one comes
// about Interval later, but never lets the heap goal pass a limit (default
// 256 MiB, at most an eighth of the machine's memory) and never goes below
// the normal GOGC of 100. A quiet hub keeps the runtime's own pacing; a
// busy one trades up to the limit in memory for fewer collections, and
// memtrim gives the memory back once it is quiet again.
//
// Only churn is paced: a heap whose garbage dies young. While the live heap
// grows by a good share of what was allocated (a storm of new connections,
// each keeping its buffers and TLS state), collections keep the normal
// pace: a heap let to grow then ends up with its long-lived objects spread
// thinly over many pages, which cannot be given back afterwards (measured:
// 20.6 instead of 13.7 KB per idle connection).
//
// GOGC or GOMEMLIMIT set in the environment mean someone tuned the runtime
// by hand: Run then does nothing.
//
// Imported by the composition root and the benchmark broker.
package gcpace

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	// DefaultLimit is the largest heap goal Run sets: 256 MiB, and at most
	// an eighth of the machine's memory (see Limit).
	DefaultLimit = 256 << 20
	// DefaultInterval is the time Run aims for between collections.
	DefaultInterval = 5 * time.Second
)

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

// collection is what the runtime reports after a garbage collection, and
// when Run saw it.
type collection struct {
	at     time.Time
	live   uint64 // live heap bytes
	roots  uint64 // stack and global bytes scanned, which GOGC also scales
	allocs uint64 // bytes allocated since the process started
}

// gogcFor returns the GOGC for the cycle after cur; prev is the collection
// seen before it (its zero value means none). The runtime's heap goal is
// live + (live + roots) * GOGC/100: gogcFor makes room for interval's worth
// of allocation at the rate between prev and cur, within limit, and never
// less than the normal 100. A heap being built (see the package comment)
// gets the normal 100.
func gogcFor(prev, cur collection, limit uint64, interval time.Duration) int {
	elapsed := cur.at.Sub(prev.at)
	if prev.at.IsZero() || elapsed <= 0 || cur.live == 0 || limit <= 2*cur.live || cur.allocs < prev.allocs {
		return normalGOGC
	}
	allocated := cur.allocs - prev.allocs
	if cur.live > prev.live && (cur.live-prev.live)*100 > allocated*buildingPercent {
		return normalGOGC
	}
	room := uint64(float64(allocated) * (float64(interval) / float64(elapsed)))
	scaled := cur.live + cur.roots
	g := min(room*100/scaled, (limit-cur.live)*100/scaled, maxGOGC)
	return int(max(g, normalGOGC))
}

// Limit returns want, bounded by an eighth of the machine's memory when
// that is known (/proc/meminfo), so that a small board keeps most of its
// memory for everything else.
func Limit(want uint64) uint64 {
	if total := memTotal(); total > 0 {
		return min(want, total/8)
	}
	return want
}

// Run adjusts GOGC after every collection until ctx ends, then restores
// the normal value. limit 0 disables it; interval 0 means DefaultInterval.
// The runtime has one GOGC, so a process runs one Run (the hub's).
func Run(ctx context.Context, limit uint64, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if limit == 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if interval <= 0 {
		interval = DefaultInterval
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
				at:     time.Now(),
				live:   samples[1].Value.Uint64(),
				roots:  samples[2].Value.Uint64() + samples[3].Value.Uint64(),
				allocs: samples[4].Value.Uint64(),
			}
			// Change only for a real difference: SetGCPercent recomputes the
			// pacer's goal, which is cheap but not free.
			if g := gogcFor(prev, cur, limit, interval); g != current && (g > current*9/8 || g < current*7/8 || g == normalGOGC) {
				debug.SetGCPercent(g)
				log.Debug("gcpace: GOGC", "gogc", g, "live_bytes", cur.live, "limit_bytes", limit)
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
