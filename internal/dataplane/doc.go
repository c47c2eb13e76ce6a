// Package dataplane serves AWS IoT Core's data-plane HTTP API (the
// `iot-data` service, API version 2015-05-28) over httpapi: the Device
// Shadow operations (GetThingShadow, UpdateThingShadow, DeleteThingShadow,
// ListNamedShadowsForThing), Publish with its MQTT 5 headers, and
// GetRetainedMessage and ListRetainedMessages. Paths, query and header
// names, JSON member names, statuses, the error envelope
// ({"message","traceId"} with `x-amzn-ErrorType: Code:`) and the error codes
// are AWS's, so `aws iot-data`, boto3 and the AWS SDKs drive it unchanged.
//
// Callers are the admin (SigV4 with the admin credentials, signed for
// `iotdata` or `iotdevicegateway`) or a device presenting its X.509
// certificate on the HTTPS port, authenticated as on MQTT and authorized
// with its policies (iot:GetThingShadow, iot:UpdateThingShadow,
// iot:DeleteThingShadow, iot:ListNamedShadowsForThing, iot:Publish,
// iot:RetainPublish, iot:GetRetainedMessage, iot:ListRetainedMessages). A
// denial is a 403 ForbiddenException, logged with the certificate and the
// policy statement behind it.
//
// It also serves one thingcore extension, clearly apart from AWS's
// operations: GET /thingcore/v1/watch?filter=F, an admin-only stream of the
// broker's messages as server-sent events (`thingcore shadow watch`).
//
// It owns the translation between AWS's wire shapes and the shadow service
// and broker, which it reaches through small interfaces (Shadows, Broker,
// Devices) the composition root fills. It imports httpapi, shadow (errors),
// broker and mqtt (message types), policy (ARNs) and the standard library.
// The composition root (internal/hub) builds and mounts it; the CLI imports
// only WatchPath and WatchEvent, to read watch streams.
package dataplane
