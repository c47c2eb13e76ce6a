package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
)

// Config is everything `thingcore serve` can be told. A config file is
// optional (JSON, every field optional); flags and THINGCORE_* environment
// variables override it. Each field's comment states its default.
type Config struct {
	// DataDir holds the CA, server certificates, admin credentials and the
	// key-value store. Default "./thingcore-data".
	DataDir string `json:"data_dir"`

	// MQTTAddr is the MQTT over TLS listener (devices, mTLS). Default ":8883".
	MQTTAddr string `json:"mqtt_addr"`
	// HTTPSAddr serves the AWS-compatible HTTP APIs and the data plane.
	// Default ":8443".
	HTTPSAddr string `json:"https_addr"`
	// ALPNAddr, when set, serves MQTT and HTTPS on one TLS port chosen by
	// ALPN (x-amzn-mqtt-ca/mqtt → MQTT, http/1.1/h2 → HTTP), like AWS's 443.
	// Default "" (off).
	ALPNAddr string `json:"alpn_addr"`
	// WebSocketAddr, when set, serves MQTT over WebSocket over TLS at /mqtt.
	// Default "" (off).
	WebSocketAddr string `json:"websocket_addr"`
	// PlainMQTTAddr, when set, serves MQTT over plain TCP with no
	// authentication of devices beyond what the authorizer allows. For local
	// development only. Default "" (off).
	PlainMQTTAddr string `json:"plain_mqtt_addr"`

	// ConsoleHTTPAddr, when set, also serves the web console (only the
	// console) over plain HTTP for local use. It must be a loopback address
	// such as "127.0.0.1:8080": the admin's sign-in never crosses a network
	// unencrypted. Default "" (off; the console is always on the HTTPS port).
	ConsoleHTTPAddr string `json:"console_http_addr"`

	// ServerNames are the host names and IP addresses the server certificates
	// are issued for. Default: "localhost", the host name, and every local IP
	// address. The first one is what DescribeEndpoint returns.
	ServerNames []string `json:"server_names"`

	// AllowRSAKeyExchange offers TLS_RSA_WITH_AES_*_CBC_* suites (no forward
	// secrecy) for boards that can do nothing else. Default false.
	AllowRSAKeyExchange bool `json:"allow_rsa_key_exchange"`

	// Region and AccountID appear in ARNs. Defaults "us-east-1" and
	// "000000000000".
	Region    string `json:"region"`
	AccountID string `json:"account_id"`

	// Broker holds the MQTT limits; zero fields take AWS IoT Core's defaults
	// (see broker.Config).
	Broker broker.Config `json:"broker"`

	// ShadowMaxBytes bounds a shadow's desired + reported state in bytes
	// (AWS: 8 KB). Default 8192.
	ShadowMaxBytes int `json:"shadow_max_bytes"`
	// ShadowMaxDepth bounds the nesting of a shadow's state. Default 8 (the
	// reference's suggested default; AWS's error text says 6).
	ShadowMaxDepth int `json:"shadow_max_depth"`

	// KVSyncInterval is how often the store fsyncs. Default 1s.
	KVSyncInterval time.Duration `json:"kv_sync_interval"`

	// GCPaceHeapMiB is the largest heap, in MiB, the hub lets grow between
	// two garbage collections so that under load it collects about every
	// 5 s rather than several times a second (internal/gcpace); it is
	// bounded by an eighth of the machine's memory, and the memory is given
	// back once the hub is quiet. 0 means the default, 256; -1 turns pacing
	// off, as do GOGC or GOMEMLIMIT in the environment.
	GCPaceHeapMiB int `json:"gc_pace_heap_mib"`

	// InsecureAllowAll authorizes every action of every authenticated
	// device, bypassing policies. For tests and experiments only; the hub
	// logs a warning at start. Default false.
	InsecureAllowAll bool `json:"insecure_allow_all"`

	// ShutdownTimeout bounds the graceful drain on SIGINT/SIGTERM. Default 10s.
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
}

// DefaultConfig returns the defaults described on Config's fields, except
// ServerNames, which are discovered at start when empty.
func DefaultConfig() Config {
	return Config{
		DataDir:         "./thingcore-data",
		MQTTAddr:        ":8883",
		HTTPSAddr:       ":8443",
		Region:          "us-east-1",
		AccountID:       "000000000000",
		KVSyncInterval:  time.Second,
		ShutdownTimeout: 10 * time.Second,
	}
}

// LoadConfigFile reads a JSON config file over the defaults. Unknown fields
// are an error, so a typo does not pass silently. Durations are Go duration
// strings ("10s", "1h") or nanoseconds.
func LoadConfigFile(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("hub: config: %w", err)
	}
	data, err = durationsToNanos(data)
	if err != nil {
		return cfg, fmt.Errorf("hub: config %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("hub: config %s: %w", path, err)
	}
	return cfg, nil
}

// durationFields are the config keys holding durations, at any depth.
var durationFields = map[string]bool{
	"kv_sync_interval": true, "shutdown_timeout": true, "max_session_expiry": true,
	"write_timeout": true, "connect_timeout": true, "max_message_expiry": true,
}

// durationsToNanos lets a config file write durations as Go duration
// strings ("10s", "1h") by converting them to the nanoseconds that
// time.Duration decodes from; numbers are left as they are.
func durationsToNanos(data []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var walk func(m map[string]any) error
	walk = func(m map[string]any) error {
		for k, v := range m {
			switch v := v.(type) {
			case map[string]any:
				if err := walk(v); err != nil {
					return err
				}
			case string:
				if durationFields[k] {
					d, err := time.ParseDuration(v)
					if err != nil {
						return fmt.Errorf("%s: %w", k, err)
					}
					m[k] = int64(d)
				}
			}
		}
		return nil
	}
	if err := walk(doc); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required"))
	}
	if c.MQTTAddr == "" && c.ALPNAddr == "" && c.WebSocketAddr == "" && c.PlainMQTTAddr == "" {
		errs = append(errs, errors.New("no MQTT listener: set mqtt_addr, alpn_addr, websocket_addr or plain_mqtt_addr"))
	}
	if err := c.Broker.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ConsoleHTTPAddr != "" && !isLoopbackAddr(c.ConsoleHTTPAddr) {
		errs = append(errs, fmt.Errorf("console_http_addr %q: plain HTTP is for local use; want a loopback address such as 127.0.0.1:8080", c.ConsoleHTTPAddr))
	}
	if c.GCPaceHeapMiB < -1 {
		errs = append(errs, fmt.Errorf("gc_pace_heap_mib is %d; want -1 (off), 0 (default) or a size in MiB", c.GCPaceHeapMiB))
	}
	if len(errs) > 0 {
		return fmt.Errorf("hub: config: %w", errors.Join(errs...))
	}
	return nil
}

// isLoopbackAddr reports whether addr is host:port with a loopback host
// ("localhost", 127.0.0.0/8 or ::1).
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
