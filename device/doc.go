// Package device is the Go device SDK for thingcore and AWS IoT Core: an
// MQTT client that authenticates with an X.509 certificate, stays
// connected, and speaks the Device Shadow protocol.
//
// # Quick start
//
// Start a hub and create a thing; `thing create` writes a device folder
// with the certificate, the key, the hub's root CA and device.json:
//
//	thingcore serve &
//	thingcore thing create my-device
//
// Then, in Go:
//
//	cfg, err := device.LoadFolder("my-device")
//	if err != nil { ... }
//	c, err := device.New(cfg, slog.Default())
//	if err != nil { ... }
//	defer c.Close(context.Background())
//	if err := c.Connect(ctx); err != nil { ... }
//
//	sh, err := c.OpenShadow(ctx, "", device.OnDelta(func(d device.Delta) {
//		// apply d.State, then report it
//	}))
//	if err != nil { ... }
//	_, err = sh.UpdateReported(ctx, map[string]any{"temperature": 21.5})
//
// For AWS IoT Core, fill a Config with the account's iot:Data-ATS endpoint,
// the certificate and key files the console gave, and AmazonRootCA1.pem.
//
// # Connection
//
// New loads and checks the files and starts nothing. Connect starts a
// background loop that connects, and reconnects after every loss with an
// exponential backoff with jitter (Config.ReconnectMin to ReconnectMax)
// until Close. The session is persistent by default (MQTT 5 clean start
// false with a one-hour session expiry; MQTT 3.1.1 clean session false):
// the server keeps the subscriptions and queues QoS 1 messages while the
// device is away. When the server has not kept the session, the client
// subscribes again before it reports itself connected.
//
// MQTT 5 (the default) runs on github.com/eclipse/paho.golang's autopaho;
// MQTT 3.1.1 (Config.Protocol MQTT311) on github.com/eclipse/paho.mqtt.golang,
// since paho.golang speaks only MQTT 5. Neither library shows in this
// package's API.
//
// # Publishing while offline
//
// Publish while disconnected puts the message in a bounded offline queue
// (Config.OfflineQueue, default 100) and returns nil; the queue is sent in
// order after reconnecting. A full queue gives a *QueueFullError, matching
// ErrQueueFull.
//
// # Shadows
//
// A Shadow (Client.OpenShadow) reads and writes a thing's classic or named
// shadow (ShadowName) and receives its deltas (OnDelta). It subscribes to
// the answer topics once, before the first request, and matches answers to
// requests by clientToken. A rejection is a *ShadowError with the service's
// code and message; errors.Is matches ErrVersionConflict (409) and
// ErrShadowNotFound (404). Requests end with their context.
//
// # Errors and logging
//
// Errors wrap their causes (errors.Is, errors.As). The *slog.Logger given
// to New receives connection events at Info (connected, closed) and Warn
// (lost, failed attempts, with the reason), and per-message events at
// Debug. It never receives keys or payloads.
//
// This package is public and imports nothing of thingcore's internal
// packages.
package device
