package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	allow := AuthenticatorFunc(func(*http.Request) (Identity, error) { return Identity{}, nil })
	for _, tc := range []struct {
		name string
		cfg  Config
		auth Authenticator
	}{
		{"negative body limit", Config{MaxBodyBytes: -1}, allow},
		{"no authenticator", Config{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tc.cfg, tc.auth, nil); err == nil {
				t.Errorf("New(%+v) = nil error, want an error", tc.cfg)
			}
		})
	}
}

// TestOtherAuthenticator shows that a non-SigV4 identity (device mTLS for
// iot-data later) plugs in through the Authenticator interface.
func TestOtherAuthenticator(t *testing.T) {
	for _, tc := range []struct {
		name       string
		auth       AuthenticatorFunc
		wantStatus int
		wantCode   string
		wantBody   string
		wantReason string
	}{
		{
			name: "device certificate",
			auth: func(r *http.Request) (Identity, error) {
				return Identity{Scheme: "x509", Principal: "cert-123"}, nil
			},
			wantStatus: 200, wantBody: `{"Scheme":"x509","Principal":"cert-123","Region":"","Service":""}`,
		},
		{
			name: "refusal as an API error",
			auth: func(r *http.Request) (Identity, error) {
				return Identity{}, Errorf(Forbidden, "Forbidden").WithCause(errors.New("certificate revoked"))
			},
			wantStatus: 403, wantCode: "ForbiddenException", wantReason: "certificate revoked",
		},
		{
			name: "plain error denies access",
			auth: func(r *http.Request) (Identity, error) {
				return Identity{}, errors.New("no client certificate")
			},
			wantStatus: 403, wantCode: "UnrecognizedClientException", wantReason: "no client certificate",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startAPI(t, harnessOpts{auth: tc.auth})
			resp := h.do(h.newRequest("GET", "/mqtt", nil))
			if resp.status != tc.wantStatus || resp.header.Get("X-Amzn-Errortype") != tc.wantCode {
				t.Fatalf("GET /mqtt = %d %q, want %d %q; body %s", resp.status, resp.header.Get("X-Amzn-Errortype"),
					tc.wantStatus, tc.wantCode, resp.body)
			}
			if tc.wantBody != "" && strings.TrimSpace(resp.body) != tc.wantBody {
				t.Errorf("body = %s, want %s", resp.body, tc.wantBody)
			}
			if tc.wantReason != "" && !strings.Contains(h.logs.String(), tc.wantReason) {
				t.Errorf("log lacks reason %q:\n%s", tc.wantReason, h.logs.String())
			}
		})
	}
}

func TestContextValues(t *testing.T) {
	t.Parallel()
	api, err := New(Config{}, AuthenticatorFunc(func(*http.Request) (Identity, error) {
		return Identity{Scheme: "x509", Principal: "cert-1"}, nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct{ AccessKeyID, Op, RequestID, Principal string }
	var got seen
	api.Handle("GET", "/x", "X", func(w http.ResponseWriter, r *http.Request) error {
		id, _ := IdentityFrom(r.Context())
		got = seen{AccessKeyID(r.Context()), Operation(r.Context()), RequestID(r.Context()), id.Principal}
		return nil
	})
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	want := seen{AccessKeyID: "", Op: "X", RequestID: strings.Join(rec.Header()[headerRequestID], ","), Principal: "cert-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("context values (-want +got):\n%s", diff)
	}
	if !uuidRE.MatchString(got.RequestID) {
		t.Errorf("RequestID = %q, want a UUID", got.RequestID)
	}
}

func TestReadJSON(t *testing.T) {
	t.Parallel()
	type in struct {
		Name  string            `json:"name"`
		Attrs map[string]string `json:"attributes"`
	}
	for _, tc := range []struct {
		name    string
		body    string
		want    in
		wantErr string
	}{
		{"empty body", "", in{}, ""},
		{"whitespace", " \n", in{}, ""},
		{"members", `{"name":"a","attributes":{"k":"v"}}`, in{Name: "a", Attrs: map[string]string{"k": "v"}}, ""},
		{"unknown members ignored", `{"name":"a","newMember":[1,2]}`, in{Name: "a"}, ""},
		{"syntax error", `{"name":}`, in{}, "syntax error at offset"},
		{"wrong type", `{"name":1}`, in{}, `member "name" must be a string`},
		{"not an object", `[1]`, in{}, "expected a httpapi.in"},
		{"trailing data", `{}x`, in{}, "data after the JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			got, err := ReadJSON[in](r)
			if tc.wantErr != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != InvalidRequest || !strings.Contains(e.Message, tc.wantErr) {
					t.Fatalf("ReadJSON(%q) error = %v, want InvalidRequestException containing %q", tc.body, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadJSON(%q) = %v", tc.body, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReadJSON(%q) (-want +got):\n%s", tc.body, diff)
			}
		})
	}
}

func TestWriteJSONEncodeError(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	if err := WriteJSON(rec, map[string]any{"f": func() {}}); err == nil {
		t.Fatal("WriteJSON(func) = nil, want an error")
	}
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Errorf("WriteJSON wrote %q after an encoding error, want nothing", rec.Body.String())
	}
}
