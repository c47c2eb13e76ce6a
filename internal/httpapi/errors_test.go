package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestErrorResponses pins the wire form of error (and empty) responses in
// golden files; run with -update to rewrite them.
func TestErrorResponses(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 2048)
	for _, tc := range []struct {
		name  string
		build func(h *harness) *http.Request
	}{
		{"resource_not_found", func(h *harness) *http.Request {
			return h.newSignedRequest("GET", "/things/missing", nil, signOpts{})
		}},
		{"resource_already_exists", func(h *harness) *http.Request {
			return h.newSignedRequest("POST", "/things/exists", []byte(`{}`), signOpts{})
		}},
		{"internal_failure", func(h *harness) *http.Request {
			return h.newSignedRequest("GET", "/internal-error", nil, signOpts{})
		}},
		{"panic", func(h *harness) *http.Request {
			return h.newSignedRequest("GET", "/panic", nil, signOpts{})
		}},
		{"unknown_operation", func(h *harness) *http.Request {
			return h.newSignedRequest("GET", "/no/such/operation", nil, signOpts{})
		}},
		{"method_not_allowed", func(h *harness) *http.Request {
			return h.newSignedRequest("PUT", "/things/t", nil, signOpts{})
		}},
		{"body_too_large", func(h *harness) *http.Request {
			return h.newSignedRequest("POST", "/things/t", big, signOpts{})
		}},
		{"body_too_large_chunked", func(h *harness) *http.Request {
			req := h.newSignedRequest("POST", "/things/t", big, signOpts{})
			req.ContentLength = -1
			req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(big)))
			return req
		}},
		{"malformed_json", func(h *harness) *http.Request {
			return h.newSignedRequest("POST", "/things/t", []byte(`{"thingTypeName":`), signOpts{})
		}},
		{"json_wrong_type", func(h *harness) *http.Request {
			return h.newSignedRequest("POST", "/things/t", []byte(`{"thingTypeName":7}`), signOpts{})
		}},
		{"json_trailing_data", func(h *harness) *http.Request {
			return h.newSignedRequest("POST", "/things/t", []byte(`{} {}`), signOpts{})
		}},
		{"bad_query_int", func(h *harness) *http.Request {
			return h.newSignedRequest("POST", "/topics/a?qos=one", []byte(`x`), signOpts{})
		}},
		{"bad_query_bool", func(h *harness) *http.Request {
			return h.newSignedRequest("POST", "/topics/a?retain=yes", []byte(`x`), signOpts{})
		}},
		{"missing_authentication_token", func(h *harness) *http.Request {
			return h.newRequest("GET", "/things/t", nil)
		}},
		{"invalid_signature", func(h *harness) *http.Request {
			return h.newSignedRequest("GET", "/things/t", nil, signOpts{secret: "wrong"})
		}},
		{"unrecognized_client", func(h *harness) *http.Request {
			return h.newSignedRequest("GET", "/things/t", nil, signOpts{akid: "AKIDNOBODY"})
		}},
		{"empty_output", func(h *harness) *http.Request {
			return h.newSignedRequest("DELETE", "/things/t", nil, signOpts{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startAPI(t, harnessOpts{cfg: Config{MaxBodyBytes: 1024}})
			golden(t, tc.name, h.do(tc.build(h)))
		})
	}
}

// TestHeaderCase reads the raw response to check AWS's header spelling and
// that even a refused request carries a request id.
func TestHeaderCase(t *testing.T) {
	h := startAPI(t, harnessOpts{})
	conn, err := net.DialTimeout("tcp", h.srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /things/t HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", h.srv.Listener.Addr())
	raw, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\r\nx-amzn-ErrorType: MissingAuthenticationTokenException\r\n",
		"\r\nx-amzn-RequestId: ",
		"\r\nContent-Type: application/json\r\n",
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("response lacks %q:\n%s", want, raw)
		}
	}
}

func TestErrorValue(t *testing.T) {
	t.Parallel()
	cause := errors.New("row locked")
	base := Errorf(ResourceAlreadyExists, "Thing %s already exists", "t")
	for _, tc := range []struct {
		name       string
		err        error
		wantCode   Code
		wantStatus int
		wantMsg    string
		wantExtra  map[string]string
	}{
		{"catalogue status", base, ResourceAlreadyExists, 409, "Thing t already exists", nil},
		{"wrapped keeps its code", fmt.Errorf("create: %w", base), ResourceAlreadyExists, 409, "Thing t already exists", nil},
		{"extras", base.With("resourceId", "id1"), ResourceAlreadyExists, 409, "Thing t already exists", map[string]string{"resourceId": "id1"}},
		{"status override", Errorf(Throttling, "slow down").WithStatus(429), Throttling, 429, "slow down", nil},
		{"cause is not the message", base.WithCause(cause), ResourceAlreadyExists, 409, "Thing t already exists", nil},
		{"plain error", cause, InternalFailure, 500, internalMessage, nil},
		{"code outside the catalogue", Errorf("MadeUpException", "x"), "MadeUpException", 500, "x", nil},
		{"limit exceeded is 410", Errorf(LimitExceeded, "x"), LimitExceeded, 410, "x", nil},
		{"certificate state is 406", Errorf(CertificateState, "x"), CertificateState, 406, "x", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _ := asError(tc.err)
			if e.Code != tc.wantCode || e.HTTPStatus() != tc.wantStatus || e.Message != tc.wantMsg {
				t.Errorf("asError(%v) = %s %d %q, want %s %d %q", tc.err, e.Code, e.HTTPStatus(), e.Message, tc.wantCode, tc.wantStatus, tc.wantMsg)
			}
			if len(e.Extra) != len(tc.wantExtra) || e.Extra["resourceId"] != tc.wantExtra["resourceId"] {
				t.Errorf("asError(%v).Extra = %v, want %v", tc.err, e.Extra, tc.wantExtra)
			}
		})
	}
	if base.Extra != nil || base.Err != nil || base.Status != 0 {
		t.Errorf("With/WithCause/WithStatus modified the original: %+v", base)
	}
	if !errors.Is(base.WithCause(cause), cause) {
		t.Errorf("errors.Is(WithCause(cause), cause) = false, want true")
	}
}
