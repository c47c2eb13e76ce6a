package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestErrorFormats: the control plane's restJson1 envelope and iot-data's
// {"message","traceId"} with a trailing colon on x-amzn-ErrorType.
func TestErrorFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		format    ErrorFormat
		errorType string
		body      func(id string) string
	}{
		{"restjson", ErrorsRestJSON, "ResourceNotFoundException",
			func(string) string { return `{"__type":"ResourceNotFoundException","message":"gone"}` + "\n" }},
		{"iotdata", ErrorsIoTData, "ResourceNotFoundException:",
			func(id string) string { return `{"message":"gone","traceId":"` + id + `"}` + "\n" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, err := New(Config{ErrorFormat: tc.format}, AuthenticatorFunc(func(*http.Request) (Identity, error) { return Identity{}, nil }), nil)
			if err != nil {
				t.Fatal(err)
			}
			api.Handle("GET", "/x", "X", func(http.ResponseWriter, *http.Request) error { return Errorf(ResourceNotFound, "gone") })
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
			id := rec.Header()[headerRequestID][0]
			if got := rec.Header()[headerErrorType]; len(got) != 1 || got[0] != tc.errorType {
				t.Errorf("x-amzn-ErrorType = %q, want %q", got, tc.errorType)
			}
			if got, want := rec.Body.String(), tc.body(id); rec.Code != 404 || got != want {
				t.Errorf("response = %d %s, want 404 %s", rec.Code, got, want)
			}
		})
	}
	if err := (Config{ErrorFormat: 9}).Validate(); err == nil {
		t.Error("Validate accepted an unknown error format")
	}
}
