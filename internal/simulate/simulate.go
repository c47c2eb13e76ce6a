// Package simulate runs a fleet of simulated devices against thingcore or
// AWS IoT Core: each device is a client of the public device package with
// its own mutual-TLS connection, reports telemetry like the seed device's
// main.py (temperature, humidity, a counter) as shadow reported updates at a
// chosen rate, and applies the desired state its shadow's deltas carry. It
// counts every update and error and measures the update→accepted latency.
//
// It owns the simulation engine only: creating things and certificates, and
// the status line's terminal handling, belong to `thingcore device
// simulate` (cmd/thingcore). It imports the public device package and no
// other thingcore package; only cmd/... imports it.
package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thingcore/thingcore/device"
)

// Defaults for the zero values of Config.
const (
	DefaultRate               = 0.2 // one update every 5 s, a typical sensor
	DefaultJitter             = 0.2
	DefaultConnectConcurrency = 16
	DefaultConnectTimeout     = 30 * time.Second
	DefaultUpdateTimeout      = 10 * time.Second
	DefaultCloseTimeout       = 10 * time.Second
)

// Config is a simulation: which devices, how often they report, for how
// long. The zero value of every optional field means its default.
type Config struct {
	// Devices are the simulated devices' connection settings, one per
	// device (device.LoadFolder reads them from device folders). Each
	// reports to the classic shadow of its ThingName (default ClientID).
	// At least one.
	Devices []device.Config `json:"devices"`

	// Rate is how many shadow updates each device sends per second, above
	// 0. Default 0.2 (one every 5 s).
	Rate float64 `json:"rate,omitempty"`

	// Jitter spreads each device's interval uniformly by ±Jitter of it,
	// from 0 to 0.9, so the fleet does not report in step. Default 0.2; a
	// negative value means none.
	Jitter float64 `json:"jitter,omitempty"`

	// Duration is how long the devices report once the ramp-up (every
	// device's first connection attempt) is over. 0 means until the
	// context of Run ends.
	Duration time.Duration `json:"duration,omitempty"`

	// ConnectConcurrency bounds the connection attempts in flight during
	// the ramp-up: TLS handshakes cost CPU on both sides. Default 16.
	ConnectConcurrency int `json:"connect_concurrency,omitempty"`

	// ConnectTimeout bounds one device's first connection and its shadow
	// subscriptions. A device that does not make it in time is counted as
	// failed and closed. Default 30 s.
	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"`

	// UpdateTimeout bounds one shadow update, from publish to the accepted
	// or rejected answer. Default 10 s.
	UpdateTimeout time.Duration `json:"update_timeout,omitempty"`
}

// Validate reports the first problem with c, if any.
func (c Config) Validate() error {
	if len(c.Devices) == 0 {
		return errors.New("simulate: config: no devices")
	}
	seen := make(map[string]bool, len(c.Devices))
	for i, d := range c.Devices {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("simulate: config: device %d: %w", i, err)
		}
		if seen[d.ClientID] {
			return fmt.Errorf("simulate: config: client id %q twice: each device needs its own (a second connection takes the first one over)", d.ClientID)
		}
		seen[d.ClientID] = true
	}
	switch {
	case c.Rate < 0:
		return fmt.Errorf("simulate: config: rate %g: want updates per second per device above 0", c.Rate)
	case c.Jitter > 0.9:
		return fmt.Errorf("simulate: config: jitter %g: want 0 to 0.9", c.Jitter)
	case c.Duration < 0, c.ConnectTimeout < 0, c.UpdateTimeout < 0:
		return errors.New("simulate: config: negative duration or timeout")
	case c.ConnectConcurrency < 0:
		return fmt.Errorf("simulate: config: connect concurrency %d: want 1 or more (0 for the default)", c.ConnectConcurrency)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = DefaultJitter
	case c.Jitter < 0:
		c.Jitter = 0
	}
	if c.ConnectConcurrency == 0 {
		c.ConnectConcurrency = DefaultConnectConcurrency
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.UpdateTimeout == 0 {
		c.UpdateTimeout = DefaultUpdateTimeout
	}
	return c
}

// Phase is where a simulation is.
type Phase string

// The phases of Run, in order.
const (
	PhaseIdle       Phase = "idle"
	PhaseConnecting Phase = "connecting"
	PhaseRunning    Phase = "running"
	PhaseStopping   Phase = "stopping"
	PhaseDone       Phase = "done"
)

// Error kinds counted in Status.Errors.
const (
	ErrKindConnect        = "connect"         // first connection not up within ConnectTimeout
	ErrKindSubscribe      = "subscribe"       // shadow subscriptions refused or not acknowledged
	ErrKindTimeout        = "update_timeout"  // no accepted/rejected answer within UpdateTimeout
	ErrKindNotConnected   = "not_connected"   // an update found the connection down
	ErrKindRejected       = "rejected"        // update/rejected; the code follows, e.g. "rejected_409"
	ErrKindConnectionLost = "connection_lost" // an established connection dropped
	ErrKindReconnect      = "reconnect_failed"
	ErrKindOther          = "other"
)

// Sim is one simulation. New prepares it, Run runs it once, Status may be
// called at any time from any goroutine.
type Sim struct {
	cfg Config
	log *slog.Logger

	phase   atomic.Value // Phase
	started time.Time

	mu      sync.Mutex
	devices []*simDevice // guarded by mu while Run appends during the ramp-up
	errs    map[string]int64
	runAt   time.Time // end of the ramp-up
	atRun   Status    // counters at the end of the ramp-up
	ran     bool

	failed        atomic.Int64
	sent          atomic.Int64
	accepted      atomic.Int64
	rejected      atomic.Int64
	deltasApplied atomic.Int64
	lat           recorder
	maxLatency    atomic.Int64 // nanoseconds
	stopping      atomic.Bool
}

// New checks cfg and returns a Sim; it starts nothing and reads no file
// (the device files are read as each device starts). log receives the
// simulator's and the devices' warnings; nil discards it.
func New(cfg Config, log *slog.Logger) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Devices = append([]device.Config(nil), cfg.Devices...) // New never mutates its input
	s := &Sim{cfg: cfg.withDefaults(), log: log, errs: map[string]int64{}}
	s.phase.Store(PhaseIdle)
	return s, nil
}

// Run connects the devices (at most ConnectConcurrency at a time), lets them
// report for Duration (or until ctx ends), waits for the updates in flight,
// disconnects them all and returns the summary. A ramp-up cut short by ctx
// still disconnects the devices already connected. Run may be called once.
func (s *Sim) Run(ctx context.Context) (Summary, error) {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return Summary{}, errors.New("simulate: run called twice")
	}
	s.ran = true
	s.started = time.Now()
	s.mu.Unlock()

	runCtx, cancel := context.WithCancel(ctx) // ends the devices' report loops
	defer cancel()
	var loops sync.WaitGroup

	s.phase.Store(PhaseConnecting)
	s.rampUp(runCtx, &loops)

	s.mu.Lock()
	s.runAt = time.Now()
	s.mu.Unlock()
	s.atRun = s.Status()
	s.phase.Store(PhaseRunning)

	if ctx.Err() == nil {
		if s.cfg.Duration > 0 {
			t := time.NewTimer(s.cfg.Duration)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		} else {
			<-ctx.Done()
		}
	}
	end := s.Status()
	mem := processSample()
	s.phase.Store(PhaseStopping)
	s.stopping.Store(true)
	cancel()
	loops.Wait() // updates in flight end within UpdateTimeout
	final := s.Status()
	s.closeAll()
	s.phase.Store(PhaseDone)
	return s.summary(end, final, mem), nil
}

// rampUp starts every device, ConnectConcurrency at a time, each device's
// report loop as soon as it is connected.
func (s *Sim) rampUp(ctx context.Context, loops *sync.WaitGroup) {
	sem := make(chan struct{}, s.cfg.ConnectConcurrency)
	var starting sync.WaitGroup
	for i, dc := range s.cfg.Devices {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		d := &simDevice{sim: s, cfg: dc, rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
		s.mu.Lock()
		s.devices = append(s.devices, d)
		s.mu.Unlock()
		starting.Add(1)
		go func() {
			defer starting.Done()
			ok := d.start(ctx)
			<-sem
			if !ok {
				s.failed.Add(1)
				return
			}
			loops.Add(1)
			go func() {
				defer loops.Done()
				d.reportLoop(ctx)
			}()
		}()
	}
	starting.Wait()
}

// closeAll disconnects every device, ConnectConcurrency at a time.
func (s *Sim) closeAll() {
	s.mu.Lock()
	devs := s.devices
	s.mu.Unlock()
	sem := make(chan struct{}, s.cfg.ConnectConcurrency)
	var wg sync.WaitGroup
	for _, d := range devs {
		if d.client == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), DefaultCloseTimeout)
			defer cancel()
			if err := d.client.Close(ctx); err != nil {
				s.log.Warn("simulate: close device", "client_id", d.cfg.ClientID, "reason", err.Error())
			}
		}()
	}
	wg.Wait()
}

// countError counts one error of kind.
func (s *Sim) countError(kind string) {
	s.mu.Lock()
	s.errs[kind]++
	s.mu.Unlock()
}

// observe records one update's latency.
func (s *Sim) observe(d time.Duration) {
	s.lat.Observe(d)
	for {
		m := s.maxLatency.Load()
		if int64(d) <= m || s.maxLatency.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Status is a snapshot of a simulation's counters.
type Status struct {
	Phase         Phase
	At            time.Time
	Devices       int // configured
	Started       int // connection attempted so far
	Connected     int // connected now
	Failed        int // never connected (or their shadow subscriptions failed)
	Sent          int64
	Accepted      int64
	Rejected      int64
	DeltasApplied int64
	Errors        map[string]int64
	Latency       Histogram // update→accepted/rejected, since the start
}

// ErrorCount is the sum of Errors.
func (st Status) ErrorCount() int64 {
	var n int64
	for _, v := range st.Errors {
		n += v
	}
	return n
}

// Status returns the current counters. Connected asks every device, so call
// it about once a second, not in a tight loop.
func (s *Sim) Status() Status {
	s.mu.Lock()
	devs := s.devices
	errs := make(map[string]int64, len(s.errs))
	for k, v := range s.errs {
		errs[k] = v
	}
	s.mu.Unlock()
	st := Status{
		Phase: s.phase.Load().(Phase), At: time.Now(),
		Devices: len(s.cfg.Devices), Started: len(devs), Failed: int(s.failed.Load()),
		Sent: s.sent.Load(), Accepted: s.accepted.Load(), Rejected: s.rejected.Load(),
		DeltasApplied: s.deltasApplied.Load(), Errors: errs, Latency: s.lat.Snapshot(),
	}
	for _, d := range devs {
		if d.connected() {
			st.Connected++
		}
	}
	return st
}

// Line is the one-line status: the state now and, over the time since prev,
// the update rate and latency percentiles.
//
//	running  connected 1000/1000  updates/s 200.4  errors 0  p50 2.1ms  p99 9.8ms  deltas 3
func (st Status) Line(prev Status) string {
	win := st.Latency.Sub(prev.Latency)
	rate := 0.0
	if dt := st.At.Sub(prev.At).Seconds(); dt > 0 && !prev.At.IsZero() {
		rate = float64(st.Accepted+st.Rejected-prev.Accepted-prev.Rejected) / dt
	}
	line := fmt.Sprintf("%-10s connected %d/%d  updates/s %.1f  errors %d  p50 %s  p99 %s",
		st.Phase, st.Connected, st.Devices, rate, st.ErrorCount(),
		fmtLatency(win.Quantile(0.50)), fmtLatency(win.Quantile(0.99)))
	if st.Failed > 0 {
		line += fmt.Sprintf("  failed %d", st.Failed)
	}
	if st.DeltasApplied > 0 {
		line += fmt.Sprintf("  deltas %d", st.DeltasApplied)
	}
	return line
}

func fmtLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(time.Second).String()
}

// Summary is the result of Run, shaped for `--output json`.
type Summary struct {
	Devices   int `json:"devices"`
	Connected int `json:"connected"` // at the end of the reporting phase
	Failed    int `json:"failed"`    // never connected

	RampUpSeconds   float64 `json:"ramp_up_seconds"`
	DurationSeconds float64 `json:"duration_seconds"` // reporting phase, after the ramp-up

	Sent     int64 `json:"updates_sent"`
	Accepted int64 `json:"updates_accepted"`
	Rejected int64 `json:"updates_rejected"`
	// UpdatesPerSecond is the accepted updates per second in the reporting
	// phase.
	UpdatesPerSecond float64 `json:"updates_per_second"`
	// TargetPerSecond is devices × rate.
	TargetPerSecond float64 `json:"target_updates_per_second"`

	Errors     map[string]int64 `json:"errors"`
	ErrorTotal int64            `json:"error_total"`

	// Latency percentiles are of the updates sent after the ramp-up; the
	// maximum is of them all.
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	LatencyMaxMs float64 `json:"latency_max_ms"`

	DeltasApplied int64 `json:"deltas_applied"`

	// Process is this process's cost once every device is connected and at
	// the end of the reporting phase (Go runtime numbers).
	Goroutines        int     `json:"goroutines"`
	HeapMB            float64 `json:"heap_mb"`
	GoroutinesPerConn float64 `json:"goroutines_per_device"`
	HeapKBPerConn     float64 `json:"heap_kb_per_device"`
}

// processStats are the Go runtime's numbers at one moment.
type processStats struct {
	goroutines int
	heapBytes  uint64
}

func processSample() processStats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return processStats{goroutines: runtime.NumGoroutine(), heapBytes: m.HeapInuse + m.StackInuse}
}

func (s *Sim) summary(end, final Status, mem processStats) Summary {
	s.mu.Lock()
	runAt := s.runAt
	s.mu.Unlock()
	dur := end.At.Sub(runAt).Seconds()
	steady := final.Latency.Sub(s.atRun.Latency) // the ramp-up's handshakes slow the first updates
	if steady.Count() == 0 {
		steady = final.Latency
	}
	sum := Summary{
		Devices: final.Devices, Connected: end.Connected, Failed: final.Failed,
		RampUpSeconds: runAt.Sub(s.started).Seconds(), DurationSeconds: dur,
		Sent: final.Sent, Accepted: final.Accepted, Rejected: final.Rejected,
		TargetPerSecond: float64(final.Devices) * s.cfg.Rate,
		Errors:          final.Errors, ErrorTotal: final.ErrorCount(),
		LatencyP50Ms:  ms(steady.Quantile(0.50)),
		LatencyP99Ms:  ms(steady.Quantile(0.99)),
		LatencyMaxMs:  ms(time.Duration(s.maxLatency.Load())),
		DeltasApplied: final.DeltasApplied,
		Goroutines:    mem.goroutines, HeapMB: float64(mem.heapBytes) / (1 << 20),
	}
	if dur > 0 {
		sum.UpdatesPerSecond = float64(end.Accepted-s.atRun.Accepted) / dur
	}
	if n := end.Connected; n > 0 {
		sum.GoroutinesPerConn = float64(mem.goroutines) / float64(n)
		sum.HeapKBPerConn = float64(mem.heapBytes) / 1024 / float64(n)
	}
	return sum
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// simDevice is one simulated device.
type simDevice struct {
	sim   *Sim
	cfg   device.Config
	rng   *rand.Rand // owned by the report loop after start
	count int64      // the telemetry counter, owned by the report loop

	// client and shadow are set by start before ready; Status reads them
	// only once ready is true.
	client *device.Client
	shadow *device.Shadow
	ready  atomic.Bool
}

// start creates the client, connects and opens the shadow with the delta
// handler. It reports whether the device is ready.
func (d *simDevice) start(ctx context.Context) bool {
	s := d.sim
	cfg := d.cfg
	cfg.CleanStart = true // a simulator leaves no sessions behind on the server
	cfg.OfflineQueue = -1 // shadow requests are never queued anyway
	log := slog.New(&countingHandler{next: s.log.Handler(), sim: s})
	c, err := device.New(cfg, log)
	if err != nil {
		s.log.Warn("simulate: device config", "client_id", cfg.ClientID, "reason", err.Error())
		s.countError(ErrKindConnect)
		return false
	}
	d.client = c
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	if err := c.Connect(cctx); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("simulate: device did not connect", "client_id", cfg.ClientID, "reason", err.Error())
			s.countError(ErrKindConnect)
		}
		return false
	}
	sh, err := c.OpenShadow(cctx, "", device.OnDelta(d.applyDelta))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("simulate: shadow subscriptions failed", "client_id", cfg.ClientID, "reason", err.Error())
			s.countError(ErrKindSubscribe)
		}
		return false
	}
	d.shadow = sh
	d.ready.Store(true)
	return true
}

func (d *simDevice) connected() bool {
	return d.ready.Load() && d.client.Connected()
}

// reportLoop sends a telemetry update every interval (with jitter) until
// ctx ends; the first one comes at a random point of the first interval so
// that devices connected together do not report together.
func (d *simDevice) reportLoop(ctx context.Context) {
	s := d.sim
	interval := time.Duration(float64(time.Second) / s.cfg.Rate)
	t := time.NewTimer(time.Duration(d.rng.Int64N(int64(interval)) + 1))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.count++
		d.update(ctx, Telemetry(d.rng, d.count))
		t.Reset(jittered(d.rng, interval, s.cfg.Jitter))
	}
}

// jittered returns interval spread uniformly by ±jitter of it.
func jittered(r *rand.Rand, interval time.Duration, jitter float64) time.Duration {
	if jitter <= 0 {
		return interval
	}
	f := 1 + jitter*(2*r.Float64()-1)
	return time.Duration(float64(interval) * f)
}

// Telemetry is the reported state of one update: what the seed device's
// main.py sends (temperature 20 to 30 °C, humidity 40 to 50 %, a counter),
// in a valid shadow document this time.
func Telemetry(r *rand.Rand, counter int64) map[string]any {
	return map[string]any{
		"temperature": float64(int(200+r.IntN(100))) / 10,
		"humidity":    float64(int(400+r.IntN(100))) / 10,
		"counter":     counter,
	}
}

// update sends one reported update and counts its outcome. It is not cut
// short when the simulation stops: the answer is waited for (within
// UpdateTimeout), so that every update sent is accounted for.
func (d *simDevice) update(ctx context.Context, reported any) {
	s := d.sim
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.UpdateTimeout)
	defer cancel()
	s.sent.Add(1)
	start := time.Now()
	_, err := d.shadow.UpdateReported(uctx, reported)
	elapsed := time.Since(start)
	var se *device.ShadowError
	switch {
	case err == nil:
		s.accepted.Add(1)
		s.observe(elapsed)
	case errors.As(err, &se):
		s.rejected.Add(1)
		s.observe(elapsed)
		s.countError(fmt.Sprintf("%s_%d", ErrKindRejected, se.Code))
		s.log.Warn("simulate: update rejected", "client_id", d.cfg.ClientID, "reason", err.Error())
	case errors.Is(err, device.ErrClosed) && s.stopping.Load():
		s.sent.Add(-1) // never sent: the device was closing
	case errors.Is(err, context.DeadlineExceeded):
		s.countError(ErrKindTimeout)
		s.log.Warn("simulate: update timed out", "client_id", d.cfg.ClientID, "reason", err.Error())
	case errors.Is(err, device.ErrNotConnected):
		s.countError(ErrKindNotConnected)
	default:
		s.countError(ErrKindOther)
		s.log.Warn("simulate: update failed", "client_id", d.cfg.ClientID, "reason", err.Error())
	}
}

// applyDelta applies the desired state a delta carries — a device would
// switch its LED or change its interval here — and reports it back, so the
// delta disappears. It runs on the Shadow's delta goroutine.
func (d *simDevice) applyDelta(delta device.Delta) {
	if len(delta.State) == 0 || string(delta.State) == "null" || string(delta.State) == "{}" {
		return
	}
	if !json.Valid(delta.State) {
		d.sim.countError(ErrKindOther)
		return
	}
	if d.sim.stopping.Load() {
		return
	}
	d.update(context.Background(), delta.State)
	d.sim.deltasApplied.Add(1)
}

// countingHandler counts the device package's connection warnings as
// errors and passes every record on.
type countingHandler struct {
	next slog.Handler
	sim  *Sim
}

func (h *countingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && !h.sim.stopping.Load() {
		switch r.Message {
		case "device: connection lost; reconnecting":
			h.sim.countError(ErrKindConnectionLost)
		case "device: connection attempt failed":
			h.sim.countError(ErrKindReconnect)
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{next: h.next.WithAttrs(as), sim: h.sim}
}

func (h *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{next: h.next.WithGroup(name), sim: h.sim}
}
