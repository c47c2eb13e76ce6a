package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Protocol is the MQTT protocol version a Client speaks.
type Protocol string

// The protocol versions a Client speaks. Both thingcore and AWS IoT Core
// accept either.
const (
	// MQTT5 is MQTT 5 (the default), through github.com/eclipse/paho.golang.
	MQTT5 Protocol = "5"
	// MQTT311 is MQTT 3.1.1, through github.com/eclipse/paho.mqtt.golang.
	MQTT311 Protocol = "3.1.1"
)

// Defaults for the zero values of Config.
const (
	DefaultPort           = 8883
	DefaultKeepAlive      = 60 * time.Second
	DefaultSessionExpiry  = time.Hour
	DefaultConnectTimeout = 10 * time.Second
	DefaultReconnectMin   = time.Second
	DefaultReconnectMax   = 2 * time.Minute
	DefaultOfflineQueue   = 100
)

// Config is how a Client connects. It is plain data: it can be read from
// JSON, and LoadFolder fills it from a thingcore device folder. The zero
// value of every optional field means its default.
type Config struct {
	// Endpoint is the server's address as host:port, for example
	// "localhost:8883" for a local thingcore or
	// "abc123-ats.iot.eu-west-1.amazonaws.com:8883" for AWS IoT Core (the
	// iot:Data-ATS endpoint). The port defaults to 8883 when missing. Port 443
	// uses ALPN "x-amzn-mqtt-ca", as AWS requires there. Required.
	Endpoint string `json:"endpoint"`

	// ServerName is the name the server's certificate must carry, also sent
	// as SNI. Default: the host of Endpoint.
	ServerName string `json:"server_name,omitempty"`

	// ClientID is the MQTT client identifier, 1 to 128 bytes. thingcore's
	// default thing policy (like AWS's usual policies) requires the thing
	// name. Required.
	ClientID string `json:"client_id"`

	// ThingName is the thing the device is, used by OpenShadow when it is
	// given no thing name. Default: ClientID.
	ThingName string `json:"thing_name,omitempty"`

	// CertFile is the device certificate, PEM or DER (a PEM file may hold
	// the chain after the device certificate). Required.
	CertFile string `json:"cert_file"`

	// KeyFile is the certificate's private key, RSA or EC, PEM or DER, in
	// PKCS#1, PKCS#8 or SEC1 form; not encrypted. Required.
	KeyFile string `json:"key_file"`

	// CAFile holds the CA certificates (PEM or DER) that verify the server:
	// thingcore's root-CA.pem, or AWS's AmazonRootCA1.pem. Default: the
	// system's roots, which include Amazon's.
	CAFile string `json:"ca_file,omitempty"`

	// Protocol is MQTT5 (the default) or MQTT311.
	Protocol Protocol `json:"protocol,omitempty"`

	// KeepAlive is the MQTT keep-alive interval, whole seconds, at most
	// 65535 s (AWS IoT Core accepts 30 s to 1200 s). Default 60 s.
	KeepAlive time.Duration `json:"keep_alive,omitempty"`

	// CleanStart starts every connection with a new session (MQTT 5 clean
	// start, MQTT 3.1.1 clean session). Default false: a persistent session,
	// so the server keeps subscriptions and queues QoS 1 messages while the
	// device is away.
	CleanStart bool `json:"clean_start,omitempty"`

	// SessionExpiry is how long the server keeps a persistent session after
	// the connection ends, whole seconds (MQTT 5 only; an MQTT 3.1.1
	// server decides itself; AWS keeps sessions one hour by default).
	// Default one hour. Ignored with CleanStart.
	SessionExpiry time.Duration `json:"session_expiry,omitempty"`

	// ConnectTimeout bounds each connection attempt: TCP, TLS and CONNACK.
	// Default 10 s.
	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"`

	// ReconnectMin and ReconnectMax bound the wait between connection
	// attempts. The wait doubles from ReconnectMin up to ReconnectMax with
	// each failed attempt, and a random half of it is taken off (jitter), so
	// that a fleet does not reconnect in step. A connection that lasted less
	// than 30 s does not reset the doubling. Defaults 1 s and 2 min.
	ReconnectMin time.Duration `json:"reconnect_min,omitempty"`
	ReconnectMax time.Duration `json:"reconnect_max,omitempty"`

	// OfflineQueue is how many publishes are kept while the client is not
	// connected, sent in order once it is. Publish returns a
	// *QueueFullError when the queue is full. Default 100; -1 disables the
	// queue (Publish then returns ErrNotConnected while disconnected).
	OfflineQueue int `json:"offline_queue,omitempty"`
}

// Validate reports the first problem with c, if any. It reads no files.
func (c Config) Validate() error {
	if c.Endpoint == "" {
		return errors.New("device: config: endpoint is required")
	}
	if _, _, err := c.hostPort(); err != nil {
		return fmt.Errorf("device: config: endpoint %q: %w", c.Endpoint, err)
	}
	if n := len(c.ClientID); n < 1 || n > 128 {
		return fmt.Errorf("device: config: client id %q: want 1 to 128 bytes", c.ClientID)
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return errors.New("device: config: cert file and key file are required (the server authenticates devices by certificate)")
	}
	switch c.Protocol {
	case "", MQTT5, MQTT311:
	default:
		return fmt.Errorf("device: config: protocol %q: want %q or %q", c.Protocol, MQTT5, MQTT311)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		max  time.Duration
	}{
		{"keep alive", c.KeepAlive, 65535 * time.Second},
		{"session expiry", c.SessionExpiry, (1<<32 - 1) * time.Second},
		{"connect timeout", c.ConnectTimeout, 0},
		{"reconnect min", c.ReconnectMin, 0},
		{"reconnect max", c.ReconnectMax, 0},
	} {
		if d.v < 0 || (d.max > 0 && d.v > d.max) {
			return fmt.Errorf("device: config: %s %s: want 0 (default) to %s", d.name, d.v, d.max)
		}
	}
	if c.withDefaults().ReconnectMin > c.withDefaults().ReconnectMax {
		return fmt.Errorf("device: config: reconnect min %s is above reconnect max %s", c.ReconnectMin, c.ReconnectMax)
	}
	if c.OfflineQueue < -1 {
		return fmt.Errorf("device: config: offline queue %d: want -1 (none), 0 (default) or more", c.OfflineQueue)
	}
	return nil
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.ThingName == "" {
		c.ThingName = c.ClientID
	}
	if c.Protocol == "" {
		c.Protocol = MQTT5
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.SessionExpiry == 0 {
		c.SessionExpiry = DefaultSessionExpiry
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = max(DefaultReconnectMax, c.ReconnectMin)
	}
	if c.OfflineQueue == 0 {
		c.OfflineQueue = DefaultOfflineQueue
	}
	return c
}

// hostPort splits Endpoint, defaulting the port to 8883.
func (c Config) hostPort() (host string, port int, err error) {
	host, p, err := net.SplitHostPort(c.Endpoint)
	if err != nil {
		// No port: the whole endpoint is the host.
		host, p = c.Endpoint, strconv.Itoa(DefaultPort)
		if _, _, err2 := net.SplitHostPort(net.JoinHostPort(host, p)); err2 != nil {
			return "", 0, err
		}
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q: want 1 to 65535", p)
	}
	if host == "" {
		return "", 0, errors.New("no host")
	}
	return host, port, nil
}

// folderJSON is the part of a device folder's device.json that LoadFolder
// reads (written by `thingcore thing create`).
type folderJSON struct {
	ThingName string            `json:"thing_name"`
	ClientID  string            `json:"client_id"`
	Endpoint  string            `json:"endpoint"`
	MQTTPort  int               `json:"mqtt_port"`
	Files     map[string]string `json:"files"`
}

// Files of a device folder, used when device.json does not name them.
const (
	folderCertPEM = "certificate.pem.crt"
	folderKeyPEM  = "private.pem.key"
	folderRootCA  = "root-CA.pem"
)

// LoadFolder returns the Config for a device folder written by
// `thingcore thing create NAME`: the endpoint, port, client id and thing
// name from its device.json, and the paths of its PEM certificate, private
// key and root CA. Other fields keep their defaults; set them on the result.
func LoadFolder(dir string) (Config, error) {
	p := filepath.Join(dir, "device.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return Config{}, fmt.Errorf("device: load folder: %w", err)
	}
	var f folderJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return Config{}, fmt.Errorf("device: load folder: %s: %w", p, err)
	}
	if f.Endpoint == "" {
		return Config{}, fmt.Errorf("device: load folder: %s has no endpoint", p)
	}
	if f.MQTTPort == 0 {
		f.MQTTPort = DefaultPort
	}
	file := func(key, def string) string {
		name := f.Files[key]
		if name == "" {
			name = def
		}
		if filepath.IsAbs(name) {
			return name
		}
		return filepath.Join(dir, filepath.FromSlash(name))
	}
	c := Config{
		Endpoint:  net.JoinHostPort(f.Endpoint, strconv.Itoa(f.MQTTPort)),
		ClientID:  f.ClientID,
		ThingName: f.ThingName,
		CertFile:  file("certificate_pem", folderCertPEM),
		KeyFile:   file("private_key_pem", folderKeyPEM),
		CAFile:    file("root_ca", folderRootCA),
	}
	if c.ClientID == "" {
		c.ClientID = c.ThingName
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w (from %s)", err, p)
	}
	return c, nil
}
