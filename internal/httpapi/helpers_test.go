package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test credentials. The secrets are distinctive so a test can prove they
// never reach the log.
const (
	testAKID   = "AKIDTHINGCORETEST01"
	testSecret = "s3cr3t-DO-NOT-LOG-wJalrXUtnFEMI/K7MDENG"
	testRegion = "eu-west-1"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is an API with sample operations on a real server on 127.0.0.1.
type harness struct {
	t     *testing.T
	srv   *httptest.Server
	logs  *syncBuffer
	clock *testClock
}

// testClock is the server's clock; tests move it to simulate skew.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = d
}

type harnessOpts struct {
	cfg  Config
	auth Authenticator // nil: SigV4 with the test credentials
}

// startAPI starts an API with the sample operations:
//
//	GET  /things/{thingName}        DescribeThing ("missing" is not found)
//	POST /things/{thingName}        CreateThing ("exists" already exists)
//	GET  /things/{thingName}/shadow GetThingShadow
//	POST /topics/{topic+}           Publish (echoes topic, qos and payload size)
//	GET  /mqtt                      Connect (for presigned URLs)
//	GET  /internal-error            Fail (a plain error)
//	GET  /panic                     Panic
func startAPI(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuffer{}, clock: &testClock{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	auth := o.auth
	if auth == nil {
		s, err := NewSigV4(SigV4Config{}, StaticCredentials{testAKID: testSecret}, h.clock.now)
		if err != nil {
			t.Fatalf("NewSigV4: %v", err)
		}
		auth = s
	}
	api, err := New(o.cfg, auth, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	registerSamples(api)
	h.srv = httptest.NewServer(api)
	t.Cleanup(func() {
		h.srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
		if strings.Contains(h.logs.String(), testSecret) {
			t.Errorf("the secret access key appears in the log")
		}
	})
	return h
}

type createThingInput struct {
	ThingTypeName    string `json:"thingTypeName"`
	AttributePayload *struct {
		Attributes map[string]string `json:"attributes"`
	} `json:"attributePayload"`
}

func thingARN(r *http.Request, name string) string {
	id, _ := IdentityFrom(r.Context())
	return "arn:aws:iot:" + id.Region + ":123456789012:thing/" + name
}

func registerSamples(api *API) {
	api.Handle("GET", "/things/{thingName}", "DescribeThing", func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("thingName")
		switch name {
		case "missing":
			return fmt.Errorf("describe thing: %w", Errorf(ResourceNotFound, "Thing %s cannot be found.", name))
		case "broken":
			return fmt.Errorf("describe thing: %w", errors.New("disk on fire"))
		}
		return WriteJSON(w, map[string]any{"thingName": name, "thingArn": thingARN(r, name), "version": 1,
			"defaultClientId": AccessKeyID(r.Context())})
	})
	api.Handle("POST", "/things/{thingName}", "CreateThing", func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("thingName")
		in, err := ReadJSON[createThingInput](r)
		if err != nil {
			return err
		}
		if name == "exists" {
			return Errorf(ResourceAlreadyExists, "Thing %s already exists with different configuration", name).
				With("resourceId", "0b9ee0d1-0000-4000-8000-000000000000").With("resourceArn", thingARN(r, name))
		}
		if in.ThingTypeName == "unknown-type" {
			return Errorf(ResourceNotFound, "Thing type %s does not exist", in.ThingTypeName)
		}
		return WriteJSON(w, map[string]string{"thingName": name, "thingArn": thingARN(r, name),
			"thingId": "40da2e73-c6af-406e-b415-15acae538797"})
	})
	api.Handle("GET", "/things/{thingName}/shadow", "GetThingShadow", func(w http.ResponseWriter, r *http.Request) error {
		return WriteJSON(w, map[string]string{"thing": r.PathValue("thingName"), "name": r.URL.Query().Get("name")})
	})
	api.Handle("POST", "/topics/{topic+}", "Publish", func(w http.ResponseWriter, r *http.Request) error {
		qos, _, err := QueryInt(r, "qos")
		if err != nil {
			return err
		}
		retain, _, err := QueryBool(r, "retain")
		if err != nil {
			return err
		}
		payload, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		return WriteJSON(w, map[string]any{"topic": r.PathValue("topic"), "qos": qos, "retain": retain, "size": len(payload)})
	})
	api.Handle("GET", "/mqtt", "Connect", func(w http.ResponseWriter, r *http.Request) error {
		id, _ := IdentityFrom(r.Context())
		return WriteJSON(w, id)
	})
	api.Handle("DELETE", "/things/{thingName}", "DeleteThing", func(w http.ResponseWriter, r *http.Request) error {
		return nil // no output members: the API sends {}
	})
	api.Handle("GET", "/internal-error", "Fail", func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("load thing: %w", errors.New("disk on fire"))
	})
	api.Handle("GET", "/panic", "Panic", func(w http.ResponseWriter, r *http.Request) error {
		panic("boom")
	})
}

// signReq signs req as an AWS SDK would, with AWS's signer.
type signOpts struct {
	akid, secret, service, region string
	at                            time.Time
	unsignedContentLength         bool // botocore leaves Content-Length unsigned
}

func (o signOpts) withDefaults() signOpts {
	if o.akid == "" {
		o.akid = testAKID
	}
	if o.secret == "" {
		o.secret = testSecret
	}
	if o.service == "" {
		o.service = "iot"
	}
	if o.region == "" {
		o.region = testRegion
	}
	if o.at.IsZero() {
		o.at = time.Now()
	}
	return o
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newSignedRequest builds a request to the harness and signs it.
func (h *harness) newSignedRequest(method, path string, body []byte, o signOpts) *http.Request {
	h.t.Helper()
	req := h.newRequest(method, path, body)
	o = o.withDefaults()
	cl := req.ContentLength
	if o.unsignedContentLength {
		req.ContentLength = 0
	}
	creds := aws.Credentials{AccessKeyID: o.akid, SecretAccessKey: o.secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), o.service, o.region, o.at); err != nil {
		h.t.Fatalf("SignHTTP: %v", err)
	}
	req.ContentLength = cl
	return req
}

func (h *harness) newRequest(method, path string, body []byte) *http.Request {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatalf("NewRequest: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// response is what a test checks of an HTTP response.
type response struct {
	status int
	header http.Header
	body   string
}

func (h *harness) do(req *http.Request) response {
	h.t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// golden renders resp with the headers clients read, checks the request id
// is a UUID, and compares with (or, with -update, rewrites)
// testdata/golden/name.golden.
func golden(t *testing.T, name string, resp response) {
	t.Helper()
	if id := resp.header.Get("X-Amzn-Requestid"); !uuidRE.MatchString(id) {
		t.Errorf("x-amzn-RequestId = %q, want a UUID", id)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d\n", resp.status)
	for _, k := range []string{"Allow", "Content-Type", "X-Amzn-Errortype"} {
		if v := resp.header.Get(k); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	b.WriteString(resp.body)
	got := b.String()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("response mismatch for %s (-want +got):\n%s", path, diff)
	}
}
