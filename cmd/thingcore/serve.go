package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thingcore/thingcore/internal/hub"
)

// serveConfig is what `thingcore serve` resolves from its sources.
type serveConfig struct {
	hub   hub.Config
	level slog.Level
}

// serveSetting is one setting of `thingcore serve`, settable by a flag and
// an environment variable. Precedence: flag > environment > config file >
// default.
type serveSetting struct {
	flag, env, usage string
	isBool           bool
	repeat           bool // the flag may be given more than once; values join with ","
	apply            func(c *serveConfig, v string) error
}

func serveSettings() []serveSetting {
	str := func(dst func(c *serveConfig) *string) func(*serveConfig, string) error {
		return func(c *serveConfig, v string) error { *dst(c) = v; return nil }
	}
	boolean := func(dst func(c *serveConfig) *bool) func(*serveConfig, string) error {
		return func(c *serveConfig, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not a boolean", v)
			}
			*dst(c) = b
			return nil
		}
	}
	def := hub.DefaultConfig()
	return []serveSetting{
		{flag: "data-dir", env: "THINGCORE_DATA_DIR", apply: str(func(c *serveConfig) *string { return &c.hub.DataDir }),
			usage: "data `DIR`: CA, server certificates, admin credentials, store (default " + def.DataDir + ")"},
		{flag: "mqtt-addr", env: "THINGCORE_MQTT_ADDR", apply: str(func(c *serveConfig) *string { return &c.hub.MQTTAddr }),
			usage: "MQTT over TLS listener `ADDR` for devices (default " + def.MQTTAddr + "; empty: off)"},
		{flag: "https-addr", env: "THINGCORE_HTTPS_ADDR", apply: str(func(c *serveConfig) *string { return &c.hub.HTTPSAddr }),
			usage: "HTTPS `ADDR` of the AWS-compatible API (default " + def.HTTPSAddr + ")"},
		{flag: "alpn-addr", env: "THINGCORE_ALPN_ADDR", apply: str(func(c *serveConfig) *string { return &c.hub.ALPNAddr }),
			usage: "`ADDR` serving MQTT and HTTPS on one TLS port by ALPN, like AWS's 443 (default off)"},
		{flag: "websocket-addr", env: "THINGCORE_WEBSOCKET_ADDR", apply: str(func(c *serveConfig) *string { return &c.hub.WebSocketAddr }),
			usage: "MQTT over WebSocket over TLS `ADDR`, path /mqtt (default off)"},
		{flag: "plain-mqtt-addr", env: "THINGCORE_PLAIN_MQTT_ADDR", apply: str(func(c *serveConfig) *string { return &c.hub.PlainMQTTAddr }),
			usage: "MQTT over plain TCP `ADDR`, no TLS: local development only (default off)"},
		{flag: "console-http-addr", env: "THINGCORE_CONSOLE_HTTP_ADDR", apply: str(func(c *serveConfig) *string { return &c.hub.ConsoleHTTPAddr }),
			usage: "also serve the web console over plain HTTP on loopback `ADDR`, e.g. 127.0.0.1:8080 (default off)"},
		{flag: "server-name", env: "THINGCORE_SERVER_NAMES", repeat: true,
			apply: func(c *serveConfig, v string) error {
				c.hub.ServerNames = nil
				for n := range strings.SplitSeq(v, ",") {
					if n = strings.TrimSpace(n); n != "" {
						c.hub.ServerNames = append(c.hub.ServerNames, n)
					}
				}
				return nil
			},
			usage: "host `NAME` or IP the server certificates are for; repeat or comma-separate; the first is the " +
				"device endpoint (default localhost, the host name and local IPs; env is comma-separated)"},
		{flag: "allow-rsa-key-exchange", env: "THINGCORE_ALLOW_RSA_KEY_EXCHANGE", isBool: true,
			apply: boolean(func(c *serveConfig) *bool { return &c.hub.AllowRSAKeyExchange }),
			usage: "also offer TLS_RSA_* suites (no forward secrecy) for boards that can do nothing else"},
		{flag: "insecure-allow-all", env: "THINGCORE_INSECURE_ALLOW_ALL", isBool: true,
			apply: boolean(func(c *serveConfig) *bool { return &c.hub.InsecureAllowAll }),
			usage: "let every authenticated device do anything, bypassing policies (experiments only)"},
		{flag: "shutdown-timeout", env: "THINGCORE_SHUTDOWN_TIMEOUT",
			apply: func(c *serveConfig, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return fmt.Errorf("%q is not a positive duration such as 10s", v)
				}
				c.hub.ShutdownTimeout = d
				return nil
			},
			usage: "how long to drain connections on SIGINT/SIGTERM (`DURATION`, default " + def.ShutdownTimeout.String() + ")"},
		{flag: "log-level", env: "THINGCORE_LOG_LEVEL",
			apply: func(c *serveConfig, v string) error {
				if err := c.level.UnmarshalText([]byte(v)); err != nil {
					return fmt.Errorf("%q is not a log level; want debug, info, warn or error", v)
				}
				return nil
			},
			usage: "`LEVEL` of the logs written to stderr: debug, info, warn or error (default info)"},
	}
}

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "run the hub",
		long: "Runs the hub: the MQTT broker for devices (MQTT 3.1.1 and 5 over TLS with X.509 client\n" +
			"certificates, as AWS IoT Core), device shadows, and the AWS IoT-compatible HTTPS API the other\n" +
			"commands use. On first start it creates the data directory: a root CA, server certificates,\n" +
			"and an admin access key, which it prints once. Logs go to stderr; the endpoints to stdout.\n\n" +
			"Each setting comes from, in order of precedence: its flag, its THINGCORE_* environment\n" +
			"variable, the JSON config file (--config or THINGCORE_CONFIG: data_dir, mqtt_addr, https_addr,\n" +
			"alpn_addr, websocket_addr, plain_mqtt_addr, server_names, allow_rsa_key_exchange,\n" +
			"insecure_allow_all, shutdown_timeout as a duration such as \"10s\", broker limits, gc_pace_heap_mib;\n" +
			"unknown fields are an error), the default. SIGINT or SIGTERM drains the connections within\n" +
			"--shutdown-timeout; a second signal ends the process at once.\n\n" +
			"Environment: THINGCORE_CONFIG and, per flag, THINGCORE_DATA_DIR, THINGCORE_MQTT_ADDR,\n" +
			"THINGCORE_HTTPS_ADDR, THINGCORE_ALPN_ADDR, THINGCORE_WEBSOCKET_ADDR, THINGCORE_PLAIN_MQTT_ADDR,\n" +
			"THINGCORE_SERVER_NAMES, THINGCORE_ALLOW_RSA_KEY_EXCHANGE, THINGCORE_INSECURE_ALLOW_ALL,\n" +
			"THINGCORE_SHUTDOWN_TIMEOUT, THINGCORE_LOG_LEVEL.",
		examples: []string{
			"thingcore serve",
			"thingcore serve --server-name hub.lan --server-name 192.168.1.10   # names boards on the LAN use",
			"thingcore serve --allow-rsa-key-exchange   # for TLS stacks that offer only TLS_RSA_* suites",
			"THINGCORE_DATA_DIR=/var/lib/thingcore thingcore serve --log-level debug",
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			settings := serveSettings()
			config := fs.String("config", "", "JSON config `FILE` (env THINGCORE_CONFIG)")
			given := map[string][]string{}
			for _, s := range settings {
				collect := func(v string) error {
					if s.repeat {
						given[s.flag] = append(given[s.flag], v)
					} else {
						given[s.flag] = []string{v}
					}
					return nil
				}
				if s.isBool {
					fs.BoolFunc(s.flag, s.usage, collect)
				} else {
					fs.Func(s.flag, s.usage, collect)
				}
			}
			return func(ctx context.Context, _ []string) error {
				path := *config
				if path == "" {
					path = e.getenv("THINGCORE_CONFIG")
				}
				cfg, err := e.resolveServeConfig(settings, path, given)
				if err != nil {
					return err
				}
				return e.serve(ctx, cfg)
			}
		},
	}
}

// resolveServeConfig layers the config file, the environment and the flags
// given over the defaults.
func (e *env) resolveServeConfig(settings []serveSetting, path string, given map[string][]string) (serveConfig, error) {
	c := serveConfig{hub: hub.DefaultConfig(), level: slog.LevelInfo}
	if path != "" {
		var err error
		if c.hub, err = hub.LoadConfigFile(path); err != nil {
			return c, err
		}
	}
	for _, s := range settings {
		if v, ok := e.lookupEnv(s.env); ok {
			if err := s.apply(&c, v); err != nil {
				return c, usagef("%s: %v", s.env, err)
			}
		}
	}
	for _, s := range settings {
		if vs, ok := given[s.flag]; ok {
			if err := s.apply(&c, strings.Join(vs, ",")); err != nil {
				return c, usagef("--%s: %v", s.flag, err)
			}
		}
	}
	return c, nil
}

// serve runs the hub until ctx ends (SIGINT/SIGTERM), then drains it within
// the configured shutdown timeout.
func (e *env) serve(ctx context.Context, c serveConfig) error {
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: c.level}))
	// THINGCORE_CPUPROFILE=FILE writes a CPU profile of the whole run, for
	// the benchmarks in bench/.
	if path, ok := e.lookupEnv("THINGCORE_CPUPROFILE"); ok && path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	// THINGCORE_MEMPROFILE=FILE writes an allocation profile at exit.
	if path, ok := e.lookupEnv("THINGCORE_MEMPROFILE"); ok && path != "" {
		defer writeAllocProfile(path, log)
	}
	h, err := hub.New(c.hub, log)
	if err != nil {
		return err
	}
	// Serve gets its own context: the signal starts a drain bounded by the
	// shutdown timeout, not an abrupt stop.
	serveCtx, cancelServe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelServe()
	errc := make(chan error, 1)
	go func() { errc <- h.Serve(serveCtx) }()

	select {
	case <-h.Ready():
		e.printReady(e.stdout, c.hub, h)
		select {
		case err := <-errc: // a listener failed
			return err
		case <-ctx.Done():
		}
	case err := <-errc: // start-up failed
		return err
	case <-ctx.Done():
	}

	log.Info("serve: shutting down", "timeout", c.hub.ShutdownTimeout.String())
	shCtx, cancel := context.WithTimeout(context.Background(), c.hub.ShutdownTimeout)
	defer cancel()
	cancelServe() // covers a signal during start-up, before Shutdown has anything to stop
	if err := h.Shutdown(shCtx); err != nil {
		return fmt.Errorf("shutdown: connections not drained within %s: %w", c.hub.ShutdownTimeout, err)
	}
	return <-errc
}

// printReady tells the user where the hub listens, the admin key on first
// start (once; it is never logged), and what to run next.
func (e *env) printReady(w io.Writer, cfg hub.Config, h *hub.Hub) {
	eps := h.Endpoints()
	at := func(addr string) string {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return addr
		}
		return net.JoinHostPort(eps.Host, port)
	}
	fmt.Fprintln(w, "thingcore is ready.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", k, v)
		}
	}
	line("MQTT over TLS (devices)", at(eps.MQTT))
	line("HTTPS API", httpsURL(at, eps.HTTPS))
	if eps.HTTPS != "" {
		line("Web console", httpsURL(at, eps.HTTPS)+"/console/")
	}
	if eps.ConsoleHTTP != "" {
		line("Web console (local HTTP)", "http://"+eps.ConsoleHTTP+"/console/")
	}
	if eps.ALPN != "" {
		line("MQTT and HTTPS by ALPN", at(eps.ALPN))
	}
	if eps.WebSocket != "" {
		line("MQTT over WebSocket", "wss://"+at(eps.WebSocket)+"/mqtt")
	}
	if eps.PlainMQTT != "" {
		line("MQTT, plain TCP", at(eps.PlainMQTT)+" (no TLS: development only)")
	}
	line("Root CA", eps.RootCA)
	line("Data directory", cfg.DataDir)
	tw.Flush()
	fmt.Fprintln(w)

	credsPath := filepath.Join(cfg.DataDir, hub.AdminCredentialsFile)
	if eps.AdminCreated {
		creds := h.AdminCredentials()
		fmt.Fprintln(w, "Admin credentials, created now and shown this once (they are never logged):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  access key id\t%s\n", creds.AccessKeyID)
		fmt.Fprintf(tw, "  secret access key\t%s\n", creds.SecretAccessKey)
		fmt.Fprintf(tw, "  stored in\t%s (mode 0600); thingcore's commands read them from there\n", credsPath)
		tw.Flush()
	} else {
		fmt.Fprintf(w, "Admin access key id %s; the key pair is in %s.\n", eps.AdminKeyID, credsPath)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Next, create a device (a thing, its certificate and a folder to copy to the board):")
	fmt.Fprintf(w, "  %s\n", nextCommand(cfg, eps))
}

func httpsURL(at func(string) string, addr string) string {
	if addr == "" {
		return ""
	}
	return "https://" + at(addr)
}

// nextCommand is `thingcore thing create my-device` with the flags that
// this hub's non-default settings need.
func nextCommand(cfg hub.Config, eps hub.Endpoints) string {
	cmd := "thingcore thing create my-device"
	def := hub.DefaultConfig()
	if cfg.DataDir != def.DataDir {
		cmd += " --data-dir " + shellQuote(cfg.DataDir)
	}
	if _, port, err := net.SplitHostPort(eps.HTTPS); err == nil && (port != "8443" || eps.Host != "localhost") {
		cmd += " --endpoint https://" + net.JoinHostPort(eps.Host, port)
	}
	if _, port, err := net.SplitHostPort(eps.MQTT); err == nil && port != "8883" {
		cmd += " --mqtt-port " + port
	}
	return cmd
}

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeAllocProfile writes the allocations of the whole run to path.
func writeAllocProfile(path string, log *slog.Logger) {
	f, err := os.Create(path)
	if err != nil {
		log.Error("memory profile", "err", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		log.Error("memory profile", "path", path, "err", err)
	}
}
