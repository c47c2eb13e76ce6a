package device

import (
	"math/rand/v2"
	"time"
)

// backoff computes reconnect waits: exponential from min to max, with
// "equal jitter" (a random part of up to half the wait is taken off).
type backoff struct {
	min, max time.Duration
	rand     func() float64 // in [0, 1); rand.Float64 unless a test sets it
}

// delay returns the wait before reconnect attempt n (n ≥ 1; 0 for n ≤ 0).
func (b backoff) delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := b.min
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	r := rand.Float64
	if b.rand != nil {
		r = b.rand
	}
	half := d / 2
	return d - half + time.Duration(r()*float64(half))
}
