package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// runFanIn measures o.pubs publishers -> 1 subscriber on one topic.
func runFanIn(ctx context.Context, d *dialer, o options) (result, error) {
	if o.pending == 0 {
		o.pending = 1000
	}
	return runTraffic(ctx, d, o, traffic{pubs: o.pubs, subs: 1, batch: max(1, o.batch),
		desc: "deliveries/s at the subscriber; cpu_us_per_op is broker CPU per delivery"})
}

// runFanOut measures 1 publisher -> o.subs subscribers on one topic.
func runFanOut(ctx context.Context, d *dialer, o options) (result, error) {
	if o.pending == 0 {
		o.pending = 100
	}
	return runTraffic(ctx, d, o, traffic{pubs: 1, subs: o.subs, batch: max(1, o.batch),
		desc: "deliveries/s summed over subscribers; cpu_us_per_op is broker CPU per delivery"})
}

// runLatency measures the end-to-end latency of a fixed-rate stream from one
// publisher to one subscriber.
func runLatency(ctx context.Context, d *dialer, o options) (result, error) {
	if o.rate <= 0 {
		return result{}, fmt.Errorf("-rate %d: must be positive", o.rate)
	}
	if o.pending == 0 {
		o.pending = 1 << 30 // paced, not flow-controlled
	}
	return runTraffic(ctx, d, o, traffic{pubs: 1, subs: 1, batch: 1,
		interval: time.Second / time.Duration(o.rate), latency: true,
		desc: "deliveries/s; latency from the publisher's write to the subscriber's read"})
}

// traffic is the shape of a publish/subscribe run.
type traffic struct {
	pubs, subs int
	batch      int           // QoS 0 messages per write
	interval   time.Duration // >0: paced publishing, one message per interval
	latency    bool
	desc       string
}

func runTraffic(ctx context.Context, d *dialer, o options, t traffic) (result, error) {
	qos := byte(o.qos)
	res := result{Mode: o.mode, QoS: o.qos, Description: t.desc}
	base := time.Now()
	g := newGate(t.subs, o.pending)
	var measuring atomic.Bool

	// Subscribers first, so that nothing published is missed.
	subConns, failed, err := d.dialMany(ctx, o.prefix+"-sub-", t.subs, o.c, 1200)
	if failed > 0 {
		closeAll(subConns)
		return res, fmt.Errorf("%d of %d subscribers failed to connect: %w", failed, t.subs, err)
	}
	failed, err = parallel(ctx, t.subs, o.c, func(i int) error { return subConns[i].subscribe(o.topic, qos) })
	if failed > 0 {
		closeAll(subConns)
		return res, fmt.Errorf("%d subscriptions failed: %w", failed, err)
	}
	pubConns, failed, err := d.dialMany(ctx, o.prefix+"-pub-", t.pubs, o.c, 1200)
	if failed > 0 {
		closeAll(subConns)
		closeAll(pubConns)
		return res, fmt.Errorf("%d of %d publishers failed to connect: %w", failed, t.pubs, err)
	}
	fmt.Fprintf(os.Stderr, "loadgen %s: %d publishers, %d subscribers connected in %v\n",
		o.mode, t.pubs, t.subs, time.Since(base).Round(time.Millisecond))

	var readers sync.WaitGroup
	subs := make([]*subscriber, t.subs)
	for i, c := range subConns {
		s := &subscriber{c: c, g: g, tallies: make([]tally, t.pubs), base: base}
		if t.latency {
			s.measuring = &measuring
		}
		subs[i] = s
		readers.Go(func() { _ = s.run() })
	}
	pubs := make([]*publisher, t.pubs)
	for i, c := range pubConns {
		p := &publisher{c: c, idx: uint32(i), qos: qos, topic: o.topic, g: g, batch: t.batch,
			window: max(1, o.window), interval: t.interval, base: base}
		p.tokens = make(chan struct{}, p.window)
		for range p.window {
			p.tokens <- struct{}{}
		}
		pubs[i] = p
		readers.Go(func() { _ = p.readAcks() })
	}
	pubCtx, stopPubs := context.WithCancel(ctx)
	defer stopPubs()
	var writers sync.WaitGroup
	for _, p := range pubs {
		writers.Go(func() { p.run(pubCtx) })
	}

	// Warm up, then measure one window.
	sleep(ctx, o.warmup)
	d0 := g.delivered.Load()
	cpu := startCPU(o.pid)
	self := selfCPU()
	t0 := time.Now()
	measuring.Store(true)
	sleep(ctx, o.duration)
	measuring.Store(false)
	d1 := g.delivered.Load()
	elapsed := time.Since(t0)
	used, cpuErr := cpu.stop()
	res.SelfCPU = round3((selfCPU() - self).Seconds())

	// Stop publishing and let what is in flight arrive.
	stopPubs()
	writers.Wait()
	var expected int64
	for _, p := range pubs {
		if qos > 0 {
			expected += p.acked.Load()
		} else {
			expected += p.sent
		}
		if p.err != nil && !errClosed(p.err) {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = p.err.Error()
			}
		}
	}
	expected *= int64(t.subs)
	stopped := time.Now()
	if qos > 0 {
		waitFor(drainTimeout, func() bool { return g.delivered.Load() >= expected })
	} else {
		settle(drainTimeout, &g.delivered)
	}
	fmt.Fprintf(os.Stderr, "loadgen %s: after publishing stopped, %d deliveries expected, %d made, in %v\n",
		o.mode, expected, g.delivered.Load(), time.Since(stopped).Round(time.Millisecond))
	closeAll(pubConns)
	closeAll(subConns)
	readers.Wait()

	for _, p := range pubs {
		res.Published += p.sent
	}
	res.Delivered = d1 - d0
	res.Seconds = round3(elapsed.Seconds())
	res.Rate = round3(float64(res.Delivered) / elapsed.Seconds())
	var samples []time.Duration
	for _, s := range subs {
		for i, tl := range s.tallies {
			want := pubs[i].sent
			if qos > 0 {
				want = pubs[i].acked.Load()
			}
			res.Lost += max(0, want-tl.unique)
			res.Duplicates += tl.dups
			res.Reordered += tl.reordered
		}
		res.Errors += int(s.bad)
		res.DeliveredQoS = max(res.DeliveredQoS, int(s.maxQoS))
		samples = append(samples, s.samples...)
	}
	if cpuErr != nil {
		return res, cpuErr
	}
	res.CPUSeconds = round3(used.Seconds())
	if res.Delivered > 0 {
		res.CPUUsPerOp = round3(float64(used.Microseconds()) / float64(res.Delivered))
	}
	if t.latency && len(samples) > 0 {
		slices.Sort(samples)
		ms := func(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }
		res.Samples = len(samples)
		res.P50Ms = ms(samples[len(samples)/2])
		res.P99Ms = ms(samples[min(len(samples)-1, len(samples)*99/100)])
		res.MaxMs = ms(samples[len(samples)-1])
	}
	return res, nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// settle waits until counter has not moved for 300ms, or timeout passes.
func settle(timeout time.Duration, counter *atomic.Int64) {
	deadline := time.Now().Add(timeout)
	last := counter.Load()
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		now := counter.Load()
		if now == last {
			return
		}
		last = now
	}
}
