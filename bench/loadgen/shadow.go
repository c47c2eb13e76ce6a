package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// runShadow measures the Device Shadow service: o.n devices, each the thing
// named by its client id, send reported-state updates to their own classic
// shadow at o.rate updates per second in total (round robin, QoS 1, as
// devices send them) and time each update from the write to its
// update/accepted. Updates are published at -qos (1, as the AWS SDKs do; 0,
// as the seed's MicroPython device does). Updates are rejected only by a failure of the service,
// so every /rejected counts as an error, and so does an update not answered
// by the end of the run.
func runShadow(ctx context.Context, d *dialer, o options) (result, error) {
	if o.rate <= 0 || o.n <= 0 {
		return result{}, fmt.Errorf("-rate %d -n %d: must be positive", o.rate, o.n)
	}
	res := result{Mode: "shadow", QoS: o.qos, Conns: o.n,
		Description: "accepted shadow updates/s over -n things; latency from the device's write to its update/accepted; cpu_us_per_op is hub CPU per update"}
	conns, failures, firstErr := d.dialMany(ctx, o.prefix+"-", o.n, o.c, 1200)
	if failures > 0 {
		closeAll(conns)
		return res, fmt.Errorf("%d of %d connections failed: %w", failures, o.n, firstErr)
	}
	defer closeAll(conns)
	for _, c := range conns {
		p := "$aws/things/" + c.id + "/shadow/update/"
		for _, f := range []string{p + "accepted", p + "rejected"} {
			if err := c.subscribe(f, 0); err != nil {
				return res, err
			}
		}
	}

	base := time.Now()
	var (
		measuring           atomic.Bool
		accepted, rejected  atomic.Int64
		sentTotal, answered atomic.Int64
		mu                  sync.Mutex
		samples             []time.Duration
		sends               []time.Duration // send times of samples, when -samples is set
	)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pub packet.Publish
			var local, localSends []time.Duration
			defer func() {
				mu.Lock()
				samples = append(samples, local...)
				sends = append(sends, localSends...)
				mu.Unlock()
			}()
			for {
				p, err := c.next(&pub)
				if err != nil {
					return
				}
				if p != &pub {
					continue // PUBACK of an update
				}
				answered.Add(1)
				if bytes.HasSuffix([]byte(pub.Topic), []byte("/rejected")) {
					rejected.Add(1)
					continue
				}
				if !measuring.Load() {
					continue
				}
				sent, ok := clientTokenNanos(pub.Payload)
				if !ok {
					continue
				}
				accepted.Add(1)
				local = append(local, time.Since(base)-time.Duration(sent))
				if o.samplesFile != "" {
					localSends = append(localSends, time.Duration(sent))
				}
			}
		}()
	}

	// The pacer wakes every millisecond and sends what the rate owes since
	// the start (late ticks are made up, not dropped), round robin over the
	// devices.
	next, counter := 0, 0
	payload := make([]byte, 0, 160)
	send := func(until time.Time) error {
		start, sent := time.Now(), 0
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for time.Now().Before(until) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
			due := int(float64(o.rate) * time.Since(start).Seconds())
			for ; sent < due; sent++ {
				c := conns[next]
				next = (next + 1) % len(conns)
				counter++
				payload = append(payload[:0], `{"state":{"reported":{"temperature":21.5,"humidity":40,"counter":`...)
				payload = strconv.AppendInt(payload, int64(counter), 10)
				payload = append(payload, `}},"clientToken":"`...)
				payload = strconv.AppendInt(payload, int64(time.Since(base)), 10)
				payload = append(payload, `"}`...)
				pub := &packet.Publish{Topic: "$aws/things/" + c.id + "/shadow/update", QoS: byte(o.qos), Payload: payload}
				if o.qos > 0 {
					pub.PacketID = uint16(counter%65535 + 1)
				}
				if err := c.write(pub); err != nil {
					return err
				}
				sentTotal.Add(1)
			}
		}
		return nil
	}
	if err := send(time.Now().Add(o.warmup)); err != nil {
		return res, err
	}
	cpu := startCPU(o.pid)
	self := selfCPU()
	measuring.Store(true)
	start := time.Now()
	if err := send(start.Add(o.duration)); err != nil {
		return res, err
	}
	// Let the last updates be answered before the window closes.
	waitFor(5*time.Second, func() bool { return answered.Load() >= sentTotal.Load() })
	elapsed := time.Since(start)
	measuring.Store(false)
	used, err := cpu.stop()
	if err != nil {
		return res, err
	}
	closeAll(conns)
	wg.Wait()

	n := accepted.Load()
	res.Seconds = round3(elapsed.Seconds())
	res.Rate = round3(float64(n) / o.duration.Seconds())
	res.Published = sentTotal.Load()
	res.Delivered = answered.Load()
	res.Errors = int(rejected.Load() + sentTotal.Load() - answered.Load())
	res.CPUSeconds = round3(used.Seconds())
	res.SelfCPU = round3((selfCPU() - self).Seconds())
	if n > 0 {
		res.CPUUsPerOp = round3(float64(used.Microseconds()) / float64(n))
	}
	if o.samplesFile != "" {
		if err := writeSamples(o.samplesFile, base, sends, samples); err != nil {
			return res, err
		}
	}
	slices.Sort(samples)
	if len(samples) > 0 {
		q := func(f float64) float64 {
			return round3(float64(samples[int(f*float64(len(samples)-1))]) / 1e6)
		}
		res.P50Ms, res.P99Ms, res.MaxMs, res.Samples = q(0.5), q(0.99), q(1), len(samples)
	}
	return res, nil
}

// clientTokenNanos reads the send time loadgen put in an update's
// clientToken, which update/accepted echoes at the end of its body.
func clientTokenNanos(body []byte) (int64, bool) {
	const key = `"clientToken":"`
	i := bytes.LastIndex(body, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return v, err == nil
}

// writeSamples writes a "# base_unix_ns N" line (the start that send times
// count from), then one "send_ms latency_ms" line per sample.
func writeSamples(name string, base time.Time, sends, latencies []time.Duration) error {
	b := fmt.Appendf(nil, "# base_unix_ns %d\n", base.UnixNano())
	for i, l := range latencies {
		b = strconv.AppendFloat(b, float64(sends[i])/1e6, 'f', 3, 64)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, float64(l)/1e6, 'f', 3, 64)
		b = append(b, '\n')
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		return fmt.Errorf("-samples: %w", err)
	}
	return nil
}
