package iotapi_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/iotapi"
	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/registry"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testAKID    = "AKIDIOTAPITEST000001"
	testSecret  = "iotapi-test-secret-wJalrXUtnFEMI/K7MDENG"
	testRegion  = "us-east-1"
	testAccount = "123456789012"
	testHost    = "iot.thingcore.test"
)

// epoch is when the registry's clock starts; it ticks a second per reading
// so creation dates are distinct and ordered without sleeping.
var epoch = time.Date(2025, 1, 2, 3, 4, 5, 250_000_000, time.UTC)

type tickingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// statusChange is one call of Deps.CertificateStatusChanged.
type statusChange struct {
	ID     string
	Status registry.CertStatus
}

// harness is the iot API on a real server on 127.0.0.1 over a real
// kvstore and registry, with a fresh hub CA.
type harness struct {
	srv    *httptest.Server
	kv     *kvstore.Store
	reg    *registry.Registry
	ca     *pki.CA
	client *iot.Client

	mu      sync.Mutex
	changes []statusChange
}

type harnessOpts struct {
	keyType pki.KeyType // "" is the package default, RSA
}

func start(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	ctx := context.Background()
	kv, err := kvstore.Open(ctx, kvstore.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("kvstore.Open: %v", err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	ids := 0
	var idMu sync.Mutex
	reg, err := registry.Open(ctx, kv, registry.Config{Region: testRegion, AccountID: testAccount}, registry.Deps{
		Now: (&tickingClock{t: epoch}).Now,
		NewID: func() string {
			idMu.Lock()
			defer idMu.Unlock()
			ids++
			return fmt.Sprintf("00000000-0000-4000-8000-%012d", ids)
		},
	})
	if err != nil {
		t.Fatalf("registry.Open: %v", err)
	}
	ca, _, err := pki.NewRootCA("iotapi test hub CA", 0, time.Now())
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	sig, err := httpapi.NewSigV4(httpapi.SigV4Config{}, httpapi.StaticCredentials{testAKID: testSecret}, time.Now)
	if err != nil {
		t.Fatalf("NewSigV4: %v", err)
	}
	api, err := httpapi.New(httpapi.Config{}, sig, nil)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	h := &harness{kv: kv, reg: reg, ca: ca}
	iotapi.Register(api, iotapi.Deps{
		Registry: reg,
		CA:       ca,
		Endpoint: func(typ string) string {
			if typ == "iot:CredentialProvider" {
				return "credentials." + testHost
			}
			return testHost
		},
		CertificateStatusChanged: func(id string, s registry.CertStatus) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.changes = append(h.changes, statusChange{id, s})
		},
		KeyType: o.keyType,
	})
	h.srv = httptest.NewServer(api)
	t.Cleanup(h.srv.Close)
	h.client = iot.NewFromConfig(aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
		HTTPClient:  h.srv.Client(),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}, func(o *iot.Options) { o.BaseEndpoint = aws.String(h.srv.URL) })
	return h
}

// statusChanges returns the CertificateStatusChanged calls so far.
func (h *harness) statusChanges() []statusChange {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]statusChange(nil), h.changes...)
}

// rawResponse is an HTTP response as golden files record it.
type rawResponse struct {
	Status    int
	ErrorType string
	Body      []byte
}

// raw sends a SigV4-signed request without the SDK, for golden files and
// for requests the SDK refuses to build.
func (h *harness) raw(t *testing.T, method, path string, header http.Header, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "iot", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{Status: resp.StatusCode, ErrorType: resp.Header.Get("x-amzn-ErrorType"), Body: b}
}

// golden compares a raw response, its JSON body indented and with the
// replacements (value -> placeholder) applied, with testdata/golden/name.golden.
func golden(t *testing.T, name string, r rawResponse, replace ...string) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(r.Body), "", "  "); err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", name, err, r.Body)
	}
	body := strings.NewReplacer(replace...).Replace(buf.String())
	got := fmt.Sprintf("HTTP %d\nx-amzn-ErrorType: %s\n\n%s\n", r.Status, r.ErrorType, body)
	path := filepath.Join("testdata", "golden", name+".golden")
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
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// jsonString returns s as it appears inside a JSON string (for replacing
// PEMs in golden bodies).
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// wantError checks that err is the SDK's typed exception target points to
// (e.g. new(*types.ResourceNotFoundException)).
func wantError(t *testing.T, op string, err error, target any) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want %T", op, target)
	}
	if !errors.As(err, target) {
		code := "not an API error"
		var ae smithy.APIError
		if errors.As(err, &ae) {
			code = ae.ErrorCode() + ": " + ae.ErrorMessage()
		}
		t.Fatalf("%s = %v (%s), want %T", op, err, code, target)
	}
}

// errorMessage is the message of an SDK API error.
func errorMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// testCA is a CA built by the test, standing for a customer's own CA.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  string
}

// fixed validity of test certificates, so golden files are stable.
var (
	testNotBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	testNotAfter  = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestCA makes a self-signed ECDSA root CA.
func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"iotapi test"}},
		NotBefore: testNotBefore, NotAfter: testNotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pemOf(der)}
}

// issue signs a leaf certificate with subject cn for a fresh key and
// returns its PEM and AWS id. signer, when not nil, signs instead of the
// CA's key (a forged signature).
func (ca *testCA) issue(t *testing.T, cn string, signer crypto.Signer) (string, string) {
	t.Helper()
	parent := ca.cert
	if signer == nil {
		signer = ca.key
	} else {
		// Same issuer name, another key: Go refuses to sign with a key
		// that does not match the parent, so give it a look-alike parent.
		fake := *ca.cert
		fake.PublicKey = signer.Public()
		parent = &fake
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: testNotBefore, NotAfter: testNotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(der), pki.CertificateID(der)
}

func pemOf(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// certARN is the ARN the harness's registry gives a certificate.
func certARN(id string) string {
	return "arn:aws:iot:" + testRegion + ":" + testAccount + ":cert/" + id
}
