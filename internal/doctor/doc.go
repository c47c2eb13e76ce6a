// Package doctor diagnoses a device folder (as `thingcore thing create`
// writes it) step by step, as the device would experience it: the files
// parse, the key belongs to the certificate, the certificate is valid,
// chains to the hub CA or a registered CA, is registered and ACTIVE,
// attached to its thing, and allowed by a policy to connect, publish and
// receive its shadow topics; then the endpoint is reached over TCP, TLS and
// MQTT, and a shadow update makes a round trip. Each failed step names its
// cause and a one-line fix, and the steps that depend on it are skipped.
//
// The checks are a table of named steps with dependencies (see Steps). The
// hub's registry and policies are read through the small Hub interface the
// caller implements (the CLI with the AWS-compatible API, the web console
// later with the stores); without one those steps say why they cannot be
// checked. Policies are evaluated with internal/policy exactly as the hub
// does. MQTT is spoken with internal/mqtt/packet, so the CONNACK and PUBACK
// reason codes and the hub's v5 reason strings are shown as sent.
//
// It imports the standard library, internal/mqtt/packet, internal/policy,
// internal/pki and internal/devicebundle. cmd/thingcore imports it (and the
// console may); it never imports the hub, the stores or the AWS SDK.
package doctor
