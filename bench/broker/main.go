// Command broker runs thingcore's MQTT broker core (internal/broker) on one
// mTLS listener (internal/transport) for the benchmark in bench/run.sh.
//
// !!! BENCHMARK ONLY: EVERY CLIENT WITH A CERTIFICATE FROM -ca IS ALLOWED TO  !!!
// !!! DO EVERYTHING. Authentication and authorization here are allow-all,    !!!
// !!! and the limits are raised for load. Never run this to serve devices;   !!!
// !!! the hub (cmd/thingcore) is the product and enforces policies.          !!!
//
// Client certificates are still required and verified against -ca, as on the
// peers the benchmark compares with (mosquitto require_certificate, nats
// verify), so the TLS work is the same for all.
//
// Usage: broker -addr 127.0.0.1:28883 -ca ca.pem -cert server.pem -key server.key
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/gcpace"
	"github.com/thingcore/thingcore/internal/memtrim"
	"github.com/thingcore/thingcore/internal/transport"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var certs, keys listFlag
	addr := flag.String("addr", "127.0.0.1:28883", "MQTT over mTLS listen address (loopback only for the benchmark)")
	caFile := flag.String("ca", "bench/out/pki/ca.pem", "CA (PEM) that client certificates must chain to")
	flag.Var(&certs, "cert", "server certificate (PEM); repeat for several, paired with -key in order")
	flag.Var(&keys, "key", "server private key (PEM); repeat, one per -cert")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error (info logs every connection)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := flag.String("memprofile", "", "on SIGUSR1, collect garbage and write a heap profile to this file (e.g. with idle connections up)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if len(certs) == 0 {
		certs = listFlag{"bench/out/pki/server.pem"}
	}
	if len(keys) == 0 {
		keys = listFlag{"bench/out/pki/server.key"}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fatal(fmt.Errorf("-log-level: %w", err))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *memProfile != "" {
		var wg sync.WaitGroup
		defer wg.Wait()
		profCtx, stopProf := context.WithCancel(ctx)
		defer stopProf()
		wg.Go(func() { heapProfileOnSignal(profCtx, log, *memProfile) })
	}
	if err := run(ctx, log, *addr, *caFile, certs, keys); err != nil {
		pprof.StopCPUProfile()
		fatal(err)
	}
}

// heapProfileOnSignal writes a heap profile to file on every SIGUSR1 until
// ctx ends. Inspect with: go tool pprof -sample_index=inuse_space FILE.
func heapProfileOnSignal(ctx context.Context, log *slog.Logger, file string) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		runtime.GC()
		f, err := os.Create(file)
		if err == nil {
			err = pprof.WriteHeapProfile(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			log.Error("bench broker: heap profile", "file", file, "error", err.Error())
			continue
		}
		log.Warn("bench broker: heap profile written", "file", file)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "broker:", err)
	os.Exit(1)
}

// benchConfig is the broker tuned for load: no per-connection publish rate
// limit, room for many subscriptions and queued messages. The other fields
// keep their defaults (AWS IoT Core's), including ReceiveMaximum 100.
func benchConfig() broker.Config {
	c := broker.DefaultConfig()
	c.PublishRate = -1
	c.MaxSubscriptions = 100_000
	c.ReceiveMaximum = 100
	c.MaxQueuedMessages = 100_000
	return c
}

func run(ctx context.Context, log *slog.Logger, addr, caFile string, certFiles, keyFiles []string) error {
	if len(certFiles) != len(keyFiles) {
		return fmt.Errorf("%d -cert flags but %d -key flags", len(certFiles), len(keyFiles))
	}
	var certs []tls.Certificate
	for i := range certFiles {
		c, err := tls.LoadX509KeyPair(certFiles[i], keyFiles[i])
		if err != nil {
			return fmt.Errorf("load %s: %w", certFiles[i], err)
		}
		certs = append(certs, c)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("read ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("ca %s: no PEM certificates", caFile)
	}
	tlsConf, err := transport.ServerTLSConfig(transport.TLSOptions{Certificates: certs, ClientCAs: pool})
	if err != nil {
		return err
	}

	b, err := broker.New(benchConfig(), broker.Deps{
		Logger:        log,
		Authenticator: allowAll{},
		Authorizer:    allowAll{},
	})
	if err != nil {
		return err
	}
	l, err := transport.New(transport.Config{Name: "mqtts", Kind: transport.KindTLS, Addr: addr}, tlsConf,
		func(c net.Conn, m transport.Meta) {
			b.ServeConn(c, broker.ConnInfo{Listener: m.Listener, Transport: string(m.Kind), RemoteAddr: m.RemoteAddr, TLS: m.TLS})
		}, log)
	if err != nil {
		return err
	}
	if err := l.Listen(); err != nil {
		return err
	}

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- b.Serve(ctx) })
	wg.Go(func() { errs <- l.Serve(ctx) })
	// The hub returns memory after bursts the same way (internal/memtrim),
	// and paces its garbage collector the same way (internal/gcpace).
	trimCtx, stopTrim := context.WithCancel(ctx)
	wg.Go(func() { memtrim.Run(trimCtx, 0, log) })
	wg.Go(func() { gcpace.Run(trimCtx, gcpace.Limit(gcpace.DefaultLimit), 0, log) })
	log.Warn("bench broker ready: allow-all authentication, not for devices", "addr", l.Addr().String())

	var first error
	select {
	case <-ctx.Done():
	case first = <-errs: // one of them stopped on its own
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lerr := l.Shutdown(shutCtx)
	berr := b.Shutdown(shutCtx)
	stopTrim()
	wg.Wait()
	close(errs)
	for err := range errs {
		if first == nil {
			first = err
		}
	}
	for _, err := range []error{first, lerr, berr} {
		if err != nil && !errors.Is(err, broker.ErrServerClosed) && !errors.Is(err, transport.ErrServerClosed) &&
			!errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// allowAll authenticates every client that completed the mTLS handshake
// and allows every action. BENCHMARK ONLY.
type allowAll struct{}

var (
	_ broker.Authenticator = allowAll{}
	_ broker.Authorizer    = allowAll{}
)

// principal is a client named by its certificate's common name.
type principal string

func (p principal) ID() string { return string(p) }

func (allowAll) Authenticate(_ context.Context, req *broker.ConnectRequest) (broker.Principal, error) {
	if t := req.Conn.TLS; t != nil && len(t.PeerCertificates) > 0 {
		return principal(t.PeerCertificates[0].Subject.CommonName), nil
	}
	return principal(req.ClientID), nil
}

func (allowAll) Authorize(broker.Principal, string, broker.Action, string) error { return nil }
