// Package policy is the AWS IoT Core policy language: it parses and validates
// policy documents, matches actions and resource ARNs, substitutes policy
// variables and evaluates a set of policies (every policy attached to a
// certificate) into an explained Decision.
//
// It is a pure leaf: standard library only, no storage, no MQTT, no HTTP.
// The broker's Authorizer implementation, the control-plane API (which
// validates documents for CreatePolicy and CreatePolicyVersion) and the
// composition root may import it; it imports nothing from the module.
//
// Semantics follow AWS IoT Core (which follows IAM): everything is denied by
// default, a matching Allow allows, and a matching Deny in any policy wins
// over every Allow. In resources `*` matches any run of characters
// (including `/` and `:`), `?` exactly one character, and the MQTT wildcards
// `+` and `#` are ordinary characters. Substituted variable values are always
// matched literally. A variable that cannot be resolved stays in the pattern
// as its literal `${...}` text, so in practice its statement never matches.
//
// Evaluation is on the hot path (iot:Receive is checked for every delivery),
// so patterns are compiled at Parse time, and Set.Bind pre-substitutes one
// connection's variables and pre-evaluates its conditions into a Bound whose
// Evaluate does not allocate.
package policy
