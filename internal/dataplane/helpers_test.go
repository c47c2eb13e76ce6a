package dataplane_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"go.uber.org/goleak"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/brokertest"
	"github.com/thingcore/thingcore/internal/dataplane"
	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/policy"
	"github.com/thingcore/thingcore/internal/shadow"
	"github.com/thingcore/thingcore/internal/testcert"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testAKID    = "AKIDDATAPLANETEST001"
	testSecret  = "dataplane-test-secret-wJalrXUtnFEMI/K7MDENG"
	testRegion  = "us-east-1"
	testAccount = "123456789012"
)

// clock is the fixed time of response timestamps.
var clock = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeShadows is an in-memory Shadows: documents are canned, and a thing
// named in errs fails with that error.
type fakeShadows struct {
	mu    sync.Mutex
	docs  map[string][]byte // thing or thing~shadow -> get document
	errs  map[string]error  // thing -> error of every operation
	calls []string          // "op thing shadow body"
}

func newFakeShadows() *fakeShadows {
	return &fakeShadows{docs: map[string][]byte{}, errs: map[string]error{}}
}

func key(thing, name string) string {
	if name == "" {
		return thing
	}
	return thing + "~" + name
}

func (f *fakeShadows) record(op, thing, name string, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, strings.TrimSpace(fmt.Sprintf("%s %s %s %s", op, thing, name, body)))
	return f.errs[thing]
}

func (f *fakeShadows) Get(_ context.Context, thing, name string) ([]byte, error) {
	if err := f.record("get", thing, name, nil); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.docs[key(thing, name)]
	if !ok {
		return nil, shadow.NotFound(key(thing, name))
	}
	return d, nil
}

func (f *fakeShadows) Update(_ context.Context, thing, name string, body []byte) ([]byte, error) {
	if err := f.record("update", thing, name, body); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs[key(thing, name)] = []byte(`{"state":{"reported":{"on":true}},"metadata":{"reported":{"on":{"timestamp":1735787045}}},"version":1,"timestamp":1735787045}`)
	return []byte(`{"state":{"reported":{"on":true}},"metadata":{"reported":{"on":{"timestamp":1735787045}}},"version":1,"timestamp":1735787045}`), nil
}

func (f *fakeShadows) Delete(_ context.Context, thing, name string) ([]byte, error) {
	if err := f.record("delete", thing, name, nil); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.docs[key(thing, name)]; !ok {
		return nil, shadow.NotFound(key(thing, name))
	}
	delete(f.docs, key(thing, name))
	return []byte(`{"version":1,"timestamp":1735787045}`), nil
}

func (f *fakeShadows) ListNamed(_ context.Context, thing, next string, size int) ([]string, string, error) {
	if err := f.record("list", thing, "", []byte(fmt.Sprintf("next=%s size=%d", next, size))); err != nil {
		return nil, "", err
	}
	if next == "" && size == 1 {
		return []string{"alpha"}, "YWxwaGE", nil
	}
	return []string{"alpha", "beta"}, "", nil
}

func (f *fakeShadows) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// fakeDevices authenticates client certificates by common name: a CN in
// refused is refused; any other CN gets the policy document in policies
// (none: every action is denied by default).
type fakeDevices struct {
	policies map[string]string // CN -> policy document
	refused  map[string]string // CN -> reason
}

func (f *fakeDevices) AuthenticateDevice(_ context.Context, cs *tls.ConnectionState, _ string) (dataplane.Device, error) {
	cn := cs.PeerCertificates[0].Subject.CommonName
	if why, ok := f.refused[cn]; ok {
		return nil, errors.New(why)
	}
	var set *policy.Set
	if doc, ok := f.policies[cn]; ok {
		p, err := policy.Parse([]byte(doc))
		if err != nil {
			return nil, err
		}
		set = policy.NewSet(policy.Named{Name: cn + "-policy", Policy: p})
	}
	return fakeDevice{id: "cert-" + cn, b: set.Bind(policy.Context{CertificateID: "cert-" + cn})}, nil
}

type fakeDevice struct {
	id string
	b  *policy.Bound
}

func (d fakeDevice) CertificateID() string { return d.id }
func (d fakeDevice) Authorize(action, resource string) error {
	return d.b.Evaluate(action, resource).Err()
}

// harness is the data plane on an HTTPS test server (client certificates
// requested, as on the hub's HTTPS port) over a real in-memory broker.
type harness struct {
	srv     *httptest.Server
	dp      *dataplane.DataPlane
	b       *broker.Broker
	shadows *fakeShadows
	ca      *testcert.CA
	logs    *logBuffer
}

type harnessOpts struct {
	cfg     dataplane.Config
	devices *fakeDevices
}

func start(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := broker.New(broker.Config{}, broker.Deps{Authenticator: brokertest.CertOrClientID{}, Authorizer: brokertest.AllowAll{},
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		_ = b.Shutdown(context.Background())
		<-served
	})
	sig, err := httpapi.NewSigV4(httpapi.SigV4Config{}, httpapi.StaticCredentials{testAKID: testSecret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.cfg
	cfg.Region, cfg.AccountID = testRegion, testAccount
	h := &harness{b: b, shadows: newFakeShadows(), ca: testcert.NewCA(t), logs: logs}
	deps := dataplane.Deps{Shadows: h.shadows, Broker: b, Admin: sig, Logger: log, Now: func() time.Time { return clock }}
	if o.devices != nil {
		deps.Devices = o.devices
	}
	h.dp, err = dataplane.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewUnstartedServer(h.dp)
	h.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, Certificates: []tls.Certificate{h.ca.ServerCert(t, testcert.KeyEC, "127.0.0.1")}}
	h.srv.StartTLS()
	t.Cleanup(func() {
		_ = h.dp.Shutdown(context.Background())
		h.srv.Close()
	})
	return h
}

// client returns an HTTPS client trusting the test CA, presenting the
// client certificate of common name cn when cn is not "".
func (h *harness) client(t *testing.T, cn string) *http.Client {
	t.Helper()
	tc := &tls.Config{RootCAs: h.ca.Pool}
	if cn != "" {
		tc.Certificates = []tls.Certificate{h.ca.ClientCert(t, testcert.KeyEC, cn)}
	}
	tr := &http.Transport{TLSClientConfig: tc}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// req describes one request: signed with SigV4 for service (unless device
// is set, when it is sent unsigned with that device's certificate).
type req struct {
	method, path string
	header       http.Header
	body         string
	service      string // "" is iotdata
	device       string // client certificate CN; no signature
}

// signReq signs a bodiless request with the admin credentials for iotdata.
func signReq(t *testing.T, hr *http.Request) { signFor(t, hr, "", "") }

// signFor signs hr, whose body is body, for service ("" is iotdata).
func signFor(t *testing.T, hr *http.Request, service, body string) {
	t.Helper()
	if service == "" {
		service = "iotdata"
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, hr, hex.EncodeToString(sum[:]), service, testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// response is an HTTP response as golden files record it.
type response struct {
	Status    int
	ErrorType string
	RequestID string
	Body      []byte
}

func (h *harness) do(t *testing.T, r req) response {
	t.Helper()
	hr, err := http.NewRequest(r.method, h.srv.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.header {
		hr.Header[k] = vs
	}
	if r.device == "" {
		signFor(t, hr, r.service, r.body)
	}
	resp, err := h.client(t, r.device).Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, ErrorType: resp.Header.Get("X-Amzn-Errortype"), RequestID: resp.Header.Get("X-Amzn-Requestid"), Body: b}
}

// golden compares a response with testdata/golden/name.txt; the request id
// (also the body's traceId) is replaced by <REQUEST_ID>.
func golden(t *testing.T, name string, r response) {
	t.Helper()
	body := string(r.Body)
	if r.RequestID != "" {
		body = strings.ReplaceAll(body, r.RequestID, "<REQUEST_ID>")
	}
	got := fmt.Sprintf("status: %d\nx-amzn-ErrorType: %s\n----------\n%s", r.Status, r.ErrorType, body)
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update if intended):\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// line returns the first log line matching every pattern, or "".
func (l *logBuffer) line(patterns ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ln := range strings.Split(l.buf.String(), "\n") {
		ok := true
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(ln) {
				ok = false
				break
			}
		}
		if ok && ln != "" {
			return ln
		}
	}
	return ""
}

// receive subscribes to filter on the broker and returns the channel of the
// messages it gets.
func (h *harness) receive(t *testing.T, filter string) <-chan *broker.Message {
	t.Helper()
	ch := make(chan *broker.Message, 16)
	unsub, err := h.b.Subscribe(filter, func(m *broker.Message) {
		select {
		case ch <- m:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unsub)
	return ch
}

func next(t *testing.T, ch <-chan *broker.Message) *broker.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}
