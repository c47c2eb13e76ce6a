// Command go-device is a thingcore device written with the Go device SDK
// (package github.com/thingcore/thingcore/device). Like the W5100S-EVB-Pico
// recipe's board, it reports a temperature, a humidity and a counter, but
// as shadow reported state, so the hub and any dashboard see the device's
// current state; it prints each delta and applies the desired state (an
// "interval" in seconds changes how often it reports; other keys are
// stored and reported back as is). Ctrl-C disconnects cleanly.
//
// Start a hub and create the device's folder, then run it:
//
//	go run ./cmd/thingcore serve &
//	go run ./cmd/thingcore thing create my-device
//	go run ./examples/go-device -dir my-device
//
// Then set the shadow's desired "interval" (seconds) from any client allowed
// to update my-device's shadow: the device prints the delta, reports every
// 2 seconds, and reports {"interval":2} back, which clears the delta.
// Desired: {"state":{"desired":{"interval":2}}}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/thingcore/thingcore/device"
)

func main() {
	dir := flag.String("dir", "my-device", "device folder `DIR` written by `thingcore thing create`")
	every := flag.Duration("interval", 5*time.Second, "how often to report telemetry (the shadow's desired \"interval\", in seconds, overrides it)")
	mqtt311 := flag.Bool("mqtt311", false, "use MQTT 3.1.1 instead of MQTT 5")
	verbose := flag.Bool("v", false, "log every message")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, *every, *mqtt311, log); err != nil {
		fmt.Fprintln(os.Stderr, "go-device:", err)
		os.Exit(1)
	}
}

// run reports telemetry until ctx ends.
func run(ctx context.Context, dir string, every time.Duration, mqtt311 bool, log *slog.Logger) error {
	cfg, err := device.LoadFolder(dir)
	if err != nil {
		return err
	}
	if mqtt311 {
		cfg.Protocol = device.MQTT311
	}
	c, err := device.New(cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Close(cctx); err != nil {
			log.Warn("close", "reason", err.Error())
		}
	}()
	fmt.Printf("connecting to %s as %s (Ctrl-C to stop)\n", cfg.Endpoint, cfg.ClientID)
	// Connect keeps trying (with backoff) until the hub answers or Ctrl-C.
	if err := c.Connect(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	deltas := make(chan device.Delta, 1)
	sh, err := c.OpenShadow(ctx, "", device.OnDelta(func(d device.Delta) {
		select { // the latest delta is enough: it holds every key that differs
		case deltas <- d:
		case <-ctx.Done():
		}
	}))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	d := &dev{sh: sh, every: every, settings: map[string]any{}}
	// Desired state set while the device was away: apply it now.
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	doc, err := sh.Get(rctx)
	cancel()
	switch {
	case errors.Is(err, device.ErrShadowNotFound):
		fmt.Println("no shadow yet: the first report creates it")
	case err != nil:
		fmt.Println("shadow get:", err)
	case len(doc.State.Delta) > 0:
		d.apply(ctx, doc.State.Delta)
	}

	ticker := time.NewTicker(d.every)
	defer ticker.Stop()
	d.report(ctx)
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping")
			return nil
		case delta := <-deltas:
			before := d.every
			d.apply(ctx, delta.State)
			if d.every != before {
				ticker.Reset(d.every)
			}
		case <-ticker.C:
			d.report(ctx)
		}
	}
}

// dev is the simulated device's state.
type dev struct {
	sh       *device.Shadow
	every    time.Duration
	counter  int
	settings map[string]any // desired keys applied, reported back as is
}

// report sends one telemetry reading as reported state.
func (d *dev) report(ctx context.Context) {
	d.counter++
	reading := map[string]any{
		"temperature": round1(20 + rand.Float64()*10),
		"humidity":    round1(40 + rand.Float64()*10),
		"counter":     d.counter,
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	doc, err := d.sh.UpdateReported(rctx, reading)
	if err != nil {
		if ctx.Err() == nil {
			fmt.Println("report:", err)
		}
		return
	}
	fmt.Printf("reported v%d: temperature=%v humidity=%v counter=%v\n",
		doc.Version, reading["temperature"], reading["humidity"], reading["counter"])
}

// apply applies a delta (the desired keys that differ from reported) and
// reports the applied state, which clears the delta.
func (d *dev) apply(ctx context.Context, state json.RawMessage) {
	var desired map[string]any
	if err := json.Unmarshal(state, &desired); err != nil {
		fmt.Println("delta:", err)
		return
	}
	fmt.Printf("delta: %s\n", state)
	applied := map[string]any{}
	for k, v := range desired {
		if k == "interval" {
			if s, ok := v.(float64); ok && s >= 1 && s <= 3600 {
				d.every = time.Duration(s * float64(time.Second))
				fmt.Printf("  reporting every %s now\n", d.every)
			} else {
				fmt.Printf("  ignoring interval %v: want 1 to 3600 seconds\n", v)
				continue
			}
		}
		d.settings[k] = v
		applied[k] = v
	}
	if len(applied) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := d.sh.UpdateReported(rctx, applied); err != nil && ctx.Err() == nil {
		fmt.Println("report applied state:", err)
	}
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
