package doctor

import (
	"bufio"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/devicebundle"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// Status is the outcome of one step.
type Status string

// Statuses. Only StatusFail makes a report fail; StatusUnknown (the step
// could not be checked, e.g. no admin credentials) does not block the steps
// that depend on it.
const (
	StatusPass    Status = "pass"
	StatusFail    Status = "fail"
	StatusSkip    Status = "skip"    // a step it depends on failed or was skipped
	StatusUnknown Status = "unknown" // could not be checked; Summary says why
)

// Result is the outcome of one step.
type Result struct {
	// ID names the step: "files", "key", "validity", "chain", "registered",
	// "thing", "policy", "tcp", "tls", "connect", "publish", "shadow".
	ID string `json:"id"`
	// Title says what the step checks.
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Summary is one line: what was found.
	Summary string `json:"summary"`
	// Details are further lines (per-file findings, per-action decisions).
	Details []string `json:"details,omitempty"`
	// Cause is a stable code for a failure ("key-mismatch", "cert-inactive",
	// ...; see the Cause* constants), for tests and the console.
	Cause string `json:"cause,omitempty"`
	// Fix is one line telling the user what to do about a failure.
	Fix string `json:"fix,omitempty"`
}

// Causes of failures.
const (
	CauseMissingFile       = "missing-file"
	CauseUnreadable        = "unreadable"
	CauseSwapped           = "cert-key-swapped"
	CausePublicKey         = "public-key-not-private"
	CauseEncryptedKey      = "encrypted-key"
	CauseCSR               = "csr-not-certificate"
	CauseWrongKind         = "wrong-file-content"
	CauseDeviceJSON        = "device-json"
	CauseKeyMismatch       = "key-mismatch"
	CauseDERMismatch       = "der-pair-mismatch"
	CauseExpired           = "cert-expired"
	CauseNotYetValid       = "cert-not-yet-valid"
	CauseUnknownCA         = "unknown-ca"
	CauseCAInactive        = "ca-inactive"
	CauseNotRegistered     = "cert-not-registered"
	CauseInactive          = "cert-inactive"
	CauseRevoked           = "cert-revoked"
	CauseNotActive         = "cert-not-active"
	CauseThingNotAttached  = "thing-not-attached"
	CauseNoPolicy          = "no-policy"
	CauseClientID          = "client-id-not-thing"
	CausePolicyDenies      = "policy-denies"
	CauseConnRefused       = "connection-refused"
	CauseDNS               = "dns"
	CauseTimeout           = "timeout"
	CauseNetwork           = "network"
	CauseTLSHandshake      = "tls-handshake"
	CauseServerUntrusted   = "server-cert-untrusted"
	CauseServerName        = "server-name"
	CauseConnectRefused    = "connect-refused"
	CauseMQTT              = "mqtt"
	CausePublishDenied     = "publish-denied"
	CauseSubscribeDenied   = "subscribe-denied"
	CauseShadowRejected    = "shadow-rejected"
	CauseShadowNoAnswer    = "shadow-no-answer"
	CauseEndpointUnknown   = "endpoint-unknown"
	CauseHubError          = "hub-error"
	CausePolicyUnparseable = "policy-unparseable"
)

// Report is the outcome of a run.
type Report struct {
	Dir      string   `json:"dir"`
	Thing    string   `json:"thing,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	Endpoint string   `json:"endpoint,omitempty"` // HOST:PORT
	OK       bool     `json:"ok"`                 // no step failed
	Steps    []Result `json:"steps"`
}

// Failed returns the failed steps.
func (r *Report) Failed() []Result {
	var out []Result
	for _, s := range r.Steps {
		if s.Status == StatusFail {
			out = append(out, s)
		}
	}
	return out
}

// Step returns the result of the step id, or false.
func (r *Report) Step(id string) (Result, bool) {
	i := slices.IndexFunc(r.Steps, func(s Result) bool { return s.ID == id })
	if i < 0 {
		return Result{}, false
	}
	return r.Steps[i], true
}

// Config is what to check. Every field but Dir is optional.
type Config struct {
	// Dir is the device folder.
	Dir string `json:"dir"`
	// Endpoint is HOST:PORT the device connects to, overriding device.json's
	// endpoint and mqtt_port. Default: device.json's.
	Endpoint string `json:"endpoint"`
	// DefaultPolicyName is the policy `thingcore thing create` attaches,
	// named in the fix for a certificate without policy. Default
	// "thingcore-default-thing-policy".
	DefaultPolicyName string `json:"default_policy_name"`
	// APIEndpoint is the hub's API URL, named in fixes that use the aws CLI.
	// Default "https://localhost:8443".
	APIEndpoint string `json:"api_endpoint"`
	// HubRootCAPath is where the hub keeps its root CA, named in fixes.
	// Default "ca/root-ca.pem in the hub's data directory".
	HubRootCAPath string `json:"hub_root_ca_path"`
	// StepTimeout bounds each network step (TCP, TLS, CONNECT, PUBACK).
	// Default 5s.
	StepTimeout time.Duration `json:"step_timeout"`
	// ShadowTimeout is how long to wait for update/accepted. Default 5s.
	ShadowTimeout time.Duration `json:"shadow_timeout"`
}

// Deps are the doctor's dependencies.
type Deps struct {
	// Hub answers the registry and policy questions; nil when the caller
	// cannot reach the hub's API, with HubUnavailable saying why.
	Hub            Hub
	HubUnavailable string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log receives debug lines; nil discards them.
	Log *slog.Logger
}

// step is one row of the table.
type step struct {
	id, title string
	// needs are the steps that must not have failed or been skipped.
	needs []string
	run   func(r *run, ctx context.Context) Result
}

// steps is the table of checks, in order. A step runs only when every step
// it needs passed or could not be checked.
var steps = []step{
	{"files", "files present and parse", nil, (*run).checkFiles},
	{"key", "private key matches the certificate", []string{"files"}, (*run).checkKey},
	{"validity", "certificate within its validity dates", []string{"files"}, (*run).checkValidity},
	{"chain", "certificate chains to the hub CA or a registered CA", []string{"files"}, (*run).checkChain},
	{"registered", "certificate registered with the hub and ACTIVE", []string{"files"}, (*run).checkRegistered},
	{"thing", "certificate attached to the thing", []string{"registered"}, (*run).checkThing},
	{"policy", "a policy allows connect, publish and the shadow topics", []string{"thing"}, (*run).checkPolicy},
	{"tcp", "endpoint reachable over TCP", nil, (*run).checkTCP},
	{"tls", "TLS handshake, server certificate names the host", []string{"tcp"}, (*run).checkTLS},
	{"connect", "MQTT CONNECT accepted", []string{"key", "validity", "chain", "registered", "thing", "policy", "tls"}, (*run).checkConnect},
	{"publish", "publish to the shadow update topic allowed", []string{"connect"}, (*run).checkPublish},
	{"shadow", "shadow update round trip", []string{"publish"}, (*run).checkShadow},
}

// Steps returns the ids and titles of the steps, in order.
func Steps() [][2]string {
	out := make([][2]string, len(steps))
	for i, s := range steps {
		out[i] = [2]string{s.id, s.title}
	}
	return out
}

// run is the state one diagnosis builds up from step to step.
type run struct {
	cfg  Config
	deps Deps

	dev      devicebundle.Device
	host     string
	port     string
	endpoint string // host:port

	cert     *x509.Certificate // the certificate the device presents
	certFile string
	certID   string
	key      crypto.Signer
	keyFile  string
	keyPair  *tls.Certificate // cert and key, when they match
	roots    *x509.CertPool   // root-CA.pem
	rootCert *x509.Certificate

	// From the hub, when it answers.
	hubCert   *Certificate
	things    []string
	thingsErr error

	conn   net.Conn
	br     *bufio.Reader
	subAck *packet.Suback
	early  []*packet.Publish // publishes read before PUBACK
	token  string            // clientToken of the shadow update
}

// Run diagnoses the device folder cfg.Dir and returns the report. It does
// not fail: every problem is a step result.
func Run(ctx context.Context, cfg Config, deps Deps) *Report {
	if cfg.DefaultPolicyName == "" {
		cfg.DefaultPolicyName = "thingcore-default-thing-policy"
	}
	if cfg.APIEndpoint == "" {
		cfg.APIEndpoint = "https://localhost:8443"
	}
	if cfg.HubRootCAPath == "" {
		cfg.HubRootCAPath = "ca/root-ca.pem in the hub's data directory"
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 5 * time.Second
	}
	if cfg.ShadowTimeout <= 0 {
		cfg.ShadowTimeout = 5 * time.Second
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	r := &run{cfg: cfg, deps: deps}
	defer r.close()

	rep := &Report{Dir: cfg.Dir}
	status := map[string]Status{}
	for _, s := range steps {
		res := Result{ID: s.id, Title: s.title}
		if blocked := r.blockedBy(s, status); blocked != "" {
			res.Status = StatusSkip
			res.Summary = "skipped: " + blocked + " did not pass"
		} else if err := ctx.Err(); err != nil {
			res.Status = StatusSkip
			res.Summary = "skipped: " + err.Error()
		} else {
			got := s.run(r, ctx)
			got.ID, got.Title = s.id, s.title
			res = got
		}
		status[s.id] = res.Status
		deps.Log.Debug("doctor: step", "step", s.id, "status", string(res.Status), "reason", res.Summary)
		rep.Steps = append(rep.Steps, res)
		if s.id == "files" {
			rep.Thing, rep.ClientID, rep.Endpoint = r.dev.ThingName, r.dev.ClientID, r.endpoint
		}
	}
	rep.OK = len(rep.Failed()) == 0
	return rep
}

// blockedBy returns the first needed step that failed or was skipped, or "".
func (r *run) blockedBy(s step, status map[string]Status) string {
	for _, n := range s.needs {
		if st := status[n]; st == StatusFail || st == StatusSkip {
			return n
		}
	}
	return ""
}

// close ends the MQTT connection, if any.
func (r *run) close() {
	if r.conn == nil {
		return
	}
	if r.br != nil {
		if b, err := packet.Append(nil, &packet.Disconnect{}, packet.Version5); err == nil {
			r.conn.SetWriteDeadline(r.deps.Now().Add(time.Second))
			r.conn.Write(b) // best effort: the connection is closed next
		}
	}
	r.conn.Close()
	r.conn = nil
}

// pass, fail and unknown build results.
func pass(summary string, details ...string) Result {
	return Result{Status: StatusPass, Summary: summary, Details: details}
}

func fail(cause, summary, fix string, details ...string) Result {
	return Result{Status: StatusFail, Cause: cause, Summary: summary, Fix: fix, Details: details}
}

func unknown(summary string, details ...string) Result {
	return Result{Status: StatusUnknown, Summary: summary, Details: details}
}

// hubUnknown is the result of a hub step without a hub, or without the
// certificate's registration.
func (r *run) hubUnknown() Result {
	if r.deps.Hub != nil {
		return unknown("cannot check: the certificate's registration could not be read")
	}
	why := r.deps.HubUnavailable
	if why == "" {
		why = "no access to the hub's API"
	}
	return unknown("cannot check: " + why)
}

// hubUnknownAgain is hubUnknown for the steps after the first that asks
// the hub, without repeating why.
func (r *run) hubUnknownAgain() Result {
	return unknown("cannot check: as for the registration, above")
}

// hubErr is the result of a hub step whose question failed: the hub did not
// answer, so the step cannot be checked (the network steps will say more).
func (r *run) hubErr(err error) Result {
	return unknown("cannot check: the hub's API: " + oneLine(err.Error()))
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
