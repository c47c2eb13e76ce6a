// Package shadow is the pure document core of thingcore's Device Shadow
// service: it parses update requests, merges them into a shadow document,
// keeps per-leaf metadata timestamps and the version, computes the delta,
// and renders the JSON bodies AWS IoT Core sends on the update/accepted,
// update/delta, update/documents, get/accepted, delete/accepted and
// */rejected topics (reference §1.3–§1.12), byte for byte in AWS's shape.
//
// It owns no MQTT, no storage and no clock: callers pass the time in and
// persist the form returned by [Document.Marshal]. It imports only the
// standard library and may be imported by any engine package (the shadow
// service, the HTTP data plane); it must not import other thingcore
// packages.
package shadow
