package simulate

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histBuckets covers every non-negative int64 duration in nanoseconds: 8
// linear buckets below 8 ns, then 8 per power of two up to 2^62 (at most
// 12.5% wide, so a quantile is within about 6%).
const histBuckets = 61 * 8

// Histogram is a snapshot of latencies: counts per bucket. The zero value
// is empty. It is a plain value: copy it, subtract an earlier snapshot to
// get a window.
type Histogram struct {
	counts [histBuckets]int64
}

// recorder is the concurrent side of a Histogram.
type recorder struct {
	counts [histBuckets]atomic.Int64
}

// Observe records one duration; negative ones count as 0.
func (r *recorder) Observe(d time.Duration) {
	r.counts[bucketOf(d)].Add(1)
}

// Snapshot returns the counts so far.
func (r *recorder) Snapshot() Histogram {
	var h Histogram
	for i := range r.counts {
		h.counts[i] = r.counts[i].Load()
	}
	return h
}

func bucketOf(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 8 {
		return int(v)
	}
	e := bits.Len64(v) - 1 // 3 or more
	mant := (v >> (e - 3)) & 7
	return (e-2)*8 + int(mant)
}

// bucketMid is the middle of bucket i.
func bucketMid(i int) time.Duration {
	if i < 8 {
		return time.Duration(i)
	}
	e := i/8 + 2
	low := uint64(8+i%8) << (e - 3)
	width := uint64(1) << (e - 3)
	return time.Duration(low + width/2)
}

// Count is the number of durations recorded.
func (h Histogram) Count() int64 {
	var n int64
	for _, c := range h.counts {
		n += c
	}
	return n
}

// Sub returns the durations recorded in h and not in the earlier snapshot
// prev.
func (h Histogram) Sub(prev Histogram) Histogram {
	for i := range h.counts {
		h.counts[i] -= prev.counts[i]
	}
	return h
}

// Quantile returns the duration below which a fraction q (0 to 1) of the
// recorded durations fall, to the bucket's precision; 0 when empty.
func (h Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return bucketMid(i)
		}
	}
	return bucketMid(histBuckets - 1)
}
