// Command loadgen is the MQTT 3.1.1 over mTLS load generator of thingcore's
// broker benchmark (bench/run.sh). It speaks to any broker, so the same
// numbers are taken for thingcore, mosquitto and nats-server, and it encodes
// and decodes with thingcore's own codec (internal/mqtt/packet).
//
// Usage: loadgen MODE [flags]
//
//	idle     -n N -c C [-hold D] [-hold-stdin]   open N connections, print a
//	         line when all are connected, hold them until killed, stdin
//	         closes (-hold-stdin) or D passes
//	connect  -n N -c C                           connection rate: N x (mTLS
//	         handshake, CONNECT, CONNACK, DISCONNECT) with C in flight
//	fanin    -pubs 100 -qos 0|1 -duration D      100 publishers -> 1 subscriber
//	fanout   -subs 1000 -qos 0|1 -duration D     1 publisher -> 1000 subscribers
//	latency  -rate 1000 -qos 1 -duration D       fixed-rate publisher -> 1
//	         subscriber; p50/p99/max latency
//	shadow   -n 1000 -rate 10000 -duration D     Device Shadow updates: N devices
//	         update their own shadows at a total rate; update -> accepted
//	         p50/p99/max latency (thingcore only)
//
// Every mode prints one JSON line with its results on stdout; progress and
// errors go to stderr. With -pid, the broker process's CPU time (utime+stime
// from /proc) over the measured window is reported, and divided by the
// operations (handshakes or deliveries) in cpu_us_per_op.
//
// Payloads are 64 bytes: a send timestamp, a sequence number and the
// publisher's index, padded. Subscribers check the sequence numbers per
// publisher and report gaps as lost and repeats as duplicates.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"
)

// options are the command-line flags of every mode.
type options struct {
	mode      string
	addr      string
	ca        string
	cert      string
	key       string
	prefix    string
	pid       int
	timeout   time.Duration
	n         int
	c         int
	hold      time.Duration
	holdStdin bool
	pubs      int
	subs      int
	qos       int
	duration  time.Duration
	warmup    time.Duration
	rate      int
	window    int
	pending   int
	batch     int
	topic     string
	// samplesFile, when set, receives every shadow latency sample.
	samplesFile string
}

// result is the JSON line a mode prints. Rates are per second of the
// measured window; times in the units their names say.
type result struct {
	Mode      string  `json:"mode"`
	Broker    string  `json:"broker,omitempty"`
	QoS       int     `json:"qos"`
	Conns     int     `json:"conns,omitempty"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	Rate      float64 `json:"rate"` // conns/s (connect) or deliveries/s
	Published int64   `json:"published,omitempty"`
	Delivered int64   `json:"delivered,omitempty"`
	// DeliveredQoS is the highest QoS of the deliveries the subscribers got.
	DeliveredQoS int     `json:"delivered_qos"`
	Lost         int64   `json:"lost"`
	Duplicates   int64   `json:"duplicates"`
	Reordered    int64   `json:"reordered"`
	CPUSeconds   float64 `json:"broker_cpu_s"`
	CPUUsPerOp   float64 `json:"cpu_us_per_op"`
	SelfCPU      float64 `json:"loadgen_cpu_s"` // the generator's own CPU time over the window
	P50Ms        float64 `json:"p50_ms,omitempty"`
	P99Ms        float64 `json:"p99_ms,omitempty"`
	MaxMs        float64 `json:"max_ms,omitempty"`
	Samples      int     `json:"samples,omitempty"`
	FirstError   string  `json:"first_error,omitempty"`
	Description  string  `json:"desc,omitempty"`
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: loadgen idle|connect|fanin|fanout|latency|shadow [flags]; loadgen MODE -h for flags")
		os.Exit(2)
	}
	o := options{mode: os.Args[1]}
	fs := flag.NewFlagSet("loadgen "+o.mode, flag.ExitOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8883", "broker address host:port (loopback only)")
	fs.StringVar(&o.ca, "ca", "bench/out/pki/ca.pem", "CA certificate (PEM) that signed the broker's certificate")
	fs.StringVar(&o.cert, "cert", "bench/out/pki/client.pem", "client certificate (PEM)")
	fs.StringVar(&o.key, "key", "bench/out/pki/client.key", "client private key (PEM)")
	fs.StringVar(&o.prefix, "prefix", fmt.Sprintf("bench%d", os.Getpid()), "client id and topic prefix; must differ between concurrent loadgens")
	fs.IntVar(&o.pid, "pid", 0, "broker process id, to report its CPU time over the measured window (0: do not)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "limit for one connection's dial, TLS handshake and CONNACK")
	fs.IntVar(&o.n, "n", 1000, "idle, connect, shadow: number of connections")
	fs.IntVar(&o.c, "c", 50, "idle, connect: connections being set up at once")
	fs.DurationVar(&o.hold, "hold", 0, "idle: how long to hold the connections (0: until SIGINT/SIGTERM)")
	fs.BoolVar(&o.holdStdin, "hold-stdin", false, "idle: also stop holding when stdin reaches EOF")
	fs.IntVar(&o.pubs, "pubs", 100, "fanin: publishers")
	fs.IntVar(&o.subs, "subs", 1000, "fanout: subscribers")
	fs.IntVar(&o.qos, "qos", 0, "fanin, fanout, latency: QoS of publishes and subscriptions (0 or 1)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "fanin, fanout, latency: measured window")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "fanin, fanout, latency: traffic before the measured window")
	fs.IntVar(&o.rate, "rate", 1000, "latency, shadow: messages per second")
	fs.IntVar(&o.window, "window", 10, "QoS 1: unacknowledged PUBLISHes per publisher")
	fs.IntVar(&o.pending, "max-pending", 0, "messages published but not yet delivered (per subscriber) before publishers wait; 0: 1000 for fanin, 100 for fanout")
	fs.IntVar(&o.batch, "batch", 1, "fanin, fanout, QoS 0: messages per write (1: one TLS record per PUBLISH, as devices send)")
	fs.StringVar(&o.topic, "topic", "", "topic (default bench/PREFIX/MODE)")
	fs.StringVar(&o.samplesFile, "samples", "", "shadow: write every sample as \"send_ms latency_ms\" lines (send time since the start) to this file, to line the tail up with GC traces")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's own CPU profile to this file")
	fs.Parse(os.Args[2:])
	if o.qos != 0 && o.qos != 1 {
		fatal(fmt.Errorf("-qos %d: want 0 or 1", o.qos))
	}
	if o.topic == "" {
		o.topic = "bench/" + o.prefix + "/" + o.mode
	}
	// The generator runs on one core next to the broker; collect less often.
	debug.SetGCPercent(400)

	d, err := newDialer(o.addr, o.ca, o.cert, o.key, o.timeout)
	if err != nil {
		fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	var res result
	switch o.mode {
	case "idle":
		res, err = runIdle(ctx, d, o)
	case "connect":
		res, err = runConnect(ctx, d, o)
	case "fanin":
		res, err = runFanIn(ctx, d, o)
	case "fanout":
		res, err = runFanOut(ctx, d, o)
	case "latency":
		res, err = runLatency(ctx, d, o)
	case "shadow":
		res, err = runShadow(ctx, d, o)
	default:
		err = fmt.Errorf("unknown mode %q: want idle, connect, fanin, fanout, latency or shadow", o.mode)
	}
	if err != nil {
		fatal(err)
	}
	if o.mode != "idle" {
		emit(res)
	}
}

func emit(r result) {
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}

// round3 rounds to three decimals for readable JSON.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// runIdle opens o.n connections, prints when they are all up, and holds them.
func runIdle(ctx context.Context, d *dialer, o options) (result, error) {
	start := time.Now()
	conns, failures, firstErr := d.dialMany(ctx, o.prefix+"-idle-", o.n, o.c, 1200)
	res := result{Mode: "idle", Conns: o.n - failures, Errors: failures, Seconds: round3(time.Since(start).Seconds())}
	res.Rate = round3(float64(res.Conns) / time.Since(start).Seconds())
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	// Drop the read buffers: only the broker's memory is being measured, but
	// the generator should not run out either.
	for _, c := range conns {
		if c != nil {
			c.r = nil
			c.wbuf = nil
		}
	}
	emit(res)

	hold := ctx
	if o.hold > 0 {
		var cancel context.CancelFunc
		hold, cancel = context.WithTimeout(ctx, o.hold)
		defer cancel()
	}
	stdinClosed := make(chan struct{})
	if o.holdStdin {
		go func() { // ends with the process
			buf := make([]byte, 512)
			for {
				if _, err := os.Stdin.Read(buf); err != nil {
					close(stdinClosed)
					return
				}
			}
		}()
	}
	select {
	case <-hold.Done():
	case <-stdinClosed:
	}
	closeAll(conns)
	return res, nil
}

// runConnect measures the connection rate: each connection is a full mTLS
// handshake, CONNECT, CONNACK and DISCONNECT.
func runConnect(ctx context.Context, d *dialer, o options) (result, error) {
	cpu := startCPU(o.pid)
	start := time.Now()
	conns, failures, firstErr := d.dialManyClose(ctx, o.prefix+"-conn-", o.n, o.c)
	elapsed := time.Since(start)
	used, err := cpu.stop()
	if err != nil {
		return result{}, err
	}
	res := result{
		Mode:        "connect",
		Conns:       conns,
		Errors:      failures,
		Seconds:     round3(elapsed.Seconds()),
		Rate:        round3(float64(conns) / elapsed.Seconds()),
		CPUSeconds:  round3(used.Seconds()),
		Description: "conns/s; cpu_us_per_op is broker CPU per handshake+CONNECT+DISCONNECT",
	}
	if conns > 0 {
		res.CPUUsPerOp = round3(float64(used.Microseconds()) / float64(conns))
	}
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	return res, nil
}
