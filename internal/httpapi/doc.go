// Package httpapi is the base of thingcore's AWS-compatible HTTP APIs (the
// `iot` control plane and `iot-data`): a router for restJson1 operations that
// matches on the raw, escaped path; the AWS error envelope and its one
// catalogue of error codes and HTTP statuses; request authentication, with
// SigV4 verified by AWS's own signer as one Authenticator; and small helpers
// for handlers to read JSON bodies and query parameters and write JSON
// responses.
//
// Operations live in other packages (control plane, iot-data), which may
// import httpapi and register them on an *API with Handle; the composition
// root builds the API, plugs in an Authenticator and mounts it on an
// http.Server. httpapi imports no other thingcore package, and no type of
// the AWS SDK (used only to recompute signatures) appears in its API.
package httpapi
