// Package iotapi serves the registry part of AWS IoT Core's control plane
// (the `iot` service, API version 2015-05-28) over httpapi: things, device
// certificates (issued by the hub CA, signed from a CSR, or registered),
// CA certificates and their registration code, thing-principal
// attachments, policies (versions and attachments, with policystore), and
// DescribeEndpoint. Paths, query and header names, JSON
// member names, statuses and error codes are AWS's, so the AWS CLI, boto3
// and the AWS SDKs drive it unchanged.
//
// It owns the translation between AWS's wire shapes and the registry and
// pki packages, and the one mapping from registry errors to AWS error codes
// (errors.go). It keeps no state of its own: the registry stores, pki
// signs, and the composition root is told through Deps when a certificate
// leaves ACTIVE so it can disconnect its devices. A private key made by
// CreateKeysAndCertificate is returned once and never stored or logged.
//
// Only the composition root (internal/hub) imports it. It imports httpapi,
// registry, policystore, pki and the standard library.
package iotapi
