package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
)

// presign returns a presigned URL for GET path, as AWS IoT's WebSocket
// clients build it.
func (h *harness) presign(path string, creds aws.Credentials, at time.Time, optFns ...func(*v4.SignerOptions)) string {
	h.t.Helper()
	req := h.newRequest("GET", path, nil)
	u, _, err := v4.NewSigner(optFns...).PresignHTTP(context.Background(), creds, req, sha256Hex(nil), "iotdevicegateway", testRegion, at)
	if err != nil {
		h.t.Fatalf("PresignHTTP: %v", err)
	}
	return u
}

func (h *harness) getURL(rawURL string) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		h.t.Fatalf("NewRequest: %v", err)
	}
	return req
}

var signatureRE = regexp.MustCompile(`(?:Signature=|X-Amz-Signature=)([0-9a-f]{64})`)

func TestSigV4(t *testing.T) {
	testCreds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	for _, tc := range []struct {
		name       string
		build      func(h *harness) *http.Request
		wantStatus int
		wantCode   string // x-amzn-ErrorType when refused
		wantBody   string // substring of the body on success
		wantReason string // substring of the Warn log line when refused
	}{
		{
			name: "escaped colon in a label",
			build: func(h *harness) *http.Request {
				return h.newSignedRequest("GET", "/things/a%3Ab", nil, signOpts{})
			},
			wantStatus: 200, wantBody: `"thingName":"a:b"`,
		},
		{
			name: "greedy topic with escaped slash, iotdata scope, any region",
			build: func(h *harness) *http.Request {
				return h.newSignedRequest("POST", "/topics/dt/a%2Fb/c?qos=1&retain=true", []byte(`{"on":true}`),
					signOpts{service: "iotdata", region: "ap-southeast-2"})
			},
			wantStatus: 200, wantBody: `{"qos":1,"retain":true,"size":11,"topic":"dt/a/b/c"}`,
		},
		{
			name: "iotdevicegateway scope",
			build: func(h *harness) *http.Request {
				return h.newSignedRequest("GET", "/things/t/shadow?name=cfg", nil, signOpts{service: "iotdevicegateway"})
			},
			wantStatus: 200, wantBody: `{"name":"cfg","thing":"t"}`,
		},
		{
			name: "execute-api scope",
			build: func(h *harness) *http.Request {
				return h.newSignedRequest("GET", "/things/t", nil, signOpts{service: "execute-api"})
			},
			wantStatus: 200,
		},
		{
			name: "content-length left unsigned like botocore",
			build: func(h *harness) *http.Request {
				return h.newSignedRequest("POST", "/things/t", []byte(`{"thingTypeName":"lamp"}`), signOpts{unsignedContentLength: true})
			},
			wantStatus: 200, wantBody: `"thingName":"t"`,
		},
		{
			name: "extra signed headers like the JS SDK",
			build: func(h *harness) *http.Request {
				req := h.newRequest("POST", "/things/t", []byte(`{}`))
				req.Header.Set("X-Amz-User-Agent", "aws-sdk-js/3.0")
				req.Header.Set("Amz-Sdk-Invocation-Id", "c0ffee")
				req.Header.Add("X-Multi", "a")
				req.Header.Add("X-Multi", "b")
				o := signOpts{}.withDefaults()
				if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, sha256Hex([]byte(`{}`)), o.service, o.region, o.at); err != nil {
					h.t.Fatal(err)
				}
				return req
			},
			wantStatus: 200,
		},
		{
			name: "matching x-amz-content-sha256",
			build: func(h *harness) *http.Request {
				req := h.newRequest("POST", "/things/t", []byte(`{}`))
				req.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte(`{}`)))
				o := signOpts{}.withDefaults()
				if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, sha256Hex([]byte(`{}`)), o.service, o.region, o.at); err != nil {
					h.t.Fatal(err)
				}
				return req
			},
			wantStatus: 200,
		},
		{
			name: "x-amz-content-sha256 not the body's",
			build: func(h *harness) *http.Request {
				req := h.newSignedRequest("POST", "/things/t", []byte(`{}`), signOpts{})
				req.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte(`{"x":1}`)))
				return req
			},
			wantStatus: 403, wantCode: "InvalidSignatureException", wantReason: "x-amz-content-sha256 does not match the body",
		},
		{
			name: "body changed after signing",
			build: func(h *harness) *http.Request {
				signed := h.newSignedRequest("POST", "/things/t", []byte(`{"thingTypeName":"a"}`), signOpts{})
				req := h.newRequest("POST", "/things/t", []byte(`{"thingTypeName":"b"}`))
				req.Header = signed.Header
				return req
			},
			wantStatus: 403, wantCode: "InvalidSignatureException", wantReason: "signature mismatch: wrong secret",
		},
		{
			name: "path changed after signing",
			build: func(h *harness) *http.Request {
				signed := h.newSignedRequest("GET", "/things/a", nil, signOpts{})
				req := h.newRequest("GET", "/things/b", nil)
				req.Header = signed.Header
				return req
			},
			wantStatus: 403, wantCode: "InvalidSignatureException", wantReason: "signature mismatch",
		},
		{
			name: "query changed after signing",
			build: func(h *harness) *http.Request {
				signed := h.newSignedRequest("GET", "/things/a/shadow?name=x", nil, signOpts{})
				req := h.newRequest("GET", "/things/a/shadow?name=y", nil)
				req.Header = signed.Header
				return req
			},
			wantStatus: 403, wantCode: "InvalidSignatureException", wantReason: "signature mismatch",
		},
		{
			name: "service outside the accepted scopes",
			build: func(h *harness) *http.Request {
				return h.newSignedRequest("GET", "/things/t", nil, signOpts{service: "s3"})
			},
			wantStatus: 403, wantCode: "InvalidSignatureException", wantReason: "is not accepted",
		},
		{
			name: "signed user-agent cannot be reproduced",
			build: func(h *harness) *http.Request {
				req := h.newSignedRequest("GET", "/things/t", nil, signOpts{})
				a, err := parseAuthorization(req.Header.Get("Authorization"))
				if err != nil {
					h.t.Fatal(err)
				}
				a.SignedHeaders = []string{"host", "user-agent", "x-amz-date"}
				req.Header.Set("Authorization", a.String())
				return req
			},
			wantStatus: 403, wantCode: "InvalidSignatureException", wantReason: "cannot be reproduced",
		},
		{
			name: "credential scope date not the request date",
			build: func(h *harness) *http.Request {
				req := h.newSignedRequest("GET", "/things/t", nil, signOpts{})
				a, _ := parseAuthorization(req.Header.Get("Authorization"))
				a.Date = "20200101"
				req.Header.Set("Authorization", a.String())
				return req
			},
			wantStatus: 403, wantCode: "InvalidSignatureException", wantReason: "credential scope date 20200101 does not match",
		},
		{
			name: "missing X-Amz-Date",
			build: func(h *harness) *http.Request {
				req := h.newSignedRequest("GET", "/things/t", nil, signOpts{})
				req.Header.Del("X-Amz-Date")
				return req
			},
			wantStatus: 403, wantCode: "IncompleteSignatureException", wantReason: "X-Amz-Date",
		},
		{
			name: "malformed Authorization header",
			build: func(h *harness) *http.Request {
				req := h.newRequest("GET", "/things/t", nil)
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAKID+"/20250101/us-east-1/iot/aws4_request")
				req.Header.Set("X-Amz-Date", time.Now().UTC().Format(amzDateLayout))
				return req
			},
			wantStatus: 403, wantCode: "IncompleteSignatureException", wantReason: "requires 'Signature' parameter",
		},
		{
			name: "other algorithm",
			build: func(h *harness) *http.Request {
				req := h.newRequest("GET", "/things/t", nil)
				req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
				return req
			},
			wantStatus: 403, wantCode: "IncompleteSignatureException", wantReason: "Unsupported AWS 'algorithm'",
		},
		{
			name: "presigned WebSocket URL",
			build: func(h *harness) *http.Request {
				return h.getURL(h.presign("/mqtt?X-Amz-Expires=86400", testCreds, time.Now()))
			},
			wantStatus: 200, wantBody: `{"Scheme":"sigv4","Principal":"` + testAKID + `","Region":"` + testRegion + `","Service":"iotdevicegateway"}`,
		},
		{
			name: "presigned without X-Amz-Expires",
			build: func(h *harness) *http.Request {
				return h.getURL(h.presign("/mqtt", testCreds, time.Now()))
			},
			wantStatus: 200,
		},
		{
			name: "presigned with session token appended after signing, as AWS IoT does",
			build: func(h *harness) *http.Request {
				return h.getURL(h.presign("/mqtt", testCreds, time.Now()) + "&X-Amz-Security-Token=" + url.QueryEscape("tok/en+=="))
			},
			wantStatus: 200,
		},
		{
			name: "presigned with a signed session token",
			build: func(h *harness) *http.Request {
				c := testCreds
				c.SessionToken = "tok/en+=="
				return h.getURL(h.presign("/mqtt", c, time.Now()))
			},
			wantStatus: 200,
		},
		{
			name: "presigned URL past X-Amz-Expires",
			build: func(h *harness) *http.Request {
				return h.getURL(h.presign("/mqtt?X-Amz-Expires=3600", testCreds, time.Now().Add(-2*time.Hour)))
			},
			wantStatus: 403, wantCode: "InvalidSignatureException", wantReason: "presigned request expired",
		},
		{
			name: "presigned with the wrong secret",
			build: func(h *harness) *http.Request {
				return h.getURL(h.presign("/mqtt", aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "nope"}, time.Now()))
			},
			wantStatus: 403, wantCode: "InvalidSignatureException", wantReason: "signature mismatch",
		},
		{
			name: "presigned with an unknown key",
			build: func(h *harness) *http.Request {
				return h.getURL(h.presign("/mqtt", aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "x"}, time.Now()))
			},
			wantStatus: 403, wantCode: "UnrecognizedClientException", wantReason: "unknown access key id AKIDNOBODY",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startAPI(t, harnessOpts{})
			req := tc.build(h)
			sent := req.Header.Get("Authorization") + " " + req.URL.RawQuery
			resp := h.do(req)
			if resp.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.status, tc.wantStatus, resp.body)
			}
			if got := resp.header.Get("X-Amzn-Errortype"); got != tc.wantCode {
				t.Errorf("x-amzn-ErrorType = %q, want %q", got, tc.wantCode)
			}
			if tc.wantBody != "" && !strings.Contains(resp.body, tc.wantBody) {
				t.Errorf("body = %s, want it to contain %s", resp.body, tc.wantBody)
			}
			logs := h.logs.String()
			if tc.wantReason != "" {
				warn := ""
				for line := range strings.Lines(logs) {
					if strings.Contains(line, "level=WARN") {
						warn += line
					}
				}
				if !strings.Contains(warn, tc.wantReason) {
					t.Errorf("Warn log lines %q lack reason %q", warn, tc.wantReason)
				}
			}
			for _, m := range signatureRE.FindAllStringSubmatch(sent, -1) {
				if strings.Contains(logs, m[1]) {
					t.Errorf("the request signature %s appears in the log", m[1])
				}
			}
		})
	}
}

func TestSigV4Identity(t *testing.T) {
	h := startAPI(t, harnessOpts{})
	resp := h.do(h.getURL(h.presign("/mqtt", aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}, time.Now())))
	var got Identity
	if err := json.Unmarshal([]byte(resp.body), &got); err != nil {
		t.Fatalf("decode %s: %v", resp.body, err)
	}
	want := Identity{Scheme: SchemeSigV4, Principal: testAKID, Region: testRegion, Service: "iotdevicegateway"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
}

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	sig := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name    string
		in      string
		want    sigV4Auth
		wantErr string
	}{
		{
			name: "as the AWS SDKs send it",
			in:   "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
			want: sigV4Auth{AccessKeyID: "AKID", Date: "20250101", Region: "us-east-1", Service: "iot",
				SignedHeaders: []string{"host", "x-amz-date"}, Signature: sig},
		},
		{
			name: "no spaces, other order",
			in:   "AWS4-HMAC-SHA256 Signature=" + sig + ",SignedHeaders=host,Credential=K/20250101/r/iotdata/aws4_request",
			want: sigV4Auth{AccessKeyID: "K", Date: "20250101", Region: "r", Service: "iotdata",
				SignedHeaders: []string{"host"}, Signature: sig},
		},
		{name: "other algorithm", in: "AWS4-HMAC-SHA512 Credential=a", wantErr: "Unsupported AWS 'algorithm'"},
		{name: "empty", in: "", wantErr: "Unsupported AWS 'algorithm'"},
		{name: "missing all", in: "AWS4-HMAC-SHA256 ", wantErr: "requires 'Credential' parameter. Authorization header requires 'Signature'"},
		{name: "repeated parameter", in: "AWS4-HMAC-SHA256 Signature=" + sig + ", Signature=" + sig, wantErr: "more than once"},
		{name: "unknown parameter", in: "AWS4-HMAC-SHA256 Foo=bar", wantErr: "unknown parameter"},
		{name: "not key=value", in: "AWS4-HMAC-SHA256 Credential", wantErr: "not of the form key=value"},
		{
			name:    "short credential",
			in:      "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iot, SignedHeaders=host, Signature=" + sig,
			wantErr: "Credential must have the form",
		},
		{
			name:    "bad terminator",
			in:      "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iot/aws5_request, SignedHeaders=host, Signature=" + sig,
			wantErr: "valid terminator",
		},
		{
			name:    "bad date",
			in:      "AWS4-HMAC-SHA256 Credential=AKID/2025-01-01/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=" + sig,
			wantErr: "valid date",
		},
		{
			name:    "upper-case signed header",
			in:      "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iot/aws4_request, SignedHeaders=Host, Signature=" + sig,
			wantErr: "lower-case header names",
		},
		{
			name:    "short signature",
			in:      "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=abc",
			wantErr: "64 lower-case hexadecimal",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseAuthorization(tc.in)
			if tc.wantErr != "" {
				e, ok := err.(*Error)
				if !ok || e.Code != IncompleteSignature || !strings.Contains(e.Message, tc.wantErr) {
					t.Fatalf("parseAuthorization(%q) error = %v, want IncompleteSignatureException containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAuthorization(%q) = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseAuthorization(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestNewSigV4Validates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cfg   SigV4Config
		creds Credentials
	}{
		{"negative skew", SigV4Config{MaxSkew: -time.Second}, StaticCredentials{}},
		{"empty service", SigV4Config{Services: []string{""}}, StaticCredentials{}},
		{"no credentials", SigV4Config{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewSigV4(tc.cfg, tc.creds, nil); err == nil {
				t.Errorf("NewSigV4(%+v) = nil error, want an error", tc.cfg)
			}
		})
	}
}
